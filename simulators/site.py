"""A set of running Modbus simulators: from a site configuration or a scenario's ``servers``.

``SiteSimulation.from_config`` turns each Modbus connection of a site config
into one ``ModbusSimulator`` at the address the daemon will use: Modbus TCP
and RTU-over-TCP listen on the connection's host and port; RTU and ASCII
serial connections get a socat pty pair whose daemon end is the connection's
``port`` path. Every device is simulated with the model matching its
profile's kind. ``from_servers`` does the same from a scenario's own list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.config.devices import ModbusSerialConnection, ModbusTcpConnection
from monitor.config.root import Config

from .devices.base import DeviceModel
from .devices.environment import World
from .devices.models import build_model
from .modbus.devices import SimulatedDevice, sim_device
from .modbus.pty import PtyPair
from .modbus.server import ModbusSimulator

MODBUS_DRIVERS = ("modbus_tcp", "modbus_rtu_over_tcp", "modbus_rtu", "modbus_ascii")


class SiteSimulation:
    """Start with ``async with``; script through ``world``, ``model()`` and ``set_comm_fault()``."""

    def __init__(self, world: World | None = None) -> None:
        if world is not None and not isinstance(world, World):
            # A config passed here started no simulators, silently (tests once did).
            raise TypeError(
                f"SiteSimulation() takes a World, not {type(world).__name__}; "
                "use SiteSimulation.from_config(config) to simulate a config's devices"
            )
        self.world = world or World()
        self.simulators: dict[str, ModbusSimulator] = {}
        self.ptys: dict[str, PtyPair] = {}
        self.devices: dict[str, tuple[ModbusSimulator, SimulatedDevice]] = {}

    def add(self, name: str, sim: ModbusSimulator, pty: PtyPair | None = None) -> None:
        self.simulators[name] = sim
        if pty is not None:
            self.ptys[name] = pty
        for dev in sim.devices.values():
            if dev.name in self.devices:
                raise ValueError(f"device {dev.name!r} simulated twice")
            self.devices[dev.name] = (sim, dev)

    @classmethod
    def from_config(
        cls, config: Config, world: World | None = None, *,
        connections: Iterable[str] | None = None,
        model_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> SiteSimulation:
        site = cls(world)
        wanted = set(connections) if connections is not None else None
        options = model_options or {}
        for conn in config.connections:
            if conn.driver not in MODBUS_DRIVERS:
                continue
            if wanted is not None and conn.name not in wanted:
                continue
            sims = []
            for dev in config.devices:
                if dev.connection != conn.name or not dev.enabled:
                    continue
                profile = config.profiles[dev.profile]
                model = build_model(site.world, dev.name, profile, dev.location,
                                    **dict(options.get(dev.name, {})))
                sims.append(SimulatedDevice(dev.name, dev.unit_id, profile, model))
            if sims:
                assert isinstance(conn, ModbusTcpConnection | ModbusSerialConnection)
                site._add_connection(conn, sims)
        return site

    def _add_connection(self, conn: ModbusTcpConnection | ModbusSerialConnection,
                        sims: list[SimulatedDevice]) -> None:
        if isinstance(conn, ModbusTcpConnection):
            framer = "rtu" if conn.driver == "modbus_rtu_over_tcp" else "socket"
            self.add(conn.name, ModbusSimulator(sims, world=self.world, host=conn.host,
                                                port=conn.port, framer=framer))
            return
        pty = PtyPair(conn.port)
        sim = ModbusSimulator(
            sims, world=self.world, framer="rtu" if conn.driver == "modbus_rtu" else "ascii",
            serial_port=str(pty.server), baudrate=conn.baudrate, parity=conn.parity,
            stopbits=conn.stopbits, bytesize=conn.bytesize,
        )
        self.add(conn.name, sim, pty)

    @classmethod
    def from_servers(cls, servers: Sequence[Mapping[str, Any]],
                     world: World | None = None) -> SiteSimulation:
        """From a scenario's ``servers:`` list (see docs/devices.md)."""
        site = cls(world)
        for i, server in enumerate(servers):
            name = str(server.get("name", f"server{i}"))
            sims = [
                sim_device(site.world, d["name"], int(d.get("unit_id", 1)), d["profile"],
                           d.get("location", "room"), **dict(d.get("options", {})))
                for d in server.get("devices", [])
            ]
            framer = str(server.get("framer", "socket"))
            serial = server.get("serial")
            if serial:
                pty = PtyPair(str(serial))
                site.add(name, ModbusSimulator(
                    sims, world=site.world, framer=framer, serial_port=str(pty.server),
                    baudrate=int(server.get("baudrate", 19200)),
                    parity=str(server.get("parity", "N"))), pty)
            else:
                site.add(name, ModbusSimulator(
                    sims, world=site.world, framer=framer,
                    host=str(server.get("host", "127.0.0.1")), port=int(server.get("port", 502))))
        return site

    async def __aenter__(self) -> SiteSimulation:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            for name, sim in self.simulators.items():
                if name in self.ptys:
                    await self.ptys[name].start()
                await sim.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for sim in self.simulators.values():
            with contextlib.suppress(Exception):
                await sim.stop()
        for pty in self.ptys.values():
            await pty.stop()

    # -- the scenario target interface ----------------------------------------------------
    def model(self, device: str) -> DeviceModel:
        return self.devices[device][1].model

    def set_comm_fault(self, device: str, mode: str | None, **params: Any) -> None:
        self.devices[device][0].set_comm_fault(device, mode, **params)

    def describe(self) -> list[str]:
        lines = []
        for name, sim in self.simulators.items():
            where = (f"serial {self.ptys[name].client}" if name in self.ptys
                     else f"{sim.framer} {sim.host}:{sim.port}")
            units = ", ".join(f"{d.name}@{u}" for u, d in sorted(sim.devices.items()))
            lines.append(f"{name}: {where} -> {units}")
        return lines
