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
from typing import Any

from monitor.config.alarms import AlarmsConfig
from monitor.model import Quality, Reading

from .base import SYSTEM, EngineBase
from .channels import ChannelRt
from .events import AlarmEvent, EventKind
from .location import LocationTracker
from .stale import StaleScan, check_stale, settle
from .table import Tables
from .timebase import CLOCK_POINT, EXACT_STEP_NS, TICK_STEP_NS, reanchor

NS = 1_000_000_000
GOOD = Quality.GOOD
COMM_ERROR = Quality.COMM_ERROR
MAINTENANCE = Quality.MAINTENANCE
FAULTS = frozenset({Quality.DEVICE_FAULT, Quality.OUT_OF_RANGE})
NUMBERS = (float, int, bool)
NEVER = float("inf")


class EngineCore(EngineBase):
    """Readings and time: ``evaluate`` and ``tick`` (see the module docstring)."""

    def __init__(self, tables: Tables, config: AlarmsConfig, *, start_ns: int,
                 id_prefix: str = "", next_seq: int = 1, next_alarm_id: int = 1,
                 fast: bool = True) -> None:
        super().__init__(tables, config, start_ns=start_ns, id_prefix=id_prefix,
                         next_seq=next_seq, next_alarm_id=next_alarm_id)
        self.fast = fast
        self._stale_scan = StaleScan([c for c in tables.channels.values()
                                      if c.kind.stale_spec is not None])
        self._scheduled = tuple(tr for tr in tables.trackers.values() if tr.windows)
        self._shelf_due: float = -NEVER  # earliest shelving expiry (a lower bound)
        if not fast:
            self._ingest = self._ingest_full  # type: ignore[method-assign]

    # --- readings ------------------------------------------------------------------------

    def evaluate(self, readings: Iterable[Reading]) -> list[AlarmEvent]:
        if self.clock.grace is not None:  # just after a clock step: some polls were in flight
            readings, moved = self.clock.restamp(readings)
            self.counters.restamped += moved
        self._ingest(readings)
        out = self._out  # ``drain``, inline: nearly every batch makes no event
        if not out:
            return []
        self._out = []
        return out

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
                if ch.last_ts - ts < ch.kind.step_ns or not self._went_back(ch, r):
                    self.counters.out_of_order += 1
                continue
            ch.last_ts = ts
            n += 1
            v = r.value
            if r.quality is good and (v.__class__ is flt or v.__class__ is num):
                if ch.lo <= v <= ch.hi:
                    ch.last_good_ts = ts  # within its fast band: nothing else can change
                    continue
                if v - v == 0:  # finite: the full path of a good value, less its checks
                    self.counters.full += 1
                    self._good(ch, ts, flt(v))
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
                if ch.last_ts - ts < ch.kind.step_ns or not self._went_back(ch, r):
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
        kind = ch.kind
        comm = kind.device.comm
        if comm is not None and (comm.active or comm.pending_on is not None):
            comm.set(self, ts, False)
        if ch.faulted:
            self._fault(ch, ts, False, None)
        stale = ch.stale
        if stale is not None:
            if isinstance(stale, int):  # dormant (see ``stale``)
                stale = settle(self.t, ch, stale, ts)
            if stale is not None and (stale.active or stale.pending_on is not None):
                stale.set(self, ts, False)
        if ch.live is None:  # no rule of the channel is live: is the value in the quiet band?
            lo, hi = ch.rs.band[kind.loc.state_idx]
            if v < lo or v > hi:
                self._rules(ch, ts, v)
        else:
            self._rules(ch, ts, v)
        if kind.inputs:
            for tracker in kind.inputs:
                tracker.input_value(v)
                self.apply_location(tracker, ts, SYSTEM, f"input {ch.id} = {v:g}")
        if kind.doors:
            for d in kind.doors:
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
        idx = ch.kind.loc.state_idx
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
                if lo <= v <= hi or (rs.doored[i] and (doors := ch.kind.suppressors) and any(
                    ts < door.suppress_until for door in doors
                )):
                    continue
                rule = self.t.wake(ch, i)
                live = ch.live
            rule.sample(self, ts, v)

    def _not_good(self, ch: ChannelRt, ts: int, q: Quality, detail: str | None) -> None:
        dev = ch.kind.device
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
            if isinstance(stale, int):  # dormant (see ``stale``)
                stale = settle(self.t, ch, stale, ts)
            if stale is not None and (stale.active or stale.pending_on is not None):
                stale.set(self, ts, False)
        faulted = q in FAULTS
        if faulted != ch.faulted:
            self._fault(ch, ts, faulted, detail)

    def _fault(self, ch: ChannelRt, ts: int, faulted: bool, detail: str | None) -> None:
        ch.faulted = faulted
        ch.refresh()
        dev = ch.kind.device
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
        for chans in self._stale_scan.slices:
            for ch in chans:
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
        self.t.wake_dormant()  # a dormant stale condition's timer moves as any other
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
        check_stale(self, ch, now)

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


def _point_order(cond: Any) -> int:
    return cond.point.order  # type: ignore[no-any-return]


def _tracker_index(tracker: LocationTracker) -> int:
    return tracker.index
