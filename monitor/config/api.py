"""The daemon's HTTP server: API, web page and Prometheus ``/metrics``."""

from __future__ import annotations

from pydantic import Field

from .base import ConfigModel


class HttpConfig(ConfigModel):
    enabled: bool = True
    host: str = Field("127.0.0.1", description="Loopback unless configured otherwise")
    port: int = Field(8750, ge=0, le=65535)
    open_read: bool = Field(False, description="Reading endpoints without login (trusted LAN)")
    tls_cert: str | None = None
    tls_key: str | None = None
