"""Where alarm events are sent: notifiers (MQTT, webhook, e-mail) and the routes to them.

A route picks events (by priority, level, location, kind) and names the
notifiers that get them; ``escalate_after`` + ``escalate_to`` send an alarm
that stays unacknowledged that long to a second route. With no routes, every
notifier gets every event that an operator should hear about.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from .alarms import Priority
from .base import ConfigModel, Name
from .durations import Duration
from .mqtt import check_topic_filter
from .secrets import Secret

EventKindName = Literal["raised", "cleared", "acknowledged", "shelved", "unshelved", "retired",
                        "out_of_service", "in_service"]
EVENT_KINDS: tuple[EventKindName, ...] = get_args(EventKindName)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
LevelName = Literal["alert", "action", "health"]
LEVELS: tuple[LevelName, ...] = get_args(LevelName)


class RetryConfig(ConfigModel):
    """How a failed delivery is retried: exponential backoff, then given up and logged."""

    initial: Duration = 1.0
    max: Duration = 300.0
    max_attempts: int = Field(20, ge=1, le=10_000)
    timeout: Duration = Field(15.0, description="One delivery attempt takes at most this long")

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        if self.initial <= 0 or self.initial > self.max:
            raise ValueError("retry needs 0 < initial <= max")
        return self


class _NotifierBase(ConfigModel):
    name: Name
    retry: RetryConfig | None = Field(None, description="Overrides notify.retry")


class MqttNotifierConfig(_NotifierBase):
    kind: Literal["mqtt"]
    host: str
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    client_id: str | None = Field(None, description="Default cm-notify-<host name>-<name>")
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    topic: str = Field(
        "cleanroom/{site}/alarms/events",
        description="Event topic; {site}, {location}, {priority}, {kind} are filled in",
    )
    summary_topic: str | None = Field(
        "cleanroom/{site}/alarms/active", description="Retained list of active alarms; null: none"
    )
    qos: Literal[0, 1] = 1

    @field_validator("topic", "summary_topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is None:
            return None
        filled = value
        for key in ("site", "location", "priority", "kind"):
            filled = filled.replace("{" + key + "}", "x")
        check_topic_filter(filled, placeholder=False)
        if "+" in filled or "#" in filled:
            raise ValueError("a topic to publish to has no wildcards")
        return value

    @model_validator(mode="after")
    def _tls(self) -> MqttNotifierConfig:
        if not self.tls and (self.ca_file or self.cert_file or self.tls_insecure):
            raise ValueError("ca_file, cert_file and tls_insecure need tls: true")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self


class WebhookNotifierConfig(_NotifierBase):
    kind: Literal["webhook"]
    url: str = Field(description="Receives a JSON POST per event (http:// or https://)")
    secret: Secret | None = Field(
        None, description="HMAC-SHA256 key; the signature goes in X-Cleanroom-Signature"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    ca_file: str | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("a webhook url starts with http:// or https://")
        return value


class EmailNotifierConfig(_NotifierBase):
    kind: Literal["email"]
    host: str
    port: int | None = Field(None, ge=1, le=65535, description="Default 465 for tls, else 587/25")
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
    subject: str = Field(
        "[{priority}] {site} {location}: {channel} {kind}",
        description="Fields of the event in braces; escalations are prefixed ESCALATED",
    )

    @field_validator("sender", "recipients")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> str | list[str]:
        for address in [value] if isinstance(value, str) else value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an e-mail address (name@domain)")
        return value

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"tls": 465, "starttls": 587, "none": 25}[self.security]


NotifierConfig = Annotated[
    MqttNotifierConfig | WebhookNotifierConfig | EmailNotifierConfig,
    Field(discriminator="kind"),
]


class RouteConfig(ConfigModel):
    name: Name
    notifiers: list[Name] = Field(min_length=1)
    priorities: list[Priority] = Field(default_factory=lambda: list(Priority))
    levels: list[LevelName] = Field(default_factory=lambda: list(LEVELS))
    locations: list[Name] = Field(default_factory=list, description="Empty: every location")
    kinds: list[EventKindName] = Field(default_factory=lambda: list(EVENT_KINDS))
    escalate_after: Duration | None = Field(
        None, description="An alarm unacknowledged this long goes to escalate_to as well"
    )
    escalate_to: Name | None = None

    @model_validator(mode="after")
    def _escalation(self) -> RouteConfig:
        if (self.escalate_after is None) != (self.escalate_to is None):
            raise ValueError("escalate_after and escalate_to go together")
        if self.escalate_after is not None and self.escalate_after <= 0:
            raise ValueError("escalate_after must be positive")
        if self.escalate_to == self.name:
            raise ValueError("a route cannot escalate to itself")
        return self


class NotifyConfig(ConfigModel):
    notifiers: list[NotifierConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    retry: RetryConfig = RetryConfig.model_construct()
    queue_size: int = Field(10_000, ge=10, description="Per notifier; oldest dropped beyond it")
    escalation_check: Duration = Field(5.0, description="How often escalations are checked")

    @model_validator(mode="after")
    def _references(self) -> NotifyConfig:
        names = [n.name for n in self.notifiers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate notifier name(s): {', '.join(duplicates)}")
        routes = [r.name for r in self.routes]
        duplicates = sorted({r for r in routes if routes.count(r) > 1})
        if duplicates:
            raise ValueError(f"duplicate route name(s): {', '.join(duplicates)}")
        for route in self.routes:
            unknown = [n for n in route.notifiers if n not in names]
            if unknown:
                raise ValueError(f"route {route.name!r}: unknown notifier(s) {', '.join(unknown)}")
            if route.escalate_to is not None and route.escalate_to not in routes:
                raise ValueError(f"route {route.name!r}: unknown route {route.escalate_to!r}")
        return self
