"""The embedded store: every accepted reading is committed to ``readings.db``.

``append`` runs on the event loop for every poll batch, so it only converts and
buffers. ``run`` commits the buffer every ``commit_interval`` in one
transaction on a worker thread. The committed table is at once the local
history (queried by ``History``) and the outbox of the InfluxDB sinks, each of
which keeps a cursor into it (``monitor.storage.forwarder``).

If a commit fails (disk full, I/O error) the readings stay in memory, a health
flag is raised and the commit is retried; nothing is dropped until the memory
bound ``memory_limit`` is reached, and that is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import ChannelInfo
from monitor.errors import StoreError
from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage import gaps as gapmod
from monitor.storage.base import ReadingStore
from monitor.storage.rows import (
    COLUMNS,
    NULL,
    Params,
    Row,
    SeriesKey,
    check_null_binding,
    insert_rows,
    resolve_series,
    rows_per_statement,
)
from monitor.storage.schema import integrity_check, open_database_deferred

if TYPE_CHECKING:
    from monitor.storage.forwarder import Forwarder

log = logging.getLogger(__name__)

COMMIT_CHUNK = 50_000  # rows per transaction when a backlog is committed at once
HEARTBEAT_S = 10.0  # the "last alive" mark is refreshed at least this often
RETENTION_EVERY_S = 300.0
BACKGROUND_NICE = 10  # the start's worker thread (integrity check) yields to the polls
_NO_LOCATION = ("",)  # a series id not (yet) routed to
_DISK_ERRORS = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}


def _clean_number(value: object) -> tuple[float | None, str | None]:
    """A storable float, or None and why not (NaN, inf, a string where a number belongs)."""
    if value is None:
        return None, None
    if type(value) is float:
        return (value, None) if math.isfinite(value) else (None, f"value {value!r} is not finite")
    if isinstance(value, int | float) and not isinstance(value, bool):
        as_float = float(value)
        if math.isfinite(as_float):
            return as_float, None
    return None, f"value {value!r} is not a finite number"


class EmbeddedStore(ReadingStore):
    """The always-present local store; see the module docstring."""

    name = "embedded"

    def __init__(
        self,
        path: Path,
        channels: Mapping[str, ChannelInfo],
        *,
        commit_interval: float = 0.5,
        retention_s: float = 90 * 86400.0,
        state_of: Callable[[str], str | None] | None = None,
        synchronous: str = "FULL",
        memory_limit: int = 5_000_000,
        clock: Callable[[], int] = utc_now_ns,
        site: str = "site",
        min_gap_s: float = 3 * HEARTBEAT_S,
        background_start: bool = False,
    ) -> None:
        self.path = Path(path)
        self.channels = channels
        self.commit_interval = commit_interval
        self.retention_s = retention_s
        self.state_of = state_of
        self.memory_limit = memory_limit
        self.clock = clock
        self.site = site
        self._conn, check_owed = open_database_deferred(self.path, synchronous=synchronous)
        if check_owed and not background_start:
            try:
                integrity_check(self._conn, self.path)
            except BaseException:
                self._conn.close()
                raise
            check_owed = False
        self._lock = threading.Lock()  # one writer connection, used from worker threads
        self._buffer: Params = []  # COLUMNS values per reading (monitor.storage.rows)
        self._in_flight = 0  # readings of a buffer handed whole to the commit (``flush``)
        self._copied = 0  # readings of the buffer's head a commit has a copy of (``flush``)
        self._trimmed = 0  # readings dropped from the buffer's head meanwhile (``_settle``)
        #: the series in the database not yet routed to (a cache of the series table: a
        #: series key not in it is looked up in the file by the commit that meets it)
        self._series: dict[SeriesKey, int] = {}
        #: channel -> its series id once the series is in the database
        self._route: dict[str, int] = {}
        #: series id -> the location of the channel routed to it (see ``_routed``)
        self._locations: list[str] = []
        #: the buffer may hold rows of a channel not yet routed (``_route_new``)
        self._maybe_keys = False
        self._offline: dict[int, int] = {}  # series id -> id of its open "device offline" gap
        try:
            check_null_binding(self._conn)
        except StoreError:
            self._conn.close()
            raise
        self._per_statement = rows_per_statement(self._conn)
        self._flush_lock = asyncio.Lock()
        self._closed = False
        self._stopping = False  # close() has begun: the background loop stops touching the file
        self._wake: list[asyncio.Event] = []
        self._last_write = 0.0
        #: the InfluxDB sinks reading this database as their outbox (added by the factory)
        self.forwarders: list[Forwarder] = []
        # --- counters and gauges read by the metrics collector ---
        self.accepted = 0  # readings handed to append()
        self.committed = 0  # readings committed to disk by this process
        self.invalid = 0  # readings stored as quality "invalid" (NaN, inf, not a number)
        self.dropped = 0  # readings dropped because the memory bound was hit during a disk fault
        self.refused_after_close = 0
        self.commit_errors = 0
        self.last_commit_seconds = 0.0
        self.last_committed_id = 0
        self.disk_problem: str | None = None  # set while commits fail (disk full, I/O error)
        self.started_ns = self.clock()
        self._start_error: StoreError | None = None
        self._start_thread: threading.Thread | None = None
        try:
            self.last_committed_id = self._conn.execute(
                "SELECT coalesce(max(id), 0) FROM readings"
            ).fetchone()[0]
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise StoreError(f"{self.path}: cannot start the readings database: {err}") from err
        if background_start:
            self._start_thread = threading.Thread(
                target=self._start_in_background, args=(check_owed, min_gap_s),
                name="readings-db-start", daemon=True,
            )
            self._start_thread.start()
        else:
            try:
                self._startup(False, min_gap_s)
            except StoreError:
                self._conn.close()
                raise

    # ------------------------------------------------------------------ start-up
    def _startup(self, check_owed: bool, min_gap_s: float) -> None:
        """Check the file if owed, record the gap since the previous run, load the series.

        With ``background_start`` this runs on a worker thread while the drivers make
        their first polls: on a 2,000-device restart it took ~0.09 s (the fsync of the
        gap record, the series index), and the check alone ~1 s per 500 MiB of file.
        Readings accepted meanwhile stay in the buffer; nothing is written to the file,
        and no sink forwards from it, until the check passed.
        """
        conn = self._conn
        with self._lock:
            if check_owed:
                integrity_check(conn, self.path)
            try:
                conn.execute("BEGIN IMMEDIATE")
                gapmod.record_restart_gap(conn, self.started_ns, int(min_gap_s * 1e9))
                _set_meta(conn, running="1", last_alive_ns=str(self.started_ns))
                conn.execute("COMMIT")
                self._load_series()
            except sqlite3.DatabaseError as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(
                    f"{self.path}: cannot start the readings database: {err}"
                ) from err

    def _start_in_background(self, check_owed: bool, min_gap_s: float) -> None:
        # The check reads the whole file with the GIL released: on a busy 2-core machine it
        # took a core from the first polls (a 412 MiB file: 1.4 s of CPU). Niced, it yields.
        with contextlib.suppress(AttributeError, OSError):  # per thread on Linux only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        try:
            self._startup(check_owed, min_gap_s)
        except StoreError as err:
            log.error("%s", err)
            self._start_error = err
        except BaseException as err:  # never lost in a thread: every write waits for this
            log.exception("starting the readings database failed")
            self._start_error = StoreError(f"{self.path}: cannot start the readings database: "
                                           f"{err}")
        if self._start_error is not None:
            self._conn.close()  # refused: nothing uses it again (closing twice is harmless)

    def _wait_started(self) -> None:
        """Block until the start finished (worker threads only); raise if it failed: the
        file is then never written, and the daemon stops with the error."""
        if self._start_thread is not None:
            self._start_thread.join()
        if self._start_error is not None:
            raise self._start_error

    def wait_started(self) -> None:
        """Block until the background start is done; ``StoreError`` if the file was refused.

        The factory calls it before building InfluxDB sinks: their outbox records a new
        sink's starting cursor (and the resend tables) in the file when made, which must
        not happen to a file whose check has not passed.
        """
        self._wait_started()

    @property
    def starting(self) -> bool:
        """The start (integrity check, gap record) is still running in the background."""
        return self._start_thread is not None and self._start_thread.is_alive()

    def _load_series(self) -> None:
        """The series index: what lets ``append`` stamp a reading with its series id.

        A series whose tags are its configured channel's, every one on an unchanged
        restart, is routed at once, the route holding the config's strings; only the
        others are kept by key. (Keeping them all by key until routed allocated 20,000
        tuples of seven strings read from the file at 2,000 devices, ~10 MB, while the
        first polls ran, freed again as the channels were routed.)
        """
        series: dict[SeriesKey, int] = {}
        routes: list[tuple[str, int, str]] = []
        channels = self.channels
        for row in self._conn.execute(
            "SELECT id, channel, device, location, room, grade, unit, site FROM series"
        ):
            info = channels.get(row[1])
            if info is not None and row[1:] == self._key_for(row[1]):
                routes.append((info.id, row[0], info.location))
            else:
                series[row[1:]] = row[0]
        # append (on the event loop) may look these up meanwhile: found or not, it is right
        for channel, sid, location in routes:
            self._routed(channel, sid, location)
        self._series.update(series)

    # ------------------------------------------------------------------ hot path
    def append(self, readings: Sequence[Reading]) -> None:
        if self._closed:
            if not self.refused_after_close:
                log.error("readings arrived after the embedded store was closed")
            self.refused_after_close += len(readings)
            return
        buf = self._buffer
        route = self._route
        state_of = self.state_of
        # A poll's readings share a location: ask for its state once per run of them.
        last_location: str | None = None
        state: str | float = NULL
        locations = self._locations
        series: int | str
        for reading in readings:
            channel, value, quality, ts_ns, raw, device_ts, detail = reading
            try:  # a subscript, not ``get``: a method call per reading is ~15 ns more
                series = route[channel]
            except KeyError:  # its first readings (try costs nothing until it raises)
                series, location = self._route_new(channel)
            else:
                location = locations[series]
            if location is not last_location:
                last_location = location
                if state_of is not None:
                    known = state_of(location)
                    state = NULL if known is None else known
            # finite floats, the usual case, in a few bytecodes: x - x is 0.0 only if x is finite
            if type(value) is float and type(raw) is float and not (value - value or raw - raw):
                buf += (
                    series, ts_ns, value, raw, quality._value_, state,
                    NULL if device_ts is None else device_ts, NULL if detail is None else detail,
                )
            else:
                buf += self._checked_row(series, state, reading)
        self.accepted += len(readings)
        if len(buf) > self.memory_limit * COLUMNS:
            excess = len(buf) // COLUMNS - self.memory_limit
            del buf[:excess * COLUMNS]
            self.dropped += excess
            if self._copied:  # the oldest are those a commit may be writing (``_settle``)
                self._trimmed += excess
            log.error("memory bound reached while the disk is failing; dropped %d readings", excess)

    def _checked_row(self, series: int | str, state: str | float, reading: Reading) -> Row:
        """The row of a reading without two finite floats: ``NULL`` for a missing value,
        and quality ``invalid`` with the reason in ``detail`` if a value is not a finite
        number (NaN, infinite, not a number at all)."""
        _, value, quality, ts_ns, raw, device_ts, detail = reading
        clean_value, why_v = _clean_number(value)
        clean_raw, why_r = _clean_number(raw)
        if why_v or why_r:
            quality = Quality.INVALID
            detail = "; ".join(x for x in (why_v, why_r, detail) if x)
            self.invalid += 1
        return (
            series, ts_ns, NULL if clean_value is None else clean_value,
            NULL if clean_raw is None else clean_raw, quality._value_, state,
            NULL if device_ts is None else device_ts, NULL if detail is None else detail,
        )

    def _routed(self, channel: str, series: int, location: str) -> None:
        """From now on ``append`` finds ``channel``'s series by its id, and the location by
        the series.

        The series' location is kept in a list indexed by series id rather than a tuple per
        channel (20,000 tuples of 56 bytes at 2,000 devices; a list slot is 8): the ids are
        the series table's rowids, handed out one after another from 1, so the list is as
        long as that table. Channel and location are both tags of a series: a series is one
        channel's, at one location. Only ever extended, never replaced: ``append`` holds it,
        and the start's worker thread may route channels meanwhile.
        """
        locations = self._locations
        grow = series + 1 - len(locations)
        if grow > 0:  # ids come one after another: ``_NO_LOCATION * 1`` is that tuple itself
            locations += _NO_LOCATION * grow
        locations[series] = location
        self._route[channel] = series

    def _route_new(self, channel: str) -> tuple[int | str, str]:
        """A channel's first readings: its series id, or the channel itself until the commit
        that meets it finds or inserts its series and routes it (``resolve_series``).

        Nothing is kept per channel meanwhile: at a first start of 2,000 devices the
        20,000 series keys (tuples of seven strings) and the maps of them held until the
        first commits were some 4 MB of objects made and freed with the first polls.
        """
        key = self._key_for(channel)
        series = self._series.get(key)
        if series is None:
            self._maybe_keys = True
            return channel, key[2]
        self._routed(channel, series, key[2])
        self._forget(key)
        return series, key[2]

    def _forget(self, key: SeriesKey) -> None:
        """A series known by key is routed: its key is not looked up again. The map empties
        as the channels are routed and is freed (on a restart the keys of series whose tags
        changed are strings read from the file). A commit still holding rows of the channel
        finds the series by the route."""
        known = self._series
        if known.pop(key, None) is not None and not known:
            self._series = {}

    def _key_for(self, channel: str) -> SeriesKey:
        info = self.channels.get(channel)
        if info is None:  # not in the config (e.g. a test or a removed channel): keep it anyway
            device = channel.split("/", 1)[0]
            key: SeriesKey = (channel, device, "", "", "", "", self.site)
        else:
            key = (
                info.id, info.device, info.location, info.room, info.grade,
                info.spec.unit, info.site,
            )
        return key

    @property
    def pending(self) -> int:
        """Readings accepted but not yet on disk."""
        return len(self._buffer) // COLUMNS + self._in_flight

    # ------------------------------------------------------------------ commit
    def add_waker(self, event: asyncio.Event) -> None:
        """``event`` is set after every commit (the sinks wait on it)."""
        self._wake.append(event)

    async def flush(self) -> None:
        """Commit the buffer, ``COMMIT_CHUNK`` readings at a time.

        A buffer within one chunk, the usual case, is handed to the commit whole and
        appends meanwhile start a new one, rather than the commit getting a copy of its
        rows that are then deleted from the front of the buffer (two passes over 80,000
        references per commit at 20,000 readings/s, and a second list of that size held
        while the commit runs). A commit that does not complete puts its rows back in
        front. Rows naming a channel not yet routed are resolved in the commit's list
        itself, so such a buffer is committed from a copy: a commit rolled back must not
        leave ids of series it inserted in the buffer.
        """
        async with self._flush_lock:
            while self._buffer:
                whole = len(self._buffer) <= COMMIT_CHUNK * COLUMNS and not self._maybe_keys
                if whole:
                    batch, self._buffer = self._buffer, []
                    self._in_flight = len(batch) // COLUMNS
                else:
                    batch = self._buffer[:COMMIT_CHUNK * COLUMNS]
                    self._copied = len(batch) // COLUMNS
                task = asyncio.ensure_future(
                    asyncio.to_thread(self._commit, batch, self._maybe_keys)
                )
                try:
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    # The thread cannot be stopped: wait for it so the buffer stays truthful.
                    await asyncio.wait({task})
                    self._settle(batch, whole,
                                 committed=not task.cancelled() and task.exception() is None)
                    raise
                except BaseException as err:
                    self._settle(batch, whole, committed=False)
                    if isinstance(err, sqlite3.Error):
                        self._commit_failed(err)
                        raise StoreError(f"{self.path}: commit failed: {err}") from err
                    raise
                self._settle(batch, whole, committed=True)
                if not self._buffer:
                    self._maybe_keys = False  # every channel met so far is routed
                if self.disk_problem is not None:
                    log.warning("readings database writable again", extra={"path": str(self.path)})
                    self.disk_problem = None
                for event in self._wake:
                    event.set()

    def _settle(self, batch: Params, whole: bool, *, committed: bool) -> None:
        """After a commit of ``batch``: its rows leave the buffer if committed, else stay.

        The memory bound may have dropped rows from the buffer's head while a commit of a
        copy of it ran: those it committed are not lost (no longer counted as dropped),
        and only the rest of the batch is taken from the head.
        """
        if whole:
            self._in_flight = 0
            if not committed:  # back in front of the rows appended meanwhile
                self._buffer[:0] = batch
            return
        rows, trimmed = self._copied, self._trimmed
        self._copied = self._trimmed = 0
        if committed:
            saved = min(trimmed, rows)
            self.dropped -= saved
            del self._buffer[: (rows - saved) * COLUMNS]

    def _commit_failed(self, err: sqlite3.Error) -> None:
        self.commit_errors += 1
        code = getattr(err, "sqlite_errorcode", None)
        kind = "disk full" if code == sqlite3.SQLITE_FULL else "write error"
        if self.disk_problem is None:
            log.error(
                "readings database %s: %s (%s); keeping %d readings in memory",
                self.path, kind, err, self.pending,
            )
        self.disk_problem = f"{kind}: {err}"

    def _commit(self, params: Params, resolve: bool = True) -> None:
        """Commit the rows in ``params`` (a copy of the buffer's head) in one transaction;
        ``resolve``: some may name a new series by key (replaced in ``params``)."""
        self._wait_started()
        start = time.perf_counter()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                new_series: dict[str, int] = {}
                if resolve:
                    resolve_series(conn, params, key_of=self._key_for, series=self._series,
                                   routes=self._route, new_series=new_series)
                insert_rows(conn, params, self._per_statement)
                offline = gapmod.track_offline(
                    conn, params, self._offline, self.clock(), self._series_tags
                )
                # ts_ns of the last row
                last = params[1 - COLUMNS] if params else self.clock()
                assert isinstance(last, int)
                _set_meta(conn, last_alive_ns=str(max(self.clock(), last)), running="1")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            for channel, series in new_series.items():  # now in the file
                key = self._key_for(channel)
                self._routed(channel, series, key[2])
                if self._series:
                    self._forget(key)
            self._offline = offline
            self.last_committed_id = conn.execute("SELECT max(id) FROM readings").fetchone()[0]
        self.committed += len(params) // COLUMNS
        self.last_commit_seconds = time.perf_counter() - start
        self._last_write = time.monotonic()

    def _series_tags(self, series: int) -> tuple[str, str]:
        """(channel, location) of a series, for the gap opened when its device goes offline.

        Read from the file (in the commit's transaction: a series it inserted is there)
        rather than kept in a map of every series (20,000 tuples at 2,000 devices) for an
        event that is rare and records one gap per series.
        """
        row = self._conn.execute(
            "SELECT channel, location FROM series WHERE id = ?", (series,)
        ).fetchone()
        if row is None:
            raise KeyError(series)
        return row[0], row[1]

    def _heartbeat(self) -> None:
        self._wait_started()
        with self._lock:
            _set_meta(self._conn, last_alive_ns=str(self.clock()), running="1")
        self._last_write = time.monotonic()

    # ------------------------------------------------------------------ background
    async def run(self) -> None:
        """Commit, apply retention and run the sinks' forwarders until cancelled.

        Raises ``StoreError`` if the start in the background (``background_start``)
        found the file damaged: the daemon stops, the file untouched.
        """
        if self._start_thread is not None:
            await asyncio.to_thread(self._wait_started)  # no sink forwards from an unchecked file
        async with asyncio.TaskGroup() as group:
            for forwarder in self.forwarders:
                group.create_task(forwarder.run(), name=f"sink:{forwarder.name}")
            await self._commit_loop()

    async def _commit_loop(self) -> None:
        """Commit every ``commit_interval``; apply retention; keep the alive mark fresh."""
        next_retention = 0.0
        delay = self.commit_interval
        while not self._stopping:
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self.flush()
                if time.monotonic() - self._last_write > HEARTBEAT_S:
                    await asyncio.to_thread(self._heartbeat)
                if time.monotonic() >= next_retention:
                    await self.apply_retention()
                    next_retention = time.monotonic() + RETENTION_EVERY_S
                delay = self.commit_interval
            except (StoreError, sqlite3.Error) as err:
                if isinstance(err, sqlite3.Error):
                    self._commit_failed(err)
                delay = min(max(delay * 2, self.commit_interval), 5.0)

    async def apply_retention(self, now_ns: int | None = None) -> int:
        """Delete readings and closed gaps older than ``retention_s``; returns rows deleted."""
        cutoff = (now_ns if now_ns is not None else self.clock()) - int(self.retention_s * 1e9)
        # readings a sink has not finished with stay, whatever their age
        keep_above = min((f.cursor for f in self.forwarders), default=None)
        return await asyncio.to_thread(self._retention, cutoff, keep_above)

    def _retention(self, cutoff: int, keep_above: int | None) -> int:
        self._wait_started()
        deleted = 0
        limit = keep_above if keep_above is not None else self.last_committed_id
        while True:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                n = self._conn.execute(
                    "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE id <= ? "
                    "ORDER BY id LIMIT 20000) AND ts_ns < ?", (limit, cutoff),
                ).rowcount
                if deleted == 0:
                    self._conn.execute(
                        "DELETE FROM gaps WHERE end_ns IS NOT NULL AND end_ns < ?", (cutoff,)
                    )
                self._conn.execute("COMMIT")
            deleted += n
            if n < 20000:
                return deleted

    # ------------------------------------------------------------------ stop
    async def close(self) -> None:
        """Flush, mark a clean stop (so the next start records 'daemon stopped') and close."""
        if self._closed:
            return
        self._stopping = True
        try:
            await self.flush()
        finally:
            self._closed = True
            if self._buffer:
                log.error("%d readings could not be written at stop", self.pending)
            await asyncio.to_thread(self._close_db)

    def _close_db(self) -> None:
        if self._start_thread is not None:
            self._start_thread.join()
        with self._lock:
            conn = self._conn
            if self._start_error is not None:  # refused: the file is left as it was
                conn.close()
                return
            try:
                now = self.clock()
                conn.execute("BEGIN IMMEDIATE")
                gapmod.close_offline(conn, self._offline, now, "daemon stopped")
                _set_meta(conn, running="0", clean_stop_ns=str(now), last_alive_ns=str(now))
                conn.execute("COMMIT")
            except sqlite3.Error:
                log.exception("could not record the clean stop in %s", self.path)
            finally:
                conn.close()

    def health(self) -> list[str]:
        """Problems an operator must see (the disk cannot be written, readings were lost)."""
        problems = []
        if self.disk_problem is not None:
            problems.append(
                f"readings database {self.path}: {self.disk_problem}; "
                f"{self.pending} readings held in memory"
            )
        if self.dropped:
            problems.append(
                f"{self.dropped} readings lost: memory bound reached during a disk fault"
            )
        return problems

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "committed": self.committed,
            "pending": self.pending,
            "invalid": self.invalid,
            "dropped": self.dropped,
            "commit_errors": self.commit_errors,
            "disk_problem": self.disk_problem,
        }


def _set_meta(conn: sqlite3.Connection, **values: str) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )
