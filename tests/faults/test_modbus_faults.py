"""Modbus device faults while the daemon polls: disconnected, slow, exception codes, garbage.

One device of four misbehaves; the daemon must keep polling the other three on
time, give the faulty device's channels ``comm_error`` readings (which are
stored: a gap is data), show the fault as ``cleanroom_device_up 0``, a poll
error counter of the right kind and a raised health alarm while it lasts,
clear the alarm when the device is back, and lose no accepted reading.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.common import free_ports
from monitor.model import Quality
from tests.faults.harness import (
    assert_nothing_lost,
    fault_site,
    running_farm,
    start_daemon,
    wait_for,
    write,
)

FAULTY = "d0000"

CASES = {
    # fault mode, argument, the error kind the daemon must count
    "disconnected": ("disconnect", 0.0, {"connect", "disconnected"}),
    "slow": ("slow", 1.0, {"timeout"}),
    "exception": ("exception", 4.0, {"exception"}),
    "garbage": ("garbage", 0.0, {"garbled", "out_of_step", "wrong_unit", "timeout",
                                 "disconnected"}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_device_fault_is_visible_and_loses_nothing(case: str, tmp_path: Path) -> None:
    mode, arg, kinds = CASES[case]
    faulty_port, other_port = free_ports(2)
    data_dir = tmp_path / "data"
    config = write(tmp_path / "site.yaml",
                   fault_site(data_dir, [faulty_port, other_port, other_port, other_port]))
    async with running_farm([faulty_port]) as faulty, running_farm([other_port]):
        daemon = await start_daemon(config, keep_readings=True)
        try:
            await asyncio.sleep(1.0)
            assert daemon.metric("cleanroom_device_up", device=FAULTY) == 1
            before = len(daemon.readings_seen)

            if mode == "disconnect":
                await faulty.stop()
            else:
                faulty.set_fault(faulty_port, 1, mode, arg)
            await wait_for(lambda: any(
                a.channel.startswith(FAULTY) if getattr(a, "channel", None) else
                FAULTY in str(getattr(a, "point", "")) for a in daemon.health_alarms()),
                6, f"a health alarm for {FAULTY}")
            during = daemon.readings_seen[before:]
            bad = [r for r in during if r.channel.startswith(FAULTY) and r.quality is not
                   Quality.GOOD]
            assert bad, "the faulty device's channels got no non-good readings"
            assert all(r.detail for r in bad)
            others_good = [r for r in during if not r.channel.startswith(FAULTY)
                           and r.quality is Quality.GOOD]
            # 3 healthy devices x 10 channels at 5 polls/s for the time the fault lasted
            elapsed = (during[-1].ts_ns - during[0].ts_ns) / 1e9
            assert len(others_good) >= 0.8 * 3 * 10 * 5 * elapsed, (len(others_good), elapsed)
            assert daemon.metric("cleanroom_device_up", device=FAULTY) == 0
            counted = sum(daemon.metric("cleanroom_device_poll_errors_total", device=FAULTY,
                                        kind=k) or 0 for k in kinds)
            assert counted >= 1, daemon.scrape()

            if mode == "disconnect":
                await faulty.start()
            else:
                faulty.set_fault(None, None, "normal")
            mark = len(daemon.readings_seen)
            await wait_for(lambda: any(r.channel.startswith(FAULTY) and r.quality is
                                       Quality.GOOD for r in daemon.readings_seen[mark:]),
                           8, f"{FAULTY} to recover")
            await wait_for(lambda: any(str(getattr(e, "kind", "")) == "cleared"
                                       and str(getattr(e, "level", "")) == "health"
                                       for e in daemon.events), 6, "the health alarm to clear")
            assert daemon.metric("cleanroom_device_up", device=FAULTY) == 1
        finally:
            await daemon.stop()
    assert_nothing_lost(daemon, data_dir)
