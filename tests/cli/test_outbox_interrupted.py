"""A resend stopped, restarted and cancelled part-way, against a real VictoriaMetrics.

VictoriaMetrics keeps a sample sent twice (no ``-dedup.minScrapeInterval``),
so it shows whether a request interrupted in the middle sends its delivered
part again: every reading must be in it exactly once. The daemon's storage
side runs in the test's event loop and is stopped as the service stops it
(the store closed, its task cancelled and awaited); the commands run as
their own processes.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

from monitor.audit import AuditTrail
from monitor.model import utc_now_ns
from monitor.storage.resend import ResendQueue
from monitor.storage.resend_model import Kind, Selection
from tests.cli.support import (
    ROOT,
    Daemon,
    cancel,
    request_row,
    resend,
    start_daemon,
    write_config,
)
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import readings, recent_base_ns, values_by_time, wait_until

BATCH = 20  # backfill_batch_size: readings per HTTP request of a resend
LIVE = 1000  # max_pending: the readings the sink keeps; the rest of an outage is skipped


def _config(tmp_path: Path, victoria: VictoriaServer) -> tuple[Path, Any]:
    return write_config(tmp_path, {"name": "vm", "type": "influxdb_v2", "url": victoria.url,
                                   "max_pending": LIVE, "backfill_batch_size": BATCH})


async def _outage(loaded: Any, victoria: VictoriaServer, total: int) -> Daemon:
    """``total`` readings during an outage: the newest ``LIVE`` sent after it, the rest skipped."""
    victoria.stop()
    daemon = start_daemon(loaded)
    base = recent_base_ns(120) // 10**9 * 10**9
    daemon.store.append(readings(0, total, base_ns=base))
    await daemon.store.flush()
    await wait_until(lambda: daemon.forwarder.skipped == total - LIVE, 20, "the skip")
    await asyncio.to_thread(victoria.start)
    await wait_until(lambda: daemon.forwarder.outbox_depth == 0, 30, "the outbox to drain")
    return daemon


def _sent(db: Path, request_id: int) -> int:
    return int(request_row(db, request_id).get("sent", 0))


def _audited(db: Path, request_id: int) -> bool:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT 1 FROM outbox_resend_audited WHERE request_id = ?",
                            (request_id,)).fetchone() is not None


def _exactly_once(victoria: VictoriaServer, expected: list[int]) -> None:
    """VictoriaMetrics holds reading i (value i) for each i of ``expected``, each once."""
    series = victoria.wait_for_samples('{__name__="reading_value"}', len(expected))
    by_time = values_by_time(series)
    values = sorted(v for vs in by_time.values() for v in vs)
    assert len(values) == len(expected), f"{len(values)} samples, {len(expected)} expected"
    assert values == [float(i) for i in sorted(expected)], "every reading exactly once"


def _delivered_runs(db: Path, request_id: int) -> list[tuple[int, int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT first_id, last_id, count FROM outbox_resent "
                            "WHERE request_id = ? ORDER BY first_id", (request_id,)).fetchall()


async def test_a_request_stopped_four_times_part_way_resumes_after_its_delivered_part(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    total = 7000
    skipped = total - LIVE
    config, loaded = _config(tmp_path, victoria)
    db = tmp_path / "data" / "readings.db"
    daemon = await _outage(loaded, victoria, total)
    stops: list[tuple[str, int]] = []
    try:
        queued = await resend(config, "vm", "--skipped", "--wait", "0")
        assert queued.status == 0, queued.err
        for _ in range(4):  # stopped cleanly while it sends, whatever it is doing just then
            floor = _sent(db, 1) + 5 * BATCH
            await wait_until(lambda f=floor: _sent(db, 1) >= f, 30, "more of the request")
            await daemon.stop()
            row = request_row(db, 1)
            stops.append((row["status"], row["sent"]))
            daemon = start_daemon(loaded)
        await wait_until(lambda: _audited(db, 1), 60, "the request to end")
    finally:
        await daemon.stop()

    assert [status for status, _ in stops] == ["pending"] * 4, stops
    assert 0 < stops[0][1] < stops[1][1] < stops[2][1] < stops[3][1] < skipped, stops
    row = request_row(db, 1)
    assert (row["status"], row["selected"], row["sent"], row["rejected"]) == \
        ("done", skipped, skipped, 0)
    runs = _delivered_runs(db, 1)
    assert sum(count for _, _, count in runs) == skipped
    assert all(a[1] < b[0] for a, b in pairwise(runs)), "runs overlap"
    _exactly_once(victoria, list(range(total)))
    with AuditTrail(tmp_path / "data") as trail:
        (done,) = trail.entries(action="outbox.resend_completed")
        assert trail.verify() is None
    assert (done.user, done.object, done.reason) == ("system", "sink:vm", "cause fixed")
    assert {k: done.new_value[k] for k in ("id", "status", "selected", "sent", "rejected")} == \
        {"id": 1, "status": "done", "selected": skipped, "sent": skipped, "rejected": 0}


async def test_a_request_cancelled_while_it_sends_stops_within_the_batch_in_flight(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    total = 7000
    config, loaded = _config(tmp_path, victoria)
    db = tmp_path / "data" / "readings.db"
    daemon = await _outage(loaded, victoria, total)
    try:
        queued = await resend(config, "vm", "--skipped", "--wait", "0")
        assert queued.status == 0, queued.err
        await wait_until(lambda: _sent(db, 1) >= 10 * BATCH, 30, "the request to be under way")
        with ResendQueue(db) as queue:  # what `outbox cancel` does once it has authorised
            at_cancel = queue.cancel(1, user="eng1", reason="wrong sink", now_ns=utc_now_ns())
        await wait_until(lambda: _audited(db, 1), 10, "the daemon to stop it")
        row = request_row(db, 1)
    finally:
        await daemon.stop()

    assert at_cancel.status.value == "cancelled"
    assert at_cancel.sent < total - LIVE, "cancelled after the request ended"
    assert row["status"] == "cancelled"
    assert at_cancel.sent <= row["sent"] <= at_cancel.sent + BATCH, (at_cancel.sent, row)
    _exactly_once(victoria, [*range(row["sent"]), *range(total - LIVE, total)])
    with AuditTrail(tmp_path / "data") as trail:
        (end,) = trail.entries(action="outbox.resend_cancelled")
    assert (end.user, end.object, end.reason) == ("system", "sink:vm", "wrong sink")
    assert (end.new_value["status"], end.new_value["sent"]) == ("cancelled", row["sent"])


async def test_outbox_cancel_is_authorised_audited_and_the_rest_can_be_sent_later(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    total = 4000
    skipped = total - LIVE
    config, loaded = _config(tmp_path, victoria)
    db = tmp_path / "data" / "readings.db"
    daemon = await _outage(loaded, victoria, total)
    try:
        queued = await resend(config, "vm", "--skipped", "--wait", "0")
        assert queued.status == 0, queued.err
        await wait_until(lambda: _sent(db, 1) >= 5 * BATCH, 30, "the request to be under way")
        await daemon.stop()  # part-way: pending, part delivered
        sent = _sent(db, 1)
        assert request_row(db, 1)["status"] == "pending"
        assert 0 < sent < skipped

        operator = await cancel(config, 1, "--wait", "0", user="op1")
        assert operator.status == 1
        assert "may not configure" in operator.err
        wrong = await cancel(config, 1, "--wait", "0", password="not-the-password")
        assert wrong.status == 1
        unknown = await cancel(config, 99, "--wait", "0")
        assert unknown.status == 1
        assert "no resend request 99" in unknown.err
        assert request_row(db, 1)["status"] == "pending"

        # Cancelled while the daemon is stopped: its next start stops it and audits the end.
        command = asyncio.create_task(cancel(config, 1, "--wait", "30"))
        await wait_until(lambda: request_row(db, 1).get("status") == "cancelled", 60,
                         "the cancellation")
        daemon = start_daemon(loaded)
        done = await command
        assert done.status == 0, done.out + done.err
        assert f"cancelled ({sent} of {skipped} sent so far)" in done.out
        assert f"request 1 cancelled by eng1: {sent} sent, 0 still rejected" in done.out
        again = await cancel(config, 1, "--wait", "0")
        assert again.status == 1
        assert "already cancelled" in again.err

        listed = await resend(config, "vm", "--skipped", "--dry-run")
        assert f"{skipped - sent} skipped reading(s)" in listed.err  # the rest is still pending
        rest = await resend(config, "vm", "--skipped", "--wait", "60", reason="the rest")
        assert rest.status == 0, rest.out + rest.err
        assert f"request 2 done: {skipped - sent} sent, 0 still rejected" in rest.out
    finally:
        await daemon.stop()

    assert _sent(db, 1) == sent  # nothing after the cancellation
    _exactly_once(victoria, list(range(total)))
    with AuditTrail(tmp_path / "data") as trail:
        entries = [e for e in trail.entries() if e.action.startswith("outbox.")]
        failed_logins = trail.entries(action="user.login_failed")
        assert trail.verify() is None
    assert [(e.action, e.user, e.new_value["id"]) for e in entries] == [
        ("outbox.resend_requested", "eng1", 1),
        ("outbox.resend_cancel_requested", "eng1", 1),
        ("outbox.resend_cancelled", "system", 1),
        ("outbox.resend_requested", "eng1", 2),
        ("outbox.resend_completed", "system", 2),
    ]
    assert len(failed_logins) == 1
    cancel_entry, cancelled = entries[1], entries[2]
    assert (cancel_entry.object, cancel_entry.reason) == ("sink:vm", "wrong window")
    assert cancel_entry.old_value == {"id": 1, "status": "pending"}
    assert cancel_entry.new_value["status"] == "cancelled"
    assert cancel_entry.new_value["sent"] == sent
    assert (cancelled.reason, cancelled.new_value["sent"]) == ("wrong window", sent)
    assert entries[4].new_value["sent"] == skipped - sent


async def test_after_sigkill_at_most_the_batch_in_flight_is_sent_again(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    total = 7000
    skipped = total - LIVE
    config, loaded = _config(tmp_path, victoria)
    db = tmp_path / "data" / "readings.db"
    daemon = await _outage(loaded, victoria, total)
    await daemon.stop()
    with ResendQueue(db) as queue:  # what `outbox resend` records once it has authorised
        queue.request("vm", Selection(Kind.SKIPPED), user="eng1", reason="outage over",
                      now_ns=utc_now_ns())
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.cli.resend_child", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"running\n"
        await wait_until(lambda: _sent(db, 1) >= 20 * BATCH, 30, "the child to send")
        child.send_signal(signal.SIGKILL)  # it sends and records continuously
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()
    at_kill = _sent(db, 1)
    assert at_kill < skipped, "the kill came after the request ended"

    daemon = start_daemon(loaded)  # the restart
    try:
        await wait_until(lambda: _audited(db, 1), 60, "the request to end")
    finally:
        await daemon.stop()
    row = request_row(db, 1)
    assert (row["status"], row["sent"]) == ("done", skipped)
    series = victoria.wait_for_samples('{__name__="reading_value"}', total)
    by_time = values_by_time(series)
    assert sorted(vs[0] for vs in by_time.values()) == [float(i) for i in range(total)]
    twice = sorted(vs[0] for vs in by_time.values() if len(vs) > 1)
    assert all(len(vs) <= 2 for vs in by_time.values())
    assert len(twice) <= BATCH, f"{len(twice)} readings stored twice"
    assert all(at_kill <= v < at_kill + BATCH for v in twice), (at_kill, twice)
