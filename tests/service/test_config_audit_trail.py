"""The config's audit entry is committed before the runtime is built, through the trail
the runtime then keeps using (not closed and opened again before the first poll)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from monitor.audit import Action, AuditTrail
from monitor.config import load_config
from monitor.runtime import Runtime
from monitor.service import Service
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import site_config


def committed_entries(data_dir: Path) -> list[tuple[str, str | None]]:
    """What another connection sees: only what was committed."""
    conn = sqlite3.connect(data_dir / "audit.db")
    try:
        return [(str(r[0]), r[1]) for r in conn.execute(
            "SELECT a.action, v.sha256 FROM audit a LEFT JOIN config_versions v "
            "ON json_extract(a.new_value, '$.sha256') = v.sha256 ORDER BY a.seq")]
    finally:
        conn.close()


async def test_the_config_entry_precedes_the_runtime_which_reuses_its_trail(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "site.yaml"
    config.write_text(site_config(data_dir, free_port()))
    loaded = load_config(config)
    seen: list[list[tuple[str, str | None]]] = []
    trails: list[object] = []

    def on_runtime(runtime: Runtime) -> None:  # built, not started: no reading taken yet
        seen.append(committed_entries(data_dir))
        trails.append(runtime.extras["audit"])

    async with SiteSimulation.from_config(loaded.config):
        service = Service(config, on_runtime=on_runtime)
        task = asyncio.create_task(service.run())
        await asyncio.wait_for(service.ready.wait(), 20)
        assert service.runtime is not None
        trail = service.runtime.extras["audit"]
        assert trails == [trail]
        assert isinstance(trail, AuditTrail)
        assert trail.path == data_dir / "audit.db"
        service.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    # the entry and the config's text were committed together before the runtime was built
    assert seen[0][0] == (str(Action.CONFIG_LOADED), loaded.sha256)
    assert trail.config_text(loaded.sha256) == loaded.text
    assert trail.verify() is None
    trail.close()
