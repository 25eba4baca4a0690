"""Protocol drivers: one module per protocol, registered by name in ``base.DRIVERS``."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from .base import DRIVERS, DeviceBinding, DeviceStatus, Driver, Emit, register

#: the module that registers each built-in connection kind (``connections[].driver``)
BUILTIN = {
    "modbus_tcp": "monitor.drivers.modbus",
    "modbus_rtu_over_tcp": "monitor.drivers.modbus",
    "modbus_rtu": "monitor.drivers.modbus",
    "modbus_ascii": "monitor.drivers.modbus",
    "mqtt": "monitor.drivers.mqtt",
}


def load_drivers(kinds: Iterable[str]) -> None:
    """Import the built-in driver modules of ``kinds`` only, so that their ``@register`` runs.

    A site of Modbus devices never imports the MQTT client (aiomqtt and paho,
    ~4 MB of the daemon's resident memory), nor an MQTT site pymodbus. A kind
    with no built-in module is left for ``DRIVERS`` lookup to report.
    """
    for kind in set(kinds) - DRIVERS.keys():
        module = BUILTIN.get(kind)
        if module is not None:
            importlib.import_module(module)


__all__ = ["BUILTIN", "DRIVERS", "DeviceBinding", "DeviceStatus", "Driver", "Emit",
           "load_drivers", "register"]
