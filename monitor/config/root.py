"""The whole site configuration: the one model a YAML file is validated into."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .alarms import AlarmsConfig
from .api import HttpConfig
from .base import ConfigModel, Name
from .devices import Connection, DeviceConfig, ProfileConfig
from .durations import Duration
from .notify import NotifyConfig
from .site import RoomConfig, SiteConfig, Standard
from .storage import StorageConfig
from .users import UserPolicy


class LogConfig(ConfigModel):
    format: Literal["kv", "json"] = "kv"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(ConfigModel):
    """Root of ``cleanroom-monitor.yaml``."""

    site: SiteConfig = SiteConfig.model_construct()
    standard: Standard = Field(
        Standard.EU_GMP_ANNEX1, description="Default regulation for rooms that name none"
    )
    data_dir: str = Field(
        "/var/lib/cleanroom-monitor", description="Embedded store, outbox, audit trail"
    )
    include: list[str] = Field(
        default_factory=list, description="Profile files (globs relative to this file)"
    )
    log: LogConfig = LogConfig.model_construct()
    watchdog_interval: Duration = 10.0
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="Event loop of the daemon: auto = uvloop when installed, else "
        "asyncio's own. Read at start-up only (a reload does not switch loops)"
    )
    profiles: dict[Name, ProfileConfig] = Field(default_factory=dict)
    connections: list[Connection] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)
    rooms: list[RoomConfig] = Field(default_factory=list)
    alarms: AlarmsConfig = AlarmsConfig.model_construct()
    storage: StorageConfig = StorageConfig.model_construct()
    http: HttpConfig = HttpConfig.model_construct()
    notify: NotifyConfig = NotifyConfig.model_construct()
    users: UserPolicy = Field(
        UserPolicy.model_construct(), description="Password and lockout rules (11.300)"
    )
