"""The ISA-18.2 state machine: every transition, shelving, suppression, out of service, and
hypothesis properties (no skipped state, every alarm ends or stays active, replay agrees)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind, Mode
from monitor.alarms.rebuild import restore
from monitor.alarms.rules import build_tables
from monitor.alarms.states import LEGAL_EDGES, next_state
from monitor.errors import AlarmError

from .site import Harness, at, limits, site

N, AU, AA, RU = (AlarmState.NORMAL, AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK,
                 AlarmState.RTN_UNACK)
KEY = "th1/t:high_action"


@pytest.mark.parametrize(("state", "trigger", "latching", "expected"), [
    (N, "activate", False, AU), (N, "activate", True, AU),
    (AU, "ack", False, AA), (AU, "ack", True, AA),
    (AU, "clear", False, RU), (AU, "clear", True, RU),
    (AA, "clear", False, N), (AA, "clear", True, RU),
    (RU, "ack", False, N), (RU, "ack", True, N),
    (RU, "activate", False, AU), (RU, "activate", True, AU),
    (N, "ack", False, None), (N, "clear", False, None), (AA, "ack", True, None),
    (AU, "activate", False, None), (AA, "activate", True, None), (RU, "clear", True, None),
])
def test_transition_table(state: AlarmState, trigger: str, latching: bool,
                          expected: AlarmState | None) -> None:
    assert next_state(state, trigger, latching) is expected


def make(tmp_path: Path, *, latch: bool = True) -> Harness:
    return Harness(site(tmp_path, alarms=limits(
        {"channel": "th1/t", "high_action": 25.0, "latch_action": latch},
        require_signature_for_action=False)))


def ack(h: Harness, t: float) -> list[AlarmEvent]:
    out = h.engine.acknowledge(KEY, "ann", "seen", at(t))
    h.events.extend(out)
    return out


@pytest.mark.parametrize(("latch", "steps", "states"), [
    # non-latching: acknowledged then cleared goes straight back to normal
    (False, ["hi", "ack", "lo"], [AU, AA, N]),
    (True, ["hi", "ack", "lo", "ack"], [AU, AA, RU, N]),
    (False, ["hi", "lo", "ack"], [AU, RU, N]),
    (True, ["hi", "lo", "hi", "ack", "lo", "ack"], [AU, RU, AU, AA, RU, N]),
])
def test_sequences(tmp_path: Path, latch: bool, steps: list[str],
                   states: list[AlarmState]) -> None:
    h = make(tmp_path, latch=latch)
    seen = []
    for i, step in enumerate(steps):
        events = ack(h, i) if step == "ack" else h.feed("th1/t", 30.0 if step == "hi" else 20.0, i)
        seen.extend(e.state for e in events)
    assert seen == states
    ids = {e.alarm_id for e in h.events}
    assert len(ids) == 1  # one episode, one alarm id, even when it came back before the ack


def test_a_new_episode_gets_a_new_id(tmp_path: Path) -> None:
    h = make(tmp_path, latch=False)
    h.feed("th1/t", 30.0, 0)
    ack(h, 1)
    h.feed("th1/t", 20.0, 2)
    h.feed("th1/t", 30.0, 3)
    assert [e.alarm_id for e in h.events] == [1, 1, 1, 2]


@pytest.mark.parametrize("state", ["normal", "acked"])
def test_acknowledge_refused_when_nothing_to_acknowledge(tmp_path: Path, state: str) -> None:
    h = make(tmp_path)
    if state == "acked":
        h.feed("th1/t", 30.0, 0)
        ack(h, 1)
    with pytest.raises(AlarmError):
        ack(h, 2)


@pytest.mark.parametrize(("user", "reason"), [("", "x"), ("ann", ""), ("  ", "x"), ("a", " ")])
def test_actions_need_user_and_reason(tmp_path: Path, user: str, reason: str) -> None:
    h = make(tmp_path)
    h.feed("th1/t", 30.0, 0)
    with pytest.raises(AlarmError):
        h.engine.acknowledge(KEY, user, reason, at(1))
    with pytest.raises(AlarmError):
        h.engine.shelve(KEY, user, reason, at(1), at(100))


def test_shelving_expires(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.feed("th1/t", 30.0, 0)
    (shelved,) = h.engine.shelve(1, "ann", "sensor swap", at(1), at(3601))
    assert (shelved.kind, shelved.mode) == (EventKind.SHELVED, Mode.SHELVED)
    assert not shelved.notify
    events = h.feed("th1/t", 20.0, 2)  # recorded while shelved, not annunciated
    assert [(e.kind, e.mode, e.notify) for e in events] == [("cleared", Mode.SHELVED, False)]
    assert h.tick(3600.9) == []
    (expired,) = h.tick(3601.0)
    assert (expired.kind, expired.user, expired.ts_ns) == ("unshelved", "system", at(3601))
    assert (expired.state, expired.mode) == (RU, Mode.IN_SERVICE)  # still to be acknowledged


@pytest.mark.parametrize(("until", "ok"), [(0.5, False), (1.0, False), (43_201.0, True),
                                           (43_201.1, False)])
def test_shelving_needs_a_bounded_future_expiry(tmp_path: Path, until: float, ok: bool) -> None:
    h = make(tmp_path)
    if ok:
        h.engine.shelve(KEY, "ann", "x", at(1), at(until))
    else:
        with pytest.raises(AlarmError):
            h.engine.shelve(KEY, "ann", "x", at(1), at(until))


def test_unshelve_by_hand(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.engine.shelve(KEY, "ann", "x", at(1), at(100))
    (event,) = h.engine.unshelve(KEY, "ann", "done", at(2))
    assert event.mode is Mode.IN_SERVICE
    with pytest.raises(AlarmError):
        h.engine.unshelve(KEY, "ann", "again", at(3))


def test_maintenance_suppresses_but_records(tmp_path: Path) -> None:
    h = make(tmp_path)
    (m,) = h.engine.set_maintenance("fill-1", True, user="eng", reason="filter change",
                                    ts_ns=at(0), until_ns=at(600))
    assert m.kind == "maintenance"
    events = h.feed("th1/t", 30.0, 1)
    assert [(e.kind, e.mode, e.notify) for e in events] == [("raised", Mode.SUPPRESSED, False)]
    (end, unsuppressed) = h.tick(600)
    assert (end.kind, unsuppressed.kind, unsuppressed.state) == ("maintenance", "unsuppressed",
                                                                 AU)
    assert unsuppressed.mode is Mode.IN_SERVICE


@pytest.mark.parametrize("target", ["fill-1", "th1", "th1/t"])
def test_maintenance_targets(tmp_path: Path, target: str) -> None:
    h = make(tmp_path)
    h.engine.set_maintenance(target, True, user="eng", reason="x", ts_ns=at(0))
    assert h.engine.t.points[KEY].mode is Mode.SUPPRESSED
    h.engine.set_maintenance(target, False, user="eng", reason="done", ts_ns=at(1))
    assert h.engine.t.points[KEY].mode is Mode.IN_SERVICE


def test_maintenance_of_unknown_target_is_refused(tmp_path: Path) -> None:
    h = make(tmp_path)
    with pytest.raises(AlarmError):
        h.engine.set_maintenance("nowhere", True, user="eng", reason="x", ts_ns=at(0))


def test_out_of_service_freezes_evaluation(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.feed("th1/t", 30.0, 0)
    (oos,) = h.engine.set_out_of_service(KEY, True, "eng", "sensor removed", at(1))
    assert (oos.state, oos.mode) == (AU, Mode.OUT_OF_SERVICE)
    assert h.feed("th1/t", 20.0, 2) == []
    assert h.state(KEY) is AU  # frozen; acknowledging is still possible
    h.engine.set_out_of_service("th1/t", False, "eng", "back", at(3))
    assert [e.state for e in h.feed("th1/t", 20.0, 4)] == [RU]


# --- properties -------------------------------------------------------------------------------

Action = tuple[str, float]
actions = st.lists(st.one_of(
    st.tuples(st.sampled_from(["hi", "lo", "mid", "nan"]), st.floats(0.1, 40.0)),
    st.tuples(st.sampled_from(["tick", "ack", "shelve", "unshelve", "maint_on", "maint_off",
                               "oos_on", "oos_off"]), st.floats(0.1, 40.0)),
), min_size=1, max_size=40)


def _run(h: Harness, steps: list[Action]) -> None:
    e = h.engine
    t = 0.0
    values = {"hi": 30.0, "lo": 20.0, "mid": 24.9, "nan": float("nan")}
    for op, dt in steps:
        t += dt
        try:
            if op in values:
                h.feed("th1/t", values[op], t)
            elif op == "tick":
                h.tick(t)
            elif op == "ack":
                h.events.extend(e.acknowledge(KEY, "ann", "r", at(t)))
            elif op == "shelve":
                h.events.extend(e.shelve(KEY, "ann", "r", at(t), at(t + 30)))
            elif op == "unshelve":
                h.events.extend(e.unshelve(KEY, "ann", "r", at(t)))
            elif op.startswith("maint"):
                h.events.extend(e.set_maintenance("th1", op == "maint_on", user="eng",
                                                  reason="r", ts_ns=at(t), until_ns=None))
            else:
                h.events.extend(e.set_out_of_service(KEY, op == "oos_on", "eng", "r", at(t)))
        except AlarmError:
            point = e.t.points[KEY]
            if op == "ack":
                assert point.state in (N, AA)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions, latch=st.booleans(), on_delay=st.sampled_from(["0s", "5s"]),
       off_delay=st.sampled_from(["0s", "3s"]))
def test_state_machine_properties(tmp_path: Path, steps: list[Action], latch: bool,
                                  on_delay: str, off_delay: str) -> None:
    loaded = site(tmp_path, alarms=limits(
        {"channel": "th1/t", "high_action": 25.0, "latch_action": latch, "on_delay": on_delay,
         "off_delay": off_delay, "deadband": 0.5}, require_signature_for_action=False))
    h = Harness(loaded)
    _run(h, steps)
    point = h.engine.t.points[KEY]
    cond = h.engine.t.conditions[KEY]
    state, alarm_id, ids = N, None, []
    seqs = [ev.seq for ev in h.events]
    assert seqs == list(range(1, len(seqs) + 1))
    for ev in h.events:
        if ev.point != KEY:
            continue
        assert ev.prev_state is state, f"skipped a state at {ev}"  # no skipped state
        assert ev.state is not None
        assert ev.state == state or (state, ev.state) in LEGAL_EDGES
        if ev.kind is EventKind.RAISED and state is N:
            ids.append(ev.alarm_id)
            alarm_id = ev.alarm_id
        assert ev.alarm_id == alarm_id  # every event of an episode carries its id
        state = ev.state
        if state is N:
            alarm_id = None
    assert ids == sorted(set(ids))  # each episode a new, increasing id
    # every alarm that started has ended (normal) or is the one still open
    assert point.state is state
    assert point.alarm_id == alarm_id
    assert cond.active is (state in (AU, AA))
    # replaying the events into a fresh engine gives the same state
    fresh = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=at(0))
    restore(fresh, h.events, at(10_000))
    again = fresh.t.points[KEY]
    assert (again.state, again.alarm_id, again.mode) == (point.state, point.alarm_id, point.mode)
    assert fresh.next_seq == h.engine.next_seq
