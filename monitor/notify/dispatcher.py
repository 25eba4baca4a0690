"""The dispatcher: routes alarm events to notifiers, each on its own queue and worker.

``__call__`` is the pipeline's event listener: synchronous, it only decides
routes and puts notifications on queues, so evaluation never waits for a
network. Each notifier's worker delivers its queue in order; a failed attempt
is counted, logged and retried with capped exponential backoff, so a dead
SMTP server delays only the e-mails. Every attempt is logged with the
notifier, the notification id, the attempt number and the outcome.

A notifier's library may swallow a cancellation: on Python 3.11
``asyncio.wait_for`` returns the result instead of raising CancelledError when
the awaited future completes in the same loop iteration as the cancel
(CPython gh-86296, fixed in 3.12), and aiosmtplib waits for every SMTP reply
that way. The worker would then go on waiting for work as if never cancelled
and the daemon's shutdown would hang with the queued notifications never
given their last attempt. So the workers compare their task's pending
cancel requests (``Task.cancelling()``) before and after each delivery and
re-raise a cancellation that went missing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.config.notify import NotifyConfig, RetryConfig, RouteConfig
from monitor.logs import log_event
from monitor.model import utc_now_ns

from .base import Notifier, PermanentDeliveryError
from .escalation import Escalation, EscalationTracker
from .message import Notification

log = logging.getLogger("monitor.notify")

Sleep = Callable[[float], Any]


def matches(route: RouteConfig, event: Mapping[str, Any]) -> bool:
    if event.get("kind") not in route.kinds:
        return False
    priority = event.get("priority")
    if priority is not None and priority not in route.priorities:
        return False
    level = event.get("level")
    if level is not None and level not in route.levels:
        return False
    return not route.locations or event.get("location") in route.locations


@dataclass
class Lane:
    """One notifier's queue and its counters."""

    notifier: Notifier
    retry: RetryConfig
    size: int
    queue: collections.deque[Notification] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    given_up: int = 0
    attempts: int = 0

    @property
    def name(self) -> str:
        return str(self.notifier.config.name)

    def put(self, item: Notification) -> None:
        if len(self.queue) >= self.size:
            lost = self.queue.popleft()
            self.dropped += 1
            log_event(log, logging.ERROR, "notification queue full, oldest dropped",
                      notifier=self.name, notification=lost.id, size=self.size)
        self.queue.append(item)
        self.wakeup.set()


class Dispatcher:
    def __init__(
        self, config: NotifyConfig, notifiers: Mapping[str, Notifier], *, site: str,
        clock: Callable[[], int] = utc_now_ns, sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.site = site
        self.clock = clock
        self.sleep = sleep
        self.notifiers = dict(notifiers)
        self.lanes = {
            name: Lane(n, n.config.retry or config.retry, config.queue_size)
            for name, n in self.notifiers.items()
        }
        self.routes = list(config.routes) or [
            RouteConfig(name="default", notifiers=list(self.notifiers))
        ]
        self._route_by_name = {r.name: r for r in self.routes}
        self.escalation = EscalationTracker({
            r.name: (r.escalate_after, r.escalate_to)
            if r.escalate_after is not None and r.escalate_to is not None else None
            for r in self.routes
        })
        self.events_seen = 0

    # --- the pipeline side (synchronous, never blocks) ----------------------------------
    def __call__(self, events: Sequence[Any]) -> None:
        for event in events:
            doc = event.to_json() if hasattr(event, "to_json") else dict(event)
            self.events_seen += 1
            routes = [r for r in self.routes if matches(r, doc)]
            self.escalation.observe(doc, [r.name for r in routes])
            if not doc.get("notify", True) or not routes:
                continue
            targets: dict[str, str] = {}  # notifier -> first route that named it
            for route in routes:
                for name in route.notifiers:
                    targets.setdefault(name, route.name)
            for name, route_name in targets.items():
                self.lanes[name].put(Notification(
                    id=str(doc.get("id")), type="event", site=self.site, route=route_name,
                    event=doc,
                ))

    def seed(self, active: Iterable[Mapping[str, Any]]) -> None:
        """Alarms still unacknowledged from before a restart take part in escalation."""
        def route_of(view: Mapping[str, Any]) -> list[str]:
            doc = {**view, "kind": "raised"}
            return [r.name for r in self.routes if matches(r, doc)]

        self.escalation.seed(active, route_of)

    def check_escalations(self, now_ns: int | None = None) -> list[Escalation]:
        due = self.escalation.due(self.clock() if now_ns is None else now_ns)
        for esc in due:
            route = self._route_by_name[esc.step.route]
            log_event(log, logging.WARNING, "alarm escalated", alarm=esc.event.get("alarm_id"),
                      from_route=esc.step.from_route, to_route=route.name,
                      unacknowledged_s=round(esc.unacknowledged_s))
            for name in route.notifiers:
                self.lanes[name].put(Notification(
                    id=f"{esc.event.get('id')}:escalation:{route.name}", type="escalation",
                    site=self.site, route=route.name, event=esc.event,
                    escalation=esc.to_json(),
                ))
        return due

    # --- the delivery side --------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for lane in self.lanes.values():
                group.create_task(self._worker(lane), name=f"notify:{lane.name}")
            group.create_task(self._escalation_loop(), name="notify:escalation")

    async def _escalation_loop(self) -> None:
        while True:
            await self.sleep(self.config.escalation_check)
            self.check_escalations()

    async def _worker(self, lane: Lane) -> None:
        asked = _cancel_requests()
        while True:
            while not lane.queue:
                lane.wakeup.clear()
                await lane.wakeup.wait()
            item = lane.queue[0]
            await self._deliver(lane, item)
            if lane.queue and lane.queue[0] is item:
                lane.queue.popleft()
            # after the pop: a delivered item must not be sent again by close()
            _raise_if_cancel_swallowed(asked, lane.name)

    async def _deliver(self, lane: Lane, item: Notification, *, attempts: int | None = None
                       ) -> bool:
        """Try until delivered or out of attempts; True if delivered."""
        retry = lane.retry
        limit = retry.max_attempts if attempts is None else attempts
        delay = retry.initial
        notifier = lane.notifier
        asked = _cancel_requests()
        for attempt in range(1, limit + 1):
            lane.attempts += 1
            started = time.monotonic()
            try:
                async with asyncio.timeout(retry.timeout):
                    await notifier.deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # any failure of a notifier is its own, never ours
                notifier.failures += 1
                notifier.last_error = _describe(err)
                if notifier.failing_since_ns is None:
                    notifier.failing_since_ns = self.clock()
                permanent = isinstance(err, PermanentDeliveryError)
                last = permanent or attempt >= limit
                log_event(log, logging.ERROR if last else logging.WARNING,
                          "notification attempt failed", notifier=lane.name,
                          kind=notifier.kind, notification=item.id, type=item.type,
                          attempt=attempt, error=_describe(err),
                          seconds=round(time.monotonic() - started, 3),
                          retry_in=None if last else round(delay, 1))
                if last:
                    lane.given_up += 1
                    log_event(log, logging.ERROR, "notification given up", notifier=lane.name,
                              notification=item.id, attempts=attempt, permanent=permanent)
                    return False
                # a cancel the library turned into an error: stop, do not retry; the item
                # stays queued for close()'s last attempt
                _raise_if_cancel_swallowed(asked, lane.name)
                await self.sleep(delay * random.uniform(0.9, 1.1))
                delay = min(delay * 2, retry.max)
                continue
            notifier.delivered += 1
            notifier.failing_since_ns = notifier.last_error = None
            log_event(log, logging.INFO, "notification delivered", notifier=lane.name,
                      kind=notifier.kind, notification=item.id, type=item.type,
                      attempt=attempt, seconds=round(time.monotonic() - started, 3))
            return True
        return False

    async def close(self, grace: float = 1.5) -> None:
        """At shutdown: one last attempt for what is queued, within ``grace``, then close."""
        asked = _cancel_requests()
        try:
            async with asyncio.timeout(grace):
                for lane in self.lanes.values():
                    while lane.queue:
                        await self._deliver(lane, lane.queue.popleft(), attempts=1)
                        # the grace timeout's own cancel may be swallowed too: re-raised
                        # here, asyncio.timeout turns it into TimeoutError
                        _raise_if_cancel_swallowed(asked, lane.name)
        except TimeoutError:
            pass
        for lane in self.lanes.values():
            if lane.queue:
                log_event(log, logging.ERROR, "notifications not delivered at shutdown",
                          notifier=lane.name, count=len(lane.queue))
                lane.dropped += len(lane.queue)
                lane.queue.clear()
        for notifier in self.notifiers.values():
            try:
                await notifier.close()
            except Exception:
                log.exception("closing notifier failed", extra={"notifier": notifier.kind})

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: {"queued": len(lane.queue), "delivered": lane.notifier.delivered,
                       "failures": lane.notifier.failures, "attempts": lane.attempts,
                       "given_up": lane.given_up, "dropped": lane.dropped}
                for name, lane in self.lanes.items()}


def _cancel_requests() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _raise_if_cancel_swallowed(asked: int, notifier: str) -> None:
    """Re-raise a cancel request that arrived since ``asked`` was read and went missing.

    Reaching this line with more pending requests than before means a notifier's
    library caught the CancelledError (see the module docstring).
    """
    if _cancel_requests() > asked:
        log_event(log, logging.WARNING, "cancellation swallowed by a notifier, re-raised",
                  notifier=notifier)
        raise asyncio.CancelledError


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}"[:300]
