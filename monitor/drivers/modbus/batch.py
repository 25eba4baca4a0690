"""The readings of the polls that end in one event-loop iteration, handed on together.

At 2,000 devices each connection task used to call ``emit`` (the pipeline's
``ingest``) once per poll: 2,000 calls a second, each paying the pipeline's,
the store's, the alarm service's (a mutex, a look at both clocks) and every
listener's fixed cost for ten readings. The replies that arrive together wake
their tasks in one iteration of the loop; their readings are gathered here and
passed on by one callback at the start of the next iteration, so those fixed
costs are paid once per wake-up (or per ``HAND_ON_AT`` readings) instead of
once per device. Nothing waits longer than that one iteration, and a driver
that stops hands on what it gathered before it returns (``flush``), so no
reading is lost on shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from monitor.drivers.base import Emit
from monitor.model import Reading

log = logging.getLogger("monitor.drivers.modbus")

#: Readings for one receiver handed on at once, without waiting for the next iteration.
#: A burst of replies handled in one iteration made tens of thousands of readings at
#: 2,000 devices: all alive at once, they pushed the cyclic GC's youngest generation past
#: its threshold again and again (each collection walking every new reading, and half
#: of them again in the next generation), and were cold in the CPU's caches by the time
#: the store, the alarm engine and the latest-reading map went over them. Handed on in
#: lists of this size, each reading replaces its channel's previous one while the young
#: generation is still small (measured: 200 cost ~6 % less CPU per reading than no limit,
#: 50 and 100 more than 200: the per-call costs of the pipeline show again).
HAND_ON_AT = 200


class ReadingBatch:
    """Readings waiting for the next loop iteration, by the ``emit`` they go to."""

    __slots__ = ("_loop", "_pending", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: dict[Emit, list[Reading]] = {}
        self._scheduled = False  # a flush is due at the next iteration

    def add(self, emit: Emit, readings: list[Reading]) -> None:
        """Queue ``readings`` (the caller gives them up) for ``emit``."""
        pending = self._pending
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)
        queued = pending.get(emit)
        if queued is None:
            pending[emit] = readings
        else:
            queued += readings
            if len(queued) >= HAND_ON_AT:
                del pending[emit]  # the next add starts a new list (the loop's flush stays)
                self._hand_on(emit, queued)

    def flush(self) -> None:
        """Hand on everything queued, now (the scheduled callback, or a stopping driver)."""
        self._scheduled = False
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        for emit, readings in pending.items():
            self._hand_on(emit, readings)

    @staticmethod
    def _hand_on(emit: Emit, readings: list[Reading]) -> None:
        try:
            emit(readings)
        except Exception:  # one refusing receiver must not lose the others' readings
            log.exception("handing on %d readings failed", len(readings))


# A batch refers to its loop; those of closed loops (tests run a loop each) are dropped
# whenever a new loop asks for its batch, as with the tick clocks.
_BATCHES: dict[asyncio.AbstractEventLoop, ReadingBatch] = {}


def reading_batch() -> ReadingBatch:
    """The running event loop's batch (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _BATCHES.get(loop)
    if found is None:
        for closed in [other for other in _BATCHES if other.is_closed()]:
            del _BATCHES[closed]
        found = _BATCHES[loop] = ReadingBatch(loop)
    return found
