"""The cyclic GC off from the config load until the start's freeze, and back on every path."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli.main import main as cli_main
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.gc_pause import GcPause
from monitor.service import Service
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import site_config


@pytest.fixture(autouse=True)
def gc_on() -> Iterator[None]:
    """Each test starts with the collector on and must leave it on."""
    gc.enable()
    yield
    on = gc.isenabled()
    gc.enable()
    assert on, "the test left the cyclic GC off"


def write_site(tmp_path: Path) -> Path:
    config = tmp_path / "site.yaml"
    config.write_text(site_config(tmp_path / "data", free_port()))
    return config


def test_a_pause_owns_only_a_collector_it_turned_off() -> None:
    pause = GcPause()
    pause.pause()
    assert pause.active
    assert not gc.isenabled()
    pause.pause()  # already held: still one pause
    pause.resume()
    assert not pause.active
    assert gc.isenabled()
    pause.resume()  # idempotent
    assert gc.isenabled()
    gc.disable()
    try:
        other = GcPause()
        other.pause()
        assert not other.active  # someone else's pause: not ours to end
        other.resume()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with GcPause() as held:
        assert held.active
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_service_loads_with_the_collector_off_and_a_dropped_one_resumes_it(
        tmp_path: Path) -> None:
    service = Service(write_site(tmp_path), with_http=False)
    assert not gc.isenabled(), "paused from the config load on"
    del service
    assert gc.isenabled(), "a service dropped without running gives the collector back"


def test_a_config_error_resumes_the_collector(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [\n")
    with pytest.raises(ConfigError):
        Service(bad, with_http=False)
    assert gc.isenabled()


def test_the_cli_run_resumes_the_collector_when_the_config_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [\n")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["run", "--config", str(bad)])
    assert exit_info.value.code == 2
    assert gc.isenabled()


async def test_a_handed_pause_lasts_until_the_freeze_and_ends_with_the_run(
        tmp_path: Path) -> None:
    config = write_site(tmp_path)
    async with SiteSimulation.from_config(load_config(config).config):
        pause = GcPause()
        pause.pause()
        service = Service(config, loaded=load_config(config), with_http=False, gc_pause=pause)
        task = asyncio.create_task(service.run())
        await asyncio.wait_for(service.ready.wait(), 20)
        assert pause.active, "still off after the first polls"
        assert not gc.isenabled()
        service.request_stop()  # stopped before the freeze: the run's end resumes it
        assert await asyncio.wait_for(task, 15) == 0
    assert not pause.active
    assert gc.isenabled()
