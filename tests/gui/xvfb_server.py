"""A private Xvfb server for the tests that need a real X display, and RandR monitors on it.

Qt's xcb platform makes one QScreen per RandR 1.5 monitor, so one wide Xvfb screen split into
two monitors (:func:`set_monitors`, the ``xrandr --setmonitor`` request through libXrandr) is a
two-screen desk. Monitors belong to the X server until it resets, which it does when its last
client disconnects: the process that sets them keeps its connection (:class:`Monitors`) open.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def xvfb(width: int, height: int) -> Iterator[str]:
    """Start Xvfb with one ``width`` x ``height`` screen on a free display; yields ":N".
    Skips the test when Xvfb is not installed."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (apt install xvfb): no real X display for this test")
    for n in range(120, 220):
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30  # Xvfb starts slowly on a busy machine
        while time.monotonic() < deadline:
            if Path(f"/tmp/.X11-unix/X{n}").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            try:
                yield f":{n}"
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            return
    pytest.skip("no free X display number for Xvfb")


class _MonitorInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_ulong),
        ("primary", ctypes.c_int),
        ("automatic", ctypes.c_int),
        ("noutput", ctypes.c_int),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("mwidth", ctypes.c_int),
        ("mheight", ctypes.c_int),
        ("outputs", ctypes.POINTER(ctypes.c_ulong)),
    ]


class Monitors:
    """RandR monitors on the display in $DISPLAY, set through libXrandr (libX11, libXrandr)."""

    def __init__(self) -> None:
        self.x11 = ctypes.CDLL("libX11.so.6")
        self.xr = ctypes.CDLL("libXrandr.so.2")
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x11.XInternAtom.restype = ctypes.c_ulong
        self.x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        info_p = ctypes.POINTER(_MonitorInfo)
        self.xr.XRRGetMonitors.restype = info_p
        self.xr.XRRGetMonitors.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
        ]
        self.xr.XRRAllocateMonitor.restype = info_p
        self.xr.XRRAllocateMonitor.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.xr.XRRSetMonitor.argtypes = [ctypes.c_void_p, ctypes.c_ulong, info_p]
        self.xr.XRRDeleteMonitor.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        self.display = self.x11.XOpenDisplay(None)
        if not self.display:
            raise RuntimeError("cannot open the X display in $DISPLAY")
        self.root = self.x11.XDefaultRootWindow(self.display)
        count = ctypes.c_int()
        first = self.xr.XRRGetMonitors(self.display, self.root, 0, ctypes.byref(count))
        #: the X screen's output (Xvfb has one), given to the first monitor set
        self.output = first[0].outputs[0]

    def set(self, name: str, geometry: tuple[int, int, int, int], primary: bool = False) -> None:
        """Add (or change) the monitor ``name``; the primary one takes the X screen's output."""
        outputs = [self.output] if primary else []
        mon = self.xr.XRRAllocateMonitor(self.display, len(outputs))
        mon[0].name = self.x11.XInternAtom(self.display, name.encode(), 0)
        mon[0].primary = int(primary)
        mon[0].automatic = 0
        mon[0].x, mon[0].y, mon[0].width, mon[0].height = geometry
        mon[0].mwidth, mon[0].mheight = geometry[2] * 254 // 960, geometry[3] * 254 // 960
        for i, output in enumerate(outputs):
            mon[0].outputs[i] = output
        self.xr.XRRSetMonitor(self.display, self.root, mon)
        self.x11.XSync(self.display, 0)

    def delete(self, name: str) -> None:
        """Remove the monitor ``name`` (a screen unplugged)."""
        atom = self.x11.XInternAtom(self.display, name.encode(), 0)
        self.xr.XRRDeleteMonitor(self.display, self.root, atom)
        self.x11.XSync(self.display, 0)
