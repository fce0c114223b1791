"""The application model: what the window shows and does, without Qt.

The model holds the state a clinician changes from the window (source and channel setup,
per-channel targets, markers, the session lifecycle and its failures, the subject, the
preferences) and emits change events (:class:`~biofeedback.appmodel.events.Signal`). Widgets in
:mod:`biofeedback.gui` subscribe to those events and send commands back; a headless test drives
the model the same way the window does. Nothing here imports PySide6 or pyqtgraph
(docs/architecture.md, "The application model").
"""
