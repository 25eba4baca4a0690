"""The embedded store's buffered rows and how a batch of them is written.

The buffer is already the parameter list of the ``readings`` inserts: eight
values per reading, ``series id, ts_ns, value, raw, quality, state,
device_ts_ns, detail``, one after the other in one flat list. ``append`` adds
a reading with ``buffer += (...)``: the tuple is freed at once, so buffering
leaves no object per reading behind for the cyclic GC to count and walk (a
tuple per reading made ~28 young collections a second at 20,000 readings/s),
and the commit slices the list into statements without flattening it. It has
``NULL`` (a float NaN) wherever the column is to be NULL. SQLite stores a
bound NaN as NULL, and binding a float costs CPython's sqlite3 ~40 ns where
binding ``None`` costs ~290 ns (``None`` goes through the adapter protocol:
a dict look-up and two attribute look-ups per parameter); a usual row has two
or three NULL columns. ``check_null_binding`` verifies that SQLite behaviour
when the store opens its file. Only
the first readings of a series that is not in the database yet carry its
``SeriesKey`` in place of the id; the commit that inserts the series
translates them (``EmbeddedStore._commit``). Everything else goes to SQLite
untouched.

Rows are inserted with multi-row ``INSERT ... VALUES (...), (...)`` statements
of ``ROWS_PER_STATEMENT`` rows: against one ``executemany`` step per row this
saves a statement execution and an AUTOINCREMENT sequence update per reading,
about a third of the insert's CPU.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from monitor.errors import StoreError

#: (channel, device, location, room, grade, unit, site): the tags of a series
SeriesKey = tuple[str, str, str, str, str, str, str]
#: what a buffered row holds for a NULL column (see the module docstring)
NULL = float("nan")
#: (series id, or its key until the series is in the database; ts_ns, value, raw, quality,
#: state, device_ts_ns, detail); value/raw/state/device_ts_ns/detail may be ``NULL``
Row = tuple[int | SeriesKey, int, float, float, str, str | float, int | float, str | float]
#: rows one after the other, ``COLUMNS`` values each
Params = list[object]

COLUMNS = 8
ROWS_PER_STATEMENT = 250
INSERT_ONE = (
    "INSERT INTO readings (series, ts_ns, value, raw, quality, state, device_ts_ns, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def check_null_binding(conn: sqlite3.Connection) -> None:
    """Raise ``StoreError`` unless this SQLite stores a bound NaN as NULL (it always has:
    ``sqlite3VdbeMemSetDouble``); a reading's missing value must never become a number."""
    if conn.execute("SELECT ? IS NULL", (NULL,)).fetchone()[0] != 1:
        raise StoreError(
            f"SQLite {sqlite3.sqlite_version} stores NaN as a value; this program relies on "
            "it being stored as NULL"
        )


def rows_per_statement(conn: sqlite3.Connection) -> int:
    """``ROWS_PER_STATEMENT``, or fewer if this SQLite allows fewer bound variables."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(ROWS_PER_STATEMENT, limit // COLUMNS))


def insert_many_sql(rows: int) -> str:
    return INSERT_ONE + ", (?, ?, ?, ?, ?, ?, ?, ?)" * (rows - 1)


def insert_rows(conn: sqlite3.Connection, params: Params, per_statement: int) -> None:
    """Insert the rows in ``params`` (every series reference an id) in the caller's
    transaction."""
    width = per_statement * COLUMNS
    full = len(params) - len(params) % width
    if full:
        sql = insert_many_sql(per_statement)
        for start in range(0, full, width):
            conn.execute(sql, params[start:start + width])
    if full < len(params):
        conn.executemany(
            INSERT_ONE, [params[i:i + COLUMNS] for i in range(full, len(params), COLUMNS)]
        )


def resolve_series(
    conn: sqlite3.Connection,
    params: Params,
    series: Mapping[SeriesKey, int],
    new_series: dict[SeriesKey, int],
) -> None:
    """Replace, in ``params`` itself, every series key by its id; series not in ``series``
    are inserted (in the caller's transaction) or found in the file, and added to
    ``new_series``."""
    for i in range(0, len(params), COLUMNS):
        key = params[i]
        if type(key) is int:
            continue
        assert isinstance(key, tuple)
        sid = series.get(key) or new_series.get(key)
        if sid is None:
            cur = conn.execute(
                "INSERT OR IGNORE INTO series (channel, device, location, room, grade, unit, site)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", key,
            )
            sid = new_series[key] = cur.lastrowid if cur.rowcount == 1 and cur.lastrowid else (
                conn.execute(
                    "SELECT id FROM series WHERE channel=? AND device=? AND location=? "
                    "AND room=? AND grade=? AND unit=? AND site=?", key,
                ).fetchone()[0]
            )
        params[i] = sid
