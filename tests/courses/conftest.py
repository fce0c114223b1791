"""The window test here runs offscreen with the same application set-up as tests/gui (its
conftest's fixtures are loaded from there, not copied)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_spec = importlib.util.spec_from_file_location(
    "_gui_conftest", Path(__file__).resolve().parents[1] / "gui" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_gui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gui)

_libraries_loaded = _gui._libraries_loaded
qapp_args = _gui.qapp_args
_themed = _gui._themed
