"""Trace drawing cost: the project's ScrollingTrace against pyqtgraph's stock PlotDataItem.

The claim under test (``src/biofeedback/gui/live_plot.py`` docstring): for 4 channels x 2 kHz
with 10 s windows, ``PlotDataItem.setData`` on the full-rate window with ``setClipToView(True)``
and ``setDownsampling(auto=True, method="peak")`` costs ~23 ms per frame against 3.5-4 ms for
:class:`~biofeedback.gui.live_plot.ScrollingTrace`, the difference between 60 fps within half a
core or not. Target for the live window: a frame's traces well inside the 16.7 ms of a 60 Hz frame.

Three windows of the same size (default 1280x800), each four stacked per-channel plot widgets
(raw trace above, envelope below; in the app's 1280x800 window the plots are ~680 px wide, which
``--size 720x800`` approximates):

- ``scrolling``: the real :class:`~biofeedback.gui.live_plot.LivePlotWidget` (ScrollingTrace),
  fed the way the app feeds it: a real :class:`~biofeedback.engine.Engine` (its pipeline and ring
  buffers) and a real :class:`~biofeedback.gui.bridge.EngineBridge`, whose fast-tick handler reads
  the new rows, peak-decimates them (``PeakDecimator``) and emits ``frame_ready``; the slot is the
  trace part of ``MainWindow._on_frame`` (``plot.set_data(...)``, ``plot.set_markers([])``).
  Threshold line and noise-floor line set, y ranges set once from the data (``update_ranges``).
- ``stock``: plain ``pg.GraphicsLayoutWidget`` per channel with two plots (stock axes), a raw
  and an envelope ``PlotDataItem`` (pen width 1, no antialiasing, ``setClipToView(True)``,
  ``setDownsampling(auto=True, method="peak")``), fixed x and y ranges (auto-range off), fed the
  full-rate 10 s window every frame: the new rows are read from the same kind of engine ring
  buffer and written into a preallocated double-length array (every sample stored at ``i`` and
  ``i + n``), so the window is always a contiguous view ``buf[:, h:h + n]`` (no ``np.roll``, no
  copy); x is one fixed time array. Note that ``PlotItem.addItem`` overwrites an item's
  clip-to-view and downsampling with the plot's own settings (off by default), so both are set on
  the plots and again on the items, and the run stops if they are not in effect.
- ``stock-in-liveplot``: a ``LivePlotWidget`` whose ScrollingTraces are taken out and replaced by
  the same stock PlotDataItems, fed like ``stock``: the trace choice alone, with our cached axes,
  layout, threshold and noise lines unchanged.

Data: 4 RAW channels at 2 kHz in uV, band-limited noise (20-450 Hz) at 3 uV with bursts to
30 uV (1.2 s every 3 s, staggered across channels), through the real pipeline. Chunks are 10 ms
(20 samples); frames follow a 60 Hz schedule on the sample clock, so a frame gets 1 or 2 chunks
(33.3 samples per channel on average), as the 60 Hz timer does in the app. The pipeline and the
ring-buffer write (the engine's device thread in the app) run outside the timed part.

Timed per frame (``time.perf_counter`` and ``time.process_time``): the GUI-thread update (read,
decimate or copy, set the data) plus a synchronous repaint by ``QApplication.processEvents()``
right after it. That runs Qt's real paint path: the scene's queued dirty-region processing, the
UpdateRequest, each view's ``paintEvent`` for the dirty region only, and the backing-store flush;
the benchmark checks that every view painted exactly once per frame. (``viewport().repaint()``
repaints the whole viewport, axes included, and Qt then paints the dirty region a second time from
the queued scene update; ``grab()`` renders into a separate pixmap, skipping the backing store:
neither is what a frame costs in the app.) Each variant: 10 s of data to fill the window, then
``--warmup`` frames, then ``--frames`` timed frames, back to back; the variants' frames are
interleaved (each round draws one frame of every variant, in rotating order) so that a load change
on the shared machine hits them alike, or one variant after the other with ``--sequential``.
Reported, with the update / paint split of the median: median, mean, p95,
p99 and max ms per frame, frames per second achievable back to back, process CPU seconds per
second of frames at 60 fps (share of one core), and the ratios stock / scrolling.

    python benchmarks/traces.py [--frames 600] [--warmup 60] [--size 1280x800]
                                [--variants scrolling,stock,stock-in-liveplot] [--sequential]
                                [--xvfb]

Offscreen by default (``QT_QPA_PLATFORM=offscreen``, raster painting into a QImage); ``--xvfb``
starts Xvfb on a free display (as ``benchmarks/gui.py`` does) and uses the xcb platform. The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt

from biofeedback.core.types import ChannelInfo, ChannelKind, Chunk, StreamInfo
from biofeedback.devices.base import Device

N_CHANNELS = 4
FS_HZ = 2000.0
CHUNK = 20  # 10 ms at 2 kHz
FRAME_HZ = 60.0
WINDOW_S = 10.0
THRESHOLD_UV = 10.0
VARIANTS = ("scrolling", "stock", "stock-in-liveplot")


# ----------------------------------------------------------------------------- data
def synthetic_uv(seconds: float, seed: int = 0) -> np.ndarray:
    """[n, 4] uV: band-limited noise at 3 uV RMS with 1.2 s bursts to 30 uV every 3 s."""
    n = int(seconds * FS_HZ)
    rng = np.random.default_rng(seed)
    sos = butter(4, [20, 450], btype="bandpass", fs=FS_HZ, output="sos")
    noise = sosfiltfilt(sos, rng.standard_normal((n, N_CHANNELS)), axis=0)
    noise /= noise.std(axis=0)
    t = np.arange(n) / FS_HZ
    level = np.empty((n, N_CHANNELS))
    for c in range(N_CHANNELS):
        phase = (t + 0.7 * c) % 3.0
        # 1.2 s burst with 100 ms raised-cosine edges
        rise = np.clip(phase / 0.1, 0, 1)
        fall = np.clip((1.2 - phase) / 0.1, 0, 1)
        on = np.minimum(rise, fall) * (phase < 1.2)
        level[:, c] = 3.0 + 27.0 * 0.5 * (1 - np.cos(np.pi * on))
    return noise * level


class ArrayDevice(Device):
    """A device that never runs a thread: the benchmark hands its chunks to the engine itself."""

    scheme = "bench"

    def __init__(self) -> None:
        super().__init__("bench://traces")

    def open(self) -> StreamInfo:
        channels = tuple(
            ChannelInfo(f"ch{i + 1}", ChannelKind.RAW, scale_uv=1.0) for i in range(N_CHANNELS)
        )
        self.info = StreamInfo(FS_HZ, channels, units="uV", device="bench")
        return self.info

    def start(self, on_chunk, on_status=None) -> None:
        raise RuntimeError("ArrayDevice is fed by the benchmark")

    def stop(self) -> None:
        pass


class Feed:
    """Real engine (pipeline + ring buffers) fed synchronously, 10 ms chunks on a 60 Hz schedule."""

    def __init__(self, samples: np.ndarray) -> None:
        from biofeedback.engine import Engine

        self.samples = samples
        self.engine = Engine(ArrayDevice())
        self.engine.open()
        self.chunks = 0
        self.frames = 0
        self._base = 0

    def push_chunks(self, n: int) -> None:
        for _ in range(n):
            i = self.chunks * CHUNK
            if i + CHUNK > len(self.samples):
                raise SystemExit("ran out of synthetic data (internal error)")
            self.engine._on_chunk(Chunk(i, self.samples[i : i + CHUNK]))
            self.chunks += 1

    def fill(self, seconds: float) -> None:
        """Push ``seconds`` of chunks at once; the 60 Hz frame schedule starts after them."""
        self.push_chunks(round(seconds * FS_HZ / CHUNK))
        self._base = self.chunks
        self.frames = 0

    def push_frame(self) -> None:
        """The chunks that arrive during one 60 Hz frame (1 or 2: 1.67 on average)."""
        self.frames += 1
        due = math.floor(self.frames * FS_HZ / (CHUNK * FRAME_HZ) + 1e-9)
        self.push_chunks(due - (self.chunks - self._base))


def data_seconds(warmup: int, frames: int) -> float:
    return WINDOW_S + 1.0 + (warmup + frames + 10) / FRAME_HZ + 1.0


# ----------------------------------------------------------------------------- windows
def make_app(theme: bool = True):
    from PySide6.QtWidgets import QApplication

    from biofeedback.gui.theme import apply_theme

    app = QApplication.instance() or QApplication(["biofeedback-bench-traces"])
    if theme:
        apply_theme(app)
    return app


def stack(widgets, size: tuple[int, int]):
    """Top-level window with the widgets stacked, shown at ``size``."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    window = QWidget()
    layout = QVBoxLayout(window)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(4)
    for w in widgets:
        layout.addWidget(w, 1)
    window.resize(*size)
    window.show()
    return window


def stock_options(item) -> None:
    item.setClipToView(True)
    item.setDownsampling(auto=True, method="peak")


def stock_item(pen):
    import pyqtgraph as pg

    item = pg.PlotDataItem(pen=pen)
    stock_options(item)
    return item


class MirrorWindow:
    """The last ``n`` samples of ``k`` channels as a contiguous view, without np.roll or copies:
    each sample is stored at ``i`` and ``i + n`` of a preallocated [k, 2n] array."""

    def __init__(self, k: int, n: int) -> None:
        self.n = n
        self.buf = np.full((k, 2 * n), np.nan)
        self.head = 0  # slot of the oldest sample

    def push(self, new: np.ndarray) -> None:
        m = new.shape[1]
        if m >= self.n:
            new, m = new[:, -self.n :], self.n
        idx = (self.head + np.arange(m)) % self.n
        self.buf[:, idx] = new
        self.buf[:, idx + self.n] = new
        self.head = (self.head + m) % self.n

    def view(self) -> np.ndarray:
        return self.buf[:, self.head : self.head + self.n]


def robust_range(values: np.ndarray, floor: float = 0.0) -> float:
    """The y range LivePlotWidget.update_ranges would pick (99.5th percentile x 1.15, nice)."""
    from biofeedback.gui.live_plot import nice_ceiling

    finite = values[np.isfinite(values)]
    peak = float(np.percentile(finite, 99.5)) if finite.size else 0.0
    return nice_ceiling(max(peak, floor) * 1.15)


class ScrollingVariant:
    """LivePlotWidgets fed by the real EngineBridge (what the clinician view draws)."""

    def __init__(self, feed: Feed, size: tuple[int, int]) -> None:
        from biofeedback.gui.bridge import EngineBridge
        from biofeedback.gui.live_plot import LivePlotWidget

        self.feed = feed
        self.plots = [LivePlotWidget(window_s=WINDOW_S) for _ in range(N_CHANNELS)]
        self.window = stack(self.plots, size)
        self.bridge = EngineBridge(feed.engine, window_s=WINDOW_S, fast_hz=FRAME_HZ)
        self.bridge.start(start_engine=False)
        # the benchmark ticks the bridge itself: no timers
        self.bridge._ticking = False
        for timer in (self.bridge.fast_timer, self.bridge.slow_timer, self.bridge.watch_timer):
            timer.stop()
        self.bridge.frame_ready.connect(self._on_frame)
        for plot in self.plots:
            plot.set_threshold(THRESHOLD_UV)

    def _on_frame(self) -> None:
        # the trace part of MainWindow._on_frame
        bridge = self.bridge
        if bridge.new_rows:
            t_sig, t_env = bridge.t_peaks_s, bridge.t_columns_s
            signal, envelope = bridge.signal_peaks.out, bridge.envelope_peaks.out
            peaks = bridge.signal_peaks
            end_column, fraction = peaks.total, peaks.fraction
            for c, plot in enumerate(self.plots):
                plot.set_data(t_sig, signal[c], t_env, envelope[c], end_column, fraction)
                plot.set_markers([])

    def update(self) -> None:
        self.bridge._on_fast_tick()

    def set_ranges(self) -> None:
        bridge = self.bridge
        pipeline = self.feed.engine.pipeline
        floors = np.asarray(getattr(pipeline, "noise_floor_uv", np.full(N_CHANNELS, np.nan)))
        for c, plot in enumerate(self.plots):
            plot.set_noise_floor(float(floors.ravel()[c]))
            plot.update_ranges(
                bridge.signal_peaks.out[c], bridge.envelope_peaks.out[c], THRESHOLD_UV
            )

    def views(self):
        return [p.viewport() for p in self.plots]

    def extra(self) -> dict:
        return {
            "full_renders_per_trace": round(
                float(np.mean([p.raw_curve.full_renders for p in self.plots])), 1
            ),
            "lost_rows": int(self.bridge.lost_rows),
        }

    def close(self) -> None:
        self.bridge.stop()
        self.window.close()
        self.window.deleteLater()


class StockVariant:
    """PlotDataItems fed the full-rate 10 s window each frame (clip to view, auto peak
    downsampling). ``in_liveplot``: inside LivePlotWidgets, their ScrollingTraces removed."""

    def __init__(self, feed: Feed, size: tuple[int, int], in_liveplot: bool) -> None:
        import pyqtgraph as pg

        from biofeedback.gui.live_plot import LivePlotWidget
        from biofeedback.gui.theme import PALETTE, color

        self.feed = feed
        n = round(WINDOW_S * FS_HZ)
        self.t_s = (np.arange(n, dtype=np.float64) - (n - 1)) / FS_HZ
        self.signal = MirrorWindow(N_CHANNELS, n)
        self.envelope = MirrorWindow(N_CHANNELS, n)
        self.reader = feed.engine.processed.reader()
        raw_pen = pg.mkPen(color(PALETTE.raw_trace), width=1)
        env_pen = pg.mkPen(color(PALETTE.envelope_trace), width=1)
        self.widgets = []
        self.plot_pairs = []
        self.items = []
        for _ in range(N_CHANNELS):
            if in_liveplot:
                w = LivePlotWidget(window_s=WINDOW_S)
                w.set_threshold(THRESHOLD_UV)
                for trace in (w.raw_curve, w.env_curve):
                    trace.plot.removeItem(trace.image)
                    trace.plot.removeItem(trace.tail)
                raw_plot, env_plot = w.raw_plot, w.env_plot
            else:
                w = pg.GraphicsLayoutWidget()
                raw_plot = w.addPlot(row=0, col=0)
                env_plot = w.addPlot(row=1, col=0)
                for plot in (raw_plot, env_plot):
                    plot.vb.disableAutoRange()
                    plot.setMouseEnabled(x=False, y=False)
                    plot.hideButtons()
                    plot.setMenuEnabled(False)
                    plot.setXRange(-WINDOW_S, 0, padding=0)
                env_plot.setXLink(raw_plot)
            raw_item, env_item = stock_item(raw_pen), stock_item(env_pen)
            for plot, item in ((raw_plot, raw_item), (env_plot, env_item)):
                # PlotItem.addItem overwrites an item's clip-to-view and downsampling with the
                # plot's own (off by default): set both on the plot, and again on the item
                plot.setClipToView(True)
                plot.setDownsampling(auto=True, mode="peak")
                plot.addItem(item)
                stock_options(item)
            self.widgets.append(w)
            self.plot_pairs.append((raw_plot, env_plot))
            self.items.append((raw_item, env_item))
        self.in_liveplot = in_liveplot
        self.window = stack(self.widgets, size)

    def update(self) -> None:
        _, rows = self.reader.read()
        if len(rows):
            self.signal.push(rows["signal"].T)
            self.envelope.push(rows["envelope"].T)
            signal, envelope = self.signal.view(), self.envelope.view()
            for c, (raw_item, env_item) in enumerate(self.items):
                raw_item.setData(self.t_s, signal[c])
                env_item.setData(self.t_s, envelope[c])

    def set_ranges(self) -> None:
        signal, envelope = self.signal.view(), self.envelope.view()
        pipeline = self.feed.engine.pipeline
        floors = np.asarray(getattr(pipeline, "noise_floor_uv", np.full(N_CHANNELS, np.nan)))
        for c, (raw_plot, env_plot) in enumerate(self.plot_pairs):
            if self.in_liveplot:
                w = self.widgets[c]
                w.set_noise_floor(float(floors.ravel()[c]))
                w.update_ranges(signal[c], envelope[c], THRESHOLD_UV)
            else:
                raw = robust_range(np.abs(signal[c]))
                env = robust_range(envelope[c], THRESHOLD_UV * 1.6)
                raw_plot.setYRange(-raw, raw, padding=0.04)
                env_plot.setYRange(0, env, padding=0.02)

    def views(self):
        return [w.viewport() for w in self.widgets]

    def extra(self) -> dict:
        raw_item = self.items[0][0]
        shown = raw_item.curve.getData()[0]
        opts = raw_item.opts
        if not (
            opts["clipToView"] and opts["autoDownsample"] and opts["downsampleMethod"] == "peak"
        ):
            raise SystemExit(f"stock item options not in effect: {opts}")
        return {
            "auto_downsample_factor": int(raw_item._adsLastValue),
            "points_drawn_per_raw_trace": 0 if shown is None else len(shown),
            "lost_rows": int(self.reader.lost),
        }

    def close(self) -> None:
        self.window.close()
        self.window.deleteLater()


# ----------------------------------------------------------------------------- measurement
class PaintCounter:
    """Counts paint events of the views (event filter)."""

    def __init__(self, views) -> None:
        from PySide6.QtCore import QEvent, QObject

        counter = self
        self.counts = {id(v): 0 for v in views}

        class Filter(QObject):
            def eventFilter(self, obj, event):
                if event.type() == QEvent.Type.Paint:
                    counter.counts[id(obj)] = counter.counts.get(id(obj), 0) + 1
                return False

        self._filter = Filter()
        for v in views:
            v.installEventFilter(self._filter)

    def take(self) -> list[int]:
        values = list(self.counts.values())
        for key in self.counts:
            self.counts[key] = 0
        return values


def make_variant(name: str, feed: Feed, size: tuple[int, int]):
    if name == "scrolling":
        return ScrollingVariant(feed, size)
    return StockVariant(feed, size, in_liveplot=name == "stock-in-liveplot")


def measure(names: list[str], samples: np.ndarray, frames: int, warmup: int, size) -> dict:
    """Frames of all variants interleaved (each frame: every variant once, the order rotating),
    so a load change on the shared machine hits them alike."""
    app = make_app()
    variants = []
    for name in names:
        feed = Feed(samples)
        variant = make_variant(name, feed, size)
        for _ in range(5):
            app.processEvents()
        feed.fill(WINDOW_S + 1.0)  # the 10 s window full before the first frame
        variant.update()
        variant.set_ranges()
        app.processEvents()
        variants.append((name, feed, variant, PaintCounter(variant.views())))
    wall = np.empty((len(names), frames))
    update = np.empty((len(names), frames))
    cpu = np.empty((len(names), frames))
    bad_paints = [0] * len(names)
    for k in range(warmup + frames):
        for r in range(len(variants)):
            i = (k + r) % len(variants)
            _, feed, variant, counter = variants[i]
            feed.push_frame()  # the engine's device thread in the app: not timed
            counter.take()
            t0, c0 = time.perf_counter(), time.process_time()
            variant.update()
            t_mid = time.perf_counter()
            app.processEvents()
            t1, c1 = time.perf_counter(), time.process_time()
            if k >= warmup:
                wall[i, k - warmup] = t1 - t0
                update[i, k - warmup] = t_mid - t0
                cpu[i, k - warmup] = c1 - c0
                bad_paints[i] += sum(1 for n in counter.take() if n != 1)
    results = {}
    for i, (name, _, variant, _) in enumerate(variants):
        ms, up = wall[i] * 1000, update[i] * 1000
        result = {
            "ms_median": round(float(np.median(ms)), 2),
            "ms_mean": round(float(ms.mean()), 2),
            "ms_p95": round(float(np.percentile(ms, 95)), 2),
            "ms_p99": round(float(np.percentile(ms, 99)), 2),
            "ms_max": round(float(ms.max()), 2),
            "ms_update_median": round(float(np.median(up)), 2),
            "ms_paint_median": round(float(np.median(ms - up)), 2),
            "fps_back_to_back": round(frames / float(wall[i].sum()), 1),
            "cpu_s_per_s_at_60fps": round(float(cpu[i].sum()) / (frames / FRAME_HZ), 3),
            "views_not_painted_once": bad_paints[i],
        }
        result.update(variant.extra())
        results[name] = result
        variant.close()
    app.processEvents()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="timed frames per variant")
    parser.add_argument("--warmup", type=int, default=60, help="untimed frames before them")
    parser.add_argument("--size", default="1280x800", help="window size WxH")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument(
        "--sequential", action="store_true", help="one variant after the other, not interleaved"
    )
    parser.add_argument("--xvfb", action="store_true", help="start Xvfb and use xcb")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r} (choose from {', '.join(VARIANTS)})")
    xvfb = None
    if args.xvfb:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from gui import start_xvfb

        xvfb, display = start_xvfb()
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    else:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("BIOFEEDBACK_HOME", "/tmp/biofeedback-bench-home")
    samples = synthetic_uv(data_seconds(args.warmup, args.frames))
    result: dict = {
        "platform": os.environ["QT_QPA_PLATFORM"],
        "size": list(size),
        "channels": N_CHANNELS,
        "fs_hz": FS_HZ,
        "window_s": WINDOW_S,
        "frames": args.frames,
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    try:
        if args.sequential:
            measured = {}
            for name in variants:
                measured.update(measure([name], samples, args.frames, args.warmup, size))
        else:
            measured = measure(variants, samples, args.frames, args.warmup, size)
        for name, r in measured.items():
            result[name] = r
            print(
                f"{name:>18}: median {r['ms_median']:6.2f} ms  mean {r['ms_mean']:6.2f}  "
                f"p95 {r['ms_p95']:6.2f}  p99 {r['ms_p99']:6.2f}  max {r['ms_max']:6.2f}  "
                f"-> {r['fps_back_to_back']:6.1f} fps back to back, "
                f"{r['cpu_s_per_s_at_60fps']:.3f} CPU s per s at 60 fps",
                flush=True,
            )
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
    if "scrolling" in result:
        base = result["scrolling"]
        for name in ("stock", "stock-in-liveplot"):
            if name in result:
                ratio = {
                    k: round(result[name][f"ms_{k}"] / base[f"ms_{k}"], 1)
                    for k in ("median", "p95", "mean")
                }
                result[f"ratio_{name.replace('-', '_')}_vs_scrolling"] = ratio
                print(
                    f"{name} / scrolling: {ratio['median']}x median, {ratio['p95']}x p95, "
                    f"{ratio['mean']}x mean"
                )
    result["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
