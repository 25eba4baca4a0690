"""The readings of polls ending together are handed on together, in order, at most one loop
iteration late, and in lists of ``HAND_ON_AT`` when a burst makes more."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from monitor.drivers.modbus.batch import HAND_ON_AT, ReadingBatch
from monitor.model import Quality, Reading


def _poll(device: int, n: int = 10) -> list[Reading]:
    return [Reading(f"d{device}/c{i}", float(i), Quality.GOOD, device, float(i))
            for i in range(n)]


async def test_a_burst_is_handed_on_in_order_in_bounded_lists() -> None:
    batch = ReadingBatch(asyncio.get_running_loop())
    calls: list[list[Reading]] = []

    def emit(readings: Sequence[Reading]) -> None:
        calls.append(list(readings))

    polls = [_poll(d) for d in range(3 * HAND_ON_AT // 10 + 3)]  # three lists and a bit
    for readings in polls:
        batch.add(emit, list(readings))
    assert [len(c) for c in calls] == [HAND_ON_AT] * 3  # handed on at once
    await asyncio.sleep(0)
    assert [len(c) for c in calls] == [HAND_ON_AT] * 3 + [30]  # the rest next iteration
    assert [r for c in calls for r in c] == [r for p in polls for r in p]
    await asyncio.sleep(0)
    assert len(calls) == 4


async def test_flush_hands_on_now_and_one_failing_receiver_loses_no_others_readings() -> None:
    batch = ReadingBatch(asyncio.get_running_loop())
    got: list[Reading] = []

    def refuse(readings: Sequence[Reading]) -> None:
        raise RuntimeError("full")

    batch.add(refuse, _poll(1))
    batch.add(got.extend, _poll(2))
    batch.flush()
    assert got == _poll(2)
    await asyncio.sleep(0)
    assert got == _poll(2)
