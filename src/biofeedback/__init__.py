"""biofeedback: surface-EMG relaxation biofeedback (MyoWare + Arduino, real-time RMS in microvolts)."""

#: The version, in one place: pyproject.toml reads it from here (``[tool.setuptools.dynamic]``), so
#: ``biofeedback --version`` is right from an installed package and from a source tree alike.
__version__ = "0.1.0"
