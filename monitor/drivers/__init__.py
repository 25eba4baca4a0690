"""Protocol drivers: one module per protocol, registered by name in ``base.DRIVERS``."""

from .base import DRIVERS, DeviceBinding, DeviceStatus, Driver, Emit, register

__all__ = ["DRIVERS", "DeviceBinding", "DeviceStatus", "Driver", "Emit", "register"]
