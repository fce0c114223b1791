"""Offline synthesis of what a MyoWare 2.0 on an Arduino-class board sends: no threads, no clock.

Signal model (per sample, all at the electrodes in uV unless stated):

- EMG: unit Gaussian white noise through a shaping filter (double zero at 0 Hz, double poles at
  50 Hz and 150 Hz, one pole at 300 Hz; bilinear transform at the sample rate). Peak ~80 Hz,
  median ~100 Hz, ~98 % of the power in 20-250 Hz at 1 kHz. The filter is scaled so that its
  power *inside 20-450 Hz* (clamped to 0.45 x fs, like the pipeline's band-pass) is exactly 1, so
  a 20-450 Hz band-pass + RMS of ``level_uv x shaped noise`` recovers ``level_uv`` in
  expectation. ``fatigue`` mixes in a second stream through the same filter with every corner
  frequency x 0.6 (weights sqrt(1-w), sqrt(w): the power stays ``level_uv**2``).
- amplifier noise: white noise band-limited to 20-450 Hz (Butterworth order 4) at
  ``AMPLIFIER_NOISE_UV`` RMS in that band; mains pick-up: ``mains_uv`` RMS at ``mains_hz`` with
  harmonics (2nd 10 %, 3rd 35 %, 5th 15 %, 7th 7 %, those below fs/2); scenario artefacts.
- MyoWare 2.0 powered from the board's supply Vs (5 V boards: 5 V; 3.3 V boards: 3.3 V):
  REF = Vs/2 + 20 uV RMS noise common to REF and RAW (the boards' ADC reference is that same
  supply, so REF lands in the middle of the mid-scale code and its code stays constant);
  RAW = REF + 2 mV offset + 200 x signal; RECT = 200 x |signal|;
  ENV = 200 x (1 + pot_kohm / 1 kOhm) x LP(|signal|), LP a 2nd-order Butterworth low-pass at
  ``env_hz`` (5 Hz default; the real time constant is undocumented), i.e. the average-rectified
  value, so ENV x Vref / 2**bits / G_ENV x ARV_TO_RMS reads the RMS for Gaussian EMG. ENV does
  not see baseline wander (AC-coupled stage). Every output is limited to 0..Vs; an electrode-off
  stretch puts every output at Vs.
- ADC (the board's resolution, or ``bits=``): code = round(V / Vref x 2**bits) (the AVR's ideal
  first transition is at 0.5 LSB), clipped to 0 .. 2**bits - 1, so V = code x Vref / 2**bits
  (docs/hardware.md, "Boards and their ADCs") is unbiased. Lost samples are NaN with ``Flag.MISSING``.

All randomness comes from ``numpy.random.SeedSequence(seed)`` children, one per stream, and the
signal is produced in fixed internal blocks of one second, so the same configuration always gives
bit-identical samples however the caller splits the requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biofeedback.core import hardware
from biofeedback.core.limits import MAX_DURATION_S, check_mains_hz
from biofeedback.core.types import (
    ChannelInfo,
    ChannelKind,
    Chunk,
    Flag,
    StreamInfo,
    counts_to_uv_scale,
)
from biofeedback.devices.registry import parse_source_url
from biofeedback.devices.sim_scenarios import SCENARIOS, Scenario
from biofeedback.devices.source_url import SourceURL
from biofeedback.errors import SourceURLError

#: Shaping filter corners in Hz: (double pole, double pole, single pole); double zero at 0 Hz.
EMG_CORNERS_HZ = (50.0, 150.0, 300.0)
#: Corner-frequency factor of the fully fatigued spectrum.
FATIGUE_SCALE = 0.6
#: The band in which ``level_uv`` is the true RMS (upper edge clamped to 0.45 x fs).
BAND_HZ = (20.0, 450.0)
MAINS_HARMONICS = {1: 1.0, 2: 0.10, 3: 0.35, 5: 0.15, 7: 0.07}
REF_NOISE_V = 0.02e-3
RAW_OFFSET_V = 2e-3
CHANNEL_CHOICES = ["raw", "env", "rect", "ref"]
DEVICE_NAME = "simulated MyoWare 2.0"
_PREROLL_S = 0.5
_FREQ_POINTS = 1 << 15


def band_hz(fs_hz: float) -> tuple[float, float]:
    """The measurement band at ``fs_hz``: 20-450 Hz, upper edge at most 0.45 x fs."""
    return BAND_HZ[0], min(BAND_HZ[1], 0.45 * fs_hz)


def band_power(sos: np.ndarray, fs_hz: float, lo_hz: float, hi_hz: float) -> float:
    """Variance in ``[lo_hz, hi_hz]`` of unit-variance white noise filtered by ``sos``."""
    from scipy import signal

    f, h = signal.sosfreqz(sos, worN=_FREQ_POINTS, fs=fs_hz)
    p = np.abs(h) ** 2
    inside = (f >= lo_hz) & (f <= hi_hz)
    # one-sided density of unit white noise is 2 / fs per Hz
    return float(np.trapezoid(p[inside], f[inside]) * 2.0 / fs_hz)


def _normalise(sos: np.ndarray, fs_hz: float) -> np.ndarray:
    lo, hi = band_hz(fs_hz)
    out = sos.copy()
    out[0, :3] /= math.sqrt(band_power(sos, fs_hz, lo, hi))
    return out


def emg_shaping_sos(fs_hz: float, scale: float = 1.0) -> np.ndarray:
    """Surface-EMG shaping filter, normalised to unit power in the measurement band.

    ``scale`` multiplies every corner frequency (``FATIGUE_SCALE`` for the fatigued spectrum).
    """
    from scipy import signal

    w1, w2, w3 = (2.0 * np.pi * f * scale for f in EMG_CORNERS_HZ)
    z, p, k = signal.bilinear_zpk([0.0, 0.0], [-w1, -w1, -w2, -w2, -w3], w2 * w2 * w3, fs_hz)
    return _normalise(signal.zpk2sos(z, p, k), fs_hz)


def amplifier_noise_sos(fs_hz: float) -> np.ndarray:
    """Band-limiting filter for the amplifier noise, unit power in the measurement band."""
    from scipy import signal

    lo, hi = band_hz(fs_hz)
    return _normalise(signal.butter(4, [lo, hi], "bandpass", fs=fs_hz, output="sos"), fs_hz)


def emg_psd(fs_hz: float, mix: float = 0.0, n_points: int = 4097) -> tuple[np.ndarray, np.ndarray]:
    """Expected one-sided PSD (uV^2/Hz per uV^2 of ``level_uv**2``) of the synthesised EMG.

    Integrates to 1 over the measurement band. ``mix`` is the fatigue weight (0..1).
    """
    from scipy import signal

    f, ha = signal.sosfreqz(emg_shaping_sos(fs_hz), worN=n_points, fs=fs_hz)
    _, hb = signal.sosfreqz(emg_shaping_sos(fs_hz, FATIGUE_SCALE), worN=n_points, fs=fs_hz)
    psd = ((1.0 - mix) * np.abs(ha) ** 2 + mix * np.abs(hb) ** 2) * 2.0 / fs_hz
    return f, psd


def median_frequency_hz(fs_hz: float, mix: float | np.ndarray = 0.0) -> float | np.ndarray:
    """Median frequency (within the measurement band) of the synthesised EMG spectrum.

    ``mix`` may be an array of fatigue weights; the result then has the same shape.
    """
    f, pa = emg_psd(fs_hz, 0.0, n_points=_FREQ_POINTS)
    _, pb = emg_psd(fs_hz, 1.0, n_points=_FREQ_POINTS)
    lo, hi = band_hz(fs_hz)
    inside = (f >= lo) & (f <= hi)
    f, pa, pb = f[inside], pa[inside], pb[inside]

    def one(m: float) -> float:
        psd = (1.0 - m) * pa + m * pb
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (psd[1:] + psd[:-1]) * np.diff(f))])
        return float(np.interp(0.5 * cum[-1], cum, f))

    if np.ndim(mix) == 0:
        return one(float(mix))
    return np.array([one(float(m)) for m in np.ravel(mix)]).reshape(np.shape(mix))


# ----------------------------------------------------------------------------- configuration


@dataclass
class SimConfig:
    """Everything a ``sim://`` URL can set. ``level_uv`` / ``mains_uv`` None: scenario default.

    ``speed`` is ``math.inf`` for ``speed=max``; ``duration_s`` None runs for ever;
    ``options`` holds the scenario-specific numbers (``tense_uv``, ``tau_s``, ...).
    """

    scenario: str = "steady"
    seed: int = 0
    fs_hz: float = 1000.0
    board: str = "uno"
    #: ADC resolution; None: the board's own (``bits=12`` models analogReadResolution(12)).
    adc_bits: int | None = None
    channels: tuple[str, ...] = ("raw", "env", "ref")
    level_uv: float | None = None
    mains_hz: float = 50.0
    mains_uv: float | None = None
    pot_kohm: float = hardware.MYOWARE_DEFAULT_POT_KOHM
    env_hz: float = 5.0
    speed: float = 1.0
    chunk_ms: float = 10.0
    duration_s: float | None = None
    options: dict[str, float] = field(default_factory=dict)

    @property
    def scenario_class(self) -> type[Scenario]:
        """The scenario's class."""
        return SCENARIOS[self.scenario]

    @property
    def effective_level_uv(self) -> float:
        """``level_uv`` or the scenario's default."""
        return self.scenario_class.default_level_uv if self.level_uv is None else self.level_uv

    @property
    def effective_mains_uv(self) -> float:
        """``mains_uv`` or the scenario's default (0 if ``mains_hz`` is 0)."""
        if self.mains_hz == 0:
            return 0.0
        return self.scenario_class.default_mains_uv if self.mains_uv is None else self.mains_uv

    @property
    def chunk_samples(self) -> int:
        """Samples per emitted chunk."""
        return max(1, round(self.chunk_ms * self.fs_hz / 1000.0))

    @property
    def total_samples(self) -> int | None:
        """Samples in a finite run, or None."""
        return None if self.duration_s is None else max(1, round(self.duration_s * self.fs_hz))


def _number(url: SourceURL, key: str, default: float | None, lo: float, hi: float) -> float | None:
    value = url.get_float(key, default, lo=lo, hi=hi)
    if value is not None and not math.isfinite(value):
        raise SourceURLError(f"{url.text}: {key} must be a finite number")
    return value


def _scenario(parsed: SourceURL) -> str:
    """The scenario: ``scenario=`` or the URL's path (``sim://relax``), default ``steady``."""
    text = parsed.text
    path = parsed.path.strip("/")
    choices = list(SCENARIOS)
    scenario = parsed.get_str("scenario", None, choices=choices)
    if path:
        if scenario is not None and scenario != path:
            raise SourceURLError(f"{text}: scenario given twice ({path!r} and {scenario!r})")
        if path not in SCENARIOS:
            raise SourceURLError(
                f"{text}: unknown scenario {path!r}; choose one of: {', '.join(choices)}"
            )
        scenario = path
    return scenario or "steady"


def _speed(parsed: SourceURL) -> float:
    """``speed=max`` (inf) or a factor of real time from 0.01 to 10000 (default 1)."""
    speed_text = parsed.get_str("speed", "1") or "1"
    if speed_text.lower() == "max":
        return math.inf
    try:
        speed = float(speed_text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and 0.01 <= speed <= 10000.0):
        raise SourceURLError(
            f"{parsed.text}: speed={speed_text!r}; use max (as fast as possible) or a factor "
            "between 0.01 and 10000 (1 = real time)"
        )
    return speed


def _scenario_options(parsed: SourceURL, scenario: str) -> dict[str, float]:
    """The scenario's own options; another scenario's option is an error that names it."""
    options: dict[str, float] = {}
    for key, spec in SCENARIOS[scenario].options.items():
        value: float | None
        if spec.integer:
            value = parsed.get_int(key, None, lo=int(spec.lo), hi=int(spec.hi))
        else:
            value = _number(parsed, key, None, spec.lo, spec.hi)
        if value is not None:
            options[key] = value
    for key in list(parsed.params):
        owners = [name for name, c in SCENARIOS.items() if key in c.options]
        if owners:
            raise SourceURLError(
                f"{parsed.text}: option {key} applies to scenario {' / '.join(owners)} only, "
                f"not to scenario={scenario}"
            )
    return options


def parse_sim_url(url: SourceURL | str) -> SimConfig:
    """Read a ``sim://`` URL into a :class:`SimConfig`; :class:`SourceURLError` says what is wrong.

    Options: ``scenario`` (or the URL path, ``sim://relax``), ``seed``, ``fs``, ``board``,
    ``bits`` (ADC resolution 8..16, default the board's), ``channels``, ``level_uv``,
    ``mains_hz``, ``mains_uv``, ``pot_kohm``, ``env_hz``, ``speed`` (``max`` or a factor),
    ``chunk_ms``, ``duration_s``, and the scenario's own options.
    """
    own = isinstance(url, str)
    parsed = parse_source_url(url) if isinstance(url, str) else url
    if parsed.scheme != "sim":
        raise SourceURLError(f"{parsed.text}: not a sim:// URL")
    text = parsed.text
    scenario = _scenario(parsed)
    seed = parsed.get_int("seed", 0, lo=0, hi=2**32 - 1)
    fs_hz = _number(parsed, "fs", 1000.0, 100.0, 20000.0)
    board = parsed.get_str("board", "uno", choices=list(hardware.BOARDS))
    adc_bits = parsed.get_int("bits", None, lo=hardware.ADC_BITS_MIN, hi=hardware.ADC_BITS_MAX)
    channels = parsed.get_list("channels", ["raw", "env", "ref"], choices=CHANNEL_CHOICES)
    if not channels:
        raise SourceURLError(f"{text}: channels is empty; use e.g. channels=raw,env,ref")
    if len(set(channels)) != len(channels):
        raise SourceURLError(f"{text}: channels lists a channel twice ({','.join(channels)})")
    level_uv = _number(parsed, "level_uv", None, 0.0, 5000.0)
    mains_hz = check_mains_hz(
        _number(parsed, "mains_hz", 50.0, 0.0, 70.0) or 0.0, f"{text}: mains_hz"
    )
    assert fs_hz is not None
    mains_uv = _number(parsed, "mains_uv", None, 0.0, 100000.0)
    pot_kohm = _number(parsed, "pot_kohm", hardware.MYOWARE_DEFAULT_POT_KOHM, 0.0, 1000.0)
    env_hz = _number(parsed, "env_hz", 5.0, 0.5, 50.0)
    assert env_hz is not None
    if env_hz >= fs_hz / 4:
        raise SourceURLError(f"{text}: env_hz={env_hz:g} must be below fs/4")
    speed = _speed(parsed)
    # Paced streams come in 10 ms chunks like a real board; speed=max uses 250 ms chunks, which
    # cuts per-chunk overhead ~25x (the pipeline is chunk-invariant, so results are identical).
    chunk_ms = _number(parsed, "chunk_ms", 250.0 if math.isinf(speed) else 10.0, 0.1, 10000.0)
    duration_s = parsed.get_float("duration_s", None, lo=1e-3, hi=MAX_DURATION_S, allow_inf=True)
    if duration_s is not None and math.isinf(duration_s):
        duration_s = None
    options = _scenario_options(parsed, scenario)
    if own:
        parsed.check_consumed()
    assert seed is not None and board is not None and chunk_ms is not None
    assert pot_kohm is not None
    return SimConfig(
        scenario=scenario,
        seed=seed,
        fs_hz=fs_hz,
        board=board,
        adc_bits=adc_bits,
        channels=tuple(channels),
        level_uv=level_uv,
        mains_hz=mains_hz,
        mains_uv=mains_uv,
        pot_kohm=pot_kohm,
        env_hz=env_hz,
        speed=speed,
        chunk_ms=chunk_ms,
        duration_s=duration_s,
        options=options,
    )


# ----------------------------------------------------------------------------- synthesis


@dataclass
class SimBlock:
    """Consecutive samples from :meth:`Synthesiser.generate` with their ground truth.

    ``samples`` [n, ch] ADC codes as float64 (NaN where lost), ``flags`` [n] uint16,
    ``truth_uv`` [n] true EMG RMS at the electrodes (20-450 Hz), ``emg_uv`` [n] the EMG itself,
    ``electrode_uv`` [n] everything RAW amplifies (EMG + amplifier noise + mains + artefacts),
    ``events`` ``(index, name)`` in this block.
    """

    first_index: int
    samples: np.ndarray
    flags: np.ndarray
    truth_uv: np.ndarray
    emg_uv: np.ndarray
    electrode_uv: np.ndarray
    events: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def end_index(self) -> int:
        """Absolute index one past the last sample."""
        return self.first_index + len(self.samples)

    def to_chunk(self) -> Chunk:
        """The part a real board would send."""
        return Chunk(self.first_index, self.samples, self.flags)


def _edges(
    mask: np.ndarray, first: int, prev: bool, name: str
) -> tuple[list[tuple[int, str]], bool]:
    """``<name>_start`` / ``<name>_end`` events where ``mask`` switches, continuing from ``prev``."""
    if len(mask) == 0:
        return [], prev
    m = np.concatenate([[prev], mask]).astype(np.int8)
    d = np.diff(m)
    events = [(first + int(i), f"{name}_start") for i in np.flatnonzero(d == 1)]
    events += [(first + int(i), f"{name}_end") for i in np.flatnonzero(d == -1)]
    return events, bool(mask[-1])


class Synthesiser:
    """Produces samples of one ``sim://`` configuration, in order, from sample 0.

    ``generate(n)`` returns the next ``n`` samples as a :class:`SimBlock`; the result is the same
    whatever sizes the calls ask for. ``info`` is the :class:`StreamInfo` a device would report.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        from scipy import signal

        self.config = config = config or SimConfig()
        self.board = hardware.board(config.board).with_bits(config.adc_bits)
        self.fs_hz = float(config.fs_hz)
        self.supply_v = self.board.vref_v
        self.env_gain = hardware.myoware_env_gain(config.pot_kohm)
        self.full_scale = 2**self.board.adc_bits - 1
        seeds = np.random.SeedSequence(config.seed).spawn(6)
        self._rng_a, self._rng_b, self._rng_amp, self._rng_ref, rng_scn, rng_mains = (
            np.random.default_rng(s) for s in seeds
        )
        self.scenario: Scenario = config.scenario_class(
            self.fs_hz, config.effective_level_uv, rng_scn, **config.options
        )
        self._fatigues = config.scenario == "fatigue"
        self._sos_a = emg_shaping_sos(self.fs_hz)
        self._sos_b = emg_shaping_sos(self.fs_hz, FATIGUE_SCALE)
        self._sos_amp = amplifier_noise_sos(self.fs_hz)
        self._sos_env = signal.butter(2, config.env_hz, fs=self.fs_hz, output="sos")
        self._zi_a = np.zeros((len(self._sos_a), 2))
        self._zi_b = np.zeros((len(self._sos_b), 2))
        self._zi_amp = np.zeros((len(self._sos_amp), 2))
        self._zi_env = np.zeros((len(self._sos_env), 2))
        self._mains = [
            (h, a * config.effective_mains_uv * math.sqrt(2.0), rng_mains.uniform(0, 2 * np.pi))
            for h, a in MAINS_HARMONICS.items()
            if h * config.mains_hz < 0.5 * self.fs_hz and config.effective_mains_uv > 0
        ]
        self._mains_cache: dict[tuple[float, int], np.ndarray] = {}
        self._ref_v = self.supply_v / 2.0
        self._kinds = [ChannelKind(c) for c in config.channels]
        self._block_n = max(1, round(self.fs_hz))
        self._block: SimBlock | None = None
        self._offset = 0
        self._position = 0
        self._in_gap = False
        self._clipping = False
        self._mdf_table: tuple[np.ndarray, np.ndarray] | None = None
        self._preroll()
        self.info = self._make_info()

    @classmethod
    def from_url(cls, url: str) -> Synthesiser:
        """A synthesiser for a ``sim://`` URL (speed, chunk_ms and duration_s are ignored)."""
        return cls(parse_sim_url(url))

    @property
    def position(self) -> int:
        """Absolute index of the next sample ``generate`` returns."""
        return self._position

    def _make_info(self) -> StreamInfo:
        cfg, bits, vref = self.config, self.board.adc_bits, self.board.vref_v
        raw_gain = hardware.MYOWARE_RAW_GAIN
        channels = []
        for pin, kind in enumerate(self._kinds):
            # REF carries RAW's scale so RAW - REF works in counts or in uV alike.
            gain = self.env_gain if kind is ChannelKind.ENV else raw_gain
            channels.append(
                ChannelInfo(kind.value, kind, gain, counts_to_uv_scale(vref, bits, gain), pin)
            )
        return StreamInfo(
            fs_hz=self.fs_hz,
            channels=tuple(channels),
            adc_bits=bits,
            vref_v=vref,
            units="counts",
            board=self.board.key,
            device=DEVICE_NAME,
            realtime=math.isfinite(cfg.speed),
            extra={
                "scenario": cfg.scenario,
                "seed": str(cfg.seed),
                "level_uv": f"{cfg.effective_level_uv:g}",
                "mains_hz": f"{cfg.mains_hz:g}",
                "pot_kohm": f"{cfg.pot_kohm:g}",
                "supply_v": f"{self.supply_v:g}",
                "env_hz": f"{cfg.env_hz:g}",
                "speed": "max" if math.isinf(cfg.speed) else f"{cfg.speed:g}",
            },
        )

    # -- analog chain ------------------------------------------------------------------------

    def _emg_unit(self, n: int, mix: np.ndarray | None) -> np.ndarray:
        from scipy import signal

        ea, self._zi_a = signal.sosfilt(self._sos_a, self._rng_a.standard_normal(n), zi=self._zi_a)
        if not self._fatigues:
            return ea
        eb, self._zi_b = signal.sosfilt(self._sos_b, self._rng_b.standard_normal(n), zi=self._zi_b)
        w = np.zeros(n) if mix is None else mix
        return np.sqrt(1.0 - w) * ea + np.sqrt(w) * eb

    def _amp_noise(self, n: int) -> np.ndarray:
        from scipy import signal

        white = self._rng_amp.standard_normal(n) * hardware.AMPLIFIER_NOISE_UV
        out, self._zi_amp = signal.sosfilt(self._sos_amp, white, zi=self._zi_amp)
        return out

    def _preroll(self) -> None:
        """Run the filters for a moment before sample 0 so the stream starts settled."""
        from scipy import signal

        n = max(1, round(_PREROLL_S * self.fs_hz))
        mix = self.scenario.mix_at(np.zeros(n)) if self._fatigues else None
        x = self.scenario.initial_level_uv() * self._emg_unit(n, mix) + self._amp_noise(n)
        zi = signal.sosfilt_zi(self._sos_env)[:, :] * float(np.mean(np.abs(x)))
        _, self._zi_env = signal.sosfilt(self._sos_env, np.abs(x), zi=zi)

    def _mains_uv(self, first: int, n: int) -> np.ndarray | None:
        if not self._mains:
            return None
        # The waveform depends only on the fundamental's phase at ``first``; with whole-number
        # rates every one-second block has the same phase, so the block is computed once.
        start_cycles = math.fmod(first * (self.config.mains_hz / self.fs_hz), 1.0)
        key = (round(start_cycles, 12), n)
        cached = self._mains_cache.get(key)
        if cached is not None:
            return cached
        idx = np.arange(n, dtype=np.float64)
        out = np.zeros(n)
        for h, amp, phase in self._mains:
            cycles = np.mod(h * (start_cycles + idx * (self.config.mains_hz / self.fs_hz)), 1.0)
            out += amp * np.sin(2.0 * np.pi * cycles + phase)
        if len(self._mains_cache) > 8:
            self._mains_cache.clear()
        self._mains_cache[key] = out
        return out

    def _quantise(self, volts: np.ndarray) -> np.ndarray:
        codes = np.floor(volts * (2**self.board.adc_bits / self.board.vref_v) + 0.5)
        return np.clip(codes, 0.0, self.full_scale)

    def _make_block(self, first: int, n: int) -> SimBlock:
        from scipy import signal

        sb = self.scenario.block(first, n)
        emg = sb.level_uv * self._emg_unit(n, sb.mix)
        x = emg + self._amp_noise(n)
        mains = self._mains_uv(first, n)
        if mains is not None:
            x = x + mains
        if sb.artefact_uv is not None:
            x += sb.artefact_uv
        x_raw = x if sb.wander_uv is None else x + sb.wander_uv
        env_arv, self._zi_env = signal.sosfilt(self._sos_env, np.abs(x), zi=self._zi_env)
        ref_v = self._ref_v + REF_NOISE_V * self._rng_ref.standard_normal(n)
        g = hardware.MYOWARE_RAW_GAIN * 1e-6
        raw_v = ref_v + RAW_OFFSET_V + g * x_raw
        volts = {
            ChannelKind.RAW: raw_v,
            ChannelKind.ENV: self.env_gain * 1e-6 * np.maximum(env_arv, 0.0),
            ChannelKind.RECT: g * np.abs(x_raw),
            ChannelKind.REF: ref_v,
        }
        rail = sb.rail if sb.rail is not None and sb.rail.any() else None
        samples = np.empty((n, len(self._kinds)))
        for col, kind in enumerate(self._kinds):
            v = volts[kind]
            if rail is not None and kind is not ChannelKind.REF:
                v = np.where(rail, self.supply_v, v)
            samples[:, col] = self._quantise(np.clip(v, 0.0, self.supply_v))
        raw_codes = self._quantise(
            np.clip(
                np.where(rail, self.supply_v, raw_v) if rail is not None else raw_v,
                0.0,
                self.supply_v,
            )
        )
        clipped = (raw_codes <= 0) | (raw_codes >= self.full_scale)
        flags = np.zeros(n, dtype=np.uint16)
        events = list(sb.events)
        if (sb.missing is not None and sb.missing.any()) or self._in_gap:
            missing = sb.missing if sb.missing is not None else np.zeros(n, dtype=bool)
            samples[missing] = np.nan
            flags[missing] = Flag.MISSING
            found, self._in_gap = _edges(missing, first, self._in_gap, "dropout")
            events += found
        found, self._clipping = _edges(clipped, first, self._clipping, "clip")
        events += found
        events.sort()
        return SimBlock(first, samples, flags, sb.level_uv, emg, x_raw, events)

    # -- public ------------------------------------------------------------------------------

    def generate(self, n: int) -> SimBlock:
        """The next ``n`` samples (chunking never changes the values)."""
        n = int(n)
        if n < 0:
            raise ValueError("n must be >= 0")
        first = self._position
        parts: list[tuple[SimBlock, int, int]] = []
        need = n
        while need > 0:
            if self._block is None or self._offset >= len(self._block):
                start = self._block.end_index if self._block is not None else 0
                self._block = self._make_block(start, self._block_n)
                self._offset = 0
            take = min(need, len(self._block) - self._offset)
            parts.append((self._block, self._offset, self._offset + take))
            self._offset += take
            need -= take
        self._position = first + n

        def cat(name: str) -> np.ndarray:
            arrays = [getattr(b, name)[lo:hi] for b, lo, hi in parts]
            if len(arrays) == 1:
                return arrays[0].copy()
            if not arrays:
                return np.empty((0, len(self._kinds))) if name == "samples" else np.empty(0)
            return np.concatenate(arrays)

        events = [
            e
            for b, lo, hi in parts
            for e in b.events
            if b.first_index + lo <= e[0] < b.first_index + hi
        ]
        flags = cat("flags").astype(np.uint16) if parts else np.zeros(0, dtype=np.uint16)
        return SimBlock(
            first,
            cat("samples"),
            flags,
            cat("truth_uv"),
            cat("emg_uv"),
            cat("electrode_uv"),
            events,
        )

    def median_frequency_hz(self, index: np.ndarray | int) -> np.ndarray:
        """True median frequency (Hz, in the measurement band) of the EMG at sample ``index``."""
        if self._mdf_table is None:
            w = np.linspace(0.0, 1.0, 41)
            self._mdf_table = (w, np.asarray(median_frequency_hz(self.fs_hz, w)))
        t = np.asarray(index, dtype=float) / self.fs_hz
        mix = self.scenario.mix_at(np.atleast_1d(t))
        return np.interp(mix, *self._mdf_table)


def synthesise(
    source: str | SimConfig, n_samples: int | None = None, duration_s: float | None = None
) -> SimBlock:
    """Offline: the first ``n_samples`` (or ``duration_s`` seconds) of a ``sim://`` URL or config.

    Example: ``synthesise("sim://?scenario=steady&level_uv=20&board=12bit", duration_s=10)``.
    """
    synth = Synthesiser(parse_sim_url(source) if isinstance(source, str) else source)
    if n_samples is None:
        if duration_s is None:
            raise ValueError("give n_samples or duration_s")
        n_samples = round(duration_s * synth.fs_hz)
    return synth.generate(n_samples)
