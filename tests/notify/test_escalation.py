"""Escalation to a second route after N minutes unacknowledged, on a fake clock."""

from __future__ import annotations

from monitor.notify.attach import build_notifiers
from monitor.notify.dispatcher import Dispatcher
from monitor.notify.escalation import EscalationTracker, chains
from tests.fixtures.smtp import SmtpServer
from tests.notify.kit import T0, dispatching, event, notify_config, webhook_receiver

MINUTE = 60 * 10**9


class FakeClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def test_unacknowledged_alarm_escalates_after_n_minutes(smtp_server: SmtpServer) -> None:
    clock = FakeClock(T0)
    async with webhook_receiver() as operators:
        config = notify_config(
            [{"name": "ops", "kind": "webhook", "url": operators.url},
             {"name": "managers", "kind": "email", "host": smtp_server.host,
              "port": smtp_server.port, "security": "none", "sender": "m@plant.example",
              "recipients": ["qa-manager@plant.example"]}],
            routes=[{"name": "operators", "notifiers": ["ops"], "escalate_after": "15m",
                     "escalate_to": "management"},
                    {"name": "management", "notifiers": ["managers"],
                     "kinds": ["acknowledged"]}],
        )
        dispatcher = Dispatcher(config, build_notifiers(config, site="plant-a"),
                                site="plant-a", clock=clock)
        async with dispatching(dispatcher):
            dispatcher([event(1, "raised", alarm_id=1, ts_ns=T0),
                        event(2, "raised", alarm_id=2, ts_ns=T0)])
            clock.now = T0 + 10 * MINUTE
            dispatcher([event(3, "acknowledged", alarm_id=2, state="active_ack",
                              ts_ns=clock.now, user="op1", reason="door")])
            clock.now = T0 + 15 * MINUTE - 1
            assert dispatcher.check_escalations() == []
            clock.now = T0 + 15 * MINUTE
            due = dispatcher.check_escalations()
            assert [(e.event["alarm_id"], e.step.route) for e in due] == [(1, "management")]
            assert dispatcher.check_escalations() == [], "once per alarm and step"
            # the acknowledgement of alarm 2 also reached management (their route takes acks)
            mails = await smtp_server.wait_for(2)
            await operators.wait_accepted(3)

    escalation = next(m for m in mails if m.message["Subject"].startswith("ESCALATED"))
    assert "not been acknowledged for 15 minutes" in escalation.message.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    assert escalation.message["X-Cleanroom-Notification"] == "ev-1:escalation:management"
    assert [h.json["type"] for h in operators.accepted()] == ["event"] * 3


def test_tracker_follows_alarm_states() -> None:
    tracker = EscalationTracker({"a": (900.0, "b"), "b": (1800.0, "c"), "c": None})
    tracker.observe(event(1, "raised", alarm_id=1).to_json(), ["a"])
    tracker.observe(event(2, "raised", alarm_id=2).to_json(), ["a"])
    tracker.observe(event(3, "raised", alarm_id=3).to_json(), ["c"])  # no escalation on c
    tracker.observe(event(4, "raised", alarm_id=4).to_json(), ["a"])
    # returned to normal but still unacknowledged: keeps waiting
    tracker.observe(event(5, "cleared", alarm_id=2, state="rtn_unack").to_json(), ["a"])
    # shelved by an authorised user: no longer annunciated, no escalation
    tracker.observe(event(6, "shelved", alarm_id=4, mode="shelved").to_json(), ["a"])
    assert sorted(tracker.pending) == [1, 2]
    assert [(e.event["alarm_id"], e.step.route) for e in tracker.due(T0 + 15 * MINUTE)] == [
        (1, "b"), (2, "b")]
    tracker.observe(event(7, "acknowledged", alarm_id=2, state="normal").to_json(), ["a"])
    # the chain: 15 min to b, then 30 min more to c
    assert tracker.due(T0 + 45 * MINUTE - 1) == []
    assert [(e.event["alarm_id"], e.step.route, e.step.after_s)
            for e in tracker.due(T0 + 45 * MINUTE)] == [(1, "c", 2700.0)]
    assert tracker.escalated == 3


def test_chains_stop_at_cycles() -> None:
    steps = chains({"a": (60.0, "b"), "b": (60.0, "a")})
    assert [(s.route, s.after_s) for s in steps["a"]] == [("b", 60.0), ("a", 120.0)]


def test_seeded_from_the_engine_after_a_restart() -> None:
    tracker = EscalationTracker({"a": (900.0, "b")})
    active = [
        {"alarm_id": 1, "state": "active_unack", "mode": "in_service", "raised_ns": T0,
         "priority": "high"},
        {"alarm_id": 2, "state": "active_ack", "mode": "in_service", "raised_ns": T0},
        {"alarm_id": 3, "state": "rtn_unack", "mode": "shelved", "raised_ns": T0},
    ]
    tracker.seed(active, lambda view: ["a"])
    assert list(tracker.pending) == [1]
    due = tracker.due(T0 + 20 * MINUTE)  # the restart took long: due at once
    assert [e.event["alarm_id"] for e in due] == [1]
    assert round(due[0].unacknowledged_s) == 1200
