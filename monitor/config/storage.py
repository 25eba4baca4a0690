"""Where readings go: the embedded SQLite store (always) and optional InfluxDB sinks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import ConfigModel, Name
from .durations import Duration
from .secrets import Secret


class EmbeddedStoreConfig(ConfigModel):
    retention: Duration = Field(90 * 86400, description="How long readings are kept locally")
    commit_interval: Duration = Field(0.5, description="Readings are committed in batches")


class InfluxV2Sink(ConfigModel):
    name: Name
    type: Literal["influxdb_v2"]
    url: str
    org: str = "cleanroom"
    bucket: str = "cleanroom"
    token: Secret | None = None
    batch_size: int = Field(5000, ge=1, le=100000)
    flush_interval: Duration = 1.0


class InfluxV1Sink(ConfigModel):
    name: Name
    type: Literal["influxdb_v1"]
    url: str
    database: str = "cleanroom"
    retention_policy: str | None = None
    username: str | None = None
    password: Secret | None = None
    batch_size: int = Field(5000, ge=1, le=100000)
    flush_interval: Duration = 1.0


Sink = Annotated[InfluxV2Sink | InfluxV1Sink, Field(discriminator="type")]


class StorageConfig(ConfigModel):
    embedded: EmbeddedStoreConfig = EmbeddedStoreConfig()
    sinks: list[Sink] = Field(default_factory=list)
