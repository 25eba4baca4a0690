"""Read the embedded history: raw readings, downsampled buckets, latest values, gaps.

This is what the CLI ``query`` command, the reports and the web page read.
It opens ``readings.db`` with its own connection (WAL lets it read while the
daemon writes) and never changes it.

Downsampling aggregates per bucket of ``every_s`` seconds, aligned to the
epoch (so 1-minute buckets start on the minute, UTC): ``count`` of readings,
``good`` how many of them had quality good, and ``min``/``max``/``mean`` of
the good values only: a value of doubtful quality never makes a report look
better or worse than the measured air was. Empty buckets are not returned;
the gaps list says why there is no data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from monitor.errors import StoreError
from monitor.storage.gaps import Gap, gaps_between
from monitor.storage.schema import BUCKET_NS, BUCKET_SQL, bucket_index_current, reader

READINGS_DB = "readings.db"
#: the buckets ``first..last`` of a query's range, one row each, oldest first; every
#: query seeks the readings index once per bucket and series (see ``schema.BUCKET_NS``)
_WALK_UP = "WITH RECURSIVE b(k) AS (SELECT ? UNION ALL SELECT k + 1 FROM b WHERE k < ?)"


def bucket_of(ts_ns: int) -> int:
    """The index bucket of ``ts_ns`` as SQLite computes it (integer division truncates)."""
    return ts_ns // BUCKET_NS if ts_ns >= 0 else -(-ts_ns // BUCKET_NS)


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    id: int
    channel: str
    device: str
    location: str
    room: str
    grade: str
    unit: str
    site: str


@dataclass(frozen=True, slots=True)
class Sample:
    channel: str
    location: str
    unit: str
    ts_ns: int
    value: float | None
    raw: float | None
    quality: str
    state: str | None
    device_ts_ns: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class Bucket:
    channel: str
    location: str
    unit: str
    start_ns: int
    end_ns: int
    count: int
    good: int
    min: float | None
    max: float | None
    mean: float | None


@dataclass(frozen=True)
class QueryResult:
    series: list[SeriesInfo]
    from_ns: int
    to_ns: int
    every_s: float | None
    samples: list[Sample] = field(default_factory=list)  # when every_s is None
    buckets: list[Bucket] = field(default_factory=list)  # when every_s is set
    gaps: list[Gap] = field(default_factory=list)


class History:
    """Read-only access to ``<data_dir>/readings.db`` (or a database path given directly)."""

    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir)
        self.path = path if path.suffix == ".db" else path / READINGS_DB
        self._conn = reader(self.path)
        try:
            #: False for a file the daemon of this version has not opened yet (its index is
            #: still the older one): queries then leave the choice of index to SQLite
            self._bucketed = bucket_index_current(self._conn)
        except sqlite3.Error as err:
            self._conn.close()
            raise StoreError(f"{self.path}: cannot read the readings database: {err}") from err

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: query failed: {err}") from err

    def series(self, channel: str | None = None, location: str | None = None) -> list[SeriesInfo]:
        """Series matching ``channel`` (an id ``device/channel``, or a channel name) and/or
        ``location``; every series when both are None."""
        where, args = ["1"], []
        if channel:
            if "/" in channel:
                where.append("channel = ?")
                args.append(channel)
            else:
                where.append("(channel = ? OR channel LIKE '%/' || ?)")
                args += [channel, channel]
        if location:
            where.append("location = ?")
            args.append(location)
        with self._errors() as conn:
            rows = conn.execute(
                "SELECT id, channel, device, location, room, grade, unit, site FROM series "
                f"WHERE {' AND '.join(where)} ORDER BY channel, id", args,
            ).fetchall()
        return [SeriesInfo(*r) for r in rows]

    def query(
        self,
        channel: str | None = None,
        location: str | None = None,
        from_ns: int = 0,
        to_ns: int = 2**63 - 1,
        every_s: float | None = None,
        *,
        limit: int | None = None,
    ) -> QueryResult:
        """Readings in ``[from_ns, to_ns)``, raw or downsampled, with the gaps in that range."""
        if to_ns <= from_ns:
            raise StoreError("the end of a query range must be after its start")
        series = self.series(channel, location)
        result = QueryResult(series, from_ns, to_ns, every_s)
        if not series:
            return result
        by_id = {s.id: s for s in series}
        marks = ",".join("?" * len(by_id))
        with self._errors() as conn:
            # the walk over the range's buckets, and the readings of each (schema.BUCKET_NS);
            # INDEXED BY: with a series list SQLite may otherwise prefer a plan per bucket
            # that scans the series' whole range
            walk, source, match = (
                (_WALK_UP, "b CROSS JOIN readings r INDEXED BY readings_bucket",
                 f"r.{BUCKET_SQL} = b.k AND ")
                if self._bucketed else ("", "readings r", "")
            )
            buckets = self._buckets(conn, from_ns, to_ns) if self._bucketed else ()
            if buckets is None:
                pass  # nothing stored in the range
            elif every_s is None:
                sql = (
                    f"{walk} SELECT r.series, r.ts_ns, r.value, r.raw, r.quality, r.state, "
                    f"r.device_ts_ns, r.detail FROM {source} "
                    f"WHERE {match}r.series IN ({marks}) "
                    "AND r.ts_ns >= ? AND r.ts_ns < ? "
                    "ORDER BY r.ts_ns, r.id" + (f" LIMIT {int(limit)}" if limit else "")
                )
                for row in conn.execute(sql, (*buckets, *by_id, from_ns, to_ns)):
                    info = by_id[row[0]]
                    result.samples.append(Sample(info.channel, info.location, info.unit, *row[1:]))
            else:
                every_ns = max(1, int(every_s * 1e9))
                sql = (
                    f"{walk} SELECT s.channel, s.location, s.unit, "
                    f"(r.ts_ns / {every_ns}) * {every_ns} AS t, count(*), sum(r.quality = 'good'), "
                    "min(CASE WHEN r.quality = 'good' THEN r.value END), "
                    "max(CASE WHEN r.quality = 'good' THEN r.value END), "
                    "avg(CASE WHEN r.quality = 'good' THEN r.value END) "
                    f"FROM {source} JOIN series s ON s.id = r.series "
                    f"WHERE {match}r.series IN ({marks}) "
                    "AND r.ts_ns >= ? AND r.ts_ns < ? "
                    "GROUP BY s.channel, s.location, s.unit, t ORDER BY t, s.channel"
                )
                for ch, loc, unit, start, count, good, lo, hi, mean in conn.execute(
                    sql, (*buckets, *by_id, from_ns, to_ns)
                ):
                    result.buckets.append(
                        Bucket(ch, loc, unit, start, start + every_ns, count, good, lo, hi, mean)
                    )
        result.gaps.extend(
            self.gaps(
                from_ns, to_ns,
                channels=[s.channel for s in series],
                locations=sorted({s.location for s in series}),
            )
        )
        return result

    def latest(self, channel: str | None = None, location: str | None = None) -> list[Sample]:
        """The newest reading of each matching channel."""
        out: dict[str, Sample] = {}
        with self._errors() as conn:
            for info in self.series(channel, location):
                row = self._latest_row(conn, info.id)
                if row is None:
                    continue
                sample = Sample(info.channel, info.location, info.unit, *row)
                if info.channel not in out or out[info.channel].ts_ns < sample.ts_ns:
                    out[info.channel] = sample
        return [out[k] for k in sorted(out)]

    def _latest_row(self, conn: sqlite3.Connection, series: int) -> Any:
        """The newest reading of one series: the newest bucket holding it first (the walk
        down stops at the first hit), then the newest reading in that bucket."""
        columns = "ts_ns, value, raw, quality, state, device_ts_ns, detail"
        if not self._bucketed:
            return conn.execute(
                f"SELECT {columns} FROM readings WHERE series = ? "
                "ORDER BY ts_ns DESC, id DESC LIMIT 1", (series,),
            ).fetchone()
        buckets = self._buckets(conn, -(2**63), 2**63 - 1)
        if buckets is None:
            return None
        found = conn.execute(
            "WITH RECURSIVE b(k) AS (SELECT ? UNION ALL SELECT k - 1 FROM b WHERE k > ?) "
            "SELECT k FROM b WHERE EXISTS (SELECT 1 FROM readings INDEXED BY readings_bucket "
            f"WHERE {BUCKET_SQL} = b.k AND series = ?) LIMIT 1",
            (buckets[1], buckets[0], series),
        ).fetchone()
        if found is None:
            return None
        return conn.execute(
            f"SELECT {columns} FROM readings INDEXED BY readings_bucket "
            f"WHERE {BUCKET_SQL} = ? AND series = ? ORDER BY ts_ns DESC, id DESC LIMIT 1",
            (found[0], series),
        ).fetchone()

    @staticmethod
    def _buckets(conn: sqlite3.Connection, from_ns: int, to_ns: int) -> tuple[int, int] | None:
        """The index buckets ``(first, last)`` holding readings of ``[from_ns, to_ns)``,
        clamped to those in the file (two index look-ups); None if there are none."""
        lo = conn.execute(f"SELECT min({BUCKET_SQL}) FROM readings").fetchone()[0]
        hi = conn.execute(f"SELECT max({BUCKET_SQL}) FROM readings").fetchone()[0]
        if lo is None or hi is None:
            return None
        first, last = max(lo, bucket_of(from_ns)), min(hi, bucket_of(to_ns - 1))
        return (first, last) if first <= last else None

    def gaps(
        self,
        from_ns: int,
        to_ns: int,
        *,
        channels: list[str] | None = None,
        locations: list[str] | None = None,
    ) -> list[Gap]:
        """Daemon gaps always; device-offline gaps of the given channels/locations."""
        with self._errors() as conn:
            return gaps_between(conn, from_ns, to_ns, locations=locations, channels=channels)
