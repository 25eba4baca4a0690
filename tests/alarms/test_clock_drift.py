"""Time: device clocks against the daemon's, and the host's NTP status, as health alarms.

The offset estimate (smallest lag in a window, judged after a full window) on
a fake clock at its boundaries; the ``clock_drift`` and
``clock_unsynchronized`` points on the engine's state machine; the NTP probe
against fake ``timedatectl`` programs and the real kernel; and a daemon whose
simulated particle counter runs two minutes fast and whose MQTT incubator
runs 90 s slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitor.alarms.attach import HealthChecks
from monitor.alarms.clock import DeviceClocks
from monitor.alarms.ntp import NtpStatus, Sync, from_kernel, from_timedatectl, probe
from monitor.alarms.service import AlarmService, build_alarm_service
from monitor.config import LoadedConfig, load_config
from monitor.model import Quality, Reading
from monitor.service import Service
from simulators.devices.clock import SimClock
from simulators.devices.environment import World
from simulators.mqtt import MqttSimulator
from simulators.site import SiteSimulation
from tests.alarms.site import T0, site
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.ports import free_port

S = 1_000_000_000
ROOT = Path(__file__).resolve().parents[2]
PC_DRIFT, INC_DRIFT, NTP = "pc1:clock_drift", "inc1:clock_drift", "daemon:clock_unsynchronized"


def stamped(channel: str, received: int, lag_s: float) -> Reading:
    """A reading received at ``received`` that the device stamped ``lag_s`` earlier."""
    return Reading(channel, 1.0, Quality.GOOD, received, device_ts_ns=received - int(lag_s * S))


def clocks(window_s: float = 600.0) -> DeviceClocks:
    return DeviceClocks({"pc1/p05": "pc1", "pc1/p50": "pc1", "inc1/t": "inc1"},
                        max_drift_s=30.0, window_s=window_s)


def test_offset_is_the_smallest_lag_judged_after_a_full_window() -> None:
    dc = clocks()
    for minute in range(10):
        now = T0 + minute * 60 * S
        # a live record (0.8 s old) and two read late; the device's clock is 40 s ahead
        dc.observe([stamped("pc1/p05", now, 0.8 - 40), stamped("pc1/p50", now, 25 - 40),
                    stamped("inc1/t", now, 300)])
        assert dc.flags(now) == []  # watched for less than a window: not judged yet
    now = T0 + 600 * S
    dc.observe([stamped("pc1/p05", now, 1.2 - 40)])
    pc, inc = dc.flags(now)
    assert (pc.key, pc.raw, pc.value) == (PC_DRIFT, True, 39.2)
    assert pc.note == "device clock 39.2 s ahead of the daemon's (limit 30 s)"
    assert (inc.key, inc.raw, inc.value) == (INC_DRIFT, True, -300.0)
    assert inc.note == "device clock 300.0 s behind the daemon's (limit 30 s)"
    assert dc.estimates["pc1"].samples == 2 * 9 + 1  # the minute at T0 left the window


def test_drift_limit_boundary_to_the_nanosecond() -> None:
    for lag_ns, raised in ((-30 * S, False), (-30 * S - 1, True), (30 * S, False),
                           (30 * S + 1, True)):
        dc = clocks(window_s=60.0)
        for k in range(3):
            now = T0 + k * 30 * S
            dc.observe([Reading("pc1/p05", 1.0, Quality.GOOD, now, device_ts_ns=now - lag_ns)])
            flags = dc.flags(now)
        assert [f.raw for f in flags] == [raised], lag_ns


def test_catch_up_records_and_a_returning_device() -> None:
    dc = clocks(window_s=120.0)
    now = T0
    # after an outage the counter hands over an hour of buffered records, then live ones
    dc.observe([stamped("pc1/p05", now, lag) for lag in range(3600, 0, -60)])
    assert dc.flags(now) == []
    for k in range(1, 5):
        now = T0 + k * 60 * S
        dc.observe([stamped("pc1/p05", now, 0.5)])
        flags = dc.flags(now)
    assert [(f.raw, f.value) for f in flags] == [(False, -0.5)]
    # silent for longer than the window: forgotten, then judged afresh a window after it is back
    now += 180 * S
    assert dc.flags(now) == []
    assert "pc1" not in dc.estimates
    dc.observe([stamped("pc1/p05", now, 7200)])  # its one old record comes first
    assert dc.flags(now) == []
    now += 60 * S
    dc.observe([stamped("pc1/p05", now, 0.4)])
    assert dc.flags(now) == []
    now += 60 * S
    dc.observe([stamped("pc1/p05", now, 0.6)])
    assert [(f.raw, f.value) for f in dc.flags(now)] == [(False, -0.4)]


def drift_site(tmp_path: Path, clock: dict[str, Any] | None = None,
               name: str = "site.yaml") -> LoadedConfig:
    """A Lighthouse counter (records), an MQTT incubator (payload times) and a DP (neither)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return site(
        tmp_path, name=name, include=[f"{ROOT}/config/devices/*.yaml"],
        connections=[{"name": "gw", "driver": "modbus_tcp", "host": "127.0.0.1", "port": 1502},
                     {"name": "broker", "driver": "mqtt", "host": "127.0.0.1", "port": 1883}],
        devices=[
            {"name": "pc1", "connection": "gw", "location": "fill-1",
             "profile": "lighthouse-remote-4ch", "unit_id": 1},
            {"name": "dp1", "connection": "gw", "location": "fill-1", "profile": "dp-generic",
             "unit_id": 2},
            {"name": "inc1", "connection": "broker", "location": "fill-1",
             "profile": "co2-incubator-mqtt", "topic": "lab/inc1"},
        ],
        alarms={"health": {"enabled": False}, "clock": clock or {}},
    )


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@contextlib.contextmanager
def checked(loaded: LoadedConfig, now: int, probe_result: NtpStatus | None = None,
            ) -> Iterator[tuple[AlarmService, HealthChecks]]:
    service = build_alarm_service(loaded, clock=Clock(now))
    checks = HealthChecks(loaded, service, ntp_probe=lambda: probe_result or NtpStatus(
        Sync.UNKNOWN, None, "test"))
    try:
        yield service, checks
    finally:
        service.close()


def test_drift_alarm_on_the_state_machine(tmp_path: Path) -> None:
    loaded = drift_site(tmp_path, {"max_drift": "10s", "window": "2m", "ntp": "off"})
    with checked(loaded, T0) as (service, checks):
        points = service.engine.t.points
        assert PC_DRIFT in points
        assert INC_DRIFT in points
        assert "dp1:clock_drift" not in points  # its data carry no device time
        assert NTP not in points
        now = T0
        events: list[Any] = []
        for k in range(3):
            now = T0 + k * 60 * S
            checks.clocks.observe([stamped("pc1/p0_5um", now, -15.0),
                                   stamped("inc1/temperature", now, 1.0)])
            events += checks.check(now)
        raised, = events
        assert (raised.kind, raised.point, raised.state) == ("raised", PC_DRIFT, "active_unack")
        assert (raised.level, raised.priority, raised.location) == ("health", "medium", "fill-1")
        assert (raised.value, raised.limit) == (15.0, 10.0)
        assert raised.details is not None
        assert raised.details["detail"] == "device clock 15.0 s ahead of the daemon's (limit 10 s)"
        # someone sets the counter's clock: the old lags leave the window, the alarm clears
        for k in range(3, 6):
            now = T0 + k * 60 * S
            checks.clocks.observe([stamped("pc1/p0_5um", now, 0.5)])
            events = checks.check(now)
            if events:
                break
        cleared, = events
        assert (cleared.kind, cleared.point, cleared.state) == ("cleared", PC_DRIFT, "rtn_unack")
    off = drift_site(tmp_path, {"devices": False, "ntp": "off"}, name="off.yaml")
    with checked(off, T0 + 600 * S) as (service, checks):
        assert service.engine.t.conditions.get(PC_DRIFT) is None  # no longer checked
        assert checks.clocks.devices == frozenset()


def test_ntp_unsynchronized_unknown_and_required(tmp_path: Path) -> None:
    unsynced = NtpStatus(Sync.UNSYNCHRONIZED, "timedatectl", "NTPSynchronized=no")
    unknown = NtpStatus(Sync.UNKNOWN, None, "no timedatectl answer")
    with checked(drift_site(tmp_path / "a"), T0) as (service, checks):
        checks.ntp = unknown
        assert checks.check(T0) == []  # auto: unknown is no alarm
        checks.ntp = unsynced
        raised, = checks.check(T0 + 60 * S)
        assert (raised.point, raised.location, raised.location_state) == (NTP, "", None)
        assert raised.details is not None
        assert raised.details["detail"] == "host clock unsynchronized: NTPSynchronized=no"
        checks.ntp = NtpStatus(Sync.SYNCHRONIZED, "timedatectl", "NTPSynchronized=yes")
        cleared, = checks.check(T0 + 120 * S)
        assert (cleared.kind, cleared.state) == ("cleared", "rtn_unack")
    with checked(drift_site(tmp_path / "b", {"ntp": "required"}), T0) as (service, checks):
        checks.ntp = unknown
        raised, = checks.check(T0)
        assert raised.point == NTP
    with checked(drift_site(tmp_path / "c", {"ntp": "off"}), T0) as (service, checks):
        assert NTP not in service.engine.t.points


async def test_the_ntp_watch_raises_at_once(tmp_path: Path) -> None:
    answers = [NtpStatus(Sync.SYNCHRONIZED, "adjtimex", "ok"),
               NtpStatus(Sync.UNSYNCHRONIZED, "timedatectl", "NTPSynchronized=no")]
    loaded = drift_site(tmp_path)
    service = build_alarm_service(loaded)
    checks = HealthChecks(loaded, service, interval=0.05,
                          ntp_probe=lambda: answers[0] if len(answers) == 1 else answers.pop(0))
    task = asyncio.create_task(checks.watch_ntp())
    try:
        async with asyncio.timeout(5):
            while not any(e.point == NTP for e in service.tick(time.time_ns())):
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        service.close()
    assert checks.ntp is not None
    assert checks.ntp.sync is Sync.UNSYNCHRONIZED


def fake_timedatectl(tmp_path: Path, out: str, status: int = 0) -> str:
    path = tmp_path / f"timedatectl-{status}-{out or 'none'}"
    path.write_text(f"#!/bin/sh\n[ \"$1 $2 $3 $4\" = 'show -p NTPSynchronized --value' ] "
                    f"|| exit 3\necho '{out}'\nexit {status}\n")
    path.chmod(0o755)
    return str(path)


def test_timedatectl_answers_and_the_kernel_fallback(tmp_path: Path) -> None:
    yes = from_timedatectl(fake_timedatectl(tmp_path, "yes"))
    assert yes is not None
    assert (yes.sync, yes.source) == (Sync.SYNCHRONIZED, "timedatectl")
    no = from_timedatectl(fake_timedatectl(tmp_path, "no"))
    assert no is not None
    assert no.sync is Sync.UNSYNCHRONIZED
    # no systemd (as in containers): "System has not been booted with systemd", exit 1
    failing = fake_timedatectl(tmp_path, "", status=1)
    assert from_timedatectl(failing) is None
    assert from_timedatectl(str(tmp_path / "missing")) is None
    kernel = from_kernel()  # the real adjtimex(2) of this machine, read-only
    assert probe(failing) == kernel
    if kernel.sync is Sync.SYNCHRONIZED:
        assert kernel.source == "adjtimex"
    else:  # an undisciplined kernel clock is no proof of a missing NTP client
        assert kernel.sync is Sync.UNKNOWN


def daemon_config(tmp_path: Path, modbus_port: int, broker: Mosquitto) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"""\
site: {{id: clock-site, name: Clock test}}
data_dir: {tmp_path / "data"}
include: ["{ROOT}/config/devices/*.yaml"]
http: {{enabled: false}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: {modbus_port}, timeout: 500ms}}
  - {{name: broker, driver: mqtt, host: {broker.host}, port: {broker.port},
     client_id: clock-test}}
rooms:
  - {{name: fill, grade: B, locations: [{{name: fill-1}}]}}
devices:
  - {{name: pc1, connection: gw, location: fill-1, profile: lighthouse-remote-4ch, unit_id: 1,
     poll_interval: 300ms}}
  - {{name: dp1, connection: gw, location: fill-1, profile: dp-generic, unit_id: 2,
     poll_interval: 300ms}}
  - {{name: inc1, connection: broker, location: fill-1, profile: co2-incubator-mqtt,
     topic: lab/inc1, poll_interval: 500ms}}
alarms:
  health: {{enabled: false}}
  clock: {{max_drift: 30s, window: 3s, ntp: "off"}}
""")
    return path


async def test_daemon_finds_a_fast_counter_and_a_slow_incubator(tmp_path: Path,
                                                                 mosquitto: Mosquitto) -> None:
    path = daemon_config(tmp_path, free_port(), mosquitto)
    loaded = load_config(path)
    fast = World(SimClock(start=time.time() + 120))  # the counter's clock: 2 min fast
    slow = World(SimClock(start=time.time() - 90))  # the incubator bridge's: 90 s slow

    def quick_checks(runtime: Any) -> None:
        runtime.extras["health_checks"].interval = 0.5

    service = Service(path, loaded=loaded, with_http=False, on_runtime=quick_checks)
    counters = SiteSimulation.from_config(loaded.config, fast,
                                          model_options={"pc1": {"sample_s": 1}})
    async with counters, MqttSimulator.from_config(loaded.config, "broker", slow):
        task = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(25):
                await service.ready.wait()
                assert service.runtime is not None
                alarms = service.runtime.alarms
                while {PC_DRIFT, INC_DRIFT} - {a.point for a in alarms.active()}:
                    await asyncio.sleep(0.1)
                views = {a.point: a for a in alarms.active()}
                estimates = service.runtime.extras["health_checks"].clocks.estimates
        finally:
            service.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
    assert set(estimates) == {"pc1", "inc1"}  # dp1 stamps nothing
    assert 117 < estimates["pc1"].offset_s <= 120.5, estimates
    assert -91 < estimates["inc1"].offset_s <= -89.5, estimates
    assert views[PC_DRIFT].limit == 30.0
    assert views[PC_DRIFT].state == "active_unack"
    assert views[INC_DRIFT].state == "active_unack"
