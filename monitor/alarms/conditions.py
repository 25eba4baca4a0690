"""Conditions: when does a rule's alarm start and end, sample by sample and as time passes.

``Condition`` holds the timing every rule shares: an on-delay (the raw
condition must hold for ``on_ns`` before the alarm starts) and an off-delay
(the return must hold for ``off_ns`` before it ends). Timers mature at exact
times: a reading at ``ts`` first matures every timer due strictly before
``ts`` (the condition held until then), then is evaluated itself; ``tick(now)``
matures timers due at or before ``now``. So with a 30 s on-delay a violating
sample at 0 s and another at 30.0 s raise the alarm at 30.0 s; a normal sample
at 29.9 s or at 30.0 s does not.

Subclasses decide the raw condition: ``ValueRule`` (limit with deadband, n-of-m
and door suppression), ``RateRule`` (change within a window) and ``FlagRule``
(set from outside: health and door rules). Hot-path methods avoid allocating
anything unless a condition is pending or active.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, MutableSequence, Sequence
from typing import Any

from .states import AlarmPoint, Emitter

MAX_SAMPLES = 10
"""Triggering samples kept per excursion: the first and the most recent ones."""
NO_SAMPLES: tuple[()] = ()
"""The samples of a condition whose delay is not running: none, and no list per condition
(they are a list from ``_begin`` until the raise that records them)."""


class LocationRt:
    """A location's live state, shared by every rule there (limits are indexed by it)."""

    __slots__ = ("channels", "name", "state", "state_idx")

    def __init__(self, name: str, state: str) -> None:
        self.name = name
        self.state = state
        self.state_idx = 0 if state == "at_rest" else 1
        self.channels: list[Any] = []  # its ChannelRt, whose fast bands depend on the state

    def set_state(self, state: str) -> None:
        """Change the state in force; the limits of every channel here change with it."""
        self.state = state
        self.state_idx = 0 if state == "at_rest" else 1
        for ch in self.channels:
            ch.refresh()


class DoorRt:
    """A door contact's live state; ``suppress_until`` is when its pressure suppression ends."""

    __slots__ = ("is_open", "open_since", "settle_ns", "suppress_for_ns", "suppress_until")

    def __init__(self, suppress_for_ns: int, settle_ns: int) -> None:
        self.suppress_for_ns, self.settle_ns = suppress_for_ns, settle_ns
        self.is_open = False
        self.open_since = 0
        self.suppress_until = -1

    def update(self, ts: int, is_open: bool) -> bool:
        """Record the contact; True when it changed."""
        if is_open == self.is_open:
            return False
        self.is_open = is_open
        if is_open:
            self.open_since = ts
            self.suppress_until = ts + self.suppress_for_ns
        else:
            self.suppress_until = min(self.open_since + self.suppress_for_ns, ts + self.settle_ns)
        return True


class Condition:
    __slots__ = (
        "active", "first_ns", "last_value", "loc", "note", "off_ns", "on_ns", "pending_off",
        "pending_on", "pk", "pk_ns", "point", "samples", "settings",
    )

    def __init__(self, point: AlarmPoint, loc: LocationRt, on_ns: int, off_ns: int,
                 settings: Mapping[str, Any]) -> None:
        self.point, self.loc, self.on_ns, self.off_ns = point, loc, on_ns, off_ns
        self.settings = settings  # recorded with every raise: how this rule was configured
        self.active = False
        self.pending_on: int | None = None
        self.pending_off: int | None = None
        self.first_ns: int | None = None
        self.last_value: float | None = None
        self.pk: float | None = None
        self.pk_ns: int | None = None
        self.samples: list[tuple[int, float | None]] | tuple[()] = NO_SAMPLES
        self.note: str | None = None  # e.g. the device's fault text, recorded with the raise

    # --- what subclasses say about themselves ---------------------------------------------

    def limit_now(self) -> float | None:
        return None

    def recorded_limits(self) -> Mapping[str, Any] | None:
        """All limits of the channel in force now, recorded with a raise (value rules)."""
        return None

    # --- timing ----------------------------------------------------------------------------

    def advance(self, em: Emitter, now: int, inclusive: bool) -> None:
        """Mature the timers due before ``now`` (or at it, when ``inclusive``)."""
        if self.active:
            po = self.pending_off
            if po is not None:
                due = po + self.off_ns
                if due < now or (inclusive and due == now):
                    self._deactivate(em, due)
        else:
            po = self.pending_on
            if po is not None:
                due = po + self.on_ns
                if due < now or (inclusive and due == now):
                    self._activate(em, due)

    def update(self, em: Emitter, ts: int, raw: bool, value: float | None) -> None:
        """The raw condition as of ``ts`` (timers before ``ts`` already matured)."""
        self.last_value = value
        if raw:
            self.pending_off = None
            if self.active:
                if value is not None and self.point.sign:
                    self.point.observe(em, ts, value)
                return
            if self.pending_on is None:
                self._begin(ts, value)
                em.timers[self] = None  # the tick matures it (see EngineCore.tick)
            else:
                pk = self.pk
                if value is not None and (pk is None or (value - pk) * self.point.sign > 0):
                    self.pk, self.pk_ns = value, ts
                samples = self.samples
                assert isinstance(samples, list)  # pending: made by ``_begin``
                samples.append((ts, value))
                if len(samples) > MAX_SAMPLES:
                    del samples[1]
            po = self.pending_on
            if po is not None and po + self.on_ns <= ts:
                self._activate(em, po + self.on_ns)
        else:
            self.pending_on = None
            if self.active:
                if self.pending_off is None:
                    self.pending_off = ts
                    em.timers[self] = None
                if self.pending_off + self.off_ns <= ts:
                    self._deactivate(em, self.pending_off + self.off_ns)

    def _begin(self, ts: int, value: float | None) -> None:
        """The raw condition starts holding at ``ts``: the on-delay starts, samples are kept."""
        self.pending_on = self.first_ns = ts
        self.pk, self.pk_ns = value, ts
        self.samples = [(ts, value)]

    def _activate(self, em: Emitter, ts: int) -> None:
        self.active = True
        start = self.first_ns if self.first_ns is not None else ts
        self.pending_on = None
        details: dict[str, Any] = {
            "start_ns": start,
            "samples": [[t, v] for t, v in self.samples],
            "settings": self.settings,
        }
        self.samples = NO_SAMPLES  # recorded: the next ``_begin`` starts a new list
        limits = self.recorded_limits()
        if limits is not None:
            details["limits"] = limits
        if self.note is not None:
            details["detail"] = self.note
        point = self.point
        point.activate(em, ts, self.last_value, limit=self.limit_now(),
                       location_state=self.loc.state or None, details=details)
        if self.pk is not None and point.sign and point.peak is not None and (
            (self.pk - point.peak) * point.sign > 0
        ):
            point.peak, point.peak_ns = self.pk, self.pk_ns
        if point.episode_start is None or start < point.episode_start:
            point.episode_start = start

    def _deactivate(self, em: Emitter, ts: int) -> None:
        self.active = False
        end = self.pending_off if self.pending_off is not None else ts
        self.pending_off = None
        self.point.deactivate(em, ts, self.last_value, {"end_ns": end})

    def restore_active(self) -> None:
        """After a restart with the alarm's condition still open: assume it still holds."""
        self.active = True
        self.pending_on = self.pending_off = None


class FlagRule(Condition):
    """A condition set from outside (stale data, comm failure, device fault, door held open)."""

    __slots__ = ("threshold",)

    def __init__(self, point: AlarmPoint, loc: LocationRt, on_ns: int,
                 settings: Mapping[str, Any], threshold: float | None = None) -> None:
        super().__init__(point, loc, on_ns, 0, settings)
        self.threshold = threshold

    def limit_now(self) -> float | None:
        return self.threshold

    def set(self, em: Emitter, ts: int, raw: bool, value: float | None = None) -> None:
        if self.point.oos:
            return
        self.advance(em, ts, False)
        if raw or self.active or self.pending_on is not None:
            self.update(em, ts, raw, value)


class ValueRule(Condition):
    """One limit (high or low, alert or action) of one channel, per location state."""

    __slots__ = ("bits", "deadband", "doors", "in_force", "limits", "m", "mask", "n", "sign",
                 "win_i", "win_t", "win_v")

    def __init__(
        self, point: AlarmPoint, loc: LocationRt, *, limits: Sequence[float | None],
        sign: float, on_ns: int, off_ns: int, deadband: float, n: int, m: int,
        in_force: Sequence[Mapping[str, Any]], settings: Mapping[str, Any],
    ) -> None:
        super().__init__(point, loc, on_ns, off_ns, settings)
        self.limits = tuple(limits)  # index 0 at rest, 1 in operation
        self.in_force = tuple(in_force)
        self.sign, self.deadband, self.n = sign, deadband, n
        self.m = m
        self.mask = (1 << m) - 1 if m > 1 else 0
        self.bits = 0
        # the last m samples, so that an n-of-m excursion records all n triggering samples
        self.win_t = [0] * m
        self.win_v = [0.0] * m
        self.win_i = 0
        self.doors: tuple[DoorRt, ...] = ()

    def limit_now(self) -> float | None:
        return self.limits[self.loc.state_idx]

    def limits_in_force(self) -> Mapping[str, Any]:
        """The channel's four limits (and state, unit, source) in the current location state."""
        return self.in_force[self.loc.state_idx]

    def recorded_limits(self) -> Mapping[str, Any]:
        return self.in_force[self.loc.state_idx]

    def sample(self, em: Emitter, ts: int, v: float) -> None:
        if self.point.oos:
            return
        if self.active:
            po = self.pending_off
            if po is not None and po + self.off_ns < ts:
                self._deactivate(em, po + self.off_ns)
        else:
            po = self.pending_on
            if po is not None and po + self.on_ns < ts:
                self._activate(em, po + self.on_ns)
        limit = self.limits[self.loc.state_idx]
        if limit is None:
            viol = False
        elif self.sign > 0:  # plain comparisons: nothing is allocated for a normal sample
            viol = v > (limit - self.deadband if self.active else limit)
        else:
            viol = v < (limit + self.deadband if self.active else limit)
        if self.doors:
            for door in self.doors:
                if ts < door.suppress_until:
                    if self.active:
                        return  # an open door neither clears nor extends a pressure alarm
                    viol = False
                    break
        mask = self.mask
        if mask:
            bits = ((self.bits << 1) | viol) & mask
            self.bits = bits
            i = self.win_i
            self.win_t[i], self.win_v[i] = ts, v
            self.win_i = (i + 1) % self.m
            raw = bits.bit_count() >= self.n
        else:
            raw = viol
        if raw or self.active or self.pending_on is not None:
            self.update(em, ts, raw, v)
        else:
            self.last_value = v

    def _begin(self, ts: int, value: float | None) -> None:
        if not self.mask:
            super()._begin(ts, value)
            return
        m, bits, last = self.m, self.bits, self.win_i - 1
        hits = [(self.win_t[(last - k) % m], self.win_v[(last - k) % m])
                for k in range(m - 1, -1, -1) if bits >> k & 1 and self.win_t[(last - k) % m]]
        if not hits:  # bits restored after a restart, without their samples
            hits = [(ts, value if value is not None else 0.0)]
        self.pending_on = ts
        self.first_ns = hits[0][0]
        self.samples = list(hits)
        pk = max(hits, key=lambda h: h[1] * self.sign)
        self.pk, self.pk_ns = pk[1], pk[0]

    def restore_active(self) -> None:
        super().restore_active()
        self.bits = self.mask  # the window is assumed full of violations: clearing needs proof


class RateRule(Condition):
    """Rate of change: the value moved more than ``max_change`` within ``per``.

    The window holds every sample of the last ``per`` (302 for 5 minutes at 1 s)
    and a rate rule is live from the first sample, so the window is kept as
    machine numbers (``array``: 16 bytes a sample instead of a list slot and a
    Python object each, ~72 bytes; 2,000 such rules hold ~10 instead of ~44 MB).
    A time beyond 64 bits (a device's clock gone mad) turns the times into a list.
    """

    __slots__ = ("buf_t", "buf_v", "direction", "head", "max_change", "per_ns", "size", "tail")

    def __init__(self, point: AlarmPoint, loc: LocationRt, *, max_change: float, per_ns: int,
                 direction: str, capacity: int, on_ns: int, settings: Mapping[str, Any]) -> None:
        super().__init__(point, loc, on_ns, 0, settings)
        self.max_change, self.per_ns, self.direction = max_change, per_ns, direction
        self.size = capacity
        zeros = bytes(8 * capacity)
        self.buf_t: MutableSequence[int] = array("q", zeros)
        self.buf_v = array("d", zeros)
        self.head = 0  # oldest sample
        self.tail = 0  # next free slot; head == tail: empty

    def limit_now(self) -> float | None:
        return self.max_change

    def shift(self, step: int) -> int:
        """The clock stepped: the samples in the window keep their age. How many moved."""
        buf_t, size, i, moved = self.buf_t, self.size, self.head, 0
        while i != self.tail:
            try:
                buf_t[i] += step
            except OverflowError:
                buf_t = self.buf_t = list(buf_t)
                buf_t[i] += step
            i = (i + 1) % size
            moved += 1
        return moved

    def sample(self, em: Emitter, ts: int, v: float) -> None:
        if self.point.oos:
            return
        if self.pending_on is not None or self.pending_off is not None:
            self.advance(em, ts, False)
        size, buf_t = self.size, self.buf_t
        head, tail = self.head, self.tail
        oldest_allowed = ts - self.per_ns
        while head != tail and buf_t[head] < oldest_allowed:
            head = (head + 1) % size
        delta = 0.0 if head == tail else v - self.buf_v[head]
        try:
            buf_t[tail] = ts
        except OverflowError:
            buf_t = self.buf_t = list(buf_t)
            buf_t[tail] = ts
        self.buf_v[tail] = v
        tail = (tail + 1) % size
        if tail == head:  # full: drop the oldest
            head = (head + 1) % size
        self.head, self.tail = head, tail
        d = self.direction
        raw = (delta > self.max_change and d != "fall") or (
            -delta > self.max_change and d != "rise")
        if raw or self.active or self.pending_on is not None:
            self.update(em, ts, raw, delta)
        else:
            self.last_value = delta
