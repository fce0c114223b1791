"""biofeedback: surface-EMG relaxation biofeedback (MyoWare + Arduino, real-time RMS in microvolts)."""

__version__ = "0.1.0"
