"""The bus lock serialises like ``asyncio.Lock``: first come first served, no barging by
``try_acquire``, and a waiter cancelled as it is woken passes the turn on."""

from __future__ import annotations

import asyncio

import pytest

from monitor.drivers.modbus.buslock import BusLock


async def test_waiters_are_served_in_order_and_try_acquire_never_jumps_the_queue() -> None:
    lock, order = BusLock(), []
    assert lock.try_acquire()
    assert not lock.try_acquire()

    async def user(name: str) -> None:
        async with lock:
            order.append(name)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(user(n)) for n in "abc"]
    await asyncio.sleep(0)
    lock.release()
    assert not lock.try_acquire()  # "a" was woken but has not run yet: its turn is kept
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert not lock.locked()
    assert lock.try_acquire()
    lock.release()


async def test_a_cancelled_waiter_passes_the_turn_on() -> None:
    lock = BusLock()
    await lock.acquire()
    first = asyncio.create_task(lock.acquire())
    second = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # wakes "first" ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1.0)
    assert lock.locked()
    lock.release()


async def test_cancelled_while_queued_leaves_no_trace() -> None:
    lock = BusLock()
    await lock.acquire()
    waiting = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    lock.release()
    assert lock.try_acquire()  # nobody queued any more
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
