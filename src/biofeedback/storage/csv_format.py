"""Fast CSV text for numeric tables, byte for byte what ``"%.6f"``, ``"%.10g"`` or ``"%d"`` print.

Formatting a 40-minute session row by row with ``%`` takes ~10 s (2.4 million rows, 10 numbers
each); this module formats whole columns with numpy instead (docs/performance.md, "Reports and
export"). Each column becomes a matrix of bytes, one row per value, at a fixed width; the bytes a
value does not use are 0. The columns and the separators are put side by side and every 0 byte is
dropped, which leaves the rows exactly as ``",".join(formats) % row`` writes them.

- ``%.Nf`` (non-negative values, N <= 9): the value times 10**N rounded to an integer, its digits
  written out;
- ``%.Pg``: exponent and P significant digits from ``log10`` and ``rint``, written in the fixed
  notation ``%g`` uses for exponents -4 .. P-1, trailing zeros (and a bare point) dropped;
- columns with few distinct values (ADC codes in uV, quality flags): every distinct value is
  formatted once with ``%`` and looked up.

Whatever the numpy path cannot get certainly right goes through Python's ``%`` itself: values
within floating-point error of a rounding tie, zeros (``-0``), nan and inf, exponents ``%g``
writes in scientific notation, and formats other than these three.
"""

from __future__ import annotations

import re

import numpy as np

#: A value this close to half a unit of the last digit is formatted by Python (the scaled value
#: carries a rounding error far below it: the scale is an exact power of ten and the product is
#: rounded once, so the error is <= 2**-53 of 10**precision).
_TIE_GUARD = {6: 1e-8, 10: 1e-4}
_FIXED = re.compile(r"%\.(\d)f")
_GENERAL = re.compile(r"%\.(\d+)g")


def format_table(table: np.ndarray, fmt: list[str]) -> bytes:
    """The rows of ``table`` (2-D float) as ``",".join(fmt) % row`` lines, ASCII, each ending
    in ``\\n``."""
    return format_columns([table[:, j] for j in range(table.shape[1])], fmt)


def format_columns(columns: list[np.ndarray], fmt: list[str]) -> bytes:
    """Rows made of ``columns`` (1-D, equal lengths), as ``",".join(fmt) % row`` lines."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return b""
    parts: list[np.ndarray] = []
    comma = np.full((n, 1), ord(","), dtype=np.uint8)
    for j, spec in enumerate(fmt):
        if j:
            parts.append(comma)
        parts.append(format_column(columns[j], spec))
    parts.append(np.full((n, 1), ord("\n"), dtype=np.uint8))
    text = np.concatenate(parts, axis=1).ravel()
    return np.compress(text != 0, text).tobytes()  # (faster than text[text != 0])


def format_column(values: np.ndarray, spec: str) -> np.ndarray:
    """``spec % value`` for each value: an (n, width) uint8 matrix, unused bytes 0."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if spec == "%d":
        return _lookup(values, spec)
    fixed = _FIXED.fullmatch(spec)
    if fixed:
        return _fixed(values, int(fixed.group(1)))
    general = _GENERAL.fullmatch(spec)
    if general and int(general.group(1)) in _TIE_GUARD:
        # a look-up table pays when values repeat (ADC codes): tried on a sample first
        if len(np.unique(values[:4096])) * 8 <= min(len(values), 4096):
            uniques = np.unique(values)
            if len(uniques) * 8 <= len(values):
                return _lookup(values, spec, uniques)
        return _general(values, int(general.group(1)))
    return _python(values, spec, np.ones(len(values), dtype=bool), None)


def _python(values: np.ndarray, spec: str, which: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Python's ``%`` for the values where ``which`` is set, written into ``out`` (made when
    None, wide enough for them)."""
    idx = np.flatnonzero(which)
    texts = [(spec % v).encode("ascii") for v in values[idx].tolist()]
    width = max((len(t) for t in texts), default=1)
    if out is None or out.shape[1] < width:
        grown = np.zeros((len(values), max(width, 0 if out is None else out.shape[1])), np.uint8)
        if out is not None:
            grown[:, : out.shape[1]] = out
        out = grown
    if texts:
        block = np.array(texts, dtype=f"S{out.shape[1]}").view(np.uint8)
        out[idx] = block.reshape(len(idx), out.shape[1])
    return out


def _lookup(values: np.ndarray, spec: str, uniques: np.ndarray | None = None) -> np.ndarray:
    """Each distinct value formatted once with ``%``, then looked up."""
    if uniques is None:
        uniques = np.unique(values)
    uniques = np.where(uniques == 0, 0.0, uniques)  # the one zero np.unique keeps may be -0.0
    table = _python(uniques, spec, np.ones(len(uniques), dtype=bool), None)
    index = np.searchsorted(uniques, values)
    # nan sorts last: np.unique keeps one nan at the end; searchsorted finds it for every nan
    out = table[np.minimum(index, len(uniques) - 1)]
    negative_zero = (values == 0) & np.signbit(values)  # formatted apart: '-0'
    if negative_zero.any():
        out[negative_zero] = 0
        out = _python(values, spec, negative_zero, out)
    return out


def _digits(numbers: np.ndarray, count: int) -> np.ndarray:
    """The last ``count`` decimal digits of non-negative integers as ASCII, (n, count)."""
    out = np.empty((len(numbers), count), dtype=np.uint8)
    rest = numbers.astype(np.int32 if count <= 9 else np.int64)
    for k in range(count - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, k] = digit
    out += ord("0")
    return out


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """``%.{decimals}f`` of each value."""
    scale = 10.0**decimals
    finite = np.isfinite(values) & (values >= 0) & (values < 1e15 / scale)
    scaled = np.where(finite, values, 0.0) * scale
    rounded = np.rint(scaled)
    # the product carries at most one rounding: <= 2**-53 of the largest scaled value
    guard = 8 * np.finfo(np.float64).eps * max(1.0, float(scaled.max()))
    tie = np.abs(scaled - np.floor(scaled) - 0.5) < guard
    slow = ~finite | tie | (values == 0) & np.signbit(values)
    n = rounded.astype(np.int64)
    whole = n // int(scale)
    width = max(1, len(str(int(whole.max()))))
    int_digits = _digits(whole, width)
    # leading zeros of the whole part dropped (one digit always stays)
    lead = whole[:, None] < 10 ** np.arange(width - 1, 0, -1, dtype=np.int64)
    int_digits[:, : width - 1][lead] = 0
    parts = [int_digits]
    if decimals:
        parts += [np.full((len(values), 1), ord("."), np.uint8), _digits(n % int(scale), decimals)]
    out = np.concatenate(parts, axis=1)
    if slow.any():
        out[slow] = 0
        out = _python(values, f"%.{decimals}f", slow, out)
    return out


def _general(values: np.ndarray, precision: int) -> np.ndarray:
    """``%.{precision}g`` of each value (fixed notation by numpy, the rest by Python)."""
    p = precision
    a = np.abs(values)
    ok = np.isfinite(a) & (a > 0)
    a[~ok] = 1.0
    # exponents outside -4 .. p-1 go to Python anyway; clipped, every 10**k used is exact
    exp = np.clip(np.floor(np.log10(a)), -5, p).astype(np.intp)
    pow10 = 10.0 ** np.arange(-1, p + 6)  # pow10[k + 1] == 10.0**k
    scaled = a * pow10[p - exp]
    # log10 may be one off next to a power of ten: moved to the exponent that fits p digits
    shift = (scaled >= 10.0**p).astype(np.intp) - (scaled < 10.0 ** (p - 1))
    moved = np.flatnonzero(shift)
    if len(moved):
        exp[moved] += shift[moved]
        scaled[moved] = a[moved] * pow10[np.clip(p - exp[moved], 0, p + 6)]
    mant = np.rint(scaled)
    tie = np.abs(scaled - mant) > 0.5 - _TIE_GUARD[p]
    carry = np.flatnonzero(mant >= 10.0**p)  # 999999.7 -> 1000000: one more in the exponent
    mant[carry] = 10.0 ** (p - 1)
    exp[carry] += 1
    slow = ~ok | tie | (exp < -4) | (exp > p - 1)
    exp[slow] = 0
    mant[slow] = 10.0 ** (p - 1)  # (Python writes them; keeps the integer cast in range)
    digits = _digits(mant.astype(np.int64), p)
    out = _fixed_notation(digits, exp, p)
    out[:, 0] = np.where(values < 0, ord("-"), 0)
    if slow.any():
        out[slow] = 0
        out = _python(values, f"%.{p}g", slow, out)
    return out


def _fixed_notation(digits: np.ndarray, exp: np.ndarray, p: int) -> np.ndarray:
    """Rows of p significant ``digits`` (ASCII) with decimal exponents ``exp`` (-4 .. p-1) as
    ``%g`` writes them: the point after digit e (or ``0.`` and zeros before the digits),
    trailing zeros of the decimals and a bare point dropped. Column 0 is left for the sign.

    Every row has room for every form: ``0.000`` before the digits and a possible point after
    each digit; what a row does not use stays 0 (and is dropped with the other 0 bytes)."""
    n = len(digits)
    out = np.zeros((n, 6 + 2 * p - 1), dtype=np.uint8)
    before = exp < 0
    out[:, 1] = before * ord("0")
    out[:, 2] = before * ord(".")
    for j in range(3):  # "0.0", "0.00", "0.000" for e = -2, -3, -4
        out[:, 3 + j] = (exp < -1 - j) * ord("0")
    # trailing zeros of the digits (the first digit is never 0), dropped from the decimals
    tz = np.argmin(digits[:, ::-1] == ord("0"), axis=1)
    decimals = p - 1 - exp
    strip = np.minimum(tz, decimals)
    keep = np.arange(p) < (p - strip)[:, None]
    out[:, 6::2] = digits * keep
    # the point after digit e, unless no decimal is left
    point = (exp[:, None] == np.arange(p - 1)) & (strip < decimals)[:, None]
    out[:, 7::2] = point * ord(".")
    return out
