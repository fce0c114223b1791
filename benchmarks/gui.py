"""GUI figures under Xvfb: frame rate, GUI-thread CPU, start to first frame, muscle-to-pixel latency.

Targets (issue 4): median >= 58 fps with the ~60 Hz timer and the GUI thread <= 50 % of one core
at 4 channels x 2 kHz with 10 s windows; start to first drawn frame <= 2 s; muscle-to-pixel latency
<= 75 ms with the 100 ms RMS window.

    python benchmarks/gui.py [--seconds 10] [--steps 20] [--no-xvfb]
    python benchmarks/gui.py --soak 1800        # 30 minutes of sim:// streaming, window open

The source is a small bench device (4 RAW channels x 2 kHz in uV, band-limited noise, 10 ms
chunks paced in real time) so the figures measure the window, not the simulator. Latency: every
``2 s`` all channels step from 2 to 14 uV RMS; the target is set from the two plateaus the
pipeline reports to sqrt((rest^2 + step^2) / 2), which a 100 ms moving RMS reaches 50 ms after
the step (half the window: the SPEC budget's RMS term). The latency is the time from the step's sample time (device clock, paced) to the first
paint of the gauge in its "above target" colour; the report splits it into the RMS-window part
(sample clock) and the rest (chunking, timer, drawing).

Xvfb is started on a free display unless --no-xvfb (then $DISPLAY is used). The last line printed
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from rss import rss_growth
from scipy.signal import butter, sosfiltfilt

from biofeedback.core.clock import Pacer
from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, StreamInfo
from biofeedback.devices.base import ThreadedDevice

REST_UV = 2.0
STEP_UV = 14.0
THRESHOLD_UV = 10.0


class BenchDevice(ThreadedDevice):
    """RAW channels in uV: band-limited Gaussian noise at REST_UV, stepping to STEP_UV for the
    second half of every ``step_period_s`` (if given). ``t0`` is the sample clock's origin."""

    scheme = "bench"

    def __init__(
        self,
        n_channels: int = 4,
        fs_hz: float = 2000.0,
        chunk_ms: float = 10.0,
        step_period_s: float | None = None,
    ) -> None:
        super().__init__("bench://4x2kHz")
        self.n_channels = n_channels
        self.fs_hz = fs_hz
        self.chunk = max(1, round(chunk_ms * fs_hz / 1000))
        self.step_period = None if step_period_s is None else round(step_period_s * fs_hz)
        rng = np.random.default_rng(0)
        sos = butter(4, [30, 400], btype="bandpass", fs=fs_hz, output="sos")
        noise = sosfiltfilt(sos, rng.standard_normal((1 << 16, n_channels)), axis=0)
        self.noise = noise / noise.std(axis=0)
        self.t0 = 0.0

    def open(self) -> StreamInfo:
        channels = tuple(
            ChannelInfo(f"ch{i + 1}", ChannelKind.RAW, scale_uv=1.0) for i in range(self.n_channels)
        )
        self.info = StreamInfo(self.fs_hz, channels, units="uV", device="bench")
        return self.info

    def level(self, index: np.ndarray) -> np.ndarray:
        """True RMS (uV) per sample index."""
        if self.step_period is None:
            return np.full(len(index), REST_UV)
        return np.where(index % self.step_period >= self.step_period // 2, STEP_UV, REST_UV)

    def step_onsets(self, upto: int) -> list[int]:
        """Sample indices where the level steps up, below ``upto``."""
        if self.step_period is None:
            return []
        half = self.step_period // 2
        return list(range(half, upto, self.step_period))

    def sample_time(self, index: int) -> float:
        """Monotonic time at which sample ``index`` was taken (paced)."""
        return self.t0 + index / self.fs_hz

    def _run(self) -> bool:
        pacer = Pacer(self.fs_hz)
        pacer.start(0)
        self.t0 = pacer.due_time(0)
        n = len(self.noise)
        i = 0
        while not self._stop_event.is_set():
            if not pacer.wait_for(i + self.chunk, self._stop_event):
                return False
            idx = np.arange(i, i + self.chunk)
            samples = self.noise[idx % n] * self.level(idx)[:, None]
            self._emit(Chunk(i, samples))
            i += self.chunk
        return False


# ----------------------------------------------------------------------------- Xvfb
def start_xvfb() -> tuple[subprocess.Popen, str]:
    """Start Xvfb on a free display number; returns (process, ":N")."""
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb not found (apt install xvfb), or run with --no-xvfb on a desktop")
    for n in range(90, 200):
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                return proc, f":{n}"
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise SystemExit("could not start Xvfb on any display :90-:199")


# ----------------------------------------------------------------------------- helpers
def make_app():
    from PySide6.QtWidgets import QApplication

    from biofeedback.gui.theme import apply_theme

    app = QApplication.instance() or QApplication(["biofeedback-bench"])
    apply_theme(app)
    return app


def run_for(seconds: float) -> None:
    """Run the Qt event loop for ``seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def make_window(source, window_s: float = 10.0):
    from biofeedback.gui.main_window import MainWindow

    window = MainWindow(source, safety_check=False, audio=False, remember=False, window_s=window_s)
    window.resize(1280, 800)
    window.show()
    return window


def start_window(window) -> None:
    """Open the window's source; in a fresh process that waits for the libraries the window
    loads in the background (gui.preload), as the app does."""
    if not window.start():
        raise SystemExit(f"could not start the source: {window.banner.text}")
    deadline = time.monotonic() + 60
    while window.pending_source is not None and time.monotonic() < deadline:
        run_for(0.05)
    if window.bridge is None:
        raise SystemExit(f"the source did not open: {window.banner.text}")


class PaintCounter:
    """Counts paint events of a widget (event filter), with timestamps."""

    def __init__(self, widget) -> None:
        from PySide6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, obj, event):
                if event.type() == QEvent.Type.Paint:
                    counter.times.append(time.monotonic())
                return False

        self.times: list[float] = []
        self._filter = Filter()
        widget.installEventFilter(self._filter)


def rss_mb() -> float:
    """Resident memory of this process (MB), from /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ----------------------------------------------------------------------------- measurements
def measure_fps(seconds: float) -> dict:
    """Median fps and GUI-thread CPU at 4 ch x 2 kHz, 10 s windows."""
    make_app()
    device = BenchDevice()
    window = make_window(device)
    start_window(window)
    for c in range(len(window.cards)):
        window.set_threshold(c, THRESHOLD_UV, "bench")
    run_for(11.0)  # warm up: the 10 s window full, ranges settled
    counter = PaintCounter(window.cards[0].plot.viewport())
    gauge_paints0 = window.cards[0].gauge.paint_count
    ticks0 = window.bridge.frames
    cpu0, proc0, t0 = time.thread_time(), time.process_time(), time.monotonic()
    run_for(seconds)
    cpu1, proc1, t1 = time.thread_time(), time.process_time(), time.monotonic()
    wall = t1 - t0
    times = np.array(counter.times)
    per_second = [int(np.sum((times >= t0 + k) & (times < t0 + k + 1))) for k in range(int(wall))]
    result = {
        "channels": 4,
        "fs_hz": 2000,
        "window_s": 10,
        "timer_hz": window.bridge.fast_hz,
        "fps_median": float(statistics.median(per_second)) if per_second else 0.0,
        "fps_min": int(min(per_second)) if per_second else 0,
        "fps_mean": round(len(times) / wall, 1),
        "gauge_fps_mean": round((window.cards[0].gauge.paint_count - gauge_paints0) / wall, 1),
        "timer_ticks_per_s": round((window.bridge.frames - ticks0) / wall, 1),
        "gui_thread_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
        "process_cpu_pct": round(100 * (proc1 - proc0) / wall, 1),
        "lost_rows": int(window.bridge.lost_rows),
    }
    window.close()
    return result


def measure_latency(steps: int) -> dict:
    """Muscle-to-pixel latency of the gauge for ``steps`` steps (one every 2 s)."""
    make_app()
    period_s = 2.0
    device = BenchDevice(step_period_s=period_s)
    window = make_window(device)
    start_window(window)
    for c in range(len(window.cards)):
        window.set_threshold(c, THRESHOLD_UV, "bench")
    # Calibrate the target to the step the pipeline actually reports: the envelope value halfway
    # between the two plateaus in mean square, sqrt((rest^2 + step^2) / 2), is what a 100 ms
    # moving RMS reaches 50 ms after the step (half the window, the SPEC budget's RMS term).
    run_for(2 * period_s + 0.5)
    first, rows = window.engine.processed.read_range(0, window.engine.processed.end_index)
    env0 = rows["envelope"][:, 0]
    index = np.arange(first, first + len(env0))
    phase = index % device.step_period
    half = device.step_period // 2
    settled = (phase % half) > int(0.3 * device.fs_hz)  # 300 ms after each edge
    rest_rms = float(np.sqrt(np.nanmean(env0[settled & (phase < half)] ** 2)))
    step_rms = float(np.sqrt(np.nanmean(env0[settled & (phase >= half)] ** 2)))
    threshold = float(np.sqrt((rest_rms**2 + step_rms**2) / 2))
    for c in range(len(window.cards)):
        window.set_threshold(c, threshold, "bench")
    calibrated_from = window.engine.processed.end_index
    gauge = window.cards[0].gauge
    paints: list[tuple[float, str, int]] = []
    gauge.paint_listeners.append(
        lambda g: paints.append((time.monotonic(), g.state, window.bridge.latest_index))
    )
    run_for(steps * period_s + 1.0)
    processed = window.engine.processed
    end = processed.end_index
    first, rows = processed.read_range(max(0, end - processed.capacity), end)
    env = rows["envelope"][:, 0]
    latencies, rms_delays = [], []
    parts: dict[str, list[float]] = {"chunk": [], "gui": []}
    for onset in device.step_onsets(end - int(0.5 * device.fs_hz)):
        if onset < calibrated_from + device.step_period // 4:
            continue
        t_step = device.sample_time(onset)
        after = [t for t, state, idx in paints if state == "tense" and idx > onset and t > t_step]
        before_tense = [
            t for t, state, _ in paints if t_step - 0.4 < t < t_step and state == "tense"
        ]
        if not after or before_tense:
            continue  # not settled to calm before this step, or no paint captured
        latencies.append((after[0] - t_step) * 1000)
        lo = onset - first
        if 0 <= lo < len(env):
            above = np.nonzero(env[lo:] >= threshold)[0]
            if len(above):
                rms_delays.append(above[0] / device.fs_hz * 1000)
                # where the rest goes: the crossing sample waits for its chunk to end (chunk),
                # then the window notices it and draws the gauge (gui)
                cross = onset + int(above[0])
                t_due = device.sample_time((cross // device.chunk + 1) * device.chunk)
                parts["chunk"].append((t_due - device.sample_time(cross)) * 1000)
                parts["gui"].append((after[0] - t_due) * 1000)
    window.close()
    lat = np.array(latencies)
    rms = np.array(rms_delays)
    return {
        "latency_threshold_uv": round(threshold, 2),
        "latency_plateaus_uv": [round(rest_rms, 2), round(step_rms, 2)],
        "latency_steps": len(lat),
        "latency_ms_median": round(float(np.median(lat)), 1) if len(lat) else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "latency_ms_max": round(float(lat.max()), 1) if len(lat) else None,
        "rms_window_part_ms_median": round(float(np.median(rms)), 1) if len(rms) else None,
        "overhead_ms_median": round(float(np.median(lat) - np.median(rms)), 1)
        if len(lat) and len(rms)
        else None,
        "overhead_parts_ms_median": {
            k: round(float(np.median(v)), 1) for k, v in parts.items() if v
        },
    }


#: Runs in a fresh interpreter: the real command line (``biofeedback gui --source ...``) with
#: hooks that note when the window's first frame has been drawn and when the first gauge frame
#: showing data has been drawn, and then quit.
STARTUP_CHILD = """
import time
T0 = time.monotonic()
import json
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
import biofeedback.gui.main_window as mw
marks = {"t0": T0}

def mark(key):
    marks.setdefault(key, time.monotonic())

class FirstPaint(QObject):
    # the first paint event for the main window: marked when the event loop next runs,
    # i.e. once that frame has been drawn and flushed
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "window_frame" not in marks:
            w = obj.window() if hasattr(obj, "window") else None
            if isinstance(w, mw.MainWindow):
                QTimer.singleShot(0, lambda: mark("window_frame"))
        return False

original_init = mw.MainWindow.__init__
def init(self, *args, **kwargs):
    mark("imports_done")
    original_init(self, *args, **kwargs)
    self._bench_filter = FirstPaint()
    QApplication.instance().installEventFilter(self._bench_filter)
mw.MainWindow.__init__ = init

original_build = mw.MainWindow._build_cards
def build_cards(self, engine, info):
    mark("source_opening")
    original_build(self, engine, info)
    def on_paint(gauge):
        if self.bridge is not None and self.bridge.first_index is not None:
            if "data_frame" not in marks:
                QTimer.singleShot(0, lambda: (mark("data_frame"), QApplication.instance().quit()))
    for card in self.cards:
        card.gauge.paint_listeners.append(on_paint)
mw.MainWindow._build_cards = build_cards

from biofeedback.cli import main
code = main(["gui", "--source", "sim://?scenario=relax&board=12bit"])
print(json.dumps(marks))
"""


def measure_startup(repeats: int = 5) -> dict:
    """Seconds from launching ``biofeedback gui`` (a new Python process) to the window's first
    drawn frame, and to the first drawn frame whose gauge shows data; medians of ``repeats``
    runs, with the best alongside (the machine is shared). The split shows where the time goes:
    imports before the window, the window, the libraries loaded after it (gui.preload)."""
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        t_spawn = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", STARTUP_CHILD],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ.copy(),
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            raise SystemExit(f"startup child failed: {out.stderr[-2000:]}")
        marks = json.loads(lines[-1])
        runs.append({k: v - t_spawn for k, v in marks.items() if k != "t0"})

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 3)

    return {
        "start_to_first_frame_s": median("window_frame"),
        "start_to_first_frame_s_best": round(min(r["window_frame"] for r in runs), 3),
        "start_to_first_data_frame_s": median("data_frame"),
        "start_to_first_data_frame_s_best": round(min(r["data_frame"] for r in runs), 3),
        "start_split_s": {
            "imports_before_window": median("imports_done"),
            "window_frame": median("window_frame"),
            "libraries_loaded_source_opens": median("source_opening"),
            "data_frame": median("data_frame"),
        },
    }


def soak_growth(minutes: list[dict]) -> dict:
    """RSS growth over the soak from its mark at >= 2 minutes (the record benchmark's start; the
    first mark when the soak is shorter) to the last, per hour and extrapolated to 8 hours."""
    if len(minutes) < 2:
        return {}
    first = next((m for m in minutes if m["t_s"] >= 120), minutes[0])
    if first is minutes[-1]:
        first = minutes[0]
    span = minutes[minutes.index(first) :]
    g = rss_growth([(m["t_s"] / 3600.0, m["rss_mb"]) for m in span])
    return {
        "soak_rss_growth_from_s": first["t_s"],
        "soak_rss_growth_mb": round(g["growth_mb"], 2),
        "soak_rss_growth_mb_per_h": round(g["per_h"], 2),
        "soak_rss_growth_mb_per_8h": round(g["per_h"] * 8.0, 1),
        "soak_rss_growth_second_half_mb_per_8h": round(g["second_half_per_h"] * 8.0, 1),
    }


class FrameGaps:
    """Frame count and longest gap between frames, in constant memory (a list of every frame
    time would itself grow by ~7 MB an hour and hide the window's own growth)."""

    def __init__(self) -> None:
        self.count = 0
        self.last: float | None = None
        self.max_gap = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.count += 1


def soak(seconds: float, sim_truth_s: float = 10.0) -> dict:
    """Stream sim:// in real time for ``seconds`` with the window open; watch for hangs and growth.

    The simulator's ground-truth ring (a test aid the window never reads; 4.8 MB at its default
    600 s, filling during the first 10 minutes) is kept at ``sim_truth_s`` so that the memory
    figures are the window's.
    """
    from biofeedback.devices.simulated import SimulatedDevice, parse_sim_url

    make_app()
    url = "sim://?scenario=tense-release&board=12bit&seed=3"
    window = make_window(SimulatedDevice(parse_sim_url(url), url=url, truth_capacity_s=sim_truth_s))
    start_window(window)
    frames = FrameGaps()
    window.bridge.frame_ready.connect(frames)
    run_for(5.0)
    rss0 = rss_mb()
    samples0 = window.bridge.latest_index
    t0 = time.monotonic()
    minutes = []
    while time.monotonic() - t0 < seconds:
        run_for(min(60.0, seconds - (time.monotonic() - t0)))
        minutes.append({"t_s": round(time.monotonic() - t0), "rss_mb": round(rss_mb(), 2)})
        print(json.dumps({"soak": minutes[-1], "frames": frames.count}), flush=True)
    wall = time.monotonic() - t0
    result = {
        "soak_s": round(wall, 1),
        "soak_samples": int(window.bridge.latest_index - samples0),
        "soak_expected_samples": int(wall * window.bridge.fs_hz),
        "soak_frames": frames.count,
        "soak_max_frame_gap_s": round(frames.max_gap, 3),
        "soak_rss_start_mb": round(rss0, 1),
        "soak_rss_end_mb": round(rss_mb(), 1),
        **soak_growth(minutes),
        "soak_lost_rows": int(window.bridge.lost_rows),
        "soak_state": str(window.bridge.state),
    }
    window.close()
    result["soak_threads_after_close"] = [t.name for t in threading.enumerate()]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="fps measurement length")
    parser.add_argument("--steps", type=int, default=20, help="latency steps (2 s each)")
    parser.add_argument("--soak", type=float, default=0.0, help="only run a soak of this many s")
    parser.add_argument("--no-xvfb", action="store_true", help="use the current $DISPLAY")
    args = parser.parse_args()
    xvfb = None
    if not args.no_xvfb:
        xvfb, display = start_xvfb()
        os.environ["DISPLAY"] = display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.setdefault("BIOFEEDBACK_HOME", "/tmp/biofeedback-bench-home")
    try:
        if args.soak:
            result = soak(args.soak)
        else:
            result = {"cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2)}
            result.update(measure_startup())
            result.update(measure_fps(args.seconds))
            result.update(measure_latency(args.steps))
            result["targets_met"] = {
                "fps": result["fps_median"] >= 58,
                "gui_cpu": result["gui_thread_cpu_pct"] <= 50,
                "start": result["start_to_first_frame_s"] <= 2.0,
                "latency": (result["latency_ms_median"] or 1e9) <= 75,
            }
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
