"""Connections (buses, gateways, brokers), devices on them, and device profiles.

A profile is the register map (or payload map) of a device family, kept as data
in ``config/devices/*.yaml``; a device names its profile and may override
channels of it. Decoding parameters are derived here, once, at load time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import ConfigModel, Name
from .durations import Duration
from .secrets import Secret


class RegisterTable(StrEnum):
    COIL = "coil"  # FC01
    DISCRETE = "discrete"  # FC02
    HOLDING = "holding"  # FC03
    INPUT = "input"  # FC04


class DataType(StrEnum):
    U16 = "u16"
    S16 = "s16"
    U32 = "u32"
    S32 = "s32"
    F32 = "f32"
    U64 = "u64"
    BOOL = "bool"


REGISTER_WIDTH = {
    DataType.U16: 1, DataType.S16: 1, DataType.U32: 2, DataType.S32: 2,
    DataType.F32: 2, DataType.U64: 4, DataType.BOOL: 1,
}


class ByteOrder(StrEnum):
    """Order of the bytes of a multi-register value, A the most significant.

    ABCD big-endian (Modbus default); CDAB word-swapped (Vaisala, Lighthouse
    analog floats); BADC byte-swapped; DCBA little-endian.
    """

    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"


class ChannelSpec(ConfigModel):
    """One measured quantity of a device."""

    name: Name
    quantity: str = Field(
        description="What is measured: particles_0_5um, particles_5_0um, differential_pressure, "
        "temperature, relative_humidity, co2, o2, door, status..."
    )
    unit: str = Field(description="Unit after scaling, e.g. Pa, degC, %RH, %, particles/m3")
    # Modbus location of the value (absent for MQTT channels)
    table: RegisterTable = RegisterTable.HOLDING
    address: int | None = Field(None, ge=0, le=65535, description="Protocol address, 0-based")
    type: DataType = DataType.U16
    byte_order: ByteOrder = ByteOrder.ABCD
    scale: float = 1.0
    offset: float = 0.0
    bit: int | None = Field(None, ge=0, le=15, description="Read one bit of a status word")
    nan_values: list[int] = Field(
        default_factory=list, description="Raw values that mean 'no value' (sentinels)"
    )
    range: tuple[float, float] | None = Field(
        None, description="Physical range of the sensor; outside it the quality is out_of_range"
    )
    # MQTT location of the value
    topic: str | None = None
    json_path: str | None = Field(None, description="Dotted path into a JSON payload")

    @model_validator(mode="after")
    def _range_ordered(self) -> ChannelSpec:
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError("range must be [low, high] with low < high")
        return self

    @property
    def register_count(self) -> int:
        return REGISTER_WIDTH[self.type]


class ProfileConfig(ConfigModel):
    """A device family's map. ``source`` says where the map comes from (vendor manual or generic)."""

    kind: Literal[
        "particle_counter", "differential_pressure", "co2_incubator", "temperature_humidity",
        "generic",
    ]
    family: str = Field(description="Real device family this profile follows, or 'generic'")
    source: str = Field(description="Where the map comes from: manual and version, or 'generic'")
    channels: list[ChannelSpec] = Field(min_length=1)
    particle_counter: dict[str, object] | None = Field(
        None, description="Record-buffer parameters of a remote particle counter"
    )


class ModbusTcpConnection(ConfigModel):
    name: Name
    driver: Literal["modbus_tcp", "modbus_rtu_over_tcp"]
    host: str
    port: int = Field(502, ge=1, le=65535)
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=10)
    connect_delay: Duration = 0.0
    keep_open: bool = True


class ModbusSerialConnection(ConfigModel):
    name: Name
    driver: Literal["modbus_rtu", "modbus_ascii"]
    port: str = Field(description="Serial device, e.g. /dev/ttyUSB0")
    baudrate: int = 19200
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=10)


class MqttConnection(ConfigModel):
    name: Name
    driver: Literal["mqtt"]
    host: str
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    client_id: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive: Duration = 30.0
    shared_group: str | None = Field(None, description="Subscribe as $share/GROUP/... ")


Connection = Annotated[
    ModbusTcpConnection | ModbusSerialConnection | MqttConnection,
    Field(discriminator="driver"),
]


class DeviceConfig(ConfigModel):
    name: Name
    connection: Name
    location: Name
    profile: Name
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (slave) id")
    poll_interval: Duration = 1.0
    timeout: Duration | None = Field(None, description="Overrides the connection's timeout")
    enabled: bool = True
    topic: str | None = Field(None, description="MQTT: base topic substituted for {topic}")
    channels: list[ChannelSpec] = Field(
        default_factory=list, description="Channels that replace the profile's of the same name"
    )
    calibration_due: str | None = Field(None, description="ISO date the calibration expires")
    calibration_certificate: str | None = None
