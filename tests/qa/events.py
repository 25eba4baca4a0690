"""Alarm event records shaped like ``AlarmEvent.to_json()``, for QA tests."""

from __future__ import annotations

from typing import Any

T0 = 1_780_000_000_000_000_000  # 2026-05-28, in the past (reports refuse the future)
S = 1_000_000_000


class EventWriter:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, kind: str, ts_ns: int, alarm_id: int, *, level: str = "action",
            channel: str = "pc1/p05", location: str = "fill-2", value: float | None = None,
            limit: float | None = 352000.0, user: str | None = None, reason: str | None = None,
            details: dict[str, Any] | None = None, state: str = "active_unack") -> None:
        seq = len(self.records) + 1
        self.records.append({
            "id": f"e{seq}", "seq": seq, "ts_ns": ts_ns, "kind": kind, "alarm_id": alarm_id,
            "point": f"{channel}:high_{level}", "location": location, "channel": channel,
            "rule": f"high_{level}", "level": level, "priority": "high", "state": state,
            "prev_state": None, "mode": "in_service", "value": value, "limit": limit,
            "location_state": "in_operation", "user": user, "reason": reason,
            "details": details, "notify": True,
        })


LIMITS = {"high_alert": 300000.0, "high_action": 352000.0, "low_alert": None,
          "low_action": None, "state": "in_operation", "unit": "particles/m3"}


def two_excursions() -> EventWriter:
    """Excursion 1 (ended, acknowledged twice: latching) and excursion 2 (still going on)."""
    w = EventWriter()
    w.add("raised", T0 + 600 * S, 1, value=400000.0,
          details={"start_ns": T0 + 590 * S, "limits": LIMITS})
    w.add("peak", T0 + 660 * S, 1, value=520000.0)
    w.add("acknowledged", T0 + 700 * S, 1, user="op1", reason="door left open",
          state="active_ack", details={"signature": {"id": "sig-op1", "meaning": "acknowledged"}})
    w.add("cleared", T0 + 900 * S, 1, value=300000.0, state="rtn_unack",
          details={"peak": 520000.0, "peak_ns": T0 + 660 * S, "end_ns": T0 + 895 * S})
    w.add("acknowledged", T0 + 960 * S, 1, user="op1", reason="reset", state="normal")
    w.add("raised", T0 + 3000 * S, 2, value=360000.0, details={"limits": LIMITS})
    return w


def end_second(w: EventWriter) -> None:
    w.add("cleared", T0 + 3300 * S, 2, state="rtn_unack",
          details={"peak": 360000.0, "peak_ns": T0 + 3000 * S})
    w.add("acknowledged", T0 + 3400 * S, 2, user="op1", reason="reset", state="normal")
