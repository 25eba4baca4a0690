"""Opening the readings database for reading must never cost the writer its WAL.

POSIX locks belong to the process: closing *any* descriptor of the file drops
all of them, SQLite's included. A header check done with Python's ``open()``
did that; a CLI process (``query``, ``outbox``) closing its connection next
then took itself for the last user, checkpointed and deleted the WAL under the
daemon, and the daemon's later commits were invisible to every other process
(and lost at its next start).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from monitor.storage import schema

_OTHER_PROCESS = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1])\n"
    "print(c.execute(\"SELECT value FROM meta WHERE key = 'probe'\").fetchone())\n"
    "c.close()\n"
)


def _read_in_other_process(path: Path) -> str:
    done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(path)],
                          capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


def _set_probe(conn: sqlite3.Connection, value: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)", (value,))
    conn.execute("COMMIT")


def test_readers_in_the_writers_process_keep_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    writer = schema.open_database(path)
    try:
        _set_probe(writer, "one")
        # The daemon opens readers (history, sinks) beside its writer, and reopens the file.
        readers = [schema.reader(path) for _ in range(3)]
        again = schema.open_database(path)
        again.close()
        assert _read_in_other_process(path) == "('one',)"
        wal = path.with_name(path.name + "-wal")
        assert wal.exists(), "another process deleted the WAL while the writer had it open"
        _set_probe(writer, "two")
        assert _read_in_other_process(path) == "('two',)", "the writer's commit was lost"
        for conn in readers:
            conn.close()
    finally:
        writer.close()
