"""Devices built from another device's shape (``build_cache.DeviceShape``) are the devices a
build from scratch makes: same reads, requests, channel ids, and the same readings."""

from __future__ import annotations

from typing import Any

from monitor.drivers.base import DeviceBinding
from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus.build_cache import _Scope, shared_construction
from monitor.drivers.modbus.device import DeviceRuntime
from monitor.model import Quality
from simulators.modbus.devices import SimulatedDevice
from tests.fixtures.modbus_sim import Collector, FixedModel, binding, profile, tcp_connection

PLAIN = profile({
    "kind": "generic", "family": "generic", "source": "test", "max_gap": 4,
    "channels": [
        {"name": "t", "quantity": "temperature", "unit": "degC", "address": 0, "type": "s16",
         "scale": 0.1, "range": [-40, 85]},
        {"name": "h", "quantity": "humidity", "unit": "%", "address": 3, "scale": 0.1,
         "range": [0, 100]},
        {"name": "p", "quantity": "pressure", "unit": "Pa", "address": 6, "table": "input"},
    ],
})
#: channels listed out of their registers' order: the reads take them in another order
SHUFFLED = profile({
    "kind": "generic", "family": "generic", "source": "test",
    "channels": [
        {"name": "x", "quantity": "pressure", "unit": "Pa", "address": 9, "table": "input"},
        {"name": "y", "quantity": "temperature", "unit": "degC", "address": 4},
        {"name": "z", "quantity": "humidity", "unit": "%", "address": 2},
    ],
})
#: a status word in the read: not a shape (its read keeps a hidden decoder of its own)
STATUS = profile({
    "kind": "generic", "family": "generic", "source": "test",
    "status": {"address": 2, "bits": [{"bit": 0, "name": "sensor fault",
                                       "quality": "device_fault"}]},
    "channels": [{"name": "t", "quantity": "temperature", "unit": "degC", "address": 0,
                  "scale": 0.1}],
})
#: a sentinel: no direct plan, so its decoders (with the device's ids) are its own
SENTINEL = profile({
    "kind": "generic", "family": "generic", "source": "test",
    "channels": [{"name": "c", "quantity": "co2", "unit": "ppm", "address": 0,
                  "nan_values": [0xFFFF]}],
})


def _bindings() -> list[DeviceBinding]:
    moved = [{"name": "h", "quantity": "humidity", "unit": "%", "address": 9, "scale": 0.1}]
    return [
        binding("a0", PLAIN, 1), binding("a1", PLAIN, 1), binding("a2", PLAIN, 2),
        binding("a3", PLAIN, 1, max_gap=0), binding("a4", PLAIN, 2, max_gap=0),
        binding("b0", PLAIN, 3, channels=moved), binding("a5", PLAIN, 3),
        binding("s0", STATUS, 4), binding("s1", STATUS, 4),
        binding("r0", SHUFFLED, 6), binding("r1", SHUFFLED, 7),
        binding("n0", SENTINEL, 5), binding("n1", SENTINEL, 5),
    ]


def _described(dev: DeviceRuntime) -> dict[str, Any]:
    """Everything a poll uses, by value (decoders by their spec and id)."""
    return {
        "reads": [(r.function_code, r.address, r.count, r.has_gap,
                   [(o, d.spec, d.hidden) for o, d in r.channels]) for r in dev.requests],
        "named": [[d.channel for _, d in r.channels] for r, ids in zip(
            dev.requests, dev.ids, strict=True) if not ids],
        "ids": dev.ids,
        "pdus": [(p.function_code, p.address, p.count, p.dev_id) for p in dev.pdus],
        "tails": dev.tails,
        "direct": [None if d is None else [(c[0].spec, *c[1:]) for c in d]
                   for d in dev.direct],
        "fast": dev.scheduled_fast, "hidden": dev.hidden, "counter": dev.counter,
        "unit": dev.unit, "timeout": dev.timeout, "retries": dev.retries,
        "interval": dev.interval_ticks, "bits": dev.status_bits,
    }


def _build(shared: bool) -> list[DeviceRuntime]:
    conn = tcp_connection(1)
    if not shared:
        return [ModbusDriver(conn, [b], Collector()).runtimes[0] for b in _bindings()]
    with shared_construction():
        return [ModbusDriver(conn, [b], Collector()).runtimes[0] for b in _bindings()]


def test_devices_of_a_shape_are_built_as_from_scratch() -> None:
    fresh, shared = _build(False), _build(True)
    assert [_described(d) for d in shared] == [_described(d) for d in fresh]
    assert not _Scope.shapes  # nothing outlives the build
    by_name = {d.name: d for d in shared}
    # the same profile, specs and gap limit: one set of reads, requests per unit id
    assert by_name["a1"].requests is by_name["a0"].requests
    assert by_name["a1"].pdus is by_name["a0"].pdus
    assert by_name["a2"].requests is by_name["a0"].requests
    assert by_name["a2"].pdus is not by_name["a0"].pdus
    assert by_name["a3"].requests is not by_name["a0"].requests  # another gap limit
    assert len(by_name["a3"].requests) == len(by_name["a0"].requests) + 1
    assert by_name["a5"].requests is by_name["a0"].requests
    assert by_name["b0"].requests[0] is not by_name["a0"].requests[0]  # a moved register
    assert by_name["s1"].requests[0] is not by_name["s0"].requests[0]  # a hidden decoder
    assert by_name["r1"].requests is by_name["r0"].requests
    assert by_name["r1"].ids == (("r1/z", "r1/y"), ("r1/x",))
    assert by_name["n1"].requests[0].channels[0][1].channel == "n1/c"


def test_channel_ids_are_the_configs_own_strings() -> None:
    ids = {"".join(["a1/", name]): None for name in ("t", "h", "p")}  # not interned literals
    with shared_construction(ids):
        built = [ModbusDriver(tcp_connection(1), [b], Collector()).runtimes[0]
                 for b in _bindings()[:2]]
    canonical = {cid: cid for cid in ids}
    assert all(cid is canonical[cid] for read in built[1].ids for cid in read)


async def test_devices_of_a_shape_read_what_fresh_ones_read(modbus_sim, sim_world) -> None:
    bindings = [binding(f"d{k}", PLAIN, k + 1) for k in range(4)]
    sim = await modbus_sim([
        SimulatedDevice(f"d{k}", k + 1, PLAIN,
                        FixedModel(f"d{k}", sim_world, {"t": 20.5 + k, "h": 45.0 + 30 * k,
                                                        "p": 7.0 + k}))
        for k in range(4)])
    sim.set_comm_fault("d2", "no_response")
    seen = []
    for shared in (False, True):
        out = Collector()
        conn = tcp_connection(sim.port, timeout="200ms")
        if shared:
            with shared_construction():
                driver = ModbusDriver(conn, bindings, out)
            assert driver.runtimes[3].requests is driver.runtimes[0].requests
        else:
            driver = ModbusDriver(conn, bindings, out)
        await driver.poll_once()
        driver.close()
        seen.append(([(r.channel, r.value, r.quality, r.raw, r.detail) for r in out.readings],
                     [(s.polls, dict(s.errors), s.available) for s in driver.status.values()]))
    assert seen[0] == seen[1]
    readings = seen[1][0]
    assert ("d1/h", 75.0, Quality.GOOD, 750.0, None) in readings
    assert readings[6][:3] == ("d2/t", None, Quality.COMM_ERROR)
    assert [r[2] for r in readings if r[0] == "d3/h"] == [Quality.OUT_OF_RANGE]
