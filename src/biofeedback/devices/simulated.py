"""``sim://``: a simulated MyoWare 2.0 on an Arduino-class board, a Device like any other.

``sim://?scenario=relax&seed=1&fs=1000&board=12bit&channels=raw,env&level_uv=5&mains_hz=50&speed=max``

``board`` (uno, 12bit, uno-r4) sets the supply and ADC; ``bits`` (8..16) overrides the board's ADC
resolution, e.g. ``board=uno-r4&bits=10`` for an Uno R4 left at the Arduino core's default.

The samples come from :class:`~biofeedback.devices.sim_synth.Synthesiser` (signal model and
options documented there and in :mod:`~biofeedback.devices.sim_scenarios`); this module adds the
thread, drift-free pacing (``speed=1`` real time, ``speed=10`` ten times faster, ``speed=max`` as
fast as the consumer takes them), ``chunk_ms`` chunks and an optional ``duration_s``.

Ground truth for tests: ``device.truth`` is a :class:`RingBuffer` of the true EMG RMS (uV) per
sample, indexed like the chunks and written before each chunk is delivered; ``device.events``
lists ``(index, name)`` events delivered so far; ``device.synthesiser.scenario`` exposes the
scenario's script (e.g. ``contraction(k)`` and ``recovery_time_s(threshold)`` for
``tense-release``). For offline work without threads use :func:`synthesise` or
:class:`Synthesiser`.
"""

from __future__ import annotations

import math

import numpy as np

from biofeedback.core.clock import Clock, MonotonicClock, Pacer
from biofeedback.core.ringbuffer import RingBuffer
from biofeedback.core.types import Chunk, StreamInfo
from biofeedback.devices.base import ThreadedDevice
from biofeedback.devices.facts_types import SourceFacts, setup_from_url
from biofeedback.devices.sim_scenarios import SCENARIOS, Scenario, truth_recovery_time_s
from biofeedback.devices.sim_synth import (
    SimBlock,
    SimConfig,
    Synthesiser,
    parse_sim_url,
    synthesise,
)
from biofeedback.devices.source_url import SourceURL

__all__ = [
    "SCENARIOS",
    "SimBlock",
    "SimConfig",
    "SimulatedDevice",
    "Synthesiser",
    "parse_sim_url",
    "synthesise",
    "truth_recovery_time_s",
]


class SimulatedDevice(ThreadedDevice):
    """Simulated sensor streaming ADC counts on its own thread.

    Parameters
    ----------
    config:
        What to simulate (default: ``steady`` at 5 uV on an Uno, real time).
    url:
        The URL text, for messages.
    clock:
        Clock used for pacing (pass a ``FakeClock`` in tests); unused at ``speed=max``.
    truth_capacity_s:
        Seconds of ground truth kept in :attr:`truth`.
    """

    scheme = "sim"
    on_body = False  # the signal is made up: no electrodes, no checklist
    kind_label = "simulated sensor"
    url_options = (
        "scenario",
        "seed",
        "fs",
        "board",
        "bits",
        "channels",
        "level_uv",
        "mains_hz",
        "mains_uv",
        "pot_kohm",
        "env_hz",
        "speed",
        "chunk_ms",
        "duration_s",
    )

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        url: str = "",
        clock: Clock | None = None,
        truth_capacity_s: float = 600.0,
    ) -> None:
        super().__init__(url or "sim://")
        self.config = config or SimConfig()
        self.clock: Clock = clock or MonotonicClock()
        self.synthesiser = Synthesiser(self.config)
        capacity = max(1, round(truth_capacity_s * self.synthesiser.fs_hz))
        #: True EMG RMS (uV at the electrodes, 20-450 Hz) per absolute sample index.
        self.truth = RingBuffer(capacity, dtype=np.float64)
        #: ``(index, name)`` events of the samples delivered so far, in order.
        self.events: list[tuple[int, str]] = []
        self._pending: SimBlock | None = None
        self._pending_offset = 0
        self._pending_event = 0
        self._pending_flagged = False
        self._delivered = 0

    @property
    def finite(self) -> bool:
        """True when ``duration_s`` was given."""
        return self.config.duration_s is not None

    @property
    def speed(self) -> float:
        """Pacing factor (1: real time; ``math.inf`` for ``speed=max``); the rate check expects
        ``fs x speed`` samples per second."""
        return self.config.speed

    @classmethod
    def from_url(cls, url: SourceURL | str, clock: Clock | None = None) -> SimulatedDevice:
        """Build from a parsed (or text) ``sim://`` URL; bad options raise SourceURLError."""
        text = url if isinstance(url, str) else url.text
        return cls(parse_sim_url(url), url=text, clock=clock)

    @classmethod
    def facts(cls, url: SourceURL) -> SourceFacts:
        """A simulated sensor on the URL's board (an Uno when it names none), plus the
        scenario's own options; the app's Board/ADC choice applies."""
        scenario = url.params.get("scenario") or url.path.strip("/") or "steady"
        board, bits = setup_from_url(url, "uno")
        own = tuple(SCENARIOS[scenario].options) if scenario in SCENARIOS else ()
        return SourceFacts(
            url=url.text,
            scheme=cls.scheme,
            kind=cls.kind_label,
            label=f"{cls.kind_label} ({scenario})",
            on_body=cls.on_body,
            options=cls.url_options + own,
            takes_setup=True,
            board=board,
            adc_bits=bits,
        )

    @property
    def scenario(self) -> Scenario:
        """The running scenario script (see :mod:`biofeedback.devices.sim_scenarios`)."""
        return self.synthesiser.scenario

    def open(self) -> StreamInfo:
        """Nothing to connect: report the stream format."""
        self.info = self.synthesiser.info
        return self.info

    def _run(self) -> bool:
        cfg = self.config
        synth = self.synthesiser
        chunk_n = cfg.chunk_samples
        total = cfg.total_samples
        # Synthesise about a second at a time and hand out chunk-sized views of it: the values
        # do not depend on this, and per-chunk overhead stays small at speed=max.
        ahead_n = chunk_n * max(1, round(synth.fs_hz / chunk_n))
        pacer: Pacer | None = None
        if math.isfinite(cfg.speed):
            pacer = Pacer(synth.fs_hz * cfg.speed, self.clock)
            pacer.start(self._delivered)
        while not self._stop_event.is_set():
            if self._pending is None or self._pending_offset >= len(self._pending):
                n = ahead_n if total is None else min(ahead_n, total - synth.position)
                if n <= 0:
                    return True
                self._pending, self._pending_offset, self._pending_event = synth.generate(n), 0, 0
                self._pending_flagged = bool(self._pending.flags.any())
            block = self._pending
            lo = self._pending_offset
            hi = min(lo + chunk_n, len(block))
            first = block.first_index + lo
            if pacer is not None and not pacer.wait_for(first + hi - lo, self._stop_event):
                return False
            self._pending_offset = hi
            self._deliver(block, lo, hi)
        return False

    def _deliver(self, block: SimBlock, lo: int, hi: int) -> None:
        first = block.first_index + lo
        self.truth.write(block.truth_uv[lo:hi], first)
        events = block.events
        end = first + hi - lo
        while self._pending_event < len(events) and events[self._pending_event][0] < end:
            self.events.append(events[self._pending_event])
            self._pending_event += 1
        flags = block.flags[lo:hi]
        if self._pending_flagged and flags.any():
            self.stats.missing_samples += int(np.count_nonzero(flags))
        self._delivered = end
        self._emit(Chunk(first, block.samples[lo:hi], flags))
