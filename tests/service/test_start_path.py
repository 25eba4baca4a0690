"""The start path: HTTP API attached after the first reading, GC paused until the freeze,
the config cache written after a cold start and read on the restart."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import aiohttp

from monitor.config import load_config
from monitor.config.cache import cache_path
from monitor.runtime import Runtime
from monitor.service import Service
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import site_config


def http_site(tmp_path: Path) -> tuple[Path, Path, int]:
    data_dir = tmp_path / "data"
    http_port = free_port()
    text = site_config(data_dir, free_port()).replace(
        "http: {enabled: false}", f"http: {{enabled: true, host: 127.0.0.1, port: {http_port}}}")
    config = tmp_path / "site.yaml"
    config.write_text(text)
    return config, data_dir, http_port


async def run_once(config: Path, http_port: int) -> tuple[Service, list[str]]:
    """Start, note what the API and the first reading saw, stop once the cache can be written."""
    order: list[str] = []

    def on_runtime(runtime: Runtime) -> None:
        def on_readings(_readings: object) -> None:
            if "reading" not in order:
                order.append("reading")
                order.append("http" if "http" in runtime.extras else "no-http")

        runtime.pipeline.reading_listeners.append(on_readings)

    service = Service(config, on_runtime=on_runtime)
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 20)
    assert not gc.isenabled(), "the GC stays paused until the freeze after the start"
    assert service.runtime is not None
    server = service.runtime.extras["http"]  # attached before the service is ready
    await asyncio.wait_for(server.started.wait(), 10)
    async with aiohttp.ClientSession() as client, client.get(
            f"http://127.0.0.1:{http_port}/healthz") as response:
        order.append(f"healthz {response.status}")
    await asyncio.sleep(2.6)  # the freeze (GC_FREEZE_DELAY) resumes the GC, the cache is saved
    assert gc.isenabled()
    service.request_stop()
    assert await asyncio.wait_for(task, 15) == 0
    return service, order


async def test_polls_start_before_the_api_and_a_restart_reads_the_cache(tmp_path: Path) -> None:
    config, data_dir, http_port = http_site(tmp_path)
    async with SiteSimulation.from_config(load_config(config).config):
        first, order = await run_once(config, http_port)
        assert not first.loaded.from_cache
        assert order[:2] == ["reading", "no-http"], order  # the API came after the first poll
        assert order[2] == "healthz 200"
        for _ in range(50):  # written by a thread
            if cache_path(data_dir).exists():
                break
            await asyncio.sleep(0.1)
        assert cache_path(data_dir).exists()
        second, _ = await run_once(config, http_port)
        assert second.loaded.from_cache
    assert gc.isenabled()
