"""What a notifier delivers: one alarm event (or an escalation of one) with its context.

The event itself is the alarm engine's ``AlarmEvent.to_json()``, unchanged, so
that what a receiver gets can be matched against the event log by its ``id``.
``id`` of the notification is stable across retries (receivers de-duplicate on
it: a retried webhook may arrive twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal


def iso_utc(ts_ns: int | None) -> str:
    if ts_ns is None:
        return ""
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


@dataclass(frozen=True)
class Notification:
    id: str
    type: Literal["event", "escalation"]
    site: str
    route: str
    event: Mapping[str, Any]
    escalation: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "site": self.site,
            "route": self.route,
            "event": dict(self.event),
            "escalation": dict(self.escalation) if self.escalation is not None else None,
        }

    def body(self) -> bytes:
        """The exact bytes sent (and signed): compact JSON with sorted keys."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True,
                          default=str).encode()

    def fields(self) -> dict[str, str]:
        """Values for message templates (subject lines, topics); missing ones are ''."""
        ev = self.event
        out = {key: "" if ev.get(key) is None else str(ev.get(key))
               for key in ("kind", "alarm_id", "point", "location", "channel", "rule", "level",
                           "priority", "state", "mode", "value", "limit", "location_state",
                           "user", "reason")}
        out["site"] = self.site
        out["time"] = iso_utc(ev.get("ts_ns"))
        out["type"] = self.type
        return out

    def text(self) -> str:
        """A plain-text rendering for people (e-mail body)."""
        f = self.fields()
        lines = []
        if self.escalation is not None:
            minutes = float(self.escalation.get("unacknowledged_s", 0)) / 60
            lines.append(f"ESCALATION: this alarm has not been acknowledged for "
                         f"{minutes:.0f} minutes (route {self.escalation.get('from_route')}).")
            lines.append("")
        lines += [
            f"Site:      {f['site']}",
            f"Location:  {f['location']} ({f['location_state']})",
            f"Channel:   {f['channel']}",
            f"Rule:      {f['rule']} ({f['level']}, priority {f['priority']})",
            f"Event:     {f['kind']} -> state {f['state']}",
            f"Value:     {f['value']} (limit {f['limit']})",
            f"Time:      {f['time']}",
            f"Alarm id:  {f['alarm_id']}",
        ]
        if f["user"]:
            lines.append(f"By:        {f['user']}: {f['reason']}")
        lines += ["", f"Event id:  {self.event.get('id')}", f"Notification id: {self.id}"]
        return "\n".join(lines) + "\n"


def fill(template: str, fields: Mapping[str, str]) -> str:
    """``{name}`` placeholders filled from ``fields``; unknown names are left as they are."""
    out = template
    for key, value in fields.items():
        out = out.replace("{" + key + "}", value)
    return out
