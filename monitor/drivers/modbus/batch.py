"""The readings of every poll that ends in one event-loop iteration, handed on in one call.

At 2,000 devices each connection task used to call ``emit`` (the pipeline's
``ingest``) once per poll: 2,000 calls a second, each paying the pipeline's,
the store's, the alarm service's (a mutex, a look at both clocks) and every
listener's fixed cost for ten readings. The replies that arrive together wake
their tasks in one iteration of the loop; their readings are gathered here and
passed on by one callback at the start of the next iteration, so those fixed
costs are paid once per wake-up instead of once per device. Nothing waits
longer than that one iteration, and a driver that stops hands on what it
gathered before it returns (``flush``), so no reading is lost on shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from monitor.drivers.base import Emit
from monitor.model import Reading

log = logging.getLogger("monitor.drivers.modbus")


class ReadingBatch:
    """Readings waiting for the next loop iteration, by the ``emit`` they go to."""

    __slots__ = ("_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: dict[Emit, list[Reading]] = {}

    def add(self, emit: Emit, readings: list[Reading]) -> None:
        """Queue ``readings`` (the caller gives them up) for ``emit``."""
        pending = self._pending
        if not pending:
            self._loop.call_soon(self.flush)
        queued = pending.get(emit)
        if queued is None:
            pending[emit] = readings
        else:
            queued += readings

    def flush(self) -> None:
        """Hand on everything queued, now (the scheduled callback, or a stopping driver)."""
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        for emit, readings in pending.items():
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
