"""The alarm service on a real event log: restart rebuild, excursions, signatures, write retry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.events import AlarmState, EventKind, Mode
from monitor.alarms.service import AlarmService, build_alarm_service
from monitor.config import LoadedConfig
from monitor.errors import AlarmError, AuthError, StoreError
from monitor.model import Quality, Reading

from .site import Harness, at, limits, site

PC = "pc1/p05:high_action"
DP = "dp1/dp:low_action"


class Clock:
    def __init__(self) -> None:
        self.t = at(0)

    def __call__(self) -> int:
        return self.t

    def set(self, seconds: float) -> int:
        self.t = at(seconds)
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def config(tmp_path: Path, **extra: Any) -> LoadedConfig:
    return site(tmp_path, alarms=limits(
        {"channel": "pc1/p05", "high_action": "preset", "on_delay": "0s"},
        {"channel": "dp1/dp", "low_alert": 12.0, "low_action": 10.0, "on_delay": "10s"},
        **extra))


def open_service(loaded: LoadedConfig, clock: Clock) -> AlarmService:
    return build_alarm_service(loaded, clock=clock)


@pytest.fixture
def svc(tmp_path: Path, clock: Clock) -> Iterator[AlarmService]:
    service = open_service(config(tmp_path, require_signature_for_action=False), clock)
    yield service
    service.close()


def feed(service: AlarmService, clock: Clock, channel: str, value: float,
         t: float) -> list[Any]:
    clock.set(t)
    return service.evaluate([Reading(channel, value, Quality.GOOD, at(t))])


def test_a_config_without_limits_builds_and_runs(tmp_path: Path, clock: Clock) -> None:
    from .site import BASE

    loaded = site(tmp_path, alarms={}, devices=[], rooms=BASE["rooms"])
    service = open_service(loaded, clock)
    try:
        (initial,) = service.evaluate([Reading("x/y", 1.0, Quality.GOOD, at(1))])
        assert (initial.kind, initial.location_state) == ("location_state", "in_operation")
        assert initial.details == {"source": "default", "previous": None}
        assert service.tick(at(2)) == []
        assert service.active() == []
        assert service.counters.unknown_channel == 1
    finally:
        service.close()


def test_events_are_persisted_before_they_are_returned(svc: AlarmService, clock: Clock) -> None:
    svc.tick(at(0))
    events = feed(svc, clock, "pc1/p05", 400_000.0, 1)
    assert [e.kind for e in events] == ["raised"]
    assert svc.log.head()[0] == events[-1].seq
    assert svc.verify() is None


def test_operator_actions_reach_the_listeners_on_the_next_call(svc: AlarmService,
                                                               clock: Clock) -> None:
    svc.tick(at(0))
    feed(svc, clock, "pc1/p05", 400_000.0, 1)
    acked = svc.acknowledge(1, "ann", "seen")
    assert [e.kind for e in acked] == ["acknowledged"]
    assert [e.kind for e in svc.tick(at(2))] == ["acknowledged"]
    assert svc.tick(at(3)) == []


def test_restart_keeps_the_unacknowledged_alarm_and_raises_no_duplicate(
        tmp_path: Path, clock: Clock) -> None:
    loaded = config(tmp_path)
    first = open_service(loaded, clock)
    feed(first, clock, "pc1/p05", 400_000.0, 1)
    feed(first, clock, "pc1/p05", 500_000.0, 70)  # a peak record (interval 60 s)
    feed(first, clock, "pc1/p05", 450_000.0, 80)
    first.close()  # a kill is the same for the log: nothing is written at close

    second = open_service(loaded, clock)
    try:
        (alarm,) = [a for a in second.active() if a.point == PC]
        assert (alarm.alarm_id, alarm.state, alarm.peak) == (1, "active_unack", 500_000.0)
        assert feed(second, clock, "pc1/p05", 420_000.0, 90) == []  # still high: no duplicate
        (cleared,) = feed(second, clock, "pc1/p05", 100.0, 100)
        assert (cleared.kind, cleared.alarm_id, cleared.state) == ("cleared", 1,
                                                                   AlarmState.RTN_UNACK)
        assert cleared.details is not None
        assert cleared.details["peak"] == 500_000.0
        raised = [e for e in second.events() if e.kind == "raised"]
        assert len(raised) == 1
        assert second.verify() is None
    finally:
        second.close()


def test_restart_keeps_counting_from_the_log(tmp_path: Path, clock: Clock) -> None:
    loaded = config(tmp_path)
    first = open_service(loaded, clock)
    feed(first, clock, "pc1/p05", 400_000.0, 1)
    first.close()
    second = open_service(loaded, clock)
    try:
        second.set_maintenance("dp1", True, "eng", "swap", None)
        feed(second, clock, "dp1/dp", 5.0, 2)
        events = second.tick(at(20))
        raised = [e for e in events if e.kind == "raised"]
        assert {e.alarm_id for e in raised} == {2, 3}
        seqs = [e.seq for e in second.events()]
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        second.close()


def test_restart_keeps_shelving_maintenance_and_manual_state(tmp_path: Path,
                                                             clock: Clock) -> None:
    loaded = config(tmp_path)
    first = open_service(loaded, clock)
    feed(first, clock, "pc1/p05", 400_000.0, 1)
    first.shelve(1, "ann", "counter being cleaned", at(3600))
    first.set_maintenance("dp1", True, "eng", "transmitter swap", at(7200))
    first.set_location_state("fill-1", "at_rest", "qa", "sanitisation", at(1800))
    first.close()

    second = open_service(loaded, clock)
    try:
        points = second.engine.t.points
        assert (points[PC].mode, points[PC].shelved_until) == (Mode.SHELVED, at(3600))
        assert points[DP].mode is Mode.SUPPRESSED
        states = second.location_states()
        assert states["fill-1"] == {"state": "at_rest", "source": "manual",
                                    "manual_until_ns": at(1800)}
        events = second.tick(at(3600))
        kinds = [(e.kind, e.user) for e in events if e.kind != "peak"]
        assert ("unshelved", "system") in kinds
        assert ("location_state", "system") in kinds
        assert second.engine.t.locations["fill-1"].state == "in_operation"
    finally:
        second.close()


def test_a_rule_removed_from_the_config_is_retired_not_lost(tmp_path: Path,
                                                            clock: Clock) -> None:
    first = open_service(config(tmp_path, require_signature_for_action=False), clock)
    feed(first, clock, "dp1/dp", 5.0, 0)
    first.tick(at(10))
    first.close()
    fewer = site(tmp_path, name="fewer.yaml", alarms=limits(
        {"channel": "pc1/p05", "high_action": "preset"}, require_signature_for_action=False))
    second = open_service(fewer, clock)
    try:
        retired = [e for e in second.tick(at(11)) if e.kind == EventKind.RETIRED]
        assert {e.point for e in retired} == {DP, "dp1/dp:low_alert"}
        assert all(e.state is AlarmState.RTN_UNACK for e in retired)
        (alarm,) = [a for a in second.active() if a.point == DP]
        second.acknowledge(alarm.alarm_id or 0, "ann", "rule withdrawn by change control")
        assert DP not in {a.point for a in second.active()}
        exc = second.excursion(alarm.alarm_id or 0)
        assert exc is not None
        assert exc.retired
        assert exc.closed_ns is not None
    finally:
        second.close()


def test_excursion_record(svc: AlarmService, clock: Clock) -> None:
    svc.tick(at(0))
    for t, value in [(0, 11.0), (5, 9.0), (10, 8.0), (15, 7.5), (20, 9.5), (25, 12.5)]:
        feed(svc, clock, "dp1/dp", value, t)
    clock.set(30)
    svc.acknowledge(2, "ann", "door was propped open")
    (exc,) = [e for e in svc.excursions(at(0), at(60)) if e.rule == "low_action"]
    assert (exc.location, exc.channel, exc.location_state) == ("fill-1", "dp1/dp",
                                                               "in_operation")
    assert (exc.start_ns, exc.raised_ns, exc.end_ns) == (at(5), at(15), at(25))
    assert (exc.peak, exc.peak_ns) == (7.5, at(15))
    assert exc.duration_s == 20.0
    assert exc.limit == 10.0
    assert exc.limits is not None
    assert exc.limits["low_alert"] == 12.0
    assert [v for _, v in exc.samples] == [9.0, 8.0, 7.5]
    assert [(a.user, a.reason, a.state_after) for a in exc.acks] == [
        ("ann", "door was propped open", "normal")]
    assert exc.closed_ns == at(30)
    assert not exc.open
    assert exc.to_json()["duration_s"] == 20.0


def test_excursions_filter_by_time_and_location(svc: AlarmService, clock: Clock) -> None:
    feed(svc, clock, "pc1/p05", 400_000.0, 100)
    feed(svc, clock, "pc1/p05", 1.0, 200)
    clock.set(300)
    svc.acknowledge(1, "ann", "ok")
    assert [e.alarm_id for e in svc.excursions(at(0), at(100))] == []
    assert [e.alarm_id for e in svc.excursions(at(100), at(101))] == [1]
    assert [e.alarm_id for e in svc.excursions(at(300), at(400))] == [1]
    assert [e.alarm_id for e in svc.excursions(at(300.1), at(400))] == []
    assert svc.excursions(at(0), at(400), location="elsewhere") == []


def test_action_acknowledgement_needs_a_signature(tmp_path: Path, clock: Clock) -> None:
    service = open_service(config(tmp_path), clock)
    try:
        feed(service, clock, "pc1/p05", 400_000.0, 1)
        with pytest.raises(AlarmError, match="signature"):
            service.acknowledge(1, "ann", "seen")
        with pytest.raises(AuthError):
            service.acknowledge(1, "ann", "seen", {"username": "bob", "meaning": "acknowledged"})
        with pytest.raises(AuthError):
            service.acknowledge(1, "ann", "seen", {"username": "ann", "meaning": "approved"})
        assert service.active()[0].state == "active_unack"
    finally:
        service.close()


def test_signature_by_the_real_signer(tmp_path: Path, clock: Clock) -> None:
    from monitor.alarms.signing import sign_acknowledgement
    from monitor.audit import AuditTrail
    from monitor.users.store import UserStore

    loaded = config(tmp_path)
    data_dir = loaded.config.data_dir
    with AuditTrail(data_dir) as audit, UserStore(data_dir, audit) as users:
        users.add("admin", "ann", "Ann Operator", ["operator"], "Initial-pass-123")
        users.set_password("ann", "ann", "Changed-pass-456", old_password="Initial-pass-123")
    service = open_service(loaded, clock)
    try:
        feed(service, clock, "pc1/p05", 400_000.0, 1)
        record = service.signing_record(1)
        assert record["record_hash"] == service.log.raise_hash(1)
        with pytest.raises(AuthError):
            sign_acknowledgement(data_dir, None, "ann", "wrong", record=record)
        sig = sign_acknowledgement(data_dir, None, "ann", "Changed-pass-456", record=record)
        forged = {**sig, "record_id": "2"}
        with pytest.raises(AuthError, match="signature rejected"):
            service.acknowledge(1, "ann", "seen", forged)
        (event,) = service.acknowledge(1, "ann", "seen", sig)
        assert event.details is not None
        assert event.details["signature"]["printed_name"] == "Ann Operator"
        with AuditTrail(data_dir) as audit:
            actions = [e.action for e in audit.entries()]
        assert "signature.applied" in actions
        assert "alarm.acknowledged" in actions
    finally:
        service.close()


def test_a_start_leaves_the_signature_check_for_the_first_signature(tmp_path: Path) -> None:
    """Importing monitor.signatures and the user store waits for an acknowledgement."""
    loaded = config(tmp_path)
    code = (
        "import sys\n"
        "from monitor.config import load_config\n"
        "from monitor.alarms.service import build_alarm_service\n"
        f"service = build_alarm_service(load_config({str(loaded.path)!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('monitor.signatures',"
        " 'monitor.users'))))\n"
        "service.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_events_survive_a_failing_disk(svc: AlarmService, clock: Clock,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = svc.log.append
    calls = {"n": 0}

    def failing(events: Any) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise StoreError("disk full")
        real(events)

    initial = svc.tick(at(0))
    monkeypatch.setattr(svc.log, "append", failing)
    first = feed(svc, clock, "pc1/p05", 400_000.0, 1)
    svc.tick(at(2))
    assert svc.stats()["events_pending"] == len(first)
    svc.tick(at(3))
    assert svc.stats()["events_pending"] == 0
    assert [e.seq for e in svc.events()] == [e.seq for e in initial + first]
    assert svc.verify() is None


def test_a_second_writer_is_refused(tmp_path: Path, clock: Clock) -> None:
    import subprocess
    import sys

    loaded = config(tmp_path)
    holder = open_service(loaded, clock)
    try:
        code = ("import sys; from monitor.config import load_config; "
                "from monitor.alarms.service import build_alarm_service\n"
                "try:\n build_alarm_service(load_config(sys.argv[1]), lock_timeout=0.2)\n"
                "except Exception as e:\n print(type(e).__name__, e); sys.exit(3)\n")
        done = subprocess.run([sys.executable, "-c", code, str(loaded.path)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 3, done.stderr
        assert "AlarmError" in done.stdout
        assert "being written by process" in done.stdout
    finally:
        holder.close()


def test_read_only_service_sees_the_state_and_cannot_act(tmp_path: Path, clock: Clock) -> None:
    loaded = config(tmp_path)
    writer = open_service(loaded, clock)
    feed(writer, clock, "pc1/p05", 400_000.0, 1)
    reader = build_alarm_service(loaded, readonly=True)
    try:
        assert [a.alarm_id for a in reader.active() if a.point == PC] == [1]
        with pytest.raises(AlarmError, match="read-only"):
            reader.shelve(1, "ann", "x", at(100))
    finally:
        reader.close()
        writer.close()


def test_harness_and_service_agree(tmp_path: Path, clock: Clock) -> None:
    """The service adds persistence only: the same readings give the same events."""
    loaded = config(tmp_path)
    h = Harness(loaded)
    service = open_service(loaded, clock)
    try:
        service.tick(at(0))
        values = [11.0, 9.0, 9.0, 8.0, 13.0, 9.5, 9.0, 14.0]
        ours, theirs = [], []
        for i, value in enumerate(values):
            ours += [(e.kind, e.point, e.ts_ns) for e in h.feed("dp1/dp", value, i * 5.0)]
            theirs += [(e.kind, e.point, e.ts_ns)
                       for e in feed(service, clock, "dp1/dp", value, i * 5.0)]
        assert ours == theirs
        assert ours
    finally:
        service.close()


def test_location_state_lookup(svc: AlarmService) -> None:
    assert svc.location_state("fill-1") == "in_operation"
    assert svc.location_state("nowhere") is None
    svc.set_location_state("fill-1", "at_rest", "qa", "cleaning")
    assert svc.location_state("fill-1") == "at_rest"


def test_pipeline_listeners_get_the_events(svc: AlarmService, clock: Clock) -> None:
    from monitor.pipeline import Pipeline

    pipeline = Pipeline([], svc)
    got: list[list[Any]] = []
    pipeline.event_listeners.append(lambda events: got.append(list(events)))
    clock.set(1)
    pipeline.ingest([Reading("pc1/p05", 400_000.0, Quality.GOOD, at(1))])
    svc.acknowledge(1, "ann", "seen")
    pipeline.tick(at(2))
    kinds = [[e.kind for e in batch] for batch in got]
    assert kinds == [["location_state", "raised"], ["acknowledged"]]
    assert got[0][1].to_json()["notify"] is True


KILLED_DAEMON = """
import sys, time
from monitor.config import load_config
from monitor.alarms.service import build_alarm_service
from monitor.model import Quality, Reading
service = build_alarm_service(load_config(sys.argv[1]), clock=lambda: int(sys.argv[2]))
service.evaluate([Reading("pc1/p05", 400000.0, Quality.GOOD, int(sys.argv[2]))])
print("raised", flush=True)
time.sleep(60)
"""


def test_kill_with_an_unacknowledged_alarm(tmp_path: Path, clock: Clock) -> None:
    import signal
    import subprocess
    import sys

    loaded = config(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", KILLED_DAEMON, str(loaded.path),
                              str(at(1))], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "raised"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    service = open_service(loaded, clock)  # the kernel released the dead daemon's lock
    try:
        (alarm,) = service.active()
        assert (alarm.alarm_id, alarm.state, alarm.point) == (1, "active_unack", PC)
        assert feed(service, clock, "pc1/p05", 410_000.0, 5) == []
        assert [e.kind for e in service.events()].count("raised") == 1
        assert service.verify() is None
    finally:
        service.close()
