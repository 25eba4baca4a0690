"""The bus lock: ``asyncio.Lock``'s behaviour with a synchronous path when nobody waits.

Every poll takes its bus's lock, and nearly always nobody else holds it (a
command or a record read is rare). ``asyncio.Lock.acquire`` is a coroutine
even then: a frame made, started and finished per poll, about 4 % of the
daemon's samples at 2,000 devices. ``try_acquire`` takes a free lock with
no coroutine at all; ``acquire`` is the waiting path, first come first
served, and a waiter cancelled as it is woken passes the turn on, as
``asyncio.Lock`` does (Python 3.11).
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class BusLock:
    """One request at a time on a bus; ``async with`` or ``try_acquire``/``acquire``."""

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        # a list, not a deque: a deque is ~600 B even empty, one per bus (2,000 at a site
        # of TCP devices), and a queue forms only behind a command or a record read; made
        # by the first ``acquire`` that waits (another 56 B a bus otherwise)
        self._waiters: list[asyncio.Future[None]] | None = None

    def locked(self) -> bool:
        return self._locked

    def try_acquire(self) -> bool:
        """Take the lock if it is free and nobody is queued for it (never jumps the queue)."""
        if self._locked or self._waiters:
            return False
        self._locked = True
        return True

    async def acquire(self) -> bool:
        if self.try_acquire():
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(waiter)
        try:
            try:
                await waiter
            finally:
                waiters.remove(waiter)
        except asyncio.CancelledError:
            if not self._locked:
                self._wake_first()  # woken and cancelled at once: the next one's turn
            raise
        self._locked = True
        return True

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("bus lock released while not held")
        self._locked = False
        if self._waiters:
            self._wake_first()

    def _wake_first(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
