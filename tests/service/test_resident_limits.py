"""From its start, the running config holds its limit entries packed, and so does the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.alarms import rules
from monitor.config import load_config
from monitor.config.cache import cache_path, read_cache
from monitor.config.resident import PackedLimits
from monitor.reports.limits import channel_limits
from monitor.runtime import Runtime
from monitor.service import Service
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import site_config

LIMITS = """\
alarms:
  limits:
    fill-1:
      - {channel: dp1/dp, low_alert: 12.5, low_action: 10, high_alert: 60, high_action: 70.5}
"""


async def run_until_packed(config: Path) -> Service:
    built_with: list[type] = []

    def on_runtime(runtime: Runtime) -> None:  # the runtime is built from packed limits
        built_with.append(type(runtime.loaded.config.alarms.limits))

    service = Service(config, with_http=False, on_runtime=on_runtime)
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 20)
    assert service.runtime is not None
    assert service.runtime.loaded is service.loaded
    assert built_with == [PackedLimits]
    assert isinstance(service.loaded.config.alarms.limits, PackedLimits)
    for _ in range(200):  # a cold start writes the cache after GC_FREEZE_DELAY, in a thread
        if cache_path(service.loaded.config.data_dir).exists():
            break
        await asyncio.sleep(0.05)
    for _ in range(200):  # the text is compacted with the freeze, GC_FREEZE_DELAY after it
        if service.loaded.text is not service.loaded.text:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the config's text was not compacted after the start")
    service.request_stop()
    assert await asyncio.wait_for(task, 15) == 0
    return service


def _no_tables(_loaded: object) -> None:
    raise AssertionError("a report on the running config built alarm tables of its own")


async def test_limits_are_packed_after_the_start_and_read_back_equal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "site.yaml"
    config.write_text(site_config(data_dir, free_port()) + LIMITS)
    full = load_config(config)
    expected = channel_limits(full)
    assert expected["dp1/dp"]["at_rest"].high_action == 70.5
    async with SiteSimulation.from_config(full.config):
        cold = await run_until_packed(config)
        assert not cold.loaded.from_cache
        packed = cold.loaded.config.alarms.limits
        assert isinstance(packed, PackedLimits)
        assert packed == full.config.alarms.limits
        assert cold.loaded.config == full.config
        assert channel_limits(cold.loaded) == expected  # a report's limits, as before
        cached = read_cache(config)  # written with the limits packed: read back packed
        assert cache_path(data_dir).exists()
        assert cached is not None
        assert type(cached.config.alarms.limits) is PackedLimits
        assert cached.config.alarms.limits == full.config.alarms.limits
        assert cached.config == full.config
        warm = await run_until_packed(config)
        assert warm.loaded.from_cache
        assert isinstance(warm.loaded.config.alarms.limits, PackedLimits)
        assert channel_limits(warm.loaded) == expected
    # the daemon's reports read the running engine's tables; another config builds its own
    monkeypatch.setattr(rules, "build_tables", _no_tables)
    assert channel_limits(warm.loaded) == expected
    with pytest.raises(AssertionError, match="built alarm tables"):
        channel_limits(load_config(config))
