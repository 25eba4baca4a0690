"""An independent client (mbpoll, Debian) reads what the driver decodes."""

from __future__ import annotations

import asyncio
import re

import pytest

from monitor.drivers.modbus import ModbusDriver
from simulators import World
from simulators.modbus.devices import SimulatedDevice, sim_device
from tests.fixtures.modbus_sim import (
    Collector,
    FixedModel,
    binding,
    profile,
    serial_connection,
    tcp_connection,
)
from tests.fixtures.ports import require_binary

_VALUE = re.compile(r"^\[(\d+)\]:\s+(-?[\d.]+)", re.MULTILINE)


async def mbpoll(*args: str) -> dict[int, float]:
    """Run mbpoll once; {reference: value} of what it printed."""
    binary = require_binary("mbpoll")
    proc = await asyncio.create_subprocess_exec(
        binary, "-1", "-o", "2", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 15)
    text = stdout.decode()
    assert proc.returncode == 0, text + stderr.decode()
    return {int(ref): float(value) for ref, value in _VALUE.findall(text)}


async def test_mbpoll_reads_the_counter_record_the_driver_read(modbus_sim,
                                                                sim_world: World) -> None:
    sim_world.location("room").set(state="in_operation", in_operation_0_5=2_000_000)
    counter = sim_device(sim_world, "pc", 1, "lighthouse-remote-4ch", "room")
    th = SimulatedDevice("th", 240, profile("vaisala-hmt330"), FixedModel(
        "th", sim_world, {"temperature": 22.375, "relative_humidity": 30.56, "dew_point": 4.25}))
    sim = await modbus_sim([counter, th])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port),
                          [binding("pc", "lighthouse-remote-4ch", 1),
                           binding("th", "vaisala-hmt330", 240)], out)
    sim_world.clock.advance(60)
    await driver.poll_once()
    driver.close()
    tcp = ["-m", "tcp", "-p", str(sim.port)]

    # select the newest record (40025 = -1) and read it as 32-bit big-endian-word integers
    await mbpoll(*tcp, "-a", "1", "-t", "4", "-r", "25", "127.0.0.1", "65535")
    record = await mbpoll(*tcp, "-a", "1", "-t", "3:int", "-B", "-r", "1", "-c", "8",
                          "127.0.0.1")
    assert record[1] * 10**9 == out.last("pc/p0_5um").device_ts_ns  # 30001-02 timestamp
    assert record[3] == 60  # 30003-04 sample time
    for ref, channel in ((9, "p0_3um"), (11, "p0_5um"), (13, "p1_0um"), (15, "p5_0um")):
        assert record[ref] == out.last(f"pc/{channel}").raw, channel
    holding = await mbpoll(*tcp, "-a", "1", "-t", "4", "-r", "1", "-c", "34", "127.0.0.1")
    assert holding[1] == 150  # map version 1.50
    assert holding[23] == 100  # 1.00 CFM
    assert holding[24] == 1  # one record in the buffer
    assert holding[34] == 60  # sample time, low word

    # Vaisala floats, least significant word first: mbpoll's default word order
    floats = await mbpoll(*tcp, "-a", "240", "-t", "4:float", "-r", "1", "-c", "2",
                          "127.0.0.1")
    assert floats[1] == pytest.approx(out.last("th/rh").value, abs=1e-4)
    assert floats[3] == pytest.approx(out.last("th/temperature").value, abs=1e-4)
    assert out.last("th/temperature").value == 22.375


async def test_mbpoll_over_the_rtu_pty(pty_pair, modbus_sim, sim_world: World) -> None:
    pair = await pty_pair("ttyMB")
    ee = SimulatedDevice("ee", 242, profile("ee210"), FixedModel(
        "ee", sim_world, {"temperature": 23.5, "relative_humidity": 41.25, "dew_point": 9.5}))
    await modbus_sim([ee], framer="rtu", serial_port=str(pair.server))
    values = await mbpoll("-m", "rtu", "-b", "19200", "-P", "none", "-a", "242", "-t", "3:float",
                          "-0", "-r", "25", "-c", "2", str(pair.client))
    out = Collector()
    driver = ModbusDriver(serial_connection(pair.client, "modbus_rtu"),
                          [binding("ee", "ee210", 242)], out)
    await driver.poll_once()
    driver.close()
    assert values[25] == out.last("ee/temperature").value == 23.5
    assert values[27] == out.last("ee/rh").value == 41.25
