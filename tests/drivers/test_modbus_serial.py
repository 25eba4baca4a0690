"""The serial path for real: RTU and ASCII over a socat pseudo-terminal pair, RTU framing
over TCP, and a serial port that disappears and comes back."""

from __future__ import annotations

import struct

from monitor.drivers.modbus import ModbusDriver
from monitor.model import Quality
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


def f32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


def _th_devices(world: World) -> list[SimulatedDevice]:
    return [
        SimulatedDevice("th", 240, profile("vaisala-hmt330"), FixedModel(
            "th", world, {"temperature": 21.5, "relative_humidity": 30.56, "dew_point": 3.1})),
        SimulatedDevice("ee", 242, profile("ee210"), FixedModel(
            "ee", world, {"temperature": 19.25, "relative_humidity": 48.5, "dew_point": 8.0})),
    ]


def _check_th(out: Collector) -> None:
    assert out.last("th/temperature").value == f32(21.5)
    assert out.last("th/rh").value == f32(30.56)
    assert out.last("ee/temperature").value == f32(19.25)
    assert out.last("ee/dew_point").value == f32(8.0)
    assert {r.quality for r in out.readings} == {Quality.GOOD}


async def test_rtu_bus_on_a_pty(pty_pair, modbus_sim, sim_world: World) -> None:
    pair = await pty_pair("ttyRTU")
    sim = await modbus_sim(_th_devices(sim_world), framer="rtu", serial_port=str(pair.server))
    out = Collector()
    driver = ModbusDriver(serial_connection(pair.client, "modbus_rtu"),
                          [binding("th", "vaisala-hmt330", 240), binding("ee", "ee210", 242)],
                          out)
    await driver.poll_once()
    await driver.poll_once()
    driver.close()
    _check_th(out)
    assert sim.requests[(240, 3)] == 4
    assert sim.requests[(242, 4)] == 2


async def test_missing_unit_on_a_serial_bus_times_out(pty_pair, modbus_sim,
                                                      sim_world: World) -> None:
    pair = await pty_pair("ttyRTU")
    await modbus_sim(_th_devices(sim_world), framer="rtu", serial_port=str(pair.server))
    out = Collector()
    driver = ModbusDriver(serial_connection(pair.client, "modbus_rtu"),
                          [binding("gone", "ee210", 17), binding("ee", "ee210", 242)], out)
    await driver.poll_once()
    driver.close()
    assert out.last("gone/temperature").detail.startswith("timeout")
    assert out.last("ee/temperature").quality is Quality.GOOD


async def test_ascii_particle_counter_on_a_pty(pty_pair, modbus_sim, sim_world: World) -> None:
    pair = await pty_pair("ttyASCII")
    sim_world.location("room").set(state="in_operation")
    device = sim_device(sim_world, "pc", 3, "lighthouse-remote-4ch", "room")
    await modbus_sim([device], framer="ascii", serial_port=str(pair.server))
    out = Collector()
    driver = ModbusDriver(serial_connection(pair.client, "modbus_ascii", timeout="1s"),
                          [binding("pc", "lighthouse-remote-4ch", 3)], out)
    for _ in range(3):
        sim_world.clock.advance(60)
        await driver.poll_once()
    driver.close()
    records = device.model.records
    readings = out.of("pc/p0_3um")
    assert [r.raw for r in readings] == [float(r.counts[0]) for r in records]
    assert [r.device_ts_ns for r in readings] == [r.ts * 10**9 for r in records]


async def test_rtu_framing_over_tcp(modbus_sim, sim_world: World) -> None:
    sim = await modbus_sim(_th_devices(sim_world), framer="rtu")
    out = Collector()
    conn = tcp_connection(sim.port, driver="modbus_rtu_over_tcp")
    driver = ModbusDriver(conn, [binding("th", "vaisala-hmt330", 240),
                                 binding("ee", "ee210", 242)], out)
    await driver.poll_once()
    driver.close()
    _check_th(out)


async def test_serial_port_unplugged_and_back(pty_pair, modbus_sim, sim_world: World) -> None:
    pair = await pty_pair("ttyUSB")
    devices = _th_devices(sim_world)
    sim = await modbus_sim(devices, framer="rtu", serial_port=str(pair.server))
    out = Collector()
    driver = ModbusDriver(serial_connection(pair.client, "modbus_rtu"),
                          [binding("th", "vaisala-hmt330", 240)], out)
    await driver.poll_once()
    await sim.stop()
    await pair.stop()  # the adapter is pulled out: both pty ends vanish
    assert not pair.client.exists()
    for _ in range(2):
        await driver.poll_once()
    errors = out.of("th/temperature")[1:]
    assert [r.quality for r in errors] == [Quality.COMM_ERROR] * 2
    assert {r.detail.split(":")[0] for r in errors} <= {"connect", "disconnected"}
    assert not driver.status["th"].available
    await pair.start()  # plugged back in
    await modbus_sim(devices, framer="rtu", serial_port=str(pair.server))
    await driver.poll_once()
    driver.close()
    assert out.last("th/temperature").quality is Quality.GOOD
    assert driver.status["th"].available
    assert driver.bus.connects == 2


async def test_line_settings_are_passed(pty_pair, modbus_sim, sim_world: World) -> None:
    # a pty refuses parity changes (termios EINVAL); baud rate and stop bits it takes
    pair = await pty_pair("ttyS")
    await modbus_sim(_th_devices(sim_world)[1:], framer="rtu", serial_port=str(pair.server),
                     baudrate=9600, stopbits=2)
    out = Collector()
    conn = serial_connection(pair.client, "modbus_rtu", baudrate=9600, stopbits=2)
    driver = ModbusDriver(conn, [binding("ee", "ee210", 242)], out)
    await driver.poll_once()
    assert driver.bus.client is not None
    params = driver.bus.client.comm_params
    assert (params.baudrate, params.stopbits, params.parity) == (9600, 2, "N")
    driver.close()
    assert out.last("ee/rh").value == f32(48.5)
