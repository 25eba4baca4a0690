"""The physics of the simulated devices, on a manual clock."""

from __future__ import annotations

import math
import statistics

import pytest

from simulators import ManualClock, World
from simulators.devices.humidity import TemperatureHumidityModel
from simulators.devices.incubator import IncubatorModel
from simulators.devices.particle_counter import CFM_LPM, ParticleCounterModel
from simulators.devices.pressure import DifferentialPressureModel


@pytest.fixture
def world() -> World:
    return World(ManualClock())


def test_counts_are_poisson_around_the_state_concentration(world: World) -> None:
    room = world.location("room")
    room.set(at_rest_0_5=2000, in_operation_0_5=200_000)
    pc = ParticleCounterModel("pc", world, "room", sample_s=60, seed=3)
    volume = CFM_LPM / 1000  # m3 in one minute
    world.clock.advance(60 * 200)
    pc.update()  # records are filed when the counter is consulted
    at_rest = [r.counts[1] for r in pc.records]
    room.set(state="in_operation")
    world.clock.advance(60 * 200)
    pc.update()
    busy = [r.counts[1] for r in list(pc.records)[200:]]
    assert statistics.mean(at_rest) == pytest.approx(2000 * volume, rel=0.05)
    assert statistics.variance(at_rest) == pytest.approx(2000 * volume, rel=0.3)  # Poisson
    assert statistics.mean(busy) == pytest.approx(200_000 * volume, rel=0.02)
    # ISO 14644-1 size distribution: >=5 um is (0.5/5)^2.08 of >=0.5 um
    big = statistics.mean(r.counts[3] for r in list(pc.records)[200:])
    assert big == pytest.approx(200_000 * volume * 0.1**2.08, rel=0.15)
    assert all(r.counts[0] >= r.counts[1] >= r.counts[2] >= r.counts[3] for r in pc.records)


def test_records_follow_sample_and_hold_and_the_buffer_wraps(world: World) -> None:
    pc = ParticleCounterModel("pc", world, "room", sample_s=60, hold_s=30, capacity=4)
    t0 = int(world.clock.now())
    world.clock.advance(89)
    pc.update()
    assert [r.ts for r in pc.records] == [t0 + 60]
    world.clock.advance(1000)
    pc.update()
    assert [r.ts - t0 for r in pc.records] == [60 + 90 * k for k in range(8, 12)]
    pc.stop()
    world.clock.advance(600)
    assert pc.records_made == 12
    pc.set_fault("laser")
    pc.start()
    world.clock.advance(60)
    pc.update()
    assert pc.records[-1].counts == (0, 0, 0, 0)
    assert "laser" in pc.conditions(world.clock.now())


def test_pressure_dips_when_the_door_opens_and_recovers(world: World) -> None:
    dp = DifferentialPressureModel("dp", world, "room", nominal_pa=15.0, noise_pa=0.0)
    now = world.clock.now
    assert dp.read(now())["differential_pressure"] == 15.0
    world.set_door("room", True)
    world.clock.advance(5)
    assert dp.read(now())["differential_pressure"] < 2.0
    world.set_door("room", False)
    world.clock.advance(4)
    mid = dp.read(now())["differential_pressure"]
    world.clock.advance(30)
    assert 5.0 < mid < 12.0
    assert dp.read(now())["differential_pressure"] == pytest.approx(15.0, abs=0.01)
    noisy = DifferentialPressureModel("dp2", world, "room", noise_pa=0.3, seed=1)
    samples = [noisy.read(now())["differential_pressure"] for _ in range(500)]
    assert statistics.stdev(samples) == pytest.approx(0.3, rel=0.15)


def test_incubator_recovers_after_the_door_closes(world: World) -> None:
    inc = IncubatorModel("inc", world, "lab", seed=2)
    now = world.clock.now
    steady = inc.read(now())
    assert steady["co2"] == pytest.approx(5.0, abs=0.1)
    assert steady["temperature"] == pytest.approx(37.0, abs=0.1)
    inc.open_door()
    world.clock.advance(60)
    opened = inc.read(now())
    assert opened["co2"] < 1.0
    assert opened["door"] == 1.0
    assert opened["alarm"] == 1.0
    assert 34.5 < opened["temperature"] < 36.5  # the air cools; the walls hold heat
    inc.open_door(False)
    world.clock.advance(300)
    recovering = inc.read(now())
    assert 3.0 < recovering["co2"] < 5.0
    world.clock.advance(1800)
    back = inc.read(now())
    assert back["co2"] == pytest.approx(5.0, abs=0.1)
    assert back["temperature"] == pytest.approx(37.0, abs=0.1)
    assert back["alarm"] == 0.0
    inc.set_fault("co2_supply")
    world.clock.advance(900)
    assert inc.read(now())["co2"] < 1.0


def test_temperature_humidity_drift_and_dew_point(world: World) -> None:
    th = TemperatureHumidityModel("th", world, "room", temperature=20.0, humidity=45.0,
                                  drift_t=0.5, period_s=3600, seed=4)
    temps = []
    for _ in range(60):
        world.clock.advance(60)
        values = th.read(world.clock.now())
        temps.append(values["temperature"])
        # Magnus: at 20 degC and 45 %RH the dew point is about 7.7 degC
        assert values["dew_point"] < values["temperature"]
    assert max(temps) - min(temps) == pytest.approx(1.0, abs=0.25)
    th.set_fault("sensor")
    assert math.isnan(th.read(world.clock.now())["temperature"])
    with pytest.raises(ValueError, match="no fault"):
        th.set_fault("laser")


def test_accelerated_clock() -> None:
    from simulators import SimClock

    clock = SimClock(speed=100.0, start=0.0)
    assert clock.real_seconds(60) == pytest.approx(0.6)
    before = clock.now()
    clock.set_speed(1.0)
    assert clock.now() >= before
