"""Sources of samples: simulated, serial (the only package that imports pyserial), replay."""

from biofeedback.devices.base import Device, DeviceState, DeviceStats, DeviceStatus, ThreadedDevice
from biofeedback.devices.registry import open_device, parse_source_url

__all__ = [
    "Device",
    "DeviceState",
    "DeviceStats",
    "DeviceStatus",
    "ThreadedDevice",
    "open_device",
    "parse_source_url",
]
