"""``cleanroom-monitor demo``: the whole system on one machine, with nothing to install by hand.

Starts simulators for every device of ``config/demo.yaml`` on free loopback
ports (Modbus TCP, RTU over TCP, and MQTT through a Mosquitto started for the
demo when the binary is there), writes the effective config (ports and data dir
rewritten) into the data dir, runs the daemon on it with the embedded store,
plays the demo scenario, and prints readings and alarm changes as they happen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from monitor.cli.daemon import add_loop_argument

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "config" / "demo.yaml"
DEFAULT_SCENARIO = REPO_ROOT / "simulators" / "scenarios" / "demo.yaml"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo", help="run the daemon against simulated devices, with a live console",
        description="Start simulated particle counters, DP, T/RH and incubators (Modbus TCP, "
        "RTU over TCP, MQTT), run the daemon on config/demo.yaml with the embedded store, "
        "play a scripted scenario (alert and action excursions within the first minute, then "
        "door, device-fault and communication alarms) and print readings and alarm changes. "
        "Ctrl-C stops it cleanly.",
    )
    demo.add_argument("--duration", type=float, metavar="SECONDS",
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.add_argument("--data-dir", default="demo-data", metavar="DIR",
                      help="embedded store, alarm log and audit trail (default: ./demo-data)")
    demo.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE",
                      help="site config to simulate (default: config/demo.yaml)")
    demo.add_argument("--scenario", default=str(DEFAULT_SCENARIO), metavar="FILE",
                      help="simulator scenario (default: simulators/scenarios/demo.yaml)")
    demo.add_argument("--every", type=float, default=5.0, metavar="SECONDS",
                      help="print the readings table this often (default: 5)")
    demo.add_argument("--verbose", action="store_true", help="show the daemon's info logs")
    add_loop_argument(demo)
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor import eventloop
    from monitor.errors import ConfigError

    args.data_dir = Path(args.data_dir).resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return eventloop.run(run_demo(args), args.loop or "auto", setting="--loop")
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _DistinctPorts:
    """Free loopback ports, all different: each stays bound until ``close``.

    Ports taken one ``free_port()`` at a time can repeat (the kernel may hand a
    just-released port out again), which once gave the web server and a
    simulator the same port."""

    def __init__(self) -> None:
        self._held: list[socket.socket] = []

    def take(self) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._held.append(sock)
        return int(sock.getsockname()[1])

    def close(self) -> None:
        for sock in self._held:
            sock.close()
        self._held.clear()


def write_effective_config(source: Path, data_dir: Path, *, mqtt_port: int | None) -> Path:
    """The demo config with free ports, this data dir and absolute include paths."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    doc = yaml.load(source.read_text(encoding="utf-8"))
    doc["data_dir"] = str(data_dir)
    doc["include"] = [str((source.parent / p).resolve()) for p in doc.get("include", [])]
    ports = _DistinctPorts()
    if "http" in doc:
        doc["http"]["port"] = ports.take()
    mqtt_connections = set()
    for conn in doc.get("connections", []):
        if conn["driver"] == "mqtt":
            mqtt_connections.add(conn["name"])
            if mqtt_port is not None:
                conn["host"], conn["port"] = "127.0.0.1", mqtt_port
        elif conn["driver"] in ("modbus_tcp", "modbus_rtu_over_tcp"):
            conn["host"], conn["port"] = "127.0.0.1", ports.take()
    ports.close()
    if mqtt_port is None and mqtt_connections:
        doc["connections"] = [c for c in doc["connections"] if c["name"] not in mqtt_connections]
        dropped = {d["name"] for d in doc["devices"] if d["connection"] in mqtt_connections}
        doc["devices"] = [d for d in doc["devices"] if d["name"] not in dropped]
        for location, limits in list(doc.get("alarms", {}).get("limits", {}).items()):
            doc["alarms"]["limits"][location] = [
                lim for lim in limits if str(lim["channel"]).split("/")[0] not in dropped
            ]
    out = io.StringIO()
    yaml.dump(doc, out)
    target = data_dir / "demo-effective.yaml"
    header = f"# Written by `cleanroom-monitor demo` from {source}; ports chosen at start.\n"
    target.write_text(header + out.getvalue(), encoding="utf-8")
    return target


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and Path("/usr/sbin/mosquitto").exists():
        found = "/usr/sbin/mosquitto"
    return found


@contextlib.asynccontextmanager
async def mosquitto(data_dir: Path) -> AsyncIterator[int | None]:
    """A private Mosquitto on a free loopback port, or None when it is not installed."""
    binary = find_mosquitto()
    if binary is None:
        yield None
        return
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="demo-mosquitto-", dir=data_dir))
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = await asyncio.create_subprocess_exec(
        binary, "-c", str(conf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            await asyncio.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        shutil.rmtree(folder, ignore_errors=True)


class _Targets:
    """Scenario target spanning the Modbus site simulation and the MQTT simulator."""

    def __init__(self, *targets: Any) -> None:
        self.targets = [t for t in targets if t is not None]

    def _find(self, device: str) -> Any:
        for target in self.targets:
            devices = getattr(target, "devices", {})
            if device in devices:
                return target
        raise KeyError(f"scenario names device {device!r}, which the demo does not simulate")

    def model(self, device: str) -> Any:
        return self._find(device).model(device)

    def set_comm_fault(self, device: str, mode: str | None, **params: Any) -> None:
        self._find(device).set_comm_fault(device, mode, **params)


async def run_demo(args: argparse.Namespace) -> int:
    from monitor.cli.console import LiveConsole
    from monitor.config import load_config
    from monitor.logs import setup_logging
    from monitor.runtime import Runtime
    from monitor.service import Service
    from simulators.devices.clock import SimClock
    from simulators.devices.environment import World
    from simulators.mqtt.simulator import MqttSimulator
    from simulators.scenario import Scenario
    from simulators.site import SiteSimulation

    data_dir: Path = args.data_dir  # resolved and created by cmd_demo
    setup_logging("kv", "info" if args.verbose else "warning")
    scenario = Scenario.load(args.scenario)
    world = World(SimClock(speed=scenario.spec.clock.speed))

    async with mosquitto(data_dir) as mqtt_port:
        effective = write_effective_config(Path(args.config), data_dir, mqtt_port=mqtt_port)
        loaded = load_config(effective)
        cfg = loaded.config
        site = SiteSimulation.from_config(cfg, world)
        mqtt_names = [c.name for c in cfg.connections if c.driver == "mqtt"]
        mqtt_sim = (MqttSimulator.from_config(cfg, mqtt_names[0], world)
                    if mqtt_names and mqtt_port is not None else None)
        console = LiveConsole(loaded, every=args.every)

        def hook(runtime: Runtime) -> None:
            runtime.pipeline.reading_listeners.append(console.on_readings)
            runtime.pipeline.event_listeners.append(console.on_events)

        async with site, (mqtt_sim or contextlib.nullcontext()):
            _print_banner(loaded, site.describe(), mqtt_port, effective, data_dir)
            scenario.setup(world, _Targets(site, mqtt_sim))
            service = Service(effective, loaded=loaded, on_runtime=hook)
            return await _run_until_done(service, scenario, args.duration, console)


async def _run_until_done(service: Any, scenario: Any, duration: float | None,
                          console: Any) -> int:
    daemon = asyncio.create_task(service.run())
    player = asyncio.create_task(scenario.run())
    loop = asyncio.get_running_loop()
    # The service installs its own SIGINT/SIGTERM handlers (clean stop + flush).
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, service.request_stop)
    try:
        if duration is not None:
            done, _ = await asyncio.wait({daemon}, timeout=duration)
            if not done:
                service.request_stop()
        status: int = await daemon
    finally:
        player.cancel()
        await asyncio.gather(player, return_exceptions=True)
    if console.readings_seen:
        console.print_table(unless_printed_within=2.0)
    print(f"demo stopped: {console.readings_seen} readings stored, "
          f"{console.events_printed} alarm events; data in {service.loaded.config.data_dir}",
          flush=True)
    program = sys.argv[0] if Path(sys.argv[0]).name == "cleanroom-monitor" else "cleanroom-monitor"
    print(f"try: {program} alarms list -c {service.config_path}", flush=True)
    return status


def _print_banner(loaded: Any, simulators: Sequence[str], mqtt_port: int | None,
                  effective: Path, data_dir: Path) -> None:
    cfg = loaded.config
    print(f"cleanroom-monitor demo — {cfg.site.name}", flush=True)
    print(f"  config    {effective}", flush=True)
    print(f"  data dir  {data_dir} (embedded SQLite store, alarm log, audit trail)", flush=True)
    for line in simulators:
        print(f"  simulator {line}", flush=True)
    if mqtt_port is None:
        print("  MQTT      mosquitto is not installed: MQTT devices left out "
              "(apt-get install mosquitto to include them)", flush=True)
    else:
        print(f"  MQTT      mosquitto on 127.0.0.1:{mqtt_port}", flush=True)
    if cfg.http.enabled:
        base = f"http://{cfg.http.host}:{cfg.http.port}"
        print(f"  web       {base}/   metrics {base}/metrics", flush=True)
    print("Readings print every few seconds; alarm changes print as they happen. "
          "Ctrl-C stops.", flush=True)
