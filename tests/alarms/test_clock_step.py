"""Steps of the host clock: a step is absorbed, a reordered sample is still ignored.

A fake host has a monotonic clock and a UTC clock that NTP may step. The
property tests drive two engines through the same readings, one on a clock that
never steps (the reference) and one on a clock that steps back and forward at
arbitrary points, and ask that the stepped one evaluates every reading and
raises, clears and keeps exactly the same alarms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind
from monitor.alarms.rules import build_tables
from monitor.alarms.service import AlarmService, build_alarm_service
from monitor.alarms.timebase import CLOCK_POINT
from monitor.audit import AuditTrail
from monitor.config import LoadedConfig
from monitor.model import Quality, Reading

from .site import T0, Harness, at, limits, site

S = 1_000_000_000
HOUR = 3600 * S
T = "th1/t:high_action"
DP = "dp1/dp:low_action"


def config(tmp_path: Path, *, health: bool = False, **extra: Any) -> LoadedConfig:
    """Every timed rule: delays, deadband, n-of-m, rate of change, a door, health if asked."""
    alarms = limits(
        {"channel": "th1/t", "high_action": 25.0, "on_delay": "25s", "off_delay": "15s",
         "deadband": 0.5, "rate_of_change": {"max_change": 3.0, "per": "65s"}},
        {"channel": "dp1/dp", "low_action": 10.0, "on_delay": "15s"},
        {"channel": "pc1/p50", "high_action": 29.0, "consecutive": 2, "window": 3},
        doors=[{"channel": "dp1/door", "suppress_for": "42.5s", "settle": "2.5s",
                "held_open_after": "35s"}],
        health=health, **extra)
    if health:
        alarms["health"] = {"stale_after_intervals": 5, "stale_delay": "10s",
                            "comm_fail_delay": "15s", "fault_delay": "15s"}
    return site(tmp_path, alarms=alarms)


@dataclass
class Host:
    """A monotonic clock (seconds since start) and a UTC clock stepped at given moments."""

    steps: list[tuple[float, int]] = field(default_factory=list)  # (monotonic s, step ns)

    def offset(self, m: float) -> int:
        return sum(step for at_s, step in self.steps if at_s <= m)

    def wall(self, m: float) -> int:
        return T0 + round(m * S) + self.offset(m)

    def mono(self, m: float) -> int:
        return 7 * HOUR + round(m * S)


def pairs(engine: AlarmEngine, host: Host, m: float) -> None:
    engine.observe_clock(host.wall(m), host.mono(m))


def feed(h: Harness, host: Host, m: float, *items: tuple[str, float]) -> list[AlarmEvent]:
    """Readings stamped at monotonic second ``m`` by ``host``, shown with both clocks."""
    pairs(h.engine, host, m)
    ts = host.wall(m)
    out = h.engine.evaluate([Reading(c, v, Quality.GOOD, ts) for c, v in items])
    h.events.extend(out)
    return out


def tick(h: Harness, host: Host, m: float) -> list[AlarmEvent]:
    pairs(h.engine, host, m)
    out = h.engine.tick(host.wall(m))
    h.events.extend(out)
    return out


def steps_of(h: Harness) -> list[AlarmEvent]:
    return [e for e in h.events if e.kind is EventKind.CLOCK_STEP]


# --- told apart: reorder, mis-stamped reading, step --------------------------------------------


@pytest.mark.parametrize("back", [1.0, 4.9])
def test_a_reordered_sample_is_still_ignored_and_counted(tmp_path: Path, back: float) -> None:
    h = Harness(config(tmp_path))
    h.feed("th1/t", 20.0, 10.0)
    assert h.feed("th1/t", 30.0, 10.0 - back) == []
    assert h.tick(10.5) == []
    assert (h.engine.counters.out_of_order, h.engine.counters.clock_steps) == (1, 0)


def test_a_step_back_seen_by_readings_of_several_devices(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    for s in range(5):
        h.engine.tick(at(s))
        for ch, v in (("pc1/p50", 0.0), ("dp1/dp", 13.0), ("th1/t", 20.0)):
            h.feed(ch, v, s + 0.1)
    # NTP takes back the hour the clock ran fast: the next readings are an hour "older"
    assert h.feed("pc1/p50", 0.0, 5.1 - 3600) == []  # one device: held, not yet believed
    assert h.engine.counters.held == 1
    events = h.feed("th1/t", 30.0, 5.1 - 3600)  # a second device confirms: evaluated at once
    # +10 within the rate window, whose samples moved with the step
    assert [(e.kind, e.rule) for e in events] == [(EventKind.CLOCK_STEP, None),
                                                  ("raised", "rate_of_change")]
    (step,) = steps_of(h)
    assert step.details is not None
    assert step.details["source"] == "readings"
    assert step.details["exact"] is False
    assert -3600 * S <= step.details["step_ns"] <= -3599 * S
    assert (step.point, step.user, step.notify) == (CLOCK_POINT, "system", False)
    c = h.engine.counters
    assert (c.clock_steps, c.out_of_order, c.evaluated) == (1, 0, 17)
    # the 25 s on-delay started with the held sample and runs on the new time
    assert [e.kind for e in h.feed("th1/t", 30.0, 30.1 - 3600)] == ["raised"]


def test_one_mis_stamped_device_is_not_a_step(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    h.tick(10.0)
    h.feed("th1/t", 20.0, 10.1)
    h.feed("th1/rh", 40.0, 10.1)
    h.feed("th1/t", 30.0, 10.2 - 3600)  # a reading stamped an hour early...
    h.feed("th1/rh", 40.0, 10.2 - 3600)  # ...two of them, but from one device
    h.feed("dp1/dp", 13.0, 10.3)  # the other devices go on in the old time
    assert h.tick(11.0) == []  # the engine's own clock did not step: they were wrong
    c = h.engine.counters
    assert (c.clock_steps, c.held, c.out_of_order) == (0, 2, 2)
    assert h.engine.clock.held == []


def test_a_step_back_seen_by_the_tick(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    h.tick(100.0)
    h.feed("th1/t", 30.0, 100.1)
    h.feed("th1/t", 30.0, 100.2 - 600)  # one device only: held until the tick says
    events = h.tick(100.5 - 600)
    assert [e.kind for e in events] == [EventKind.CLOCK_STEP]
    assert (events[0].details or {})["source"] == "tick"
    assert h.engine.counters.evaluated == 2
    assert [e.kind for e in h.tick(125.2 - 600)] == []  # on-delay from 100.1: not yet
    # 25 s, plus the half second by which the tick's estimate of the step is short
    assert [e.kind for e in h.tick(126.2 - 600)] == ["raised"]


# --- exact steps (the monotonic clock): every timer keeps its length ---------------------------


@pytest.mark.parametrize("step", [-HOUR, -7 * S, 2 * S, HOUR])
@pytest.mark.parametrize(("lasts", "alarm"), [(24.0, False), (26.0, True)])
def test_an_on_delay_measures_the_time_that_passed(tmp_path: Path, step: int, lasts: float,
                                                   alarm: bool) -> None:
    h = Harness(config(tmp_path))
    host = Host()
    for s in range(11):
        tick(h, host, s)
        feed(h, host, s + 0.1, ("th1/t", 30.0 if s >= 5 else 20.0))
    host.steps.append((11.0, step))
    for s in range(11, 50):  # the violation lasts ``lasts`` seconds from 5.1
        tick(h, host, s)
        feed(h, host, s + 0.1, ("th1/t", 30.0 if s + 0.1 < 5.1 + lasts else 20.0))
    assert [e.kind for e in h.events if e.point == T] == (["raised", "cleared"] if alarm else [])
    if alarm:
        raised = next(e for e in h.events if e.point == T)
        assert raised.ts_ns == host.wall(30.1)  # 25 s after it began, on the clock of then
    (event,) = steps_of(h)
    assert event.details is not None
    assert (event.details["step_ns"], event.details["exact"]) == (step, True)


@pytest.mark.parametrize("step", [-HOUR, -7 * S, HOUR])
def test_an_off_delay_and_the_peak_records_keep_their_length(tmp_path: Path, step: int) -> None:
    h = Harness(config(tmp_path))
    host = Host([(60.0, step), (105.0, step)])  # one step in the excursion, one in the off-delay
    for s in range(130):
        tick(h, host, s)
        feed(h, host, s + 0.1, ("th1/t", 20.0 if s >= 100 else 32.0 if s >= 90 else 30.0))
    assert [(e.kind, e.ts_ns) for e in h.events if e.point == T] == [
        ("raised", host.wall(25.1)),
        ("peak", host.wall(90.1)),  # a new extreme 65 s after the last one recorded
        ("cleared", host.wall(115.1)),  # normal from 100.1, for the 15 s off-delay
    ]
    assert len(steps_of(h)) == 2


def test_a_forward_step_pages_no_stale_data_and_keeps_the_door_and_window(tmp_path: Path) -> None:
    h = Harness(config(tmp_path, health=True))
    host = Host()
    for s in range(20):
        tick(h, host, s)
        feed(h, host, s + 0.1, ("pc1/p05", 100.0), ("pc1/p50", 0.0))
        feed(h, host, s + 0.2, ("dp1/dp", 13.0), ("dp1/door", 1.0 if s >= 15 else 0.0))
        feed(h, host, s + 0.3, ("th1/t", 20.0), ("th1/rh", 40.0))
    host.steps.append((20.0, 2 * HOUR))
    tick(h, host, 20.0)  # two hours without data by the clock, 0.9 s in fact: nothing stale
    feed(h, host, 20.2, ("dp1/dp", 5.0), ("dp1/door", 1.0))  # door open for 5 s: suppressed
    feed(h, host, 20.3, ("th1/t", 26.0), ("th1/rh", 40.0))  # +6 within the rate window
    assert [(e.point, e.kind) for e in h.events if e.kind is not EventKind.CLOCK_STEP] == [
        ("th1/t:rate_of_change", "raised")]
    tick(h, host, 51.0)  # then silence: every timer counts from before the jump, in real time
    raised = {(e.point, e.ts_ns) for e in h.events if e.kind == "raised"}
    assert raised == {
        ("th1/t:rate_of_change", host.wall(20.3)),
        ("pc1/p05:stale", host.wall(19.1 + 5 + 10)), ("pc1/p50:stale", host.wall(34.1)),
        ("dp1/dp:stale", host.wall(35.2)), ("dp1/door:stale", host.wall(35.2)),
        ("th1/t:stale", host.wall(35.3)), ("th1/rh:stale", host.wall(35.3)),
        (T, host.wall(20.3 + 25)),  # the on-delay ran 25 s from the sample after the jump
        ("dp1/door:door_held_open", host.wall(15.2 + 35)),  # open since 15.2, jump or not
    }  # and no pressure alarm: the door's suppression (until 57.7) kept its length


def test_a_poll_in_flight_across_the_step_is_restamped(tmp_path: Path) -> None:
    h = Harness(config(tmp_path))
    host = Host()
    for s in range(5):
        tick(h, host, s)
        feed(h, host, s + 0.1, ("th1/t", 23.0), ("dp1/dp", 13.0))
    stamped = host.wall(5.1)
    host.steps.append((5.15, -HOUR))
    pairs(h.engine, host, 5.2)  # the step is seen first: another device's batch
    h.engine.evaluate([Reading("dp1/dp", 13.0, Quality.GOOD, host.wall(5.2))])
    late = h.engine.evaluate([Reading("th1/t", 26.0, Quality.GOOD, stamped)])  # stamped 5.1
    assert late == []
    assert h.engine.counters.restamped == 1
    for s in range(6, 80):
        tick(h, host, s)
        feed(h, host, s + 0.1, ("th1/t", 26.0), ("dp1/dp", 13.0))
    raised = [e for e in h.events if e.point == T and e.kind == "raised"]
    assert [e.ts_ns for e in raised] == [host.wall(30.1)]  # 25 s from the late sample at 5.1
    assert h.engine.counters.out_of_order == 0
    assert h.engine.clock.grace is None  # over once the clock is past it


def test_the_schedule_follows_the_clock_at_once(tmp_path: Path) -> None:
    rooms = [{"name": "fill", "grade": "B", "locations": [{"name": "fill-1", "state": {
        "default": "at_rest", "schedule": [{"days": ["fri"], "start": "08:00", "end": "09:00",
                                           "state": "in_operation"}]}}]}]
    h = Harness(site(tmp_path, alarms=limits(), rooms=rooms))
    host = Host()
    tick(h, host, 0.0)  # Friday 08:00: in operation
    assert h.engine.t.locations["fill-1"].state == "in_operation"
    host.steps.append((10.0, -HOUR))  # 07:00:10
    tick(h, host, 10.0)
    assert h.engine.t.locations["fill-1"].state == "at_rest"


# --- the service: both clocks, the log, the audit trail, a restart -----------------------------


class Clocks:
    def __init__(self) -> None:
        self.host, self.m = Host(), 0.0

    def wall(self) -> int:
        return self.host.wall(self.m)

    def mono(self) -> int:
        return self.host.mono(self.m)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def open_service(loaded: LoadedConfig, clocks: Clocks) -> AlarmService:
    return build_alarm_service(loaded, clock=clocks.wall, monotonic=clocks.mono)


def test_expiries_keep_their_length_are_logged_audited_and_restored(
        tmp_path: Path, clocks: Clocks, caplog: pytest.LogCaptureFixture) -> None:
    loaded = config(tmp_path, require_signature_for_action=False)
    svc = open_service(loaded, clocks)
    try:
        svc.tick(clocks.wall())
        svc.evaluate([Reading("th1/t", 30.0, Quality.GOOD, clocks.wall())])
        clocks.m = 30.0
        svc.tick(clocks.wall())
        svc.shelve(T, "ann", "sensor swap", clocks.wall() + HOUR)
        svc.set_maintenance("dp1", True, "ann", "filter change", until_ns=clocks.wall() + 2 * HOUR)
        svc.set_location_state("fill-1", "in_operation", "ann", "batch 7",
                               until_ns=clocks.wall() + HOUR // 2)
        clocks.m, clocks.host.steps = 40.0, [(35.0, -HOUR)]
        with caplog.at_level(logging.WARNING, "monitor.alarms"):
            events = svc.tick(clocks.wall())
        assert events[-1].kind is EventKind.CLOCK_STEP
        assert "host clock stepped" in caplog.text
        engine = svc.engine
        assert engine.t.points[T].shelved_until == T0 + 30 * S  # 30 s + 1 h - 1 h
        assert engine.maintenance["dp1"] == T0 + 30 * S + HOUR
        assert engine.t.trackers["fill-1"].manual is not None
        assert engine.t.trackers["fill-1"].manual.until_ns == T0 + 30 * S - HOUR // 2
        with AuditTrail(tmp_path / "data") as trail:
            (entry,) = trail.entries(action="clock.stepped")
        assert (entry.user, entry.object) == ("system", CLOCK_POINT)
        assert entry.new_value["step_ns"] == -HOUR
        assert events[-1].details is not None
        assert events[-1].details["expiries"]["shelved"] == {T: T0 + 30 * S}
    finally:
        svc.close()
    again = open_service(loaded, clocks)
    try:
        engine = again.engine
        assert engine.t.points[T].shelved_until == T0 + 30 * S
        assert engine.maintenance["dp1"] == T0 + 30 * S + HOUR
        assert engine.t.trackers["fill-1"].manual is not None
        assert engine.t.trackers["fill-1"].manual.until_ns == T0 + 30 * S - HOUR // 2
        assert engine.t.points[T].state is AlarmState.ACTIVE_UNACK  # kept through it all
        assert again.verify() is None
    finally:
        again.close()


def test_the_daemon_service_reads_the_monotonic_clock(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    svc = build_alarm_service(loaded)
    try:
        assert svc.monotonic is not None  # the real UTC clock: its steps are seen exactly
    finally:
        svc.close()
    svc = build_alarm_service(loaded, clock=lambda: T0)
    try:
        assert svc.monotonic is None  # a fake clock: steps only from its ticks and readings
    finally:
        svc.close()


def test_the_periodic_checks_run_after_a_step_back(tmp_path: Path, clocks: Clocks) -> None:
    from monitor.alarms.attach import HealthChecks
    from monitor.alarms.ntp import NtpStatus, Sync

    loaded = config(tmp_path)
    svc = open_service(loaded, clocks)
    try:
        checks = HealthChecks(loaded, svc,
                              ntp_probe=lambda: NtpStatus(Sync.SYNCHRONIZED, "test", "ok"))
        checks.tick(T0)
        checks.tick(T0 + 30 * S)
        assert checks.checks == 1
        checks.tick(T0 - HOUR)  # an hour back: a minute has not passed, but time went back
        assert checks.checks == 2
    finally:
        svc.close()


# --- properties: steps at arbitrary points change nothing but the clock -----------------------

BLOCK = 10  # seconds a plan's values hold; no delay or window ends within 2 s of its multiples
DEVICES = (("pc1", ("pc1/p05", "pc1/p50")), ("dp1", ("dp1/dp", "dp1/door")),
           ("th1", ("th1/t", "th1/rh")))
Block = tuple[int, int, int, int, bool]  # t level, dp level, door, p50 level, dp1 unreachable
T_LEVELS, DP_LEVELS, P50_LEVELS = (20.0, 21.5, 26.0), (13.0, 8.0), (0.0, 100.0)


def values(block: Block) -> dict[str, tuple[float | None, Quality]]:
    t, dp, door, p50, down = block
    dp_q = Quality.COMM_ERROR if down else Quality.GOOD
    return {"pc1/p05": (1000.0, Quality.GOOD), "pc1/p50": (P50_LEVELS[p50], Quality.GOOD),
            "dp1/dp": (None if down else DP_LEVELS[dp], dp_q),
            "dp1/door": (None if down else float(door), dp_q),
            "th1/t": (T_LEVELS[t], Quality.GOOD), "th1/rh": (40.0, Quality.GOOD)}


@dataclass
class Run:
    engine: AlarmEngine
    events: list[tuple[float, AlarmEvent]] = field(default_factory=list)  # (monotonic s, event)
    fed: int = 0


def run(loaded: LoadedConfig, plan: list[Block], host: Host, *, exact: bool) -> Run:
    """The daemon's loop: each device stamps its readings and hands them over, then a tick.

    Each event is kept with the moment whose clock it should carry: the call's,
    when the engine is shown the monotonic clock at each call; otherwise the
    moment the call's time was read (the engine only knows what it was given).
    """
    r = Run(AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=host.wall(0),
                        id_prefix="p-"))

    def call(read: float, m: float, fn: Any, arg: Any) -> None:
        if exact:
            pairs(r.engine, host, m)
        r.events.extend((m if exact else read, e) for e in fn(arg))

    for s in range(len(plan) * BLOCK):
        now = values(plan[s // BLOCK])
        for d, (_, channels) in enumerate(DEVICES):
            ts = host.wall(s + 0.1 * d)  # stamped when the reply came...
            batch = [Reading(c, *now[c], ts) for c in channels]
            r.fed += len(batch)
            call(s + 0.1 * d, s + 0.1 * d + 0.05, r.engine.evaluate, batch)  # ...used just after
        call(s + 0.5, s + 0.52, r.engine.tick, host.wall(s + 0.5))  # read just before, too
    return r


@st.composite
def scenarios(draw: st.DrawFn, exact: bool) -> tuple[list[Block], list[tuple[float, int]]]:
    block = st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 1), st.integers(0, 1),
                      st.integers(0, 9).map(lambda k: k == 0))
    plan = draw(st.lists(block, min_size=4, max_size=14))
    end = len(plan) * BLOCK
    size = st.integers(1_500, 7_200_000) if exact else st.integers(6_500, 7_200_000)  # ms
    sign = st.sampled_from([-1, 1]) if exact else st.just(-1)  # forward: only seen exactly
    # without the monotonic clock a step is measured against the ticks' interval: regular
    # from the second tick on
    first = 1.0 if exact else 2.0
    raw = draw(st.lists(st.tuples(st.floats(first, end - 1.0), size, sign), min_size=1,
                        max_size=3))
    steps: list[tuple[float, int]] = []
    for at_s, ms, sg in sorted(raw):
        if all(abs(at_s - other) >= 3.0 for other, _ in steps):
            steps.append((at_s, sg * ms * 1_000_000))
    return plan, steps


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedConfig:
    return config(tmp_path_factory.mktemp("clock"), health=True)


def compare(ref: Run, stepped: Run, host: Host) -> list[AlarmEvent]:
    """Every reading evaluated, nothing held; the stepped run's events other than steps."""
    for r in (ref, stepped):
        c = r.engine.counters
        assert (c.out_of_order, c.evaluated) == (0, r.fed)
        assert r.engine.clock.held == []
    assert ref.engine.counters.clock_steps == 0
    assert stepped.engine.counters.clock_steps == len(host.steps)
    return [e for _, e in stepped.events if e.kind is not EventKind.CLOCK_STEP]


def same_alarms(ref: Run, stepped: Run, host: Host) -> None:
    """The stepped run raised, cleared and kept exactly the reference run's alarms."""
    events = compare(ref, stepped, host)
    key = [(e.kind, e.point, e.state, e.prev_state, e.alarm_id, e.value) for _, e in ref.events]
    assert [(e.kind, e.point, e.state, e.prev_state, e.alarm_id, e.value) for e in events] == key
    # each event is stamped with the clock as it read when the engine made it
    made = [m for m, e in stepped.events if e.kind is not EventKind.CLOCK_STEP]
    assert [e.ts_ns - host.offset(m) for m, e in zip(made, events, strict=True)] == [
        e.ts_ns for _, e in ref.events]
    assert _views(ref) == _views(stepped)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(exact=True))
def test_exact_steps_change_nothing_but_the_clock(
        loaded: LoadedConfig, scenario: tuple[list[Block], list[tuple[float, int]]]) -> None:
    plan, steps = scenario
    host = Host(steps)
    stepped = run(loaded, plan, host, exact=True)
    same_alarms(run(loaded, plan, Host(), exact=True), stepped, host)
    assert [(e.details or {}).get("step_ns") for _, e in stepped.events
            if e.kind is EventKind.CLOCK_STEP] == [s for _, s in steps]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(exact=False))
def test_steps_back_seen_by_ticks_and_readings_change_nothing_but_the_clock(
        loaded: LoadedConfig, scenario: tuple[list[Block], list[tuple[float, int]]]) -> None:
    """Without the monotonic clock, on a host that polls and ticks regularly, as the daemon."""
    plan, steps = scenario
    host = Host(steps)
    stepped = run(loaded, plan, host, exact=False)
    same_alarms(run(loaded, plan, Host(), exact=False), stepped, host)
    assert all(e.details and e.details["source"] in ("tick", "readings")
               for _, e in stepped.events if e.kind is EventKind.CLOCK_STEP)


def _views(r: Run) -> list[tuple[Any, ...]]:
    """The alarms open at the end (listed by raise time, which is on each run's clock)."""
    return sorted((v.point, v.state, v.alarm_id, v.mode) for v in r.engine.active())
