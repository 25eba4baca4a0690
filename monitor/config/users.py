"""The ``users:`` section: password and lockout rules (21 CFR 11.300), enforced by monitor.users."""

from __future__ import annotations

from pydantic import Field

from .base import ConfigModel
from .durations import Duration


class UserPolicy(ConfigModel):
    min_length: int = Field(10, ge=8, le=128)
    min_classes: int = Field(
        2, ge=1, le=4, description="Character classes needed: lower, upper, digit, other"
    )
    history: int = Field(5, ge=0, le=24, description="Earlier passwords that may not be reused")
    max_age: Duration = Field(90 * 86400, description="Password expiry; 0 = never")
    lockout_attempts: int = Field(5, ge=1, le=100)
    lockout_duration: Duration = 15 * 60.0
    source_attempts: int = Field(
        20, ge=1, description="Failed logins from one address per source_window"
    )
    source_window: Duration = 60.0
    token_max_age: Duration = Field(365 * 86400, description="Longest API token lifetime")
