"""The daemon's HTTP server: API, web page and Prometheus ``/metrics``.

It binds to loopback unless configured otherwise; for remote access give it a
certificate and key (``tls_cert``/``tls_key``) rather than exposing plain HTTP.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from .base import ConfigModel
from .durations import Duration


class HttpConfig(ConfigModel):
    enabled: bool = True
    host: str = Field("127.0.0.1", description="Loopback unless configured otherwise")
    port: int = Field(8750, ge=0, le=65535, description="0 picks a free port (tests)")
    open_read: bool = Field(
        False,
        description="Reading endpoints and pages without login (trusted LAN only); "
        "every state change still needs a login and the right role",
    )
    open_metrics: bool = Field(
        True, description="/metrics without login, for a Prometheus on the same network"
    )
    metrics_alarm_points: bool = Field(
        False,
        description="Also export a series per alarm point and state (cleanroom_alarm_state, "
        "_active, _unacknowledged, _shelved, _suppressed): five series per point, 320,000 "
        "lines per scrape at 2,000 devices. Off, /metrics carries alarm counts by location, "
        "level and priority, and the alarm list is in the web page and /api/alarms",
    )
    tls_cert: str | None = Field(None, description="PEM certificate (chain) file")
    tls_key: str | None = Field(None, description="PEM private key file")
    session_idle: Duration = Field(
        15 * 60.0, description="A web session ends after this long without a request"
    )
    session_max: Duration = Field(12 * 3600.0, description="A web session ends after this long")
    max_body: int = Field(
        65536, ge=1024, le=10 * 1024 * 1024, description="Largest accepted request body in bytes"
    )
    login_attempts: int = Field(
        10, ge=1, description="Login attempts per client address per login_window"
    )
    login_window: Duration = 60.0
    history_max_points: int = Field(
        20000, ge=100, description="Most readings one history request returns"
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        for name in ("tls_cert", "tls_key"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise ValueError(f"{name}: no such file {value!r}")
        if self.session_idle <= 0 or self.session_max < self.session_idle:
            raise ValueError("session_idle must be positive and at most session_max")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
