"""The daemon's small SQLite files are opened with a small page cache (monitor/sqlite_memory.py).

Each of these connections lives as long as the daemon; with SQLite's default
cache (up to 2 MB) the pages the start wrote (the config's text in the audit
trail, 2,000 location records in the event log) stayed in memory.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.alarms.eventlog import EventLog
from monitor.api.sessions import SessionStore
from monitor.audit.trail import AuditTrail
from monitor.qa.reviewlog import ReviewLog
from monitor.sqlite_memory import SMALL_CACHE_KIB
from monitor.users.store import UserStore


def cache_kib(conn: sqlite3.Connection) -> int:
    size = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    assert size < 0, "cache_size is set in KiB (negative), not in pages"
    return -size


def test_every_small_store_caps_its_page_cache(tmp_path: Path) -> None:
    audit = AuditTrail(tmp_path)
    events = EventLog(tmp_path)
    reviews = ReviewLog(tmp_path)
    users = UserStore(tmp_path, audit)
    sessions = SessionStore(tmp_path, idle_s=60, max_s=3600)
    try:
        for conn in (audit.table.conn, events.table.conn, reviews.table.conn, users._conn,
                     sessions._conn):
            assert cache_kib(conn) == SMALL_CACHE_KIB
        readonly = EventLog(tmp_path, readonly=True)
        try:
            assert cache_kib(readonly.table.conn) == SMALL_CACHE_KIB
        finally:
            readonly.close()
    finally:
        sessions.close()
        users.close()
        reviews.close()
        events.close()
        audit.close()

