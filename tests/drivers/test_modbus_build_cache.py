"""Decoders and read plans shared between devices while drivers are built behave as fresh ones."""

from __future__ import annotations

import random

from monitor.config.devices import ChannelSpec
from monitor.drivers.modbus.build_cache import _Scope, make_decoder, make_plan, shared_construction
from monitor.drivers.modbus.decode import ChannelDecoder, encode
from monitor.drivers.modbus.plan import plan_reads

SPECS = [
    ChannelSpec(name="t", quantity="temperature", unit="degC", address=0, type="s16", scale=0.1,
                range=(-40, 85)),
    ChannelSpec(name="p", quantity="differential_pressure", unit="Pa", address=1, type="f32",
                byte_order="CDAB"),
    ChannelSpec(name="n", quantity="co2", unit="ppm", address=3, type="u32", byte_order="BADC",
                nan_values=[0xFFFFFFFF]),
    ChannelSpec(name="b", quantity="door", unit="1", address=5, type="u16", bit=3),
    ChannelSpec(name="w", quantity="particles_0_5um", unit="particles/m3", address=30,
                type="u64", byte_order="DCBA"),
    ChannelSpec(name="c", quantity="status", unit="1", table="coil", address=7, type="bool"),
]


def _same(a: ChannelDecoder, b: ChannelDecoder) -> bool:
    return all(getattr(a, s) == getattr(b, s) for s in ChannelDecoder.__slots__
               if s != "assemble")


def test_shared_decoders_decode_like_fresh_ones() -> None:
    rng = random.Random(8)
    with shared_construction():
        shared = {dev: [make_decoder(dev, s) for s in SPECS] for dev in ("d1", "d2", "d3")}
    for dev, decoders in shared.items():
        for spec, dec in zip(SPECS, decoders, strict=True):
            fresh = ChannelDecoder(dev, spec)
            assert _same(dec, fresh)
            assert dec.channel == f"{dev}/{spec.name}"
            for _ in range(50):
                value = rng.randrange(0, 1 << 16) if spec.type == "u16" else rng.uniform(-30, 80)
                if spec.table == "coil":
                    regs = [rng.randrange(2)]
                else:
                    regs = encode(int(value) if spec.type != "f32" else value, spec.type,
                                  spec.byte_order)
                assert dec.decode(regs, 0, 1) == fresh.decode(regs, 0, 1)
    assert shared["d1"][0].sentinels is shared["d2"][0].sentinels  # shared, not copied
    assert not _Scope.decoders  # nothing outlives the build
    assert not _Scope.plans


def test_shared_plans_match_fresh_plans_and_point_at_each_devices_decoders() -> None:
    override = SPECS[1].model_copy(update={"address": 40})  # a device that moved a register
    layouts = {"d1": SPECS, "d2": SPECS, "d3": [SPECS[0], override, *SPECS[2:]]}
    with shared_construction():
        built = {}
        for dev, specs in layouts.items():
            decs = [make_decoder(dev, s) for s in specs]
            built[dev] = (decs, make_plan(decs, max_gap=4, max_registers=125))
    for dev, (decs, plan) in built.items():
        fresh = plan_reads(decs, max_gap=4, max_registers=125)
        assert [(r.function_code, r.address, r.count, r.has_gap) for r in plan] == [
            (r.function_code, r.address, r.count, r.has_gap) for r in fresh]
        assert [[(o, d.channel) for o, d in r.channels] for r in plan] == [
            [(o, d.channel) for o, d in r.channels] for r in fresh]
        assert all(d.channel.startswith(f"{dev}/") for r in plan for _, d in r.channels)
    assert built["d1"][1][0].channels is not built["d2"][1][0].channels


def test_outside_a_build_nothing_is_cached() -> None:
    dec = make_decoder("d", SPECS[0])
    assert _same(dec, ChannelDecoder("d", SPECS[0]))
    assert not _Scope.decoders


def test_decoders_keep_the_configs_own_channel_id_strings() -> None:
    ids = {"".join(["d7/", spec.name]): None for spec in SPECS}  # built, not interned literals
    with shared_construction(ids):
        make_decoder("d6", SPECS[0])  # the template
        decs = [make_decoder("d7", s) for s in SPECS]
    canonical = {cid: cid for cid in ids}
    assert all(d.channel is canonical[d.channel] for d in decs)


def test_devices_of_a_profile_share_one_direct_plan_and_keep_their_ids() -> None:
    from monitor.drivers.modbus.build_cache import share_direct
    from monitor.drivers.modbus.decode import decode_direct, direct_plan
    from monitor.model import Quality

    specs = [ChannelSpec(name=f"c{i}", quantity="temperature", unit="degC", address=i,
                         type="s16", scale=0.1, range=(-40, 85)) for i in range(4)]
    moved = [*specs[:3], specs[3].model_copy(update={"address": 5})]
    with shared_construction():
        plans = {}
        for dev, layout in (("d1", specs), ("d2", specs), ("d3", moved)):
            decs = [make_decoder(dev, s) for s in layout]
            (request,) = make_plan(decs, max_gap=4, max_registers=125)
            plans[dev] = (share_direct(direct_plan(request.channels)), request)
        assert _Scope.direct
    assert not _Scope.direct  # nothing outlives the build
    assert plans["d1"][0] is plans["d2"][0]
    assert plans["d3"][0] is not plans["d1"][0]  # another layout: a plan of its own
    regs = [100, 0xFFFF, 2000, 7, 0, 9]  # 2000 x 0.1 is above range: the decoder's path
    for dev, (plan, request) in plans.items():
        assert plan is not None
        out: list = []
        decode_direct(plan, [d.channel for _, d in request.channels], regs, 5, out)
        assert out == [d.decode(regs, i, 5) for i, d in request.channels]
        assert [r.channel for r in out] == [f"{dev}/c{i}" for i in range(4)]
        assert out[2].quality is Quality.OUT_OF_RANGE


async def test_devices_sharing_a_read_split_and_fail_it_under_their_own_ids(
    modbus_sim, sim_world
) -> None:
    from monitor.drivers.modbus import ModbusDriver
    from monitor.model import Quality
    from simulators.modbus.devices import SimulatedDevice
    from tests.fixtures.modbus_sim import Collector, FixedModel, binding, profile, tcp_connection

    prof = profile({"kind": "generic", "family": "generic", "source": "test", "max_gap": 10,
                    "channels": [{"name": "a", "quantity": "a", "unit": "1", "address": 0},
                                 {"name": "b", "quantity": "b", "unit": "1", "address": 8}]})
    sim = await modbus_sim([
        SimulatedDevice(f"dev{k}", k + 3, prof,
                        FixedModel(f"dev{k}", sim_world, {"a": 11 + k, "b": 22 + k}), strict=True)
        for k in range(2)])
    out = Collector()
    with shared_construction():
        driver = ModbusDriver(tcp_connection(sim.port, timeout="200ms"),
                              [binding(f"dev{k}", prof, k + 3) for k in range(2)], out)
    first, second = driver.runtimes
    assert first.requests[0] is second.requests[0]  # one read (0..8, a gap) for both
    await driver.poll_once()  # each device is refused the gap and splits its own reads
    assert [(r.channel, r.value) for r in out.readings] == [
        ("dev0/a", 11.0), ("dev0/b", 22.0), ("dev1/a", 12.0), ("dev1/b", 23.0)]
    assert len(first.requests) == len(second.requests) == 2
    sim.set_comm_fault("dev1", "no_response")
    await driver.poll_once()
    driver.close()
    assert [(r.channel, r.quality) for r in out.readings[4:]] == [
        ("dev0/a", Quality.GOOD), ("dev0/b", Quality.GOOD),
        ("dev1/a", Quality.COMM_ERROR), ("dev1/b", Quality.COMM_ERROR)]
