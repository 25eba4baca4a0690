"""The pure alarm core: readings and time in, events out. No I/O, no clock of its own.

``evaluate`` is on the hot path (every batch a driver emits). A good reading
within its channel's *fast band* (``ChannelRt``: within the innermost limits
while nothing of the channel holds state) costs one dict lookup, the
duplicate/out-of-order check and two comparisons, and only updates the
channel's last-seen times; every other reading takes the full path: health
bookkeeping, then the channel's rules. ``tick(now)`` matures delays, detects
stale data and expires shelving, maintenance and manual location states; it
looks only at the conditions whose delay is running (``timers``), the
channels that may have gone stale (``StaleScan``), the locations whose state
time may change, and the points' shelving once the earliest expiry is due.

``EngineCore(..., fast=False)`` takes the full path for every reading and
looks at everything at every tick, as the engine did before these shortcuts;
the property tests check that both give the same events.

Bad input never moves a value alarm: a reading whose quality is not good, or
whose value is None, NaN, ±inf or not a number, is not compared with any
limit; it only counts towards the health rules. A reading whose timestamp is
not after the channel's previous one is ignored and counted, unless it went
back so far that the host clock must have stepped (see ``timebase``): then
the step is confirmed, every timer moves with it and the reading is evaluated.

Operator actions (acknowledge, shelve, maintenance, out of service, location
state) are added by ``engine.AlarmEngine``; they go through the same ``emit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.config.alarms import AlarmsConfig
from monitor.model import Quality, Reading

from .channels import ChannelRt
from .events import AlarmEvent, EventKind
from .location import LocationTracker
from .stale import StaleScan
from .states import AlarmPoint
from .table import Tables
from .timebase import CLOCK_POINT, EXACT_STEP_NS, TICK_STEP_NS, ClockWatch, reanchor
from .views import AlarmView, active_views

NS = 1_000_000_000
SYSTEM = "system"
GOOD = Quality.GOOD
COMM_ERROR = Quality.COMM_ERROR
MAINTENANCE = Quality.MAINTENANCE
FAULTS = frozenset({Quality.DEVICE_FAULT, Quality.OUT_OF_RANGE})
NUMBERS = (float, int, bool)
NEVER = float("inf")


@dataclass
class Counters:
    evaluated: int = 0
    out_of_order: int = 0  # duplicate or older timestamp: ignored
    unknown_channel: int = 0
    bad_value: int = 0  # quality good but value None/NaN/inf/not a number
    not_good: int = 0  # quality other than good
    maintenance: int = 0  # marked maintenance by maintenance mode: evaluated, suppressed
    clock_steps: int = 0  # steps of the host clock seen; timers moved with each
    held: int = 0  # readings that went back, held until a clock step was confirmed
    restamped: int = 0  # stamped before a step, delivered after it: moved by the step
    full: int = 0  # evaluated on the full path (the rest: within their channel's fast band)


class EngineCore:
    """State of every alarm point of one configuration. Single-threaded."""

    def __init__(self, tables: Tables, config: AlarmsConfig, *, start_ns: int,
                 id_prefix: str = "", next_seq: int = 1, next_alarm_id: int = 1,
                 fast: bool = True) -> None:
        self.t = tables
        self.config = config
        self.id_prefix = id_prefix
        self.next_seq = next_seq
        self.next_alarm_id = next_alarm_id
        self.peak_interval_ns = int(config.peak_event_interval * NS)
        self.max_shelve_ns = int(config.max_shelve * NS)
        self.counters = Counters()
        self.maintenance = tables.maintenance  # target -> until (None: open-ended)
        self.now_ns = start_ns  # the latest tick: the engine's own clock
        self._out: list[AlarmEvent] = []
        self._channels = tables.channels
        self._stale_channels = tuple(c for c in tables.channels.values()
                                     if c.stale_spec is not None)
        for ch in tables.channels.values():
            ch.last_good_ts = start_ns
            ch.refresh()
        devices = {ch.device.name for ch in tables.channels.values()}
        self.clock = ClockWatch(quorum_devices=min(2, len(devices)))
        self._flushing = False
        self.stepped_at: int | None = None  # new time of the last clock step
        self.fast = fast
        #: conditions whose on- or off-delay may be running (``Condition.update`` adds them)
        self.timers: dict[Any, None] = {}
        self._stale_scan = StaleScan(self._stale_channels)
        self._scheduled = tuple(tr for tr in tables.trackers.values() if tr.windows)
        self._shelf_due: float = -NEVER  # earliest shelving expiry (a lower bound)
        if not fast:
            self._ingest = self._ingest_full  # type: ignore[method-assign]

    # --- event creation (the Emitter protocol) ---------------------------------------------

    def new_alarm_id(self) -> int:
        alarm_id = self.next_alarm_id
        self.next_alarm_id += 1
        return alarm_id

    def emit(self, src: AlarmPoint | None, ts_ns: int, kind: EventKind, **fields: Any) -> None:
        seq = self.next_seq
        self.next_seq = seq + 1
        if src is not None:
            point = src
            fields.setdefault("location_state", self.t.locations[point.location].state
                              if point.location in self.t.locations else None)
            event = AlarmEvent(
                seq=seq, id=f"{self.id_prefix}{seq}", ts_ns=ts_ns, kind=kind,
                alarm_id=point.alarm_id, point=point.key, location=point.location,
                channel=point.channel, rule=point.rule, level=point.level,
                priority=point.priority, mode=point.mode, **fields,
            )
        else:
            event = AlarmEvent(seq=seq, id=f"{self.id_prefix}{seq}", ts_ns=ts_ns, kind=kind,
                               **fields)
        self._out.append(event)

    def drain(self) -> list[AlarmEvent]:
        """Events made since the last drain, in seq order."""
        out = self._out
        if not out:
            return []
        self._out = []
        return out

    # --- readings ------------------------------------------------------------------------

    def evaluate(self, readings: Iterable[Reading]) -> list[AlarmEvent]:
        if self.clock.grace is not None:  # just after a clock step: some polls were in flight
            readings, moved = self.clock.restamp(readings)
            self.counters.restamped += moved
        self._ingest(readings)
        return self.drain()

    def _ingest(self, readings: Iterable[Reading]) -> None:
        get = self._channels.get
        good, flt, num = GOOD, float, int
        n = 0
        for r in readings:
            ch = get(r.channel)
            if ch is None:
                self.counters.unknown_channel += 1
                continue
            ts = r.ts_ns
            if ts <= ch.last_ts:
                if ch.last_ts - ts < ch.step_ns or not self._went_back(ch, r):
                    self.counters.out_of_order += 1
                continue
            ch.last_ts = ts
            n += 1
            v = r.value
            if r.quality is good and (v.__class__ is flt or v.__class__ is num) and (
                ch.lo <= v <= ch.hi
            ):
                ch.last_good_ts = ts  # within its fast band: nothing else can change
                continue
            self._full(ch, r, ts, v)
        self.counters.evaluated += n

    def _ingest_full(self, readings: Iterable[Reading]) -> None:
        """``_ingest`` without the fast band: every reading takes the full path."""
        channels = self._channels
        counters = self.counters
        n = 0
        for r in readings:
            ch = channels.get(r.channel)
            if ch is None:
                counters.unknown_channel += 1
                continue
            ts = r.ts_ns
            if ts <= ch.last_ts:
                if ch.last_ts - ts < ch.step_ns or not self._went_back(ch, r):
                    counters.out_of_order += 1
                continue
            ch.last_ts = ts
            n += 1
            self._full(ch, r, ts, r.value)
        counters.evaluated += n

    def _full(self, ch: ChannelRt, r: Reading, ts: int, v: Any) -> None:
        """The full path of one accepted reading: quality, health, rules, inputs, doors."""
        counters = self.counters
        counters.full += 1
        q = r.quality
        if q is GOOD:
            if v.__class__ in NUMBERS and v - v == 0:  # finite: NaN and inf fail
                self._good(ch, ts, float(v))
                return
            counters.bad_value += 1
            q = Quality.INVALID
        else:
            if q is MAINTENANCE and self.maintenance and v.__class__ in NUMBERS and (
                v - v == 0 and self._maintained(ch, ts)
            ):  # marked by maintenance mode: evaluated, its alarms recorded suppressed
                counters.maintenance += 1
                self._good(ch, ts, float(v))
                return
            counters.not_good += 1
        self._not_good(ch, ts, q, r.detail)

    def _good(self, ch: ChannelRt, ts: int, v: float) -> None:
        ch.last_good_ts = ts
        dev = ch.device
        comm = dev.comm
        if comm is not None and (comm.active or comm.pending_on is not None):
            comm.set(self, ts, False)
        if ch.faulted:
            self._fault(ch, ts, False, None)
        stale = ch.stale
        if stale is not None and (stale.active or stale.pending_on is not None):
            stale.set(self, ts, False)
        if ch.live is None:  # no rule of the channel is live: is the value in the quiet band?
            lo, hi = ch.rs.band[ch.loc.state_idx]
            if v < lo or v > hi:
                self._rules(ch, ts, v)
        else:
            self._rules(ch, ts, v)
        if ch.inputs:
            for tracker in ch.inputs:
                tracker.input_value(v)
                self.apply_location(tracker, ts, SYSTEM, f"input {ch.id} = {v:g}")
        if ch.doors:
            for d in ch.doors:
                is_open = (v == 0) if d.zero_means_open else (v != 0)
                if d.door.update(ts, is_open):
                    ch.refresh()
                    if d.held is not None:
                        d.held.set(self, ts, is_open, None)

    def _rules(self, ch: ChannelRt, ts: int, v: float) -> None:
        """Sample the channel's rules in order; an idle one is made live when ``v`` would start
        its condition (the door check is the one ``ValueRule.sample`` makes)."""
        rs = ch.rs
        live = ch.live
        idx = ch.loc.state_idx
        if live is not None:
            lo, hi = rs.value_band[idx]
            if lo <= v <= hi:  # no idle value rule wakes: sample the live ones and rate rules
                doored = rs.doored
                for i, found in enumerate(live):
                    if found is not None:
                        found.sample(self, ts, v)
                    elif not doored[i]:
                        self.t.wake(ch, i).sample(self, ts, v)  # a rate rule sees every sample
                return
        for i, (lo, hi) in enumerate(rs.wake[idx]):
            rule = None if live is None else live[i]
            if rule is None:
                if lo <= v <= hi or (rs.doored[i] and ch.suppressors and any(
                    ts < door.suppress_until for door in ch.suppressors
                )):
                    continue
                rule = self.t.wake(ch, i)
                live = ch.live
            rule.sample(self, ts, v)

    def _not_good(self, ch: ChannelRt, ts: int, q: Quality, detail: str | None) -> None:
        dev = ch.device
        comm = dev.comm
        if q is COMM_ERROR:
            if dev.comm_spec is not None:
                comm = self.t.wake_comm(dev)
                comm.note = detail
                comm.set(self, ts, True)
            return
        if comm is not None and (comm.active or comm.pending_on is not None):
            comm.set(self, ts, False)
        if q is Quality.MAINTENANCE:  # deliberately flagged data is still data: not stale
            ch.last_good_ts = ts
            stale = ch.stale
            if stale is not None and (stale.active or stale.pending_on is not None):
                stale.set(self, ts, False)
        faulted = q in FAULTS
        if faulted != ch.faulted:
            self._fault(ch, ts, faulted, detail)

    def _fault(self, ch: ChannelRt, ts: int, faulted: bool, detail: str | None) -> None:
        ch.faulted = faulted
        ch.refresh()
        dev = ch.device
        dev.fault_n += 1 if faulted else -1
        rule = dev.fault
        if rule is None and dev.fault_n > 0 and dev.fault_spec is not None:
            rule = self.t.wake_fault(dev)
        if rule is not None:
            if faulted:
                rule.note = f"{ch.id}: {detail}" if detail else ch.id
            rule.set(self, ts, dev.fault_n > 0, None)

    # --- time ----------------------------------------------------------------------------

    def tick(self, now_ns: int) -> list[AlarmEvent]:
        clock = self.clock
        if clock.grace is not None:  # a time read before the step, used after it
            now_ns = clock.restamp_time(now_ns)
        if not clock.exact:
            gap = now_ns - self.now_ns
            if gap <= -TICK_STEP_NS:  # the tick came its usual interval after the last one
                self._step(gap - clock.tick_gap, now_ns, "tick", exact=False)
            else:
                if clock.held:  # the clock did not step: those readings were stamped wrong
                    self.counters.out_of_order += len(clock.take_held())
                clock.tick_gap = gap if 0 < gap < TICK_STEP_NS else 0
        self.now_ns = max(self.now_ns, now_ns)
        if self.fast:
            self._tick_fast(now_ns)
        else:
            self._tick_full(now_ns)
        self.t.sweep()
        return self.drain()

    def _tick_full(self, now_ns: int) -> None:
        """Every stale channel, live condition, live point and location, in that order."""
        for ch in self._stale_channels:
            self._check_stale(ch, now_ns)
        for cond in self.t.live_conditions():
            if (cond.pending_on is not None or cond.pending_off is not None) and (
                not cond.point.oos
            ):
                cond.advance(self, now_ns, True)
        self.timers.clear()
        self._expire(now_ns)
        for tracker in self.t.trackers.values():
            if tracker.due(now_ns):
                self.apply_location(tracker, now_ns, SYSTEM, None)

    def _tick_fast(self, now_ns: int) -> None:
        """What ``_tick_full`` does, looking only where something can be due (same order)."""
        t = self.t
        if t.stale_woken:
            self._stale_scan.reset()
        self._stale_scan.run(now_ns, self._check_stale)
        t.stale_woken = False
        if self.timers:
            running = [c for c in self.timers
                       if c.pending_on is not None or c.pending_off is not None]
            running.sort(key=_point_order)
            for cond in running:
                if not cond.point.oos:
                    cond.advance(self, now_ns, True)
            self.timers = {c: None for c in running
                           if c.pending_on is not None or c.pending_off is not None}
        if now_ns >= self._shelf_due or self.maintenance:
            self._expire(now_ns)
        watch = t.tracker_watch
        if watch or self._scheduled:
            trackers = sorted({*self._scheduled, *watch}, key=_tracker_index) if watch else (
                self._scheduled)
            for tracker in trackers:
                if tracker.due(now_ns):
                    self.apply_location(tracker, now_ns, SYSTEM, None)
            for tracker in [tr for tr in watch if not tr.timed()]:
                del watch[tracker]

    # --- clock steps (see timebase) --------------------------------------------------------

    def observe_clock(self, wall_ns: int, mono_ns: int) -> None:
        """The host's UTC and monotonic clocks read together (the service, before each call).

        From the first observation on, only this pairing decides what is a step;
        the events of a step go out with the next ``evaluate`` or ``tick``.
        """
        clock = self.clock
        last = clock.offset
        if last is not None and clock.grace is None and not clock.held and (
            -EXACT_STEP_NS < wall_ns - mono_ns - last < EXACT_STEP_NS
        ):  # no step, nothing held, no grace to end: what ``ClockWatch.observe`` would do
            clock.offset = wall_ns - mono_ns
            return
        step = clock.observe(wall_ns, mono_ns)
        if self.clock.held:  # held before the monotonic clock was known: it did not step
            self.counters.out_of_order += len(self.clock.take_held())
        if step:
            self._step(step, wall_ns, "monotonic", exact=True)

    def _went_back(self, ch: ChannelRt, r: Reading) -> bool:
        """A reading far behind its channel's last one: held if it may show a step back."""
        if self.clock.exact or self._flushing:
            return False  # the monotonic clock (or the step just taken) says it is no step
        self.counters.held += 1
        if self.clock.hold(ch, r):
            clock = self.clock
            assert clock.held_step is not None
            self._step(clock.held_step, clock.held_at, "readings", exact=False)
        return True

    def _step(self, step: int, at: int, source: str, *, exact: bool) -> None:
        """The host clock stepped by ``step`` ns, seen at ``at`` (new time): move every timer."""
        self.counters.clock_steps += 1
        self.stepped_at = at
        moved = reanchor(self.t, self.maintenance, step, exact=exact)
        self._stale_scan.reset()
        self._shelf_due = -NEVER
        self.now_ns += step
        self.clock.begin_grace(step, at)
        held = self.clock.take_held()
        how = {"monotonic": "the monotonic clock", "tick": "the engine's tick",
               "readings": "readings of several channels"}[source]
        self.emit(None, at, EventKind.CLOCK_STEP, point=CLOCK_POINT, user=SYSTEM, value=step / NS,
                  reason=f"host clock stepped {'back' if step < 0 else 'forward'} by "
                         f"{abs(step) / NS:.3f} s (seen by {how}); timers moved with it",
                  details={"step_ns": step, "from_ns": at - step, "to_ns": at, "source": source,
                           "exact": exact, "held": len(held), **moved})
        if held:
            self._flushing = True
            try:
                self._ingest(held)
            finally:
                self._flushing = False

    def _check_stale(self, ch: ChannelRt, now: int) -> None:
        stale = ch.stale  # None while idle
        if stale is not None and (stale.active or stale.point.oos):
            return
        comm = ch.device.comm
        if comm is not None and comm.active:  # the comm failure says it already
            if stale is not None and stale.pending_on is not None:
                stale.set(self, now, False)
            return
        if stale is None or stale.pending_on is None:
            became = ch.last_good_ts + ch.stale_ns
            if now >= became:
                spec = ch.stale_spec
                assert spec is not None
                self.t.wake_stale(ch).set(self, became, True, (ch.stale_ns + spec.on_ns) / NS)

    def _expire(self, now: int) -> None:
        if now >= self._shelf_due or not self.fast:
            earliest = NEVER
            for point in self.t.live_points():
                until = point.shelved_until
                if until is not None:
                    if until <= now:
                        point.unshelve(self, until, SYSTEM, "shelving expired")
                    elif until < earliest:
                        earliest = until
            self._shelf_due = earliest
        for target, until in list(self.maintenance.items()):
            if until is not None and until <= now:
                self.end_maintenance(target, until, SYSTEM, "maintenance period expired")

    # --- location state ------------------------------------------------------------------

    def apply_location(self, tracker: LocationTracker, ts: int, user: str,
                       reason: str | None, *, force: bool = False, initial: bool = False) -> None:
        """Bring the location to the state its tracker wants; record a change.

        ``force`` records the state even if unchanged (a manual setting);
        ``initial`` marks the first record of a location in this log.
        """
        rt = tracker.rt
        state, source = tracker.wanted(ts)
        manual_changed = (source == "manual") != (tracker.source == "manual")
        clean_up = None
        if (state == "at_rest" and rt.state == "in_operation" and tracker.clean_up_ns
                and source != "manual"):
            # operations ended: in-operation limits hold until the clean-up period is over
            since = tracker.rest_pending_since
            if since is None:
                since = tracker.rest_pending_since = ts
            if ts < since + tracker.clean_up_ns:
                return
            ts, clean_up = since + tracker.clean_up_ns, since
        tracker.rest_pending_since = None
        if state == rt.state and not manual_changed and not force:
            tracker.source = source
            return
        previous = rt.state
        rt.set_state(state)
        tracker.source = source
        manual = tracker.manual
        details: dict[str, Any] = {"source": source, "previous": None if initial else previous}
        if source == "manual" and manual is not None:
            details["until_ns"] = manual.until_ns
        if clean_up is not None:
            details["clean_up_from_ns"] = clean_up
        self.emit(None, ts, EventKind.LOCATION_STATE, point=f"location:{rt.name}",
                  location=rt.name, location_state=state, user=user,
                  reason=reason or source, details=details)

    # --- maintenance ---------------------------------------------------------------------

    def in_maintenance(self, point: AlarmPoint) -> bool:
        return self.t.in_maintenance(point)

    def maintenance_target(self, channel: str, device: str, location: str,
                           ts: int) -> str | None:
        """The maintenance target covering this channel at ``ts`` (channel first), or None."""
        m = self.maintenance
        for target in (channel, device, location):
            if target in m:
                until = m[target]
                if until is None or ts < until:
                    return target
        return None

    def _maintained(self, ch: ChannelRt, ts: int) -> bool:
        return self.maintenance_target(ch.id, ch.device.name, ch.loc.name, ts) is not None

    def end_maintenance(self, target: str, ts: int, user: str, reason: str) -> None:
        self.maintenance.pop(target, None)
        self.emit(None, ts, EventKind.MAINTENANCE, point=f"maintenance:{target}",
                  user=user, reason=reason, details={"target": target, "on": False})
        for point in self.t.live_points():  # an idle point learns it when it is made
            if point.suppressed and not self.in_maintenance(point):
                point.set_suppressed(self, ts, False, user=user, reason=reason, target=target)

    # --- views ---------------------------------------------------------------------------

    def active(self) -> list[AlarmView]:
        """Alarms not in normal state, and shelved or out-of-service points."""
        return active_views([*self.t.live_points(), *self.t.idle_in_maintenance()])


def _point_order(cond: Any) -> int:
    return cond.point.order  # type: ignore[no-any-return]


def _tracker_index(tracker: LocationTracker) -> int:
    return tracker.index
