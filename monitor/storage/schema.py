"""The readings database file: opening it safely, and its schema.

One SQLite file, ``<data_dir>/readings.db``, is both the embedded history and
the outbox of every InfluxDB sink: a reading is committed once, and each sink
keeps its own cursor into the ``readings`` table (see ``docs/storage.md``).

A file that is not ours is never touched: a non-SQLite file, a SQLite file of
another application or a damaged one makes ``open_database`` raise
``StoreError`` naming the file, and the daemon refuses to start rather than
write over evidence.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

from monitor.errors import StoreError

APPLICATION_ID = 0x434D5244  # "CMRD": marks the file as a cleanroom-monitor readings database
SCHEMA_VERSION = 2
log = logging.getLogger(__name__)

#: Readings are indexed by (time bucket, series), not (series, time). A commit holds one
#: reading of most of the site's series; under a (series, ts_ns) index each of them lands
#: on its own leaf page, so once the index outgrew the cache every commit read and rewrote
#: (into the WAL) about one index page per reading: the commit CPU grew with the file, from
#: 2.6 to 16 us per reading within the first four minutes at 20,000 readings/s. Keyed by a
#: 5-second bucket first, a commit only touches the pages of the current bucket. A query
#: seeks each bucket of its range once per series (``history.py``): 17,280 seeks per series
#: and day, ~20 ms. Insert cost against bucket width (us per reading, index included, the
#: same run): 2 s 1.52, 5 s 1.64, 10 s 1.90, 30 s 2.50, no index 1.06.
BUCKET_NS = 5_000_000_000
#: the indexed expression; queries must spell it exactly so for SQLite to use the index
BUCKET_SQL = f"ts_ns / {BUCKET_NS}"

_READINGS_INDEX = f"CREATE INDEX IF NOT EXISTS readings_bucket ON readings ({BUCKET_SQL}, series)"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    device TEXT NOT NULL,
    location TEXT NOT NULL,
    room TEXT NOT NULL,
    grade TEXT NOT NULL,
    unit TEXT NOT NULL,
    site TEXT NOT NULL,
    UNIQUE (channel, device, location, room, grade, unit, site)
);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    series INTEGER NOT NULL REFERENCES series(id),
    ts_ns INTEGER NOT NULL,
    value REAL,
    raw REAL,
    quality TEXT NOT NULL,
    state TEXT,
    device_ts_ns INTEGER,
    detail TEXT
);
{_READINGS_INDEX};
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    location TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER,
    cause TEXT NOT NULL,
    detail TEXT,
    recorded_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_start ON gaps (start_ns);
CREATE TABLE IF NOT EXISTS sink_state (
    sink TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    done_ranges TEXT NOT NULL DEFAULT '[]',
    updated_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    reading_id INTEGER NOT NULL,
    line TEXT NOT NULL,
    status INTEGER NOT NULL,
    message TEXT NOT NULL,
    at_ns INTEGER NOT NULL,
    UNIQUE (sink, reading_id)
);
CREATE TABLE IF NOT EXISTS sink_skips (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    from_ns INTEGER,
    to_ns INTEGER,
    reason TEXT NOT NULL,
    at_ns INTEGER NOT NULL
);
"""


#: (type, name) of every table and index ``SCHEMA`` creates
_SCHEMA_OBJECTS = {
    (kind.lower(), name)
    for kind, name in re.findall(r"CREATE (TABLE|INDEX) IF NOT EXISTS (\w+)", SCHEMA)
}


def _check_header(path: Path) -> bool:
    """True if ``path`` holds data; raise if that data is not a SQLite database.

    The file is never opened outside SQLite: closing any descriptor of it drops
    every POSIX lock this process holds on it (SQLite's included), after which
    another process closing its connection takes itself for the last one and
    deletes the WAL under the daemon. SQLite itself tells a foreign file apart.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    except OSError as err:
        raise StoreError(f"{path}: cannot read the readings database: {err.strerror}") from err
    if size == 0:
        return False
    try:
        probe = sqlite3.connect(path)
        try:
            probe.execute("PRAGMA schema_version").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError as err:
        if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise StoreError(
                f"{path}: not a SQLite database (corrupt or foreign file); refusing to start. "
                "The file was left untouched: move it aside or restore it from backup."
            ) from err
        raise StoreError(f"{path}: cannot read the readings database: {err}") from err
    return True


#: quick_check reads the whole file: always below this size, after an unclean stop below
#: the larger bound (beyond it a start-up would take minutes; SQLite's WAL recovery is
#: what protects a crashed database, the check only finds media damage).
QUICK_CHECK_MAX_BYTES = 512 * 1024 * 1024
QUICK_CHECK_UNCLEAN_MAX_BYTES = 4 * 1024 * 1024 * 1024


def open_database(
    path: Path, *, synchronous: str = "FULL", check: bool | None = None
) -> sqlite3.Connection:
    """Open (creating if missing) the readings database at ``path`` in WAL mode.

    ``check`` runs SQLite's ``quick_check`` (one scan of the file). By default
    it runs on files up to 512 MiB, and up to 4 GiB when the previous run did
    not stop cleanly.
    """
    conn, owed = open_database_deferred(path, synchronous=synchronous, check=check)
    if owed:
        try:
            integrity_check(conn, path)
        except BaseException:
            conn.close()
            raise
    return conn


def open_database_deferred(
    path: Path, *, synchronous: str = "FULL", check: bool | None = None
) -> tuple[sqlite3.Connection, bool]:
    """``open_database``, but the ``quick_check`` of a file already in the current schema
    is left to the caller: returns the connection and whether ``integrity_check`` is owed.

    The check reads the whole file (about a second per 500 MiB): the daemon runs it
    on a worker thread while the first polls go on, and writes nothing to the file
    before it passed. Nothing here writes to such a file (its schema, WAL mode,
    application id and version are already what this program would set), so a
    damaged file is still left untouched. A file that needs any change (new,
    older schema) is checked here first, as ``open_database`` does.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = _check_header(path)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as err:
        raise StoreError(f"{path}: cannot open the readings database: {err}") from err
    try:
        owed = _prepare(conn, path, existed=existed, synchronous=synchronous, check=check)
    except BaseException:
        conn.close()
        raise
    return conn, owed


def _refusal(path: Path) -> str:
    return (
        f"{path}: refusing to start; the file was left untouched "
        "(move it aside or restore it from backup)"
    )


def integrity_check(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's ``quick_check`` of the whole file; ``StoreError`` if it finds damage."""
    try:
        result = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{_refusal(path)}: {err}") from err
    if result != [("ok",)]:
        problems = "; ".join(str(r[0]) for r in result[:3])
        raise StoreError(f"{_refusal(path)}: the database is damaged: {problems}")


def _prepare(
    conn: sqlite3.Connection, path: Path, *, existed: bool, synchronous: str, check: bool | None
) -> bool:
    """Check and set up the file; True if its ``quick_check`` is owed (see
    ``open_database_deferred``)."""
    refuse = _refusal(path)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        objects = {
            (r[0], r[1]) for r in conn.execute("SELECT type, name FROM sqlite_master")
        }
        tables = {name for kind, name in objects if kind == "table"}
        if existed and tables and app_id != APPLICATION_ID:
            raise StoreError(f"{refuse}: it is a SQLite database of another application")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{refuse}: schema version {version} is newer than this program ({SCHEMA_VERSION})"
            )
        if check is None:
            size = path.stat().st_size
            check = size <= QUICK_CHECK_MAX_BYTES or (
                size <= QUICK_CHECK_UNCLEAN_MAX_BYTES and _unclean(conn, tables)
            )
        current = (
            app_id == APPLICATION_ID and version == SCHEMA_VERSION and objects >= _SCHEMA_OBJECTS
            and bucket_index_current(conn)
            and str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        )
        owed = bool(check and tables)
        if owed and not current:
            integrity_check(conn, path)
            owed = False
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA busy_timeout=10000")
        if current:
            return owed  # nothing to write: the file stays as it is until the check passed
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the readings database to WAL mode")
        if "readings" in tables and (version < SCHEMA_VERSION or not bucket_index_current(conn)):
            _migrate(conn, path, version)
        _create_schema(conn)
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{refuse}: {err}") from err
    return False


def _create_schema(conn: sqlite3.Connection) -> None:
    """Tables, indexes, application id and version in one transaction: one sync of the WAL
    instead of one per statement (opening a new file took 40-75 ms on the shared machine,
    now 3-27 ms)."""
    try:
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA application_id={APPLICATION_ID};\n"
            f"PRAGMA user_version={SCHEMA_VERSION};\nCOMMIT;"
        )
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring a file of an older schema up to ``SCHEMA_VERSION``, in one transaction.

    Version 1 indexed readings by (series, ts_ns); version 2 by (time bucket,
    series), and a version 2 file whose bucket index has another width (an
    early build used 10 s) gets it rebuilt. Only the index changes: no stored
    value is touched or read differently. Building the new index scans the
    table once (about a minute per 100 million readings); a crash during it
    rolls the whole step back and leaves the file as it was.
    """
    log.warning(
        "%s: upgrading the readings database from schema %d to %d (rebuilding the readings "
        "index by %d-second bucket; no reading is changed)",
        path, version, SCHEMA_VERSION, BUCKET_NS // 1_000_000_000,
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DROP INDEX IF EXISTS readings_series_ts")
        conn.execute("DROP INDEX IF EXISTS readings_bucket")
        conn.execute(_READINGS_INDEX)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def bucket_index_current(conn: sqlite3.Connection) -> bool:
    """True if the readings' bucket index is the one this program queries (a file not
    yet opened by this version's daemon may still have the older index)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'readings_bucket'").fetchone()
    return row is not None and f"({BUCKET_SQL}, series)" in str(row[0])


def _unclean(conn: sqlite3.Connection, tables: set[str]) -> bool:
    if "meta" not in tables:
        return False
    row = conn.execute("SELECT value FROM meta WHERE key = 'running'").fetchone()
    return row is not None and row[0] != "0"


def reader(path: Path) -> sqlite3.Connection:
    """A connection for queries and sink cursors; WAL lets it read while the writer commits."""
    if not path.exists():
        raise StoreError(f"{path}: no readings database (has the service ever run here?)")
    _check_header(path)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            conn.close()
            raise StoreError(f"{path}: not a cleanroom-monitor readings database")
        conn.execute("PRAGMA busy_timeout=10000")
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{path}: cannot read the readings database: {err}") from err
    return conn
