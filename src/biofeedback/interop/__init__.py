"""Streaming to and from the tools of the field while a session runs (docs/interop.md).

Lab Streaming Layer outlets (raw, envelope, markers), an LSL marker inlet that turns another
program's markers into session markers, and OSC messages for games and patches. Everything here is
off until the user switches it on: nothing listens or sends otherwise. The sources that *read* LSL
streams and BrainFlow boards are devices (``lsl://``, ``brainflow://``) and live in
:mod:`biofeedback.devices`.

This layer sits beside :mod:`biofeedback.diagnostics`: it subscribes to the engine (samples) and to
a session's events (markers, phases, thresholds); the CLI and the window switch it on.
"""
