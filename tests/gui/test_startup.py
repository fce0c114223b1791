"""The window appears before the slow libraries load (gui.preload): a regression guard.

``scipy.signal`` (1.5-2 s) and ``pyqtgraph`` (~1 s) are imported on a worker thread after the
window is shown. One module-level import of either on the way to the window would put that time
back in front of the first frame, so a fresh interpreter checks what the window's modules pull in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from biofeedback.gui import preload

CHECK = """
import json, sys
import biofeedback.cli
biofeedback.cli.build_parser()  # every subcommand's module, as `biofeedback gui` loads them
import biofeedback.gui.main_window
print(json.dumps({name: name in sys.modules for name in %r}))
"""


def test_the_window_modules_do_not_import_the_slow_libraries():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run(
        [sys.executable, "-c", CHECK % (preload.HEAVY_MODULES,)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == dict.fromkeys(preload.HEAVY_MODULES, False)


def test_loaded_reports_the_modules_present():
    assert preload.loaded(("sys", "json"))
    assert not preload.loaded(("sys", "biofeedback_no_such_module"))
