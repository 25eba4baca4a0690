"""The alarm service: the pure engine, its event log, operator actions, audit and signatures.

``build_alarm_service(loaded)`` opens ``<data_dir>/alarms.db``, rebuilds the
engine's state from it and returns an ``AlarmService``. The pipeline calls
``evaluate`` for every batch and ``tick`` every second; both return the
events made since the last call, including those of operator actions taken
in between (so that listeners such as notifiers see acknowledgements too).
Events are written before they are returned; if the disk refuses, they are
kept and written on the next call, in order, and the failure is logged once.

With a monotonic clock (the daemon's: ``build_alarm_service`` with the default
UTC clock) every ``evaluate`` and ``tick`` first shows the engine both clocks,
so that a step of the host clock is seen before any reading stamped after it
(``monitor.alarms.timebase``); a step is logged, audited (``clock.stepped``)
and recorded in the event log.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.config import LoadedConfig
from monitor.errors import AlarmError, StoreError
from monitor.logs import log_event
from monitor.model import Reading, utc_now_ns

from . import requests
from .engine import AlarmEngine
from .eventlog import EventLog
from .events import AlarmEvent, EventKind, Level
from .flags import Flag
from .queries import AlarmQueries
from .rebuild import restore, start_locations
from .rules import build_tables, describe
from .signing import check_signature, signature_verifier, signing_record
from .system import Report
from .timebase import CLOCK_POINT
from .trail import audit_trail
from .writer import WriterLock

log = logging.getLogger("monitor.alarms")

AuditArgs = tuple[str, str, Any, Any]  # action, object, old value, new value

SignatureVerifier = Callable[[Mapping[str, Any], str, Mapping[str, Any]], None]
"""``verify(signature, meaning, record)``: raise ``AuthError`` unless the signature is valid
for that meaning ("acknowledged") and record (``signing_record(alarm_id)``)."""


class AlarmService(AlarmQueries):
    def __init__(self, engine: AlarmEngine, event_log: EventLog, *,
                 clock: Callable[[], int] = utc_now_ns, lock: WriterLock | None = None,
                 readonly: bool = False, require_signature: bool = True,
                 monotonic: Callable[[], int] | None = None) -> None:
        self.engine = engine
        self.log = event_log
        self.clock = clock
        #: read together with ``clock`` before each evaluate/tick to see clock steps exactly
        self.monotonic = monotonic
        self._steps_seen = engine.counters.clock_steps
        self.readonly = readonly
        self.require_signature = require_signature
        #: object with ``record(user, action, object, *, old, new, reason)`` (monitor.audit)
        self.audit: Any = None
        self.verify_signature: SignatureVerifier | None = None
        self._lock = lock
        self._mutex = threading.Lock()
        self._backlog: list[AlarmEvent] = []
        self._unpublished: list[AlarmEvent] = []
        self._write_failing = False
        self._write_error = ""
        self.written = 0
        self._finalizer = weakref.finalize(self, _release, event_log, lock)

    # --- the pipeline's calls --------------------------------------------------------------

    def evaluate(self, readings: Sequence[Reading]) -> list[AlarmEvent]:
        with self._mutex:
            if self.monotonic is not None:  # ``_observe``, inline: once per driver batch
                self.engine.observe_clock(self.clock(), self.monotonic())
            try:
                events = self.engine.evaluate(readings)
            except AlarmError:  # a broken invariant must not stop ingestion; it is logged
                log.exception("alarm evaluation failed for a batch")
                events = self.engine.drain()
            if events or self._unpublished:
                return self._commit(events)
            return events

    def tick(self, now_ns: int) -> list[AlarmEvent]:
        with self._mutex:
            self._observe()
            if not self.readonly and self.log.changed_by_others():
                requests.process(self.log, now_ns, self._apply_request)
            try:
                events = self.engine.tick(now_ns)
            except AlarmError:
                log.exception("alarm tick failed")
                events = self.engine.drain()
            if self._backlog and not events:
                self._write([])
            return self._commit(events)

    def _observe(self) -> None:
        """Show the engine both clocks (mutex held), before it is given any time."""
        if self.monotonic is not None:
            self.engine.observe_clock(self.clock(), self.monotonic())

    def _clock_stepped(self, events: Sequence[AlarmEvent]) -> None:
        """Log and audit each clock step (a GMP-relevant time event) the engine just recorded."""
        self._steps_seen = self.engine.counters.clock_steps
        for event in events:
            if event.kind is not EventKind.CLOCK_STEP:
                continue
            details = dict(event.details or {})
            log_event(log, logging.WARNING, "host clock stepped", step_s=event.value,
                      source=details.get("source"), moved=details.get("moved"))
            if not self.readonly:
                self._audit("system", str(event.reason),
                            ("clock.stepped", CLOCK_POINT, details.get("from_ns"),
                             {"to_ns": details.get("to_ns"), "step_ns": details.get("step_ns"),
                              "event": event.id}))

    def _commit(self, events: list[AlarmEvent]) -> list[AlarmEvent]:
        if events:
            self._write(events)
        if self._unpublished:
            events = self._unpublished + events
            self._unpublished = []
        return events

    def _write(self, events: list[AlarmEvent]) -> None:
        if self.engine.counters.clock_steps != self._steps_seen:
            self._clock_stepped(events)
        if self.readonly:
            return
        self._backlog.extend(events)
        try:
            self.log.append(self._backlog)
        except StoreError as err:
            self._write_error = str(err)
            if not self._write_failing:
                self._write_failing = True
                log_event(log, logging.ERROR, "alarm events not written, will retry",
                          error=str(err), pending=len(self._backlog))
            return
        self.written += len(self._backlog)
        self._backlog = []
        if self._write_failing:
            self._write_failing = False
            log_event(log, logging.INFO, "alarm events written again")

    def set_flags(self, flags: Sequence[Flag], now_ns: int) -> list[AlarmEvent]:
        """Apply periodic checks (calibration, clocks); the next evaluate/tick publishes them."""
        with self._mutex:
            if self.readonly:
                raise AlarmError("this alarm service is read-only")
            self._observe()  # a step's events are published with the flags' events
            events = self.engine.set_flags(flags, now_ns)
            self.record(events)
        return events

    def set_conditions(self, reports: Sequence[Report],
                       now_ns: int | None = None) -> list[AlarmEvent]:
        """System conditions found by a check (``monitor.alarms.system``): the readings
        database, the alarm log, sinks, notifiers, or any other part of the daemon; the next
        evaluate/tick publishes the events."""
        with self._mutex:
            if self.readonly:
                raise AlarmError("this alarm service is read-only")
            self._observe()
            events = self.engine.set_conditions(reports, self.clock() if now_ns is None
                                                else now_ns)
            self.record(events)
        return events

    def set_condition(self, point: str, active: bool, detail: str | None = None, *,
                      priority: str | None = None, now_ns: int | None = None,
                      since_ns: int | None = None, value: float | None = None,
                      on_delay_s: float | None = None) -> list[AlarmEvent]:
        """One system condition, e.g. ``set_condition("sink:influx:down", True, "HTTP 503")``.

        ``priority`` and ``on_delay_s`` apply to a point made by this call (one
        the configuration does not declare); ``since_ns`` is when the problem
        began, if the part knows (the on-delay runs from then).
        """
        return self.set_conditions([Report(point, active, detail, value, since_ns, priority,
                                           on_delay_s)], now_ns)

    @property
    def write_problem(self) -> str | None:
        """Why alarm events are not being written to the log (None while they are)."""
        return self._write_error if self._write_failing else None

    # --- operator actions ------------------------------------------------------------------

    def acknowledge(self, alarm_id: int | str, user: str, reason: str,
                    signature: Mapping[str, Any] | None = None) -> list[AlarmEvent]:
        """Acknowledge; an action alarm needs an electronic signature (``alarms.`` config)."""
        return self._command("acknowledge", user, reason, alarm=alarm_id, signature=signature)

    def shelve(self, alarm_id: int | str, user: str, reason: str,
               until_ns: int) -> list[AlarmEvent]:
        return self._command("shelve", user, reason, alarm=alarm_id, until_ns=until_ns)

    def unshelve(self, alarm_id: int | str, user: str, reason: str) -> list[AlarmEvent]:
        return self._command("unshelve", user, reason, alarm=alarm_id)

    def set_location_state(self, location: str, state: str | None, user: str, reason: str,
                           until_ns: int | None = None) -> list[AlarmEvent]:
        """``state``: at_rest, in_operation, or None/"auto" to release a manual state."""
        return self._command("set_location_state", user, reason, location=location,
                             state=state, until_ns=until_ns)

    def set_maintenance(self, location_or_device: str, on: bool, user: str, reason: str,
                        until_ns: int | None = None) -> list[AlarmEvent]:
        """Suppress (annunciation of) every alarm of a location, device or channel."""
        return self._command("set_maintenance", user, reason, target=location_or_device, on=on,
                             until_ns=until_ns)

    def set_out_of_service(self, target: str, on: bool, user: str,
                           reason: str) -> list[AlarmEvent]:
        """Stop (or resume) evaluating an alarm point, or every point of a channel or device."""
        return self._command("set_out_of_service", user, reason, target=target, on=on)

    def _command(self, op: str, user: str, reason: str, **args: Any) -> list[AlarmEvent]:
        with self._mutex:
            if self.readonly:
                raise AlarmError("this alarm service is read-only")
            events, audit = self._apply(op, user, reason, args)
        self._audit(user, reason, audit)
        return events

    def _apply(self, op: str, user: str, reason: str, a: Mapping[str, Any]
               ) -> tuple[list[AlarmEvent], AuditArgs]:
        """Run one action on the engine (mutex held); its events and its audit entry."""
        self._observe()
        engine, now = self.engine, self.clock()
        audit: AuditArgs
        if op == "acknowledge":
            point = engine.find(a["alarm"])
            aid, signature = point.alarm_id, a.get("signature")
            if signature is None and point.level is Level.ACTION and self.require_signature:
                raise AlarmError(f"acknowledging action alarm {aid} needs an electronic "
                                 "signature (user, password, meaning 'acknowledged')")
            details = None
            if signature is not None:
                self._check_signature(signature, user, self._signing_record(point.alarm_id))
                details = {"signature": dict(signature)}
            before = str(point.state)
            events = engine.acknowledge(a["alarm"], user, reason, now, details)
            audit = ("alarm.acknowledged", f"alarm:{aid}", before, str(point.state))
        elif op == "shelve":
            events = engine.shelve(a["alarm"], user, reason, now, int(a["until_ns"]))
            audit = ("alarm.shelved", _object(events), None, {"until_ns": a["until_ns"]})
        elif op == "unshelve":
            events = engine.unshelve(a["alarm"], user, reason, now)
            audit = ("alarm.unshelved", _object(events), "shelved", "unshelved")
        elif op == "set_location_state":
            loc = engine.t.locations.get(a["location"])
            old = None if loc is None else loc.state
            events = engine.set_location_state(a["location"], a.get("state"), user=user,
                                               reason=reason, ts_ns=now, until_ns=a.get("until_ns"))
            audit = ("location.state_changed", f"location:{a['location']}", old,
                     {"state": a.get("state") or "auto", "until_ns": a.get("until_ns")})
        elif op == "set_maintenance":
            on = bool(a["on"])
            events = engine.set_maintenance(a["target"], on, user=user, reason=reason, ts_ns=now,
                                            until_ns=a.get("until_ns"))
            audit = ("maintenance.started" if on else "maintenance.ended",
                     f"maintenance:{a['target']}", None, {"on": on, "until_ns": a.get("until_ns")})
        elif op == "set_out_of_service":
            on = bool(a["on"])
            events = engine.set_out_of_service(a["target"], on, user, reason, now)
            audit = ("alarm.out_of_service" if on else "alarm.in_service",
                     f"alarm-point:{a['target']}", None, {"out_of_service": on})
        else:
            raise AlarmError(f"unknown action {op!r}")
        self.record(events)
        return events, audit

    def record(self, events: list[AlarmEvent]) -> None:
        """Write events made outside evaluate/tick; the next evaluate/tick returns them too."""
        self._write(events)
        self._unpublished.extend(events)

    def signing_record(self, alarm_id: int | str) -> dict[str, Any]:
        """What an acknowledgement signature of this alarm is bound to (``Signer.sign``)."""
        with self._mutex:
            return self._signing_record(self.engine.find(alarm_id).alarm_id)

    def _signing_record(self, alarm_id: int | None) -> dict[str, Any]:
        return signing_record(self.log, alarm_id)

    def _check_signature(self, signature: Mapping[str, Any], user: str,
                         record: Mapping[str, Any]) -> None:
        check_signature(self.verify_signature, signature, user, record)

    def _audit(self, user: str, reason: str, entry: AuditArgs) -> None:
        action, obj, old, new = entry
        audit = self.audit
        if audit is None:
            return
        try:
            audit.record(user, action, obj, old=old, new=new, reason=reason)
        except StoreError as err:  # the alarm event log still holds who, when and why
            log_event(log, logging.ERROR, "audit entry not written", action=action, error=str(err))

    # --- cross-process requests ------------------------------------------------------------

    def _apply_request(self, req: requests.Request) -> list[int]:
        """A CLI request (mutex held): applied and audited like an API call."""
        events, audit = self._apply(req.op, req.user, req.reason, req.args)
        self._audit(req.user, req.reason, audit)
        return [e.seq for e in events]

    def stats(self) -> dict[str, Any]:
        with self._mutex:
            c = self.engine.counters
            active = sum(1 for v in self.engine.active() if v.state != "normal")
            return {**c.__dict__, "events_written": self.written,
                    "events_pending": len(self._backlog), "active": active}

    def close(self) -> None:
        with self._mutex:
            if self._backlog:
                self._write([])
        for helper in (self.audit, self.verify_signature):
            close = getattr(helper, "close", None)
            if close is not None:
                close()
        self._finalizer()


def _release(event_log: EventLog, lock: WriterLock | None) -> None:
    event_log.close()
    if lock is not None:
        lock.release()


class _DeferredVerifier:
    """``signature_verifier`` made at the first signature checked: importing
    ``monitor.signatures`` and the user store took ~11 ms of a cold start, before the first
    poll, for acknowledgements that come later if ever. Absent, signatures are checked as
    with no verifier (``check_signature``)."""

    def __init__(self, data_dir: Path, user_policy: Any) -> None:
        self._args = (data_dir, user_policy)
        self._verify: SignatureVerifier | None = None

    def __call__(self, signature: Mapping[str, Any], meaning: str,
                 record: Mapping[str, Any]) -> None:
        if self._verify is None:
            self._verify = signature_verifier(*self._args) or _no_verifier
        self._verify(signature, meaning, record)

    def close(self) -> None:
        close = getattr(self._verify, "close", None)
        if close is not None:
            close()


def _no_verifier(signature: Mapping[str, Any], meaning: str, record: Mapping[str, Any]) -> None:
    """``monitor.signatures`` is not installed: nothing beyond ``check_signature``'s checks."""


def _object(events: Sequence[AlarmEvent]) -> str:
    first = events[0] if events else None
    if first is None:
        return "alarm:?"
    return f"alarm:{first.alarm_id}" if first.alarm_id is not None else f"alarm-point:{first.point}"


def build_alarm_service(loaded: LoadedConfig, *, clock: Callable[[], int] = utc_now_ns,
                        readonly: bool = False, lock_timeout: float = 10.0,
                        monotonic: Callable[[], int] | None = None) -> AlarmService:
    """The alarm service of ``loaded``, its state rebuilt from ``<data_dir>/alarms.db``.

    Raises ``AlarmError`` when another process holds the log for writing
    (``readonly=True`` never takes the lock and never writes). ``monotonic``
    (ns) is read with ``clock`` to see steps of it; with the real UTC clock it
    is ``time.monotonic_ns`` unless given, with any other clock it must be given.
    """
    if monotonic is None and clock is utc_now_ns:
        monotonic = time.monotonic_ns
    data_dir = Path(loaded.config.data_dir)
    lock = None
    if not readonly:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"{data_dir}: cannot create the data directory: {err}") from err
        lock = WriterLock(data_dir)
        if not lock.acquire(lock_timeout):
            raise AlarmError(f"{data_dir}/alarms.db is being written by process {lock.holder()}")
    try:
        event_log = EventLog(data_dir, readonly=readonly)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    now = clock()
    tables = build_tables(loaded)
    engine = AlarmEngine(tables, loaded.config.alarms, start_ns=now,
                         id_prefix=f"{event_log.log_id}-")
    report = restore(engine, event_log.rebuild_events(), now)
    engine.next_seq = max(engine.next_seq, event_log.head()[0] + 1)
    service = AlarmService(engine, event_log, clock=clock, lock=lock, readonly=readonly,
                           require_signature=loaded.config.alarms.require_signature_for_action,
                           monotonic=monotonic)
    if not readonly:
        start_locations(engine, now, report.locations_logged)
        service.record(engine.drain())
        service.audit = audit_trail(data_dir)
        service.verify_signature = _DeferredVerifier(data_dir, getattr(loaded.config, "users",
                                                                        None))
    if log.isEnabledFor(logging.INFO):  # counting 20,000 channels' rules is for this line
        log_event(log, logging.INFO, "alarm engine ready", **describe(tables),
                  open_alarms=len(report.open_alarms), retired=len(report.retired),
                  log_events=engine.next_seq - 1)
    return service
