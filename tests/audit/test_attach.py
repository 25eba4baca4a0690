"""The audit trail hooks into a runtime: shared objects and the head-publishing service."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from monitor.audit import AuditTrail, ChainHead
from monitor.audit.attach import attach
from monitor.config import load_config
from monitor.signatures import Signer
from monitor.users.store import UserStore

from .sitecfg import write_config


def runtime(tmp_path: Path) -> Any:
    return SimpleNamespace(loaded=load_config(write_config(tmp_path)), extras={}, services={},
                           closers=[])


async def test_attach_shares_and_publishes(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    trail = attach(rt, interval=0.01)
    assert rt.extras["audit"] is trail
    assert isinstance(rt.extras["users"], UserStore)
    assert isinstance(rt.extras["signer"], Signer)
    trail.record("system", "x.y", "o")
    seen: list[ChainHead] = []
    rt.extras["chain_head_sinks"].append(seen.append)  # e.g. the InfluxDB sink, added later

    class OtherChain:  # e.g. the alarm event log
        chain_name = "alarm_events"

        def current_head(self) -> ChainHead:
            return ChainHead("alarm_events", 7, "ab" * 32, 0)

        def publish_head(self) -> ChainHead:
            return self.current_head()

    rt.extras["chain_head_sources"].append(OtherChain())
    task = asyncio.create_task(rt.services["audit-head"]())
    async with asyncio.timeout(10):
        while len({h.chain for h in seen}) < 2:
            await asyncio.sleep(0.01)
    task.cancel()
    assert {(h.chain, h.seq) for h in seen} == {("audit", 1), ("alarm_events", 7)}
    trail.head_file.path.unlink()
    for close in rt.closers:
        await close()
    assert trail.head_file.read() is not None  # the closer publishes the last head


def test_attach_reuses_what_another_subsystem_made(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    existing = AuditTrail(rt.loaded.config.data_dir)
    rt.extras["audit"] = existing
    assert attach(rt) is existing
    assert rt.extras["users"].audit is existing
