"""How much of a SQLite file a connection keeps in memory: little, for the daemon's small logs.

SQLite's default page cache is up to 2 MB per connection, and a page once read
or written stays in it until the connection closes. The daemon holds one
connection to each of its files for as long as it runs; the readings store's
writer uses its cache (a commit touches the index pages of the current 5-s
bucket, ~1.6 MB at 20,000 readings/s), but the alarm event log, the audit
trail, the QA log, the user store and the session store are written a row at a
time and read by occasional queries. Their caches still filled from what the
start wrote once: 2,000 location-state records in the event log, the config's
text (1.7 MB at 2,000 devices) in the audit trail. Capped at 256 KiB each, the
daemon of ``bench.memory_breakdown --devices 2000`` went 102.2 -> 98.3 MB at
45 s (SQLite's own memory 8.7 -> 5.6 MB).

A smaller cache costs a re-read of a page from the OS's file cache when it is
needed again, a memcpy: these files' queries (a report, a verification, a
login) scan rows in order and read each page about once anyway.
"""

from __future__ import annotations

import sqlite3

#: the page cache of a connection to a small log or store, in KiB
SMALL_CACHE_KIB = 256


def keep_page_cache_small(conn: sqlite3.Connection) -> None:
    """Cap ``conn``'s page cache at ``SMALL_CACHE_KIB`` (call right after connecting)."""
    conn.execute(f"PRAGMA cache_size=-{SMALL_CACHE_KIB}")
