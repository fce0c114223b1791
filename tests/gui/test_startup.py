"""The window appears before the slow libraries load (gui.preload): a regression guard.

``scipy.signal`` (1.5-2 s) and ``pyqtgraph`` (~1 s) are imported on a worker thread after the
window is shown. One module-level import of either on the way to the window would put that time
back in front of the first frame, so a fresh interpreter checks what the window's modules pull in.
The store, the session recorder, the outcome instruments, the signal doctor and the exporter are
not needed for the first data frame either: they load when first used (docs/performance.md,
"Start-up").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from biofeedback.gui import preload


def _child(code: str, timeout: float, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (offscreen Qt); the JSON of its last line."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **env)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


CHECK = """
import json, sys
import biofeedback.cli
biofeedback.cli.build_parser()  # every subcommand's module, as `biofeedback gui` loads them
import biofeedback.gui.main_window
print(json.dumps({name: name in sys.modules for name in %r}))
"""


def test_the_window_modules_do_not_import_the_slow_libraries():
    imported = _child(CHECK % (preload.HEAVY_MODULES,), timeout=120)
    assert imported == dict.fromkeys(preload.HEAVY_MODULES, False)


#: Modules the window does not need until a session, a questionnaire, a check or an export.
LOADED_WHEN_USED = (
    "biofeedback.storage.database",
    "biofeedback.storage.export",
    "biofeedback.session",
    "biofeedback.outcomes",
    "biofeedback.diagnostics",
    "biofeedback.gui.check_signal",
    "biofeedback.gui.course_model",
)

LIVE = """
import json, sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from biofeedback.gui.main_window import MainWindow
before = {name: name in sys.modules for name in %r}
w = MainWindow("sim://?scenario=relax&board=12bit", safety_check=False, audio=False,
               remember=False, ask_pain=False)
w.show()
w.start()
deadline = time.monotonic() + 60.0
while (w.bridge is None or w.bridge.first_index is None) and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
data = w.bridge is not None and w.bridge.first_index is not None
after = {name: name in sys.modules for name in %r}
w.shutdown()
print(json.dumps({"data": data, "before": before, "after": after}))
"""


def test_the_first_data_frame_does_not_load_the_store_or_the_exporter(tmp_path):
    code = LIVE % (LOADED_WHEN_USED, LOADED_WHEN_USED)
    seen = _child(code, timeout=180, BIOFEEDBACK_HOME=str(tmp_path))
    assert seen["data"], "the simulated source sent no data within 60 s"
    nothing = dict.fromkeys(LOADED_WHEN_USED, False)
    assert seen["before"] == nothing  # importing and building the window
    assert seen["after"] == nothing  # opening the source and receiving its data


def test_loaded_reports_the_modules_present():
    assert preload.loaded(("sys", "json"))
    assert not preload.loaded(("sys", "biofeedback_no_such_module"))
