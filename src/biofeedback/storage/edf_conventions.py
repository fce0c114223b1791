"""How our EDF+ exports name their signals and mark stretches without data.

Shared by the writer (:mod:`biofeedback.storage.export`) and the reader
(:mod:`biofeedback.storage.importing`), so both agree and files written by older versions still
read back. See docs/storage.md ("Export") and docs/interop.md ("EDF+ for MNE and other readers").

Labels follow the EDF+ standard texts (Kemp & Olivan 2003, https://www.edfplus.info/specs/edftexts.html):
the first word is the signal type, so MNE-Python's ``read_raw_edf(..., infer_types=True)``
types the channel from it and keeps the rest as the channel name. Ours are
``EMG <channel name> <KIND>`` (``EMG trapez L RAW``) and ``MISC <name> REF`` for the sensor's
reference output, which is not a muscle signal; the label field holds 16 characters, so a long
channel name is shortened (its longest word first).

Stretches without data are annotations whose text starts with ``BAD_``: MNE treats those as bad
spans (``get_data(reject_by_annotation="omit")`` leaves them out). ``BAD_gap`` marks samples
missing from the recording (written as 0 uV), ``BAD_padding`` the samples that complete the last
data record after the recording ended. Exports before this version wrote ``no data (gap)`` and
``no data (end padding)`` and ``RAW <name>`` labels; both are still read.
"""

from __future__ import annotations

import re

from biofeedback.core.types import ChannelKind

#: EDF label field width (bytes).
LABEL_WIDTH = 16
#: Annotation for missing samples inside the recording.
GAP_TEXT = "BAD_gap"
#: Annotation for the samples that fill the last data record after the end of the recording.
PADDING_TEXT = "BAD_padding"
#: What exports before ``BAD_`` annotations wrote (still recognised on import).
OLD_GAP_TEXT = "no data (gap)"
OLD_PADDING_TEXT = "no data (end padding)"

_RATE_NOTE = re.compile(r"^sampling rate ([0-9.eE+-]+) Hz stored as ")

_KINDS = "RAW|ENV|RECT|REF"
_LABEL = re.compile(rf"^(?:EMG|MISC)\s+(.*?)\s*\b({_KINDS})$")
_OLD_LABEL = re.compile(rf"^({_KINDS})\s+(.*)$")


def is_gap(text: str) -> bool:
    """True for the annotation of missing samples (this version's or an older export's)."""
    return text.strip() in (GAP_TEXT, OLD_GAP_TEXT)


def is_padding(text: str) -> bool:
    """True for the annotation of the end padding (this version's or an older export's)."""
    return text.strip() in (PADDING_TEXT, OLD_PADDING_TEXT)


def rate_note(fs_hz: float, spr: int, duration: str, edf_fs: float) -> str:
    """The annotation that gives the stream's rate when the file's (``spr`` samples per
    ``duration`` s) is only close to it (the EDF header cannot state every rate exactly)."""
    return f"sampling rate {fs_hz!r} Hz stored as {spr} samples per {duration} s ({edf_fs:.9g} Hz)"


def stated_rate(text: str) -> float | None:
    """The stream's rate from a :func:`rate_note` annotation, else None."""
    match = _RATE_NOTE.match(text.strip())
    if not match:
        return None
    try:
        rate = float(match[1])
    except ValueError:
        return None
    return rate if rate > 0 else None


def signal_type(kind: ChannelKind) -> str:
    """EDF+ signal type (first word of the label) for a channel kind."""
    return "MISC" if kind is ChannelKind.REF else "EMG"


def shorten(name: str, room: int) -> str:
    """``name`` in at most ``room`` characters, cutting its longest word first so a side or
    number at the end survives (``trapezius L`` in 8 -> ``trapez L``)."""
    words = name.split()
    if not words:
        return ""
    while len(" ".join(words)) > room:
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        if len(words[longest]) <= 1:
            return " ".join(words)[:room].rstrip()
        words[longest] = words[longest][:-1]
    return " ".join(words)


def signal_label(name: str, kind: ChannelKind) -> str:
    """The 16-character label of an input channel: ``EMG <name> <KIND>``.

    ``name`` must already be printable ASCII (the EDF header's character set)."""
    kind_word = kind.value.upper()
    head = signal_type(kind)
    words = name.split()
    if len(words) > 1 and words[-1].upper() == kind_word:  # "trapezius L env" of kind ENV
        name = " ".join(words[:-1])
    room = LABEL_WIDTH - len(head) - len(kind_word) - 2
    short = shorten(name, room)
    return f"{head} {short} {kind_word}" if short else f"{head} {kind_word}"


def parse_label(label: str) -> tuple[ChannelKind, str] | None:
    """(kind, channel name) from one of our labels (this version's ``EMG <name> <KIND>`` or an
    older export's ``<KIND> <name>``), else None."""
    label = label.strip()
    match = _LABEL.match(label)
    if match:
        return ChannelKind(match[2].lower()), match[1]
    old = _OLD_LABEL.match(label)
    if old:
        return ChannelKind(old[1].lower()), old[2]
    return None
