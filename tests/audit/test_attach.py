"""The audit trail hooks into a runtime: shared objects and the head-publishing service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.audit import AuditTrail, ChainHead
from monitor.audit.attach import attach
from monitor.config import load_config
from monitor.integrity import chain_hash
from monitor.qa.reviewlog import ReviewLog
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
        while len({h.chain for h in seen}) < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    assert {(h.chain, h.seq) for h in seen} == {("audit", 1), ("qa_review", 0),
                                                ("alarm_events", 7)}
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


async def published_heads(rt: Any) -> dict[str, ChainHead]:
    """One round of the daemon's head publication, as a sink outside the data directory sees it."""
    seen: list[ChainHead] = []
    rt.extras["chain_head_sinks"].append(seen.append)
    task = asyncio.create_task(rt.services["audit-head"]())
    async with asyncio.timeout(10):
        while not {"audit", "qa_review"} <= {h.chain for h in seen}:
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return {h.chain: h for h in seen}


def cli_reviews(data_dir: Path) -> None:
    """QA's CLI commands write the review log in their own process, not the daemon's."""
    with ReviewLog(data_dir) as log:
        log.append("12", "review_started", "qa1", {})
        log.append("12", "updated", "qa1", {"root_cause": "personnel", "impact": "minor"})
        log.append("12", "commented", "op1", {"comment": "door held open"})


def rewrite_review_chain(data_dir: Path, edit_seq: int, drop_from: int | None = None) -> None:
    """What someone with write access to the data directory can do behind the triggers:
    edit one event (and optionally cut the newest off), recompute every hash after it, and
    rewrite ``qa.head`` to match, so that the data directory on its own looks intact."""
    conn = sqlite3.connect(data_dir / "qa.db", isolation_level=None)
    conn.execute("DROP TRIGGER review_events_no_update")
    conn.execute("DROP TRIGGER review_events_no_delete")
    if drop_from is not None:
        conn.execute("DELETE FROM review_events WHERE seq >= ?", (drop_from,))
    conn.execute("UPDATE review_events SET data = ? WHERE seq = ?",
                 ('{"impact": "none", "root_cause": "unknown"}', edit_seq))
    prev = conn.execute("SELECT prev_hash FROM review_events WHERE seq = ?",
                        (edit_seq,)).fetchone()[0]
    rows = conn.execute("SELECT seq, ts_ns, ts_iso, excursion_id, kind, user, data, signature "
                        "FROM review_events WHERE seq >= ? ORDER BY seq", (edit_seq,)).fetchall()
    for row in rows:
        record = dict(zip(("seq", "ts_ns", "ts_iso", "excursion_id", "kind", "user", "data",
                           "signature"), row, strict=True))
        digest = chain_hash(prev, record)
        conn.execute("UPDATE review_events SET prev_hash = ?, hash = ? WHERE seq = ?",
                     (prev, digest, row[0]))
        prev = digest
    last = rows[-1][0]
    conn.close()
    (data_dir / "qa.head").write_text(json.dumps(asdict(ChainHead("qa_review", last, prev, 0))))


@pytest.mark.parametrize("drop_from", [None, 3], ids=["rewritten", "rewritten-and-truncated"])
async def test_review_log_tampering_is_caught_by_its_published_head(
    tmp_path: Path, drop_from: int | None,
) -> None:
    rt = runtime(tmp_path)
    attach(rt, interval=0.01)
    data_dir = Path(rt.loaded.config.data_dir)
    cli_reviews(data_dir)
    published = (await published_heads(rt))["qa_review"]
    with ReviewLog(data_dir) as log:
        assert (published.seq, published.hash) == log.head() == (3, log.events()[-1].hash)
        assert log.verify([published]) is None

    rewrite_review_chain(data_dir, edit_seq=2, drop_from=drop_from)
    with ReviewLog(data_dir) as log:
        assert log.verify() is None  # the data directory alone cannot tell
        problem = log.verify([published])
    assert problem is not None
    if drop_from is None:
        assert problem.seq == 3
        assert "does not match the published head" in problem.message
    else:
        assert problem.seq == 3
        assert "published head is entry 3 but the database ends at entry 2" in problem.message
    for close in rt.closers:
        await close()
