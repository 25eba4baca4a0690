"""Modbus TCP, RTU, ASCII and RTU-over-TCP: buses, plans, decoding, records, the driver.

Importing the package registers ``ModbusDriver`` under the connection
``driver:`` names modbus_tcp, modbus_rtu_over_tcp, modbus_rtu and modbus_ascii.
"""

from .bus import Bus, BusError
from .decode import ChannelDecoder, assembler, encode
from .driver import ModbusDriver
from .plan import ReadRequest, plan_reads

__all__ = [
    "Bus", "BusError", "ChannelDecoder", "ModbusDriver", "ReadRequest", "assembler", "encode",
    "plan_reads",
]
