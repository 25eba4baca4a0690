"""Everything that runs for one loaded configuration, started and stopped as a unit.

A SIGHUP with a valid new config builds a new ``Runtime`` and stops the old
one; each subsystem (stores, alarms, notifiers, HTTP) adds its tasks and
listeners through ``attach`` hooks so that the service does not need to know
their insides.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.config import LoadedConfig
from monitor.drivers import load_drivers
from monitor.drivers.base import DRIVERS, DeviceBinding, Driver
from monitor.model import utc_now_ns
from monitor.pipeline import Pipeline
from monitor.storage.base import ReadingStore

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]

HTTP_EXTENSION = "monitor.api.attach"
TASK_STOP_TIMEOUT = 1.5  # a cancelled driver/service task must end within this
CLOSER_TIMEOUT = 1.5


async def _wait_bounded(tasks: list[asyncio.Task[None]], timeout: float, what: str) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        log.error("%s did not stop in time", what, extra={"task": task.get_name()})


@dataclass
class Runtime:
    loaded: LoadedConfig
    pipeline: Pipeline
    drivers: list[Driver]
    stores: list[ReadingStore]
    alarms: Any = None  # monitor.alarms service, when configured
    #: long-running coroutines besides drivers and stores (HTTP server, notifier queues...)
    services: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    #: called in reverse order after the drivers stopped and before the stores flush
    closers: list[Closer] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # shared objects, by name
    tick_interval: float = 1.0
    #: called with the time on every tick, before the alarm tick (periodic health checks)
    tick_hooks: list[Callable[[int], None]] = field(default_factory=list)
    #: extension modules attached by ``attach_deferred`` once polling is under way
    deferred: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _store_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _group: asyncio.TaskGroup | None = None
    _started_services: set[str] = field(default_factory=set)

    @property
    def driver_tasks_running(self) -> bool:
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def start(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        for store in self.stores:
            self._store_tasks.append(group.create_task(store.run(), name=f"store:{store.name}"))
        self._start_services()
        by_class: dict[type[Driver], list[Driver]] = {}
        for driver in self.drivers:
            by_class.setdefault(type(driver), []).append(driver)
        for cls, drivers in by_class.items():  # a task per driver, or one for many (Modbus)
            self._tasks.extend(cls.start_together(drivers, group))
        self._tasks.append(group.create_task(self._tick_loop(), name="alarm-tick"))

    def _start_services(self) -> None:
        assert self._group is not None
        for name, factory in self.services.items():
            if name not in self._started_services:
                self._started_services.add(name)
                self._tasks.append(self._group.create_task(_coro(factory), name=f"service:{name}"))

    def attach_deferred(self) -> None:
        """Attach the extensions left out of the build (the HTTP API) and start their services.

        Called by the service once the drivers have started: building the API and its
        metrics registry takes ~0.3 s at 2,000 devices, which need not delay the
        first polls. Everything that acts on readings or alarm events (alarm engine,
        notifiers, audit, sinks) is attached before the start, never deferred.
        """
        names, self.deferred = self.deferred, []
        for module_name in names:
            _attach_module(self, module_name)
        if self._group is not None:
            self._start_services()

    async def stop(self) -> None:
        """Stop polling, then flush: every reading accepted before the stop reaches disk.

        Each step is bounded: a driver that does not honour cancellation in time is
        left behind (and logged) rather than keeping the stores from flushing.
        """
        for task in self._tasks:
            task.cancel()
        await _wait_bounded(self._tasks, TASK_STOP_TIMEOUT, "task")
        for closer in reversed(self.closers):
            try:
                await asyncio.wait_for(closer(), CLOSER_TIMEOUT)
            except TimeoutError:
                log.error("closing a component timed out", extra={"closer": repr(closer)})
            except Exception:
                log.exception("closing a component failed")
        for store in self.stores:
            try:
                await store.close()
            except Exception:
                log.exception("closing store failed", extra={"store": store.name})
        for task in self._store_tasks:
            task.cancel()
        await _wait_bounded(self._store_tasks, TASK_STOP_TIMEOUT, "store task")

    def abort(self) -> None:
        """Cancel everything still running (the stop timed out)."""
        for task in (*self._tasks, *self._store_tasks):
            task.cancel()

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self.tick_interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            now = utc_now_ns()
            for hook in self.tick_hooks:
                try:
                    hook(now)
                except Exception:  # a failing check must not stop the alarm tick
                    log.exception("tick hook failed")
            self.pipeline.tick(now)


async def _coro(factory: Callable[[], Awaitable[None]]) -> None:
    await factory()


def build_runtime(
    loaded: LoadedConfig, *, with_http: bool = True, defer_http: bool = False,
    audit: Any = None,
) -> Runtime:
    """Assemble stores, alarm engine, pipeline and drivers for ``loaded``.

    With ``defer_http`` the HTTP API is left in ``runtime.deferred`` for
    ``Runtime.attach_deferred`` after the start. ``audit``: an open audit trail of
    ``loaded``'s data directory for the runtime to use (``extras["audit"]``) rather
    than opening its own.
    """
    from monitor.storage.factory import build_stores

    stores = build_stores(loaded)
    alarms = _build_alarms(loaded)
    pipeline = Pipeline(stores, alarms)
    runtime = Runtime(loaded, pipeline, [], stores, alarms)
    if audit is not None:
        runtime.extras["audit"] = audit
    runtime.drivers = build_drivers(loaded, pipeline.ingest)
    if alarms is not None:
        from monitor.reports.limits import use_running_tables

        use_running_tables(loaded, alarms.engine.t)  # a report's limits: the engine's own

        async def close_alarms() -> None:
            alarms.close()

        # Closers run in reverse: the alarm log closes after everything that may still act on it.
        runtime.closers.append(close_alarms)
        runtime.extras.setdefault("chain_head_sources", []).append(alarms.log)
    _attach_extensions(runtime, with_http=with_http and not defer_http)
    if with_http and defer_http:
        runtime.deferred.append(HTTP_EXTENSION)
    return runtime


def _build_alarms(loaded: LoadedConfig) -> Any:
    try:
        from monitor.alarms.service import build_alarm_service
    except ImportError:  # the alarm engine is optional while it is being built
        return None
    return build_alarm_service(loaded)


def _attach_extensions(runtime: Runtime, *, with_http: bool) -> None:
    """Subsystems that hook themselves into a runtime (notifiers, HTTP API, metrics)."""
    names = ["monitor.audit.attach", "monitor.alarms.attach", "monitor.notify.attach",
             "monitor.storage.attach"]
    if with_http:
        names.append(HTTP_EXTENSION)
    for module_name in names:
        _attach_module(runtime, module_name)


def _attach_module(runtime: Runtime, module_name: str) -> None:
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        return
    module.attach(runtime)


def build_drivers(loaded: LoadedConfig, emit: Callable[..., None]) -> list[Driver]:
    # only the kinds in use: a Modbus site does not import the MQTT client, nor an MQTT one pymodbus
    used = {d.connection for d in loaded.config.devices if d.enabled}
    kinds = {c.driver for c in loaded.config.connections if c.name in used}
    load_drivers(kinds)
    if not any(kind.startswith("modbus") for kind in kinds):
        return _build_drivers(loaded, emit)
    from monitor.drivers.modbus.build_cache import shared_construction

    # devices of one profile share their decoders' compiled parts and read-plan layouts
    with shared_construction(loaded.channels):
        return _build_drivers(loaded, emit)


def _build_drivers(loaded: LoadedConfig, emit: Callable[..., None]) -> list[Driver]:
    cfg = loaded.config
    by_connection: dict[str, list[DeviceBinding]] = {}
    for device in cfg.devices:
        if not device.enabled:
            continue
        binding = DeviceBinding(
            device, cfg.profiles[device.profile], tuple(loaded.device_channels(device))
        )
        by_connection.setdefault(device.connection, []).append(binding)
    drivers = []
    # a string, not a Path per connection (~10 ms at 2,000 connections); the driver keeps it so
    cursors = os.path.join(cfg.data_dir, "modbus-cursors-")
    for conn in cfg.connections:
        devices = by_connection.get(conn.name)
        if devices:
            driver = DRIVERS[conn.driver](conn, devices, emit)
            if hasattr(driver, "cursor_file"):
                # particle-counter record cursors survive restarts: records filed while
                # the daemon was down are read on start (the counter's own store-and-forward)
                driver.cursor_file = f"{cursors}{conn.name}.json"
            drivers.append(driver)
    return drivers
