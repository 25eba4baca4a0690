"""Gaps are data: periods without trustworthy readings, recorded with their cause.

A report must show "no data 02:10-02:45, daemon stopped" instead of drawing a
straight line across the hole. Two causes are detected here:

* ``daemon_stopped`` / ``daemon_crashed``: at start-up, from the last time the
  previous run was alive (``meta.last_alive_ns``, refreshed with every commit
  and at least every 10 s) and whether it left a clean-stop mark.
* ``device_offline``: a channel's readings turned ``comm_error`` (its device
  did not answer); the gap opens at the first such reading and closes at the
  channel's next reading of any other quality. Gaps are kept per channel, so
  a query for one channel finds exactly its own holes.

Gap rows are written when a gap opens and get their ``end_ns`` when it closes;
an open gap left by a crash is closed at the next start at the crash time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.storage.rows import COLUMNS
from monitor.storage.schema import BUCKET_SQL

DAEMON_STOPPED = "daemon_stopped"
DAEMON_CRASHED = "daemon_crashed"
DEVICE_OFFLINE = "device_offline"
_COMM_ERROR = "comm_error"


@dataclass(frozen=True, slots=True)
class Gap:
    scope: str  # "daemon" or "channel"
    subject: str  # "daemon" or the channel id
    location: str  # "" for daemon gaps: they cover every location
    start_ns: int
    end_ns: int | None  # None while still open
    cause: str
    detail: str | None


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def record_restart_gap(conn: sqlite3.Connection, now_ns: int, min_gap_ns: int) -> Gap | None:
    """Record the time the daemon was not running.

    A clean stop shorter than ``min_gap_ns`` (a restart, an upgrade) is not a
    gap worth a line in a report. A crash always is, however short: readings
    accepted in the last commit interval before it may be lost, and QA must
    be able to see that it happened. Runs inside the caller's transaction at
    start-up.
    """
    alive = _meta(conn, "last_alive_ns")
    if alive is None:
        return None  # a new database: nothing was being recorded before
    clean_stop = _meta(conn, "clean_stop_ns")
    clean = _meta(conn, "running") == "0" and clean_stop is not None
    # the newest bucket of the readings index, then the newest reading in it: two index
    # look-ups instead of a scan of the whole table at every start
    last_reading = conn.execute(
        f"SELECT max(ts_ns) FROM readings WHERE {BUCKET_SQL} = "
        f"(SELECT max({BUCKET_SQL}) FROM readings)"
    ).fetchone()[0]
    start = int(alive)
    if last_reading is not None and not clean:
        start = max(start, int(last_reading))
    # open device gaps end where the daemon stopped recording
    close_offline(conn, None, start, "closed at the daemon stop")
    if clean and now_ns - start < min_gap_ns:
        return None
    cause = DAEMON_STOPPED if clean else DAEMON_CRASHED
    detail = (
        "clean stop"
        if clean
        else "no clean-stop mark: killed, crashed or power lost; start is the last alive mark"
    )
    gap = Gap("daemon", "daemon", "", start, now_ns, cause, detail)
    _insert(conn, gap, now_ns)
    return gap


def _insert(conn: sqlite3.Connection, gap: Gap, now_ns: int) -> int:
    cur = conn.execute(
        "INSERT INTO gaps (scope, subject, location, start_ns, end_ns, cause, detail, recorded_ns)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (gap.scope, gap.subject, gap.location, gap.start_ns, gap.end_ns, gap.cause, gap.detail,
         now_ns),
    )
    return int(cur.lastrowid or 0)


def track_offline(
    conn: sqlite3.Connection,
    params: Sequence[Any],
    open_gaps: dict[int, int],
    now_ns: int,
    tags: Callable[[int], tuple[str, str]],
) -> dict[int, int]:
    """Open/close ``device_offline`` gaps for a committed batch; returns the new open set.

    ``params`` are the embedded store's buffered rows, eight values each, one
    after the other: ``series id, ts_ns, value, raw, quality, state,
    device_ts_ns, detail`` (``monitor.storage.rows``); ``tags(series id)``
    gives its channel and location; ``open_gaps`` maps a series id to its open
    gap's id. The caller's transaction covers the changes, and it adopts the
    returned dict only after the commit succeeded.
    """
    if not open_gaps and _COMM_ERROR not in params[4::COLUMNS]:
        return open_gaps  # the usual batch: every device answered, none was offline
    result: dict[int, int] | None = None
    for i in range(0, len(params), COLUMNS):
        is_error = params[i + 4] == _COMM_ERROR
        series = params[i]
        current = open_gaps if result is None else result
        if is_error == (series in current):
            continue
        if result is None:
            result = dict(open_gaps)
        if is_error:
            channel, location = tags(series)
            detail = params[i + 7]
            gap = Gap("channel", channel, location, params[i + 1], None, DEVICE_OFFLINE,
                      detail if type(detail) is str else None)  # NULL is a NaN when buffered
            result[series] = _insert(conn, gap, now_ns)
        else:
            conn.execute(
                "UPDATE gaps SET end_ns = max(start_ns, ?) WHERE id = ?",
                (params[i + 1], result.pop(series)),
            )
    return open_gaps if result is None else result


def close_offline(
    conn: sqlite3.Connection, open_gaps: dict[int, int] | None, end_ns: int, why: str
) -> None:
    """Close open device gaps at ``end_ns`` (all of them when ``open_gaps`` is None)."""
    if open_gaps is None:
        conn.execute(
            "UPDATE gaps SET end_ns = max(start_ns, ?), detail = coalesce(detail || '; ', '') || ?"
            " WHERE end_ns IS NULL", (end_ns, why),
        )
        return
    for gap_id in open_gaps.values():
        conn.execute(
            "UPDATE gaps SET end_ns = max(start_ns, ?), detail = coalesce(detail || '; ', '') || ?"
            " WHERE id = ?", (end_ns, why, gap_id),
        )
    open_gaps.clear()


def gaps_between(
    conn: sqlite3.Connection,
    from_ns: int,
    to_ns: int,
    *,
    locations: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
) -> list[Gap]:
    """Gaps overlapping ``[from_ns, to_ns)``: daemon gaps always, channel gaps as filtered."""
    rows = conn.execute(
        "SELECT scope, subject, location, start_ns, end_ns, cause, detail FROM gaps "
        "WHERE start_ns < ? AND (end_ns IS NULL OR end_ns > ?) ORDER BY start_ns, id",
        (to_ns, from_ns),
    ).fetchall()
    out = []
    for row in rows:
        gap = Gap(*row)
        if gap.scope == "channel" and (
            (locations is not None and gap.location not in locations)
            or (channels is not None and gap.subject not in channels)
        ):
            continue
        out.append(gap)
    return out
