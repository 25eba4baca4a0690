"""The daemon's lifecycle: load, run, reload on SIGHUP, stop on SIGTERM.

One outer TaskGroup owns the running ``Runtime``'s tasks. SIGTERM/SIGINT stop
the drivers first and then flush every store, so that every reading accepted
before the signal is on disk. SIGHUP re-reads the config: a valid one replaces
the running runtime, an invalid one is logged with all its errors and the old
one keeps running untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor import sdnotify
from monitor.config import LoadedConfig
from monitor.config.cache import load_config_cached, save_cache
from monitor.config.resident import release_limits
from monitor.errors import ConfigError
from monitor.gc_pause import GcPause
from monitor.logs import log_event
from monitor.memory_tuning import release_free_memory, tune_allocator
from monitor.runtime import Runtime, build_runtime

log = logging.getLogger("monitor.service")

STOP_TIMEOUT = 4.0  # systemd's TimeoutStopSec is longer; we promise exit within 5 s
GC_FREEZE_DELAY = 2.0  # after a start, off the path to the first poll
HTTP_DEFER_MAX = 1.0  # the HTTP API is attached after the first reading, or after this


class Service:
    def __init__(
        self,
        config_path: str | Path,
        *,
        loaded: LoadedConfig | None = None,
        with_http: bool = True,
        on_runtime: Callable[[Runtime], None] | None = None,
        gc_pause: GcPause | None = None,
    ) -> None:
        """``gc_pause``: the caller's pause of the cyclic GC, taken before it loaded
        ``loaded``; the service resumes it with the freeze of the start (or on its way
        out). Without one, the service pauses the collector before its own config load
        (monitor/gc_pause.py); a service dropped without running resumes it."""
        tune_allocator()  # before any of the daemon's threads starts (monitor/memory_tuning.py)
        self.config_path = Path(config_path)
        self._gc = gc_pause or GcPause()  # the cyclic GC is off from the load until the freeze
        weakref.finalize(self, self._gc.resume)
        if loaded is None:
            self._gc.pause()
        # An unchanged config comes from the validated-config cache (monitor/config/cache.py);
        # a miss is validated in full here and cached after the start, off the first poll's path.
        try:
            self.loaded = loaded or load_config_cached(self.config_path, save=False)
        except BaseException:
            self._gc.resume()
            raise
        _pack_limits(self.loaded)  # before the runtime is built (monitor/config/resident.py)
        self.with_http = with_http
        self.on_runtime = on_runtime
        self.runtime: Runtime | None = None
        self._audit_trail: Any = None  # the trail that recorded the config, for its runtime
        self.reloads_ok = 0
        self.reloads_failed = 0
        self.accepted_total = 0  # readings accepted by every runtime so far (for the stop log)
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.ready = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, handler in (
            (signal.SIGTERM, self.request_stop),
            (signal.SIGINT, self.request_stop),
            (signal.SIGHUP, self.request_reload),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, handler)
        try:
            return await self._run()
        finally:
            self._resume_gc()

    async def _run(self) -> int:
        self._audit_config(None)
        async with asyncio.TaskGroup() as group:
            watchdog = group.create_task(self._watchdog(), name="sd-watchdog")
            runtime = await self._start(self.loaded, group)
            sdnotify.notify("READY=1", f"STATUS=monitoring {len(runtime.drivers)} connections")
            log_event(log, logging.INFO, "started", config=str(self.config_path),
                      sha256=self.loaded.sha256[:12], devices=len(self.loaded.config.devices),
                      channels=len(self.loaded.channels))
            self.ready.set()
            while True:
                stop_wait = asyncio.create_task(self._stop.wait())
                reload_wait = asyncio.create_task(self._reload.wait())
                await asyncio.wait({stop_wait, reload_wait}, return_when=asyncio.FIRST_COMPLETED)
                stop_wait.cancel()
                reload_wait.cancel()
                if self._stop.is_set():
                    break
                self._reload.clear()
                await self._do_reload(group)
            sdnotify.notify("STOPPING=1")
            log_event(log, logging.INFO, "stopping")
            await self._stop_runtime()
            watchdog.cancel()
        log_event(log, logging.INFO, "stopped", accepted=self.accepted_total)
        return 0

    async def _start(self, loaded: LoadedConfig, group: asyncio.TaskGroup) -> Runtime:
        # Building the runtime and making the first 2,000 connections allocate ~10^6 objects
        # that all stay: collections meanwhile would walk them again and again (~0.1 s for
        # the drivers alone). The GC resumes with the freeze below, which collects first.
        self._gc.pause()
        audit, self._audit_trail = self._audit_trail, None
        runtime = build_runtime(loaded, with_http=self.with_http, defer_http=True, audit=audit)
        runtime.extras["service"] = self
        if self.on_runtime is not None:
            self.on_runtime(runtime)
        await runtime.start(group)
        if runtime.deferred:
            await self._attach_deferred(runtime)
        self.runtime = runtime
        loop = asyncio.get_running_loop()
        loop.call_later(GC_FREEZE_DELAY, self._freeze_built_objects)
        if not loaded.from_cache:
            loop.call_later(GC_FREEZE_DELAY, _save_cache_in_thread, loaded)
        return runtime

    async def _attach_deferred(self, runtime: Runtime) -> None:
        """The HTTP API is built once the first reading arrived (or HTTP_DEFER_MAX passed).

        Polling is what a monitoring start is for; the API's ~0.3 s of building at
        2,000 devices comes after the first poll instead of before it. The service is
        ready (and tells systemd so) only once the API is up.
        """
        first = asyncio.Event()

        def on_readings(_readings: object) -> None:
            first.set()

        listeners = runtime.pipeline.reading_listeners
        listeners.append(on_readings)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first.wait(), HTTP_DEFER_MAX)
        finally:
            listeners.remove(on_readings)
        runtime.attach_deferred()

    async def _stop_runtime(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        try:
            await asyncio.wait_for(runtime.stop(), STOP_TIMEOUT)
        except TimeoutError:
            log_event(log, logging.ERROR, "stop timed out", timeout=STOP_TIMEOUT)
            runtime.abort()
        self.accepted_total += runtime.pipeline.accepted
        self.runtime = None

    async def _do_reload(self, group: asyncio.TaskGroup) -> None:
        sdnotify.notify(sdnotify.reloading_message())
        self._gc.pause()  # as at a start: off from the load until the freeze
        try:
            new = load_config_cached(self.config_path, save=False)
        except ConfigError as err:
            self._gc.resume()
            self.reloads_failed += 1
            log_event(log, logging.ERROR, "reload refused, old config keeps running",
                      config=str(self.config_path), errors=len(err.problems))
            for problem in err.problems:
                log.error("config error: %s", problem)
            sdnotify.notify("READY=1", "STATUS=reload refused: config invalid")
            return
        if new.sha256 == self.loaded.sha256:
            self._gc.resume()
            log_event(log, logging.INFO, "reload: config unchanged")
            sdnotify.notify("READY=1")
            return
        _pack_limits(new)
        previous = self.loaded
        await self._stop_runtime()
        self.loaded = new
        self._audit_config(previous)
        await self._start(new, group)
        self.reloads_ok += 1
        log_event(log, logging.INFO, "reloaded", sha256=new.sha256[:12],
                  previous=previous.sha256[:12])
        sdnotify.notify("READY=1", "STATUS=config reloaded")

    def _audit_config(self, previous: LoadedConfig | None) -> None:
        """Config loads are GMP-relevant: they go to the audit trail with a diff.

        The entry is committed (synced) here, before the runtime of that config is
        built. The trail it was written through stays open and becomes the runtime's
        (``build_runtime(audit=...)``): closing it checkpointed the config's text
        (1.7 MB at 2,000 devices) into ``audit.db`` with another sync, and the
        runtime opened the file again, ~10-15 ms before the first poll.
        """
        try:
            from monitor.audit import AuditTrail, record_config_loaded
        except ImportError:
            return
        trail = AuditTrail(self.loaded.config.data_dir)
        try:
            record_config_loaded(self.loaded, previous, trail=trail)
        except BaseException:
            trail.close()
            raise
        self._audit_trail = trail

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            await asyncio.Event().wait()
            return
        while True:
            # Only pet the watchdog while the drivers are alive: a wedged daemon gets restarted.
            if self.runtime is None or self.runtime.driver_tasks_running:
                sdnotify.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


    def _freeze_built_objects(self) -> None:
        # the audit trail has read the config's text (before the first poll): compressed now
        self.loaded.compact()
        _freeze_built_objects()
        self._resume_gc()

    def _resume_gc(self) -> None:
        self._gc.resume()


def _freeze_built_objects() -> None:
    """Exempt what a start built from the cyclic GC.

    At 2,000 devices the config, alarm tables and drivers are ~800,000 objects
    that live as long as the runtime; readings passing through at 20,000/s made
    a full collection walk them all every 2-3 s (0.2 s each, ~7 % of a core).
    Unfreezing and collecting first frees the garbage of loading the config and
    of a reload's previous runtime instead of freezing it.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    release_free_memory()  # the start's garbage, now freed, back to the system


def _pack_limits(loaded: LoadedConfig) -> None:
    """The config's limit entries packed before the runtime is built from them (11 MB of
    models at 2,000 devices -> 0.15 MB, ~0.06 s; a config from the cache comes packed;
    ``monitor.config.resident``)."""
    try:
        release_limits(loaded)
    except Exception:  # memory only: the config stays as it was
        log.exception("packing the config's limits failed")


def _save_cache_in_thread(loaded: LoadedConfig, then: Callable[[], object] | None = None) -> None:
    """Pickling 2,000 devices' config takes ~0.2 s: a thread keeps the polls going meanwhile.

    ``then`` is called in the thread once the cache is written (or failed).
    """

    def save() -> None:
        try:
            save_cache(loaded)
        except Exception:  # the cache is an optimisation: never let it hurt the daemon
            log.exception("writing the config cache failed")
        if then is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                then()

    threading.Thread(target=save, name="config-cache", daemon=False).start()


def run_service(config_path: str | Path, loaded: LoadedConfig) -> int:
    from monitor import eventloop

    return eventloop.run(Service(config_path, loaded=loaded).run(), loaded.config.event_loop)
