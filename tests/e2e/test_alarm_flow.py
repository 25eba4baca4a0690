"""An action excursion end to end, as issue 5 asks ("Done when").

A simulator scenario takes a Grade B location in operation over its Annex 1
action limit (352,000 particles/m³ ≥0.5 µm). The daemon (in process, embedded
store, no HTTP) polls the simulated Lighthouse counter over Modbus TCP, raises
the action alarm and persists it; a real Mosquitto subscriber, a real aiohttp
webhook receiver and a real aiosmtpd server each get the notification. An
operator (created through ``monitor.users``) acknowledges with an electronic
signature (``monitor.signatures``); the particles return to normal; the reset
acknowledgement closes the excursion, whose start, end, peak and duration
must be exactly those of the readings in the store, which must be exactly
what the simulated counter filed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor.alarms.service import build_alarm_service
from monitor.audit import AuditTrail
from monitor.config import load_config
from monitor.errors import AlarmError, AuthError
from monitor.service import Service
from monitor.storage.history import History
from monitor.users.roles import Permission
from monitor.users.store import UserStore
from simulators.devices.clock import SimClock
from simulators.devices.environment import World
from simulators.devices.particle_counter import ParticleCounterModel
from simulators.scenario import Scenario, ScenarioSpec
from simulators.site import SiteSimulation
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.ports import free_port
from tests.fixtures.smtp import SmtpServer
from tests.notify.kit import WebhookReceiver, webhook_receiver

ROOT = Path(__file__).resolve().parents[2]
SITE_ID = "flow-site"
CHANNEL = "pc1/p0_5um"
POINT = f"{CHANNEL}:high_action"
LIMIT = 352_000.0  # EU GMP Annex 1 (2022), Grade B in operation, >=0.5 um
PASSWORD = "Gowning-Room-7"
SAMPLE_S = 2


def site_config(tmp_path: Path, modbus_port: int, broker: Mosquitto, smtp: SmtpServer,
                hook: WebhookReceiver) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"""\
site: {{id: {SITE_ID}, name: Alarm flow test site}}
standard: eu_gmp_annex1
data_dir: {tmp_path / "data"}
include: ["{ROOT}/config/devices/*.yaml"]
http: {{enabled: false}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: {modbus_port}, timeout: 500ms}}
rooms:
  - name: fill
    grade: B
    locations: [{{name: fill-1, state: {{default: in_operation}}}}]
devices:
  - {{name: pc1, connection: gw, location: fill-1, profile: lighthouse-remote-4ch, unit_id: 1,
     poll_interval: 250ms}}
alarms:
  limits:
    fill-1:
      - {{channel: {CHANNEL}, high_action: preset, priority_action: critical}}
  clock: {{ntp: "off"}}
notify:
  notifiers:
    - {{name: scada, kind: mqtt, host: {broker.host}, port: {broker.port}}}
    - {{name: qms, kind: webhook, url: "{hook.url}", secret: {hook.secret.decode()}}}
    - {{name: oncall, kind: email, host: {smtp.host}, port: {smtp.port}, security: none,
       sender: monitor@plant.example, recipients: [oncall@plant.example]}}
  retry: {{initial: 100ms, max: 500ms, timeout: 5s}}
""")
    return path


def add_operator(data_dir: Path) -> None:
    with AuditTrail(data_dir) as audit, UserStore(data_dir, audit) as users:
        users.add("os:test", "olivia", "Olivia Operator", ["operator"], PASSWORD,
                  must_change=False)


async def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def mqtt_subscriber(broker: Mosquitto) -> AsyncIterator[list[dict[str, Any]]]:
    """Every document published under cleanroom/<site>/alarms/, with its topic."""
    received: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"cleanroom/{SITE_ID}/alarms/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                doc = json.loads(message.payload)  # type: ignore[arg-type]
                received.append({"topic": str(message.topic), **doc})

        task = asyncio.create_task(collect())
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def event_docs(received: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m["event"] for m in received
            if m["topic"].endswith("/events") and m["event"]["kind"] == kind]


async def test_grade_b_action_excursion_end_to_end(
        tmp_path: Path, mosquitto: Mosquitto, smtp_server: SmtpServer) -> None:
    data_dir = tmp_path / "data"
    world = World(SimClock())
    scenario = Scenario(ScenarioSpec.model_validate({
        "name": "grade-b-action",
        "locations": {"fill-1": {"state": "in_operation", "in_operation_0_5": 60_000}},
        "events": [{"at": "3s", "location": "fill-1",
                    "set": {"particles_0_5um": 450_000, "particles_5_0um": 1_000}}],
    }))
    async with webhook_receiver() as hook, mqtt_subscriber(mosquitto) as mqtt_docs:
        path = site_config(tmp_path, free_port(), mosquitto, smtp_server, hook)
        loaded = load_config(path)
        add_operator(data_dir)
        sim = SiteSimulation.from_config(loaded.config, world,
                                         model_options={"pc1": {"sample_s": SAMPLE_S, "seed": 5}})
        service = Service(path, loaded=loaded, with_http=False)
        async with sim:
            daemon = asyncio.create_task(service.run())
            try:
                await wait_until(service.ready.is_set, "the daemon", 15)
                runtime = service.runtime
                assert runtime is not None
                alarms = runtime.alarms
                high: list[float] = []  # records over the limit, as the pipeline saw them
                runtime.pipeline.reading_listeners.append(lambda readings: high.extend(
                    r.value for r in readings
                    if r.channel == CHANNEL and r.value is not None and r.value > LIMIT))
                scenario.setup(world, sim)
                player = asyncio.create_task(scenario.run())

                # 1. over the action limit: the alarm is raised and persisted
                view = await wait_until(
                    lambda: next((a for a in alarms.active() if a.point == POINT), None),
                    "the action alarm")
                assert (view.state, view.level, view.priority) == ("active_unack", "action",
                                                                   "critical")
                assert view.limit == LIMIT
                alarm_id = view.alarm_id
                raised, = (e for e in alarms.events(alarm_id=alarm_id) if e.kind == "raised")
                assert raised.location_state == "in_operation"
                assert raised.details is not None
                assert raised.details["limits"]["high_action_source"] == (
                    "EU GMP Annex 1 (2022) grade B")

                # 2. every notifier delivered it, to real receivers
                hit = (await hook.wait_accepted(1))[0]
                assert hook.signature_ok(hit)
                assert hit.json["event"]["id"] == raised.id
                mail = (await smtp_server.wait_for(1))[0]
                assert mail.recipients == ["oncall@plant.example"]
                assert "fill-1" in str(mail.message["Subject"])
                assert "raised" in str(mail.message["Subject"])
                attachment = next(p for p in mail.message.iter_attachments()
                                  if p.get_filename() == "alarm-event.json")
                assert json.loads(attachment.get_content())["event"]["id"] == raised.id
                mqtt_raised = await wait_until(lambda: event_docs(mqtt_docs, "raised"), "MQTT")
                assert mqtt_raised[0]["id"] == raised.id
                assert mqtt_raised[0]["value"] > LIMIT

                # 3. acknowledge: an action alarm needs the operator's e-signature
                with pytest.raises(AlarmError, match="electronic signature"):
                    alarms.acknowledge(alarm_id, "olivia", "particles seen, investigating")
                signer = runtime.extras["signer"]

                def sign() -> dict[str, Any]:
                    record = alarms.signing_record(alarm_id)
                    return dict(signer.sign(
                        "olivia", PASSWORD, meaning="acknowledged",
                        record_type=record["record_type"], record_id=record["record_id"],
                        record_hash=record["record_hash"],
                        permission=Permission.ACKNOWLEDGE).to_dict())

                with pytest.raises(AuthError):
                    signer.sign("olivia", "not-the-password", meaning="acknowledged",
                                record_type="alarm", record_id=str(alarm_id),
                                record_hash=alarms.signing_record(alarm_id)["record_hash"],
                                permission=Permission.ACKNOWLEDGE)
                ack, = alarms.acknowledge(alarm_id, "olivia", "particles seen, investigating",
                                          signature=sign())
                assert (ack.state, ack.prev_state) == ("active_ack", "active_unack")
                acked = await wait_until(lambda: [h for h in hook.accepted()
                                                  if h.json["event"]["kind"] == "acknowledged"],
                                         "the acknowledgement at the webhook")
                assert acked[0].json["event"]["user"] == "olivia"
                await wait_until(lambda: event_docs(mqtt_docs, "acknowledged"), "MQTT ack")

                # 4. a few samples later, back to normal: the latched alarm waits for its reset
                await wait_until(lambda: len(high) >= 3, "three samples over the limit")
                world.location("fill-1").set(particles_0_5um=None, particles_5_0um=None)
                await wait_until(lambda: any(a.point == POINT and a.state == "rtn_unack"
                                             for a in alarms.active()), "the return to normal")
                alarms.acknowledge(alarm_id, "olivia", "counts back below action", signature=sign())
                assert not any(a.point == POINT for a in alarms.active())
                await wait_until(lambda: len(event_docs(mqtt_docs, "acknowledged")) == 2,
                                 "the reset over MQTT")
                await player
            finally:
                service.request_stop()
                assert await asyncio.wait_for(daemon, 20) == 0
        counter = sim.model("pc1")
        assert isinstance(counter, ParticleCounterModel)
        records = list(counter.records)

    # 5. the excursion, read back from disk, matches the stored readings exactly ...
    reader = build_alarm_service(load_config(path), readonly=True)
    try:
        exc = reader.excursion(alarm_id)
        assert reader.verify() is None
    finally:
        reader.close()
    assert exc is not None
    with History(data_dir) as history:
        samples = [s for s in history.query(CHANNEL).samples if s.quality == "good"]
    first = next(i for i, s in enumerate(samples) if s.value is not None and s.value > LIMIT)
    last = next(i for i in range(first, len(samples)) if (samples[i].value or 0) <= LIMIT)
    over = samples[first:last]
    peak = max(over, key=lambda s: s.value or 0.0)
    assert exc.start_ns == samples[first].ts_ns
    assert exc.end_ns == samples[last].ts_ns
    assert exc.peak == peak.value
    assert exc.peak_ns == peak.ts_ns
    assert exc.duration_s == (samples[last].ts_ns - samples[first].ts_ns) / 1e9
    assert exc.closed_ns is not None
    assert exc.state == "normal"
    assert [a.user for a in exc.acks] == ["olivia", "olivia"]
    assert all(a.signature and a.signature["printed_name"] == "Olivia Operator"
               for a in exc.acks)
    assert len(over) >= 3

    # ... which are what the simulated counter filed (one record a sample, 1 CFM)
    volume_m3 = counter.flow_lpm * SAMPLE_S / 60.0 / 1000.0
    filed = {r.ts * 1_000_000_000: r.counts[counter.sizes.index(0.5)] / volume_m3
             for r in records}
    for s in samples:
        assert s.device_ts_ns in filed
        assert s.value == pytest.approx(filed[s.device_ts_ns], rel=1e-12)
    assert max(filed[s.device_ts_ns or 0] for s in over) == pytest.approx(exc.peak, rel=1e-12)
