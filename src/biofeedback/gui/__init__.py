"""The desktop window: the only package that imports Qt (PySide6) and pyqtgraph.

Data never crosses threads as Qt signals per chunk: :class:`~biofeedback.gui.bridge.EngineBridge`
pulls windows from the engine's ring buffers on a timer, and only discrete events (connected,
reconnecting, lost) are re-emitted as queued signals (docs/architecture.md, principle 3).
"""
