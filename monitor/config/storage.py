"""Where readings go: the embedded SQLite store (always) and optional InfluxDB sinks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import ConfigModel, Name
from .durations import Duration
from .secrets import Secret


class EmbeddedStoreConfig(ConfigModel):
    retention: Duration = Field(90 * 86400, description="How long readings are kept locally")
    commit_interval: Duration = Field(0.5, description="Readings are committed in batches")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite durability: FULL survives power loss with every committed reading; "
        "NORMAL may lose the last commits on power loss (see docs/storage.md)",
    )
    memory_limit: int = Field(
        5_000_000, ge=10_000,
        description="Readings kept in memory while the disk cannot be written (disk full)",
    )


class SinkCommon(ConfigModel):
    """Outbox and retry settings every InfluxDB sink shares."""

    batch_size: int = Field(5000, ge=1, le=100000, description="Points per request when live")
    flush_interval: Duration = Field(1.0, description="Longest wait before a partial batch")
    backfill_batch_size: int = Field(
        20000, ge=1, le=200000, description="Points per request while catching up after an outage"
    )
    timeout: Duration = Field(10.0, description="HTTP request timeout")
    retry_initial: Duration = Field(1.0, description="First retry delay after a failed send")
    retry_max: Duration = Field(60.0, description="Cap of the exponential retry delay")
    max_pending: int = Field(
        50_000_000, ge=1000,
        description="Outbox bound in readings; beyond it the oldest unsent readings are skipped "
        "for this sink (they stay in the local history) and the skip is recorded",
    )
    warn_ratio: float = Field(
        0.5, gt=0, lt=1, description="Outbox fill ratio that raises the health warning"
    )


class InfluxV2Sink(SinkCommon):
    name: Name
    type: Literal["influxdb_v2"]
    url: str
    org: str = "cleanroom"
    bucket: str = "cleanroom"
    token: Secret | None = None


class InfluxV1Sink(SinkCommon):
    name: Name
    type: Literal["influxdb_v1"]
    url: str
    database: str = "cleanroom"
    retention_policy: str | None = None
    username: str | None = None
    password: Secret | None = None


Sink = Annotated[InfluxV2Sink | InfluxV1Sink, Field(discriminator="type")]


class StorageConfig(ConfigModel):
    embedded: EmbeddedStoreConfig = EmbeddedStoreConfig.model_construct()
    sinks: list[Sink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_sink_names(self) -> StorageConfig:
        """A sink's name keys its outbox cursor: two sinks sharing one would skip data."""
        names = [s.name for s in self.sinks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate sink name(s): {', '.join(duplicates)}")
        return self
