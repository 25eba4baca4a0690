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
the first readings of a channel not yet routed to its series carry the
channel id in place of the series id; the commit finds or inserts the series
and translates them (``resolve_series``). Everything else goes to SQLite
untouched.

Rows are inserted with multi-row ``INSERT ... VALUES (...), (...)`` statements
of ``ROWS_PER_STATEMENT`` rows: against one ``executemany`` step per row this
saves a statement execution and an AUTOINCREMENT sequence update per reading,
about a third of the insert's CPU.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping

from monitor.errors import StoreError

#: (channel, device, location, room, grade, unit, site): the tags of a series
SeriesKey = tuple[str, str, str, str, str, str, str]
#: what a buffered row holds for a NULL column (see the module docstring)
NULL = float("nan")
#: (series id, or the channel until it is routed; ts_ns, value, raw, quality, state,
#: device_ts_ns, detail); value/raw/state/device_ts_ns/detail may be ``NULL``
Row = tuple[int | str, int, float, float, str, str | float, int | float, str | float]
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
    *,
    key_of: Callable[[str], SeriesKey],
    series: Mapping[SeriesKey, int],
    routes: Mapping[str, int],
    new_series: dict[str, int],
) -> None:
    """Replace, in ``params`` itself, every channel by its series id: routed by ``routes``
    (routed meanwhile), else by its key (``key_of``) in ``series`` or the file, else a series
    inserted (in the caller's transaction). The channels not routed are added to
    ``new_series`` with their series id, for the caller to route once the transaction is
    committed."""
    for i in range(0, len(params), COLUMNS):
        channel = params[i]
        if type(channel) is int:
            continue
        assert isinstance(channel, str)
        sid = routes.get(channel) or new_series.get(channel)
        if sid is None:
            sid = new_series[channel] = _series_id(conn, series, key_of(channel))
        params[i] = sid


def _series_id(conn: sqlite3.Connection, series: Mapping[SeriesKey, int], key: SeriesKey) -> int:
    """The id of the series ``key``: known, in the file, or inserted now."""
    sid = series.get(key)
    if sid is not None:
        return sid
    cur = conn.execute(
        "INSERT OR IGNORE INTO series (channel, device, location, room, grade, unit, site)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", key,
    )
    if cur.rowcount == 1 and cur.lastrowid:
        return cur.lastrowid
    found: int = conn.execute(
        "SELECT id FROM series WHERE channel=? AND device=? AND location=? "
        "AND room=? AND grade=? AND unit=? AND site=?", key,
    ).fetchone()[0]
    return found
