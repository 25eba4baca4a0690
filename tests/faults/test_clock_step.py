"""The system clock stepped backwards and forwards (an NTP correction) while the daemon polls.

The seam is the one clock every timestamp comes from: ``monitor.model.
utc_now_ns`` reads ``time.time_ns()`` at each call, so stepping ``time.time_ns``
(and ``time.time``) steps the UTC clock of the drivers, the stores and the
alarm engine at once, while asyncio's monotonic clock, which schedules the
polls, goes on undisturbed, exactly as in a real step.

Whatever the wall clock does, polling goes on at its rate, every accepted
reading is stored with the time the clock gave, the step is recorded as a
``clock_step`` event (event log, audit), no nuisance health alarm is raised by
it, and a value crossing its action limit after the step still raises its
alarm.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.common import free_ports
from tests.faults.harness import (
    Daemon,
    assert_nothing_lost,
    fault_site,
    running_farm,
    start_daemon,
    wait_for,
    write,
)

HOUR_NS = 3600 * 1_000_000_000


@contextmanager
def stepped_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Yields a one-item list holding the clock's offset in ns; change it to step the clock."""
    offset = [0]
    real_ns, real = time.time_ns, time.time
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + offset[0])
    monkeypatch.setattr(time, "time", lambda: real() + offset[0] / 1e9)
    yield offset


def raised_for(daemon: Daemon, channel: str, level: str) -> bool:
    return any(str(getattr(e, "kind", "")) == "raised" and str(getattr(e, "level", "")) == level
               and channel in str(getattr(e, "channel", "") or getattr(e, "point", ""))
               for e in daemon.events)


@pytest.mark.parametrize("step_hours", [-1, 1], ids=["backwards", "forwards"])
async def test_clock_step_keeps_polling_storing_and_alarming(
        step_hours: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (port,) = free_ports(1)
    data_dir = tmp_path / "data"
    config = write(tmp_path / "site.yaml", fault_site(data_dir, [port]))
    with stepped_clock(monkeypatch) as offset:
        async with running_farm([port]) as farm:
            daemon = await start_daemon(config, keep_readings=True)
            try:
                await asyncio.sleep(1.0)
                health_before = len(daemon.health_alarms())
                offset[0] = step_hours * HOUR_NS
                mark = len(daemon.readings_seen)
                before = daemon.accepted
                await asyncio.sleep(2.0)
                assert daemon.accepted - before >= 0.8 * 200 * 2.0, "polling slowed down"
                stepped = daemon.readings_seen[mark + 40:]
                assert stepped, "no readings after the step"
                expected = time.time_ns()
                assert all(abs(r.ts_ns - expected) < 5_000_000_000 for r in stepped[-40:]), \
                    "readings are not stamped with the stepped clock"
                assert len(daemon.health_alarms()) == health_before, \
                    "the clock step raised a health alarm"
                await wait_for(lambda: any(str(getattr(e, "kind", "")) == "clock_step"
                                           for e in daemon.events), 5,
                               "the step to be recorded as an event", task=daemon.task)

                farm.set_values(port, 1, 0, [980])  # d0000/c0 = 98.0 > action limit 95
                await wait_for(lambda: raised_for(daemon, "d0000/c0", "action"), 5,
                               "the action alarm after the clock step", task=daemon.task)
            finally:
                await daemon.stop()
    assert_nothing_lost(daemon, data_dir)
