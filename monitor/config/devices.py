"""Connections (buses, gateways, brokers), devices on them, and device profiles.

A profile is the register map (or payload map) of a device family, kept as data
in ``config/devices/*.yaml``; a device names its profile and may override
channels of it. Decoding parameters are derived here, once, at load time.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import ConfigModel, Name
from .durations import Duration
from .mqtt import check_topic_filter, parse_json_path
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
    # MQTT location of the value (see monitor/config/mqtt.py and docs/mqtt.md)
    topic: str | None = Field(
        None, description="MQTT topic or filter ('+', '#'); {topic} is the device's base topic"
    )
    payload: Literal["number", "json"] | None = Field(
        None, description="MQTT payload format; default json if json_path is set, else number"
    )
    json_path: str | None = Field(None, description="Path of the value in a JSON payload: a.b[0]")
    unit_path: str | None = Field(None, description="Path of the unit the device sends, if any")
    payload_unit: str | None = Field(
        None, description="Unit string the device sends for `unit` (e.g. '°C'); default `unit`"
    )
    timestamp_path: str | None = Field(None, description="Path of the device's own timestamp")
    timestamp_format: Literal["auto", "s", "ms", "us", "ns", "iso8601"] = "auto"
    value_map: dict[str, float] = Field(
        default_factory=dict, description="Text or true/false values to numbers: {open: 1}"
    )

    @field_validator("json_path", "unit_path", "timestamp_path")
    @classmethod
    def _json_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        return None if value is None else check_topic_filter(value)

    @model_validator(mode="after")
    def _consistent(self) -> ChannelSpec:
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError("range must be [low, high] with low < high")
        bit_tables = (RegisterTable.COIL, RegisterTable.DISCRETE)
        if (self.table in bit_tables) != (self.type is DataType.BOOL) and self.address is not None:
            raise ValueError("coil and discrete channels have type bool, and only they do")
        if self.bit is not None and self.type not in (DataType.U16, DataType.S16):
            raise ValueError("bit selects one bit of a 16-bit status word (type u16)")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    @property
    def register_count(self) -> int:
        return REGISTER_WIDTH[self.type]


class CommandSpec(ConfigModel):
    """A write the driver may send on request.

    FC05 for a coil, FC06 for a 16-bit register, FC16 for a wider value.
    """

    table: Literal["holding", "coil"] = "holding"
    address: int = Field(ge=0, le=65535)
    type: DataType = DataType.U16
    byte_order: ByteOrder = ByteOrder.ABCD
    value: int | None = Field(None, description="Fixed value to write; None: the caller gives it")
    description: str = ""


class StatusBit(ConfigModel):
    """One bit of a status word and what it means for the readings."""

    bit: int = Field(ge=0, le=31)
    name: str = Field(description="Short name used in a reading's detail, e.g. 'laser'")
    quality: Literal["device_fault", "out_of_range", "invalid", "maintenance", "none"] = Field(
        "device_fault", description="Quality readings get while the condition holds"
    )
    active_low: bool = Field(False, description="True: the condition holds when the bit is 0")


class StatusWord(ConfigModel):
    """A device status register whose bits qualify every reading of the device."""

    table: RegisterTable = RegisterTable.HOLDING
    address: int = Field(ge=0, le=65535)
    type: Literal["u16", "u32"] = "u16"
    byte_order: ByteOrder = ByteOrder.ABCD
    bits: list[StatusBit] = Field(min_length=1)


class ParticleCounterSpec(ConfigModel):
    """A remote particle counter's record buffer (Lighthouse-style by default).

    The host writes a record index to ``record_index_address`` (holding), then
    reads the selected record from the input registers: timestamp, sample time,
    data status and one count per particle channel (channels whose quantity
    starts with ``particles_``, in the order of their addresses).
    """

    record_count_address: int = Field(23, ge=0, le=65535)
    record_index_address: int = Field(24, ge=0, le=65535)
    hold_time_address: int | None = Field(
        30, ge=0, le=65535, description="Holding u32 seconds, high word first"
    )
    flow_address: int | None = Field(22, ge=0, le=65535, description="Holding, u16")
    flow_scale: float = Field(0.01, description="Flow register x scale = flow in flow_unit")
    flow_unit: Literal["cfm", "lpm"] = "cfm"
    nominal_flow_lpm: float = Field(28.3, gt=0, description="Used when no flow register")
    record_address: int = Field(0, ge=0, le=65535, description="Input register of the record")
    timestamp_offset: int = Field(0, ge=0, description="u32 Unix seconds, high word first")
    sample_time_offset: int = Field(2, ge=0, description="u32 seconds, high word first")
    data_status_offset: int | None = Field(6, ge=0, description="u32, high word first")
    data_status_bits: list[StatusBit] = Field(default_factory=list)
    counts: Literal["cumulative", "differential"] = "cumulative"
    timestamp_is: Literal["sample_end", "sample_start"] = Field(
        "sample_end", description="What the record's timestamp marks; readings carry the end"
    )
    max_catch_up: int = Field(
        500, ge=1, description="Most records read in one poll while catching up"
    )


class ProfileConfig(ConfigModel):
    """A device family's map; ``source`` says where it comes from (vendor manual or generic)."""

    kind: Literal[
        "particle_counter", "differential_pressure", "co2_incubator", "temperature_humidity",
        "generic",
    ]
    family: str = Field(description="Real device family this profile follows, or 'generic'")
    source: str = Field(description="Where the map comes from: manual and version, or 'generic'")
    channels: list[ChannelSpec] = Field(min_length=1)
    status: StatusWord | None = Field(
        None, description="Status word whose bits turn readings into device_fault"
    )
    particle_counter: ParticleCounterSpec | None = Field(
        None, description="Record-buffer parameters of a remote particle counter"
    )
    commands: dict[Name, CommandSpec] = Field(
        default_factory=dict, description="Named writes: start_sampling, stop_sampling..."
    )
    max_gap: int = Field(
        8, ge=0, le=120,
        description="Unused registers a coalesced read may span between two channels",
    )
    max_registers: int = Field(
        125, ge=1, le=125, description="Largest register read the device accepts (FC03/04)"
    )

    @model_validator(mode="after")
    def _particle_counter_consistent(self) -> ProfileConfig:
        if self.kind == "particle_counter" and self.particle_counter is None:
            raise ValueError("a particle_counter profile needs a 'particle_counter' section")
        return self


class ModbusTcpConnection(ConfigModel):
    name: Name
    driver: Literal["modbus_tcp", "modbus_rtu_over_tcp"]
    host: str
    port: int = Field(502, ge=1, le=65535)
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=10)
    connect_delay: Duration = Field(0.0, description="Wait after connecting (slow gateways)")
    keep_open: bool = Field(True, description="False: close between polls (single-client devices)")
    backoff_max: Duration = Field(60.0, description="Longest wait between polls of a dead device")
    start_jitter: Duration = Field(
        1.0, description="Spread of first poll times; polls still fire on a 50 ms grid"
    )
    start_phases: int | None = Field(
        None, ge=1, le=1000,
        description="First polls at this many offsets spread evenly over start_jitter "
        "(fewer wake-ups); default: any 50 ms step",
    )


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
    connect_delay: Duration = 0.0
    keep_open: bool = True
    backoff_max: Duration = 60.0
    start_jitter: Duration = 1.0
    start_phases: int | None = Field(None, ge=1, le=1000)


class MqttConnection(ConfigModel):
    name: Name
    driver: Literal["mqtt"]
    host: str
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    client_id: str | None = Field(
        None, description="Fixed id of the persistent session; default cm-<host name>-<name>"
    )
    clean_session: bool = Field(
        False, description="False: the broker keeps QoS 1 messages while the daemon is away"
    )
    qos: Literal[0, 1] = 1
    tls: bool = False
    ca_file: str | None = Field(None, description="CA bundle; default the system's")
    cert_file: str | None = Field(None, description="Client certificate (mutual TLS)")
    key_file: str | None = None
    tls_insecure: bool = Field(False, description="Skip the host name check (test brokers only)")
    keepalive: Duration = 30.0
    shared_group: Name | None = Field(None, description="Subscribe as $share/GROUP/... ")
    subscriptions: list[str] = Field(
        default_factory=list,
        description="Topic filters to subscribe to; default the channels' own topics",
    )
    reconnect_min: Duration = Field(0.5, description="First wait before reconnecting")
    reconnect_max: Duration = Field(30.0, description="Longest wait between reconnects")
    max_payload: int = Field(
        65536, ge=16, le=16 * 1024 * 1024, description="Larger payloads are counted as malformed"
    )
    retained: Literal["ignore", "accept"] = Field(
        "ignore", description="Retained messages are last values of unknown age: ignored by default"
    )

    @field_validator("subscriptions")
    @classmethod
    def _filters(cls, value: list[str]) -> list[str]:
        for topic in value:
            check_topic_filter(topic, placeholder=False)
        return value

    @model_validator(mode="after")
    def _tls_consistent(self) -> MqttConnection:
        if not self.tls and (self.ca_file or self.cert_file or self.key_file or self.tls_insecure):
            raise ValueError("ca_file, cert_file, key_file and tls_insecure need tls: true")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        if self.reconnect_min > self.reconnect_max:
            raise ValueError("reconnect_min must not exceed reconnect_max")
        return self


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
    retries: int | None = Field(None, ge=0, le=10, description="Overrides the connection's")
    max_gap: int | None = Field(None, ge=0, le=120, description="Overrides the profile's")
    enabled: bool = True
    topic: str | None = Field(None, description="MQTT: base topic substituted for {topic}")
    channels: list[ChannelSpec] = Field(
        default_factory=list, description="Channels that replace the profile's of the same name"
    )
    calibration_due: date | None = Field(
        None, description="Last day the calibration is valid, YYYY-MM-DD (site.timezone)")
    calibration_certificate: str | None = None

    @field_validator("calibration_due", mode="before")
    @classmethod
    def _due_date(cls, value: object) -> object:
        """A due date that cannot be read is a config error, not an overdue alarm at run time."""
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value  # YAML reads an unquoted 2027-03-01 as a date
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as err:
                raise ValueError(f"{value!r} is not a calendar date ({err})") from None
        shown = repr(value) if isinstance(value, str) else str(value)
        raise ValueError(f"{shown} is not a date: write the last day the calibration is "
                         "valid as YYYY-MM-DD")
