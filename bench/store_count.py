"""Count what reached the embedded store: readings are counted where they end up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

READINGS_DB = "readings.db"


def count_readings(data_dir: Path, ts0_ns: int | None = None, ts1_ns: int | None = None,
                   *, channel_prefix: str | None = None) -> int:
    """Readings committed to ``<data_dir>/readings.db`` with ``ts0 <= ts_ns < ts1``."""
    path = Path(data_dir) / READINGS_DB
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        sql = "SELECT count(*) FROM readings r"
        where: list[str] = []
        params: list[object] = []
        if channel_prefix is not None:
            sql += " JOIN series s ON s.id = r.series"
            where.append("s.channel LIKE ?")
            params.append(channel_prefix + "%")
        if ts0_ns is not None:
            where.append("r.ts_ns >= ?")
            params.append(ts0_ns)
        if ts1_ns is not None:
            where.append("r.ts_ns < ?")
            params.append(ts1_ns)
        if where:
            sql += " WHERE " + " AND ".join(where)
        try:
            return int(conn.execute(sql, params).fetchone()[0])
        except sqlite3.OperationalError as err:
            # The daemon creates the file before its tables: nothing committed yet.
            if "no such table" in str(err):
                return 0
            raise
    finally:
        conn.close()
