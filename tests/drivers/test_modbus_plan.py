"""Coalescing: a device's channels read in the fewest requests, counted on the simulator."""

from __future__ import annotations

from monitor.config.devices import ChannelSpec
from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus.decode import ChannelDecoder
from monitor.drivers.modbus.plan import plan_reads
from monitor.model import Quality
from simulators import World
from simulators.modbus.devices import SimulatedDevice, sim_device
from tests.fixtures.modbus_sim import Collector, FixedModel, binding, profile, tcp_connection


def _decoders(*specs: tuple[str, int, str] | tuple[str, int, str, str]) -> list[ChannelDecoder]:
    out = []
    for spec in specs:
        name, address, dtype = spec[:3]
        table = spec[3] if len(spec) > 3 else "holding"
        if table in ("coil", "discrete"):
            dtype = "bool"
        out.append(ChannelDecoder("d", ChannelSpec(name=name, quantity=name, unit="1",
                                                   address=address, type=dtype, table=table)))
    return out


def _shape(requests: list) -> list[tuple[int, int, int]]:
    return [(r.function_code, r.address, r.count) for r in requests]


def test_adjacent_and_near_registers_merge_within_the_gap() -> None:
    decs = _decoders(("a", 0, "f32"), ("b", 2, "u16"), ("c", 6, "u32"), ("d", 20, "u16"))
    assert _shape(plan_reads(decs, max_gap=3, max_registers=125)) == [(3, 0, 8), (3, 20, 1)]
    assert _shape(plan_reads(decs, max_gap=0, max_registers=125)) == [
        (3, 0, 3), (3, 6, 2), (3, 20, 1)]
    assert _shape(plan_reads(decs, max_gap=20, max_registers=125)) == [(3, 0, 21)]


def test_the_register_limit_and_the_tables_split_reads() -> None:
    decs = _decoders(("a", 0, "u32"), ("b", 123, "u32"), ("c", 124, "u16", "input"),
                     ("e", 0, "u16", "input"), ("f", 5, "bool", "coil"),
                     ("g", 1990, "bool", "coil"), ("h", 2010, "bool", "coil"))
    shape = _shape(plan_reads(decs, max_gap=125, max_registers=125))
    assert shape == [(3, 0, 125), (4, 0, 125), (1, 5, 1), (1, 1990, 21)]
    bits = _decoders(("x", 0, "bool", "coil"), ("y", 1999, "bool", "coil"),
                     ("z", 2000, "bool", "coil"))
    assert _shape(plan_reads(bits, max_gap=5000, max_registers=125)) == [(1, 0, 2000),
                                                                         (1, 2000, 1)]
    shape = _shape(plan_reads(decs[:2], max_gap=125, max_registers=124))
    assert shape == [(3, 0, 2), (3, 123, 2)]


def test_overlapping_channels_share_a_read() -> None:
    decs = _decoders(("word", 4, "u16"), ("pair", 4, "u32"), ("again", 5, "u16"))
    (req,) = plan_reads(decs, max_gap=0, max_registers=125)
    assert (req.address, req.count) == (4, 2)
    assert sorted(i for i, _ in req.channels) == [0, 0, 1]


async def test_requests_counted_on_the_simulator(modbus_sim, sim_world: World) -> None:
    devices = [sim_device(sim_world, "th1", 240, "vaisala-hmt330", "room"),
               sim_device(sim_world, "th2", 241, "vaisala-hmt330", "room"),
               sim_device(sim_world, "inc", 5, "co2-incubator-generic", "room")]
    sim = await modbus_sim(devices)
    bindings = [binding("th1", "vaisala-hmt330", 240), binding("th2", "vaisala-hmt330", 241,
                                                               max_gap=0),
                binding("inc", "co2-incubator-generic", 5)]
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), bindings, out)
    await driver.poll_once()
    await driver.poll_once()
    driver.close()
    log = sorted(set(sim.request_log))
    # HMT330: floats 0..7 in one read (gap of 2), status 0513 in another
    assert [e for e in log if e[0] == 240] == [(240, 3, 0, 8), (240, 3, 512, 1)]
    # the same device with max_gap 0: RH+T adjacent, dew point alone, status
    assert [e for e in log if e[0] == 241] == [(241, 3, 0, 4), (241, 3, 6, 2), (241, 3, 512, 1)]
    # incubator: four floats, door/alarm bits and status word: one read of 10 registers
    assert [e for e in log if e[0] == 5] == [(5, 3, 0, 10)]
    assert sim.requests[(240, 3)] == 4
    assert sim.requests[(241, 3)] == 6
    assert sim.requests[(5, 3)] == 2
    assert {r.quality for r in out.readings} == {Quality.GOOD}
    assert len(out.of("inc/temperature")) == 2


async def test_a_gap_the_device_lacks_is_split_and_read_in_the_same_poll(
    modbus_sim, sim_world: World
) -> None:
    body = {"kind": "generic", "family": "generic", "source": "test", "max_gap": 10,
            "channels": [{"name": "a", "quantity": "a", "unit": "1", "address": 0},
                         {"name": "b", "quantity": "b", "unit": "1", "address": 8}]}
    prof = profile(body)
    model = FixedModel("dev", sim_world, {"a": 11, "b": 22})
    sim = await modbus_sim([SimulatedDevice("dev", 3, prof, model, strict=True)])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("dev", prof, 3)], out)
    await driver.poll_once()
    assert [r.value for r in out.readings] == [11.0, 22.0]
    assert sim.request_log == [(3, 3, 0, 9), (3, 3, 0, 1), (3, 3, 8, 1)]
    sim.reset_counts()
    await driver.poll_once()
    driver.close()
    assert sim.request_log == [(3, 3, 0, 1), (3, 3, 8, 1)]
    assert driver.status["dev"].available
    assert not driver.status["dev"].errors


async def test_commands_write_a_coil_and_registers(modbus_sim, sim_world: World) -> None:
    body = {"kind": "generic", "family": "generic", "source": "test",
            "channels": [{"name": "a", "quantity": "a", "unit": "1", "address": 0}],
            "commands": {"alarm_reset": {"table": "coil", "address": 7, "value": 1},
                         "setpoint": {"address": 20, "type": "f32"},
                         "mode": {"address": 30}}}
    prof = profile(body)
    device = SimulatedDevice("dev", 4, prof, FixedModel("dev", sim_world, {"a": 1}))
    sim = await modbus_sim([device])
    driver = ModbusDriver(tcp_connection(sim.port), [binding("dev", prof, 4)], Collector())
    await driver.write_command("dev", "alarm_reset", 0)  # the profile fixes the value
    await driver.write_command("dev", "setpoint", 37)
    await driver.write_command("dev", "mode", 2)
    driver.close()
    assert [e[1:3] for e in sim.request_log] == [(5, 7), (16, 20), (6, 30)]
    from monitor.config.devices import RegisterTable as T
    assert device.map.writes == [(T.COIL, 7, 1), (T.HOLDING, 20, 0x4214), (T.HOLDING, 21, 0),
                                 (T.HOLDING, 30, 2)]
