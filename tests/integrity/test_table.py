"""``ChainedTable`` on a table of its own: appending, heads, and every kind of tampering."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import StoreError
from monitor.integrity import (
    GENESIS,
    BrokenRow,
    ChainedTable,
    ChainHead,
    ChainSpec,
    Row,
    chain_hash,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""


def note_record(values: Row) -> dict[str, Any]:
    seq, ts_ns, body = values
    if body.startswith("{"):
        try:
            json.loads(body)
        except ValueError as err:
            raise BrokenRow("body is not valid JSON (altered)") from err
    return {"seq": seq, "ts_ns": ts_ns, "body": body}


SPEC = ChainSpec(chain="notes", table="notes", columns=("seq", "ts_ns", "body"),
                 record=note_record, noun="the notes", entry="note")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000_000

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


def open_table(folder: Path, **kwargs: Any) -> ChainedTable:
    return ChainedTable(folder / "notes.db", SPEC, head_path=folder / "notes.head",
                        schema=SCHEMA, **kwargs)


def add(table: ChainedTable, *bodies: str) -> list[Row]:
    return table.append(lambda seq: [(seq + i, 1_000 * (seq + i), b)
                                     for i, b in enumerate(bodies)])


@pytest.fixture
def table(tmp_path: Path) -> Iterator[ChainedTable]:
    t = open_table(tmp_path, clock=Clock())
    add(t, *(f"note {i}" for i in range(1, 9)))
    yield t
    t.close()


def raw(path: Path) -> sqlite3.Connection:
    """A connection without the append-only triggers, as a tamperer would make it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS notes_no_update")
    conn.execute("DROP TRIGGER IF EXISTS notes_no_delete")
    return conn


def rehash_from(conn: sqlite3.Connection, seq: int) -> tuple[int, str]:
    """Recompute every link and hash from ``seq`` on: the tamperer covering their tracks."""
    row = conn.execute("SELECT hash FROM notes WHERE seq = ?", (seq - 1,)).fetchone()
    prev = GENESIS if row is None else row[0]
    last = seq - 1
    for s, ts, body in conn.execute("SELECT seq, ts_ns, body FROM notes WHERE seq >= ? "
                                    "ORDER BY seq", (seq,)).fetchall():
        digest = chain_hash(prev, {"seq": s, "ts_ns": ts, "body": body})
        conn.execute("UPDATE notes SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, s))
        prev, last = digest, s
    return last, prev


# --- appending --------------------------------------------------------------------------


def test_rows_chain_onto_each_other_and_the_head_file_follows(table: ChainedTable) -> None:
    rows = table.select()
    assert [r[0] for r in rows] == list(range(1, 9))
    assert rows[0][3] == GENESIS
    for before, row in itertools.pairwise(rows):
        assert row[3] == before[4]
        assert row[4] == chain_hash(row[3], {"seq": row[0], "ts_ns": row[1], "body": row[2]})
    head = table.head_file.read()
    assert head == ChainHead("notes", 8, rows[-1][4], 8_000)  # stamped with the row's ts_ns
    assert table.head() == (8, rows[-1][4])
    assert table.hash_at(3) == rows[2][4]
    assert table.hash_at(99) is None
    assert table.verify() is None


def test_an_empty_table_verifies_and_has_the_genesis_head(tmp_path: Path) -> None:
    with_clock = open_table(tmp_path, clock=Clock())
    assert with_clock.head() == (0, GENESIS)
    assert with_clock.verify() is None
    assert with_clock.append(lambda seq: []) == []
    assert with_clock.head_file.read() is None
    published = with_clock.publish_head()
    assert (published.seq, published.hash) == (0, GENESIS)
    with_clock.close()


def test_a_failed_append_writes_nothing(table: ChainedTable) -> None:
    before = (table.head(), table.head_file.read())

    def refuse(seq: int) -> list[Row]:
        raise StoreError("excursion already closed")

    with pytest.raises(StoreError, match="already closed"):
        table.append(refuse)
    with pytest.raises(StoreError, match="note numbered 11 where 10 is due"):  # a hole
        table.append(lambda seq: [(seq, 1, "a"), (seq + 2, 2, "b")])
    with pytest.raises(StoreError, match="note numbered 8 where 9 is due"):  # not continuing
        table.append(lambda seq: [(seq - 1, 1, "a")])
    with pytest.raises(StoreError, match="where 9 is due"):  # a column missing
        table.append(lambda seq: [(seq, 1)])
    assert (table.head(), table.head_file.read()) == before
    assert table.verify() is None


def test_rows_are_made_inside_the_write_transaction(table: ChainedTable, tmp_path: Path) -> None:
    """Another writer cannot slip in between reading the head and appending to it."""
    other = sqlite3.connect(tmp_path / "notes.db", isolation_level=None, timeout=0)
    errors: list[str] = []

    def rows(seq: int) -> list[Row]:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            errors.append(str(err))
        return [(seq, 1, "inside")]

    add_row = table.append(rows)
    other.close()
    assert errors == ["database is locked"]
    assert add_row[0][0] == 9


def test_two_writers_on_one_file_never_fork_the_chain(table: ChainedTable,
                                                      tmp_path: Path) -> None:
    """The daemon and a CLI command append to the same file, each with its own connection."""
    second = open_table(tmp_path)

    def writer(t: ChainedTable, name: str) -> None:
        for i in range(40):
            add(t, f"{name} {i}")

    threads = [threading.Thread(target=writer, args=(t, n))
               for t, n in ((table, "daemon"), (second, "cli"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    assert table.head()[0] == 88
    assert table.verify() is None
    head = table.head_file.read()
    assert head is not None
    assert (head.seq, head.hash) == table.head()


def test_an_existing_file_is_continued_after_reopening(table: ChainedTable,
                                                       tmp_path: Path) -> None:
    before = table.head()
    table.close()
    again = open_table(tmp_path)
    assert again.head() == before
    sealed = add(again, "after restart")
    assert sealed[0][0] == 9
    assert sealed[0][3] == before[1]
    assert again.verify() is None
    again.close()


def test_update_and_delete_are_refused_by_sqlite(table: ChainedTable, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "notes.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
        conn.execute("UPDATE notes SET body = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
        conn.execute("DELETE FROM notes")
    conn.close()
    assert table.verify() is None


def test_read_only_opens_without_writing(table: ChainedTable, tmp_path: Path) -> None:
    ro = open_table(tmp_path, readonly=True)
    try:
        assert ro.verify() is None
        assert ro.head() == table.head()
        with pytest.raises(StoreError, match="note not written"):
            add(ro, "nope")
    finally:
        ro.close()
    assert table.head()[0] == 8


def test_a_spec_must_start_with_seq() -> None:
    with pytest.raises(ValueError, match="seq"):
        ChainSpec(chain="x", table="x", columns=("ts_ns", "seq"), record=note_record,
                  noun="x", entry="x")


def test_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the notes"):
        open_table(tmp_path)


def test_opening_a_file_behind_its_head_is_logged(table: ChainedTable, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with raw(tmp_path / "notes.db") as conn:
        conn.execute("DELETE FROM notes WHERE seq > 6")
    with caplog.at_level(logging.ERROR, "monitor.integrity"):
        open_table(tmp_path).close()
    assert any("behind its published head" in r.getMessage() for r in caplog.records)


# --- tampering --------------------------------------------------------------------------


def problem_of(table: ChainedTable, published: list[ChainHead] | None = None) -> tuple[int, str]:
    problem = table.verify(published or ())
    assert problem is not None
    return problem.seq, problem.message


@pytest.mark.parametrize(("sql", "seq", "message"), [
    (["UPDATE notes SET body = 'nothing happened' WHERE seq = 4"], 4,
     "content does not match its hash (altered)"),
    (["DELETE FROM notes WHERE seq = 3"], 3, "missing (next entry present is 4)"),
    (["DELETE FROM notes WHERE seq = 3",
      *(f"UPDATE notes SET seq = {s - 1} WHERE seq = {s}" for s in range(4, 9))], 3,
     "does not link to the previous entry"),
    (["UPDATE notes SET seq = -5 WHERE seq = 5", "UPDATE notes SET seq = 5 WHERE seq = 6",
      "UPDATE notes SET seq = 6 WHERE seq = -5"], 5, "does not link to the previous entry"),
    (["DELETE FROM notes WHERE seq > 5"], 6,
     "missing: the published head is entry 8 but the database ends at entry 5"),
    (["DELETE FROM notes"], 1,
     "missing: the published head is entry 8 but the database ends at entry 0"),
], ids=["edited", "deleted", "deleted-renumbered", "reordered", "truncated", "emptied"])
def test_tampering_is_named_at_its_first_row(table: ChainedTable, tmp_path: Path,
                                             sql: list[str], seq: int, message: str) -> None:
    with raw(tmp_path / "notes.db") as conn:
        for statement in sql:
            conn.execute(statement)
    found, text = problem_of(table)
    assert found == seq
    assert text.startswith(message)


def test_edited_with_its_hash_recomputed(table: ChainedTable, tmp_path: Path) -> None:
    with raw(tmp_path / "notes.db") as conn:
        prev = conn.execute("SELECT prev_hash FROM notes WHERE seq = 4").fetchone()[0]
        digest = chain_hash(prev, {"seq": 4, "ts_ns": 4_000, "body": "forged"})
        conn.execute("UPDATE notes SET body = 'forged', hash = ? WHERE seq = 4", (digest,))
    seq, message = problem_of(table)
    assert seq == 5
    assert "link" in message


def test_inserted(table: ChainedTable, tmp_path: Path) -> None:
    with raw(tmp_path / "notes.db") as conn:
        for s in range(8, 4, -1):
            conn.execute("UPDATE notes SET seq = ? WHERE seq = ?", (s + 1, s))
        prev = conn.execute("SELECT hash FROM notes WHERE seq = 4").fetchone()[0]
        digest = chain_hash(prev, {"seq": 5, "ts_ns": 4_500, "body": "backdated"})
        conn.execute("INSERT INTO notes VALUES (5, 4500, 'backdated', ?, ?)", (prev, digest))
    seq, message = problem_of(table)
    assert seq == 6
    assert "link" in message


def test_head_file_deleted(table: ChainedTable) -> None:
    table.head_file.path.unlink()
    seq, message = problem_of(table)
    assert seq == 8
    assert "head file is missing" in message


def test_rewritten_with_the_head_file_is_caught_by_a_published_head(
    table: ChainedTable, tmp_path: Path,
) -> None:
    published = table.current_head()  # what the journal or InfluxDB kept
    with raw(tmp_path / "notes.db") as conn:
        conn.execute("UPDATE notes SET body = 'nothing happened' WHERE seq = 2")
        seq, digest = rehash_from(conn, 2)
    table.head_file.path.write_text(json.dumps(
        {"chain": "notes", "seq": seq, "hash": digest, "ts_ns": 0}))
    assert table.verify() is None  # the data directory alone cannot tell
    seq, message = problem_of(table, [published])
    assert seq == 8
    assert "does not match the published head" in message
    older = ChainHead("notes", 1, table.select("seq = 1")[0][4], 0)
    assert table.verify([older]) is None  # entry 1 was not touched


def test_a_head_of_another_chain_is_refused(table: ChainedTable) -> None:
    with pytest.raises(ValueError, match="audit"):
        table.verify([ChainHead("audit", 1, GENESIS, 0)])


def test_a_broken_row_is_reported_in_order(table: ChainedTable, tmp_path: Path) -> None:
    with raw(tmp_path / "notes.db") as conn:
        conn.execute("UPDATE notes SET body = '{not json' WHERE seq = 6")
    assert problem_of(table) == (6, "body is not valid JSON (altered)")
    with raw(tmp_path / "notes.db") as conn:
        conn.execute("DELETE FROM notes WHERE seq = 2")
    assert problem_of(table)[0] == 2  # the earlier problem is named first


def test_a_verification_that_stops_early_does_not_hide_later_commits(
    table: ChainedTable, tmp_path: Path,
) -> None:
    with raw(tmp_path / "notes.db") as conn:
        conn.execute("UPDATE notes SET body = '{not json' WHERE seq = 3")
    assert problem_of(table)[0] == 3
    other = open_table(tmp_path)
    add(other, "from another connection")
    other.close()
    assert table.head()[0] == 9
    assert add(table, "still appends")[0][0] == 10


TAMPERINGS = ("edit", "edit_rehash", "delete", "delete_renumber", "insert", "swap", "truncate")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(2, 12), where=st.integers(0, 11), how=st.sampled_from(TAMPERINGS))
def test_any_single_tampering_is_named_where_it_starts(
    tmp_path_factory: pytest.TempPathFactory, count: int, where: int, how: str,
) -> None:
    folder = tmp_path_factory.mktemp("notes")
    table = open_table(folder)
    add(table, *(f"note {i}" for i in range(1, count + 1)))
    at = where % count + 1  # the first entry affected
    if how == "swap" and at == count:
        at -= 1
    with raw(folder / "notes.db") as conn:
        if how == "edit":
            conn.execute("UPDATE notes SET body = 'x' WHERE seq = ?", (at,))
            expected = at
        elif how == "edit_rehash":
            conn.execute("UPDATE notes SET body = 'x' WHERE seq = ?", (at,))
            prev = conn.execute("SELECT prev_hash FROM notes WHERE seq = ?", (at,)).fetchone()[0]
            digest = chain_hash(prev, {"seq": at, "ts_ns": 1_000 * at, "body": "x"})
            conn.execute("UPDATE notes SET hash = ? WHERE seq = ?", (digest, at))
            expected = at + 1 if at < count else at  # the next link, or the head file
        elif how in ("delete", "delete_renumber"):
            conn.execute("DELETE FROM notes WHERE seq = ?", (at,))
            if how == "delete_renumber":
                for s in range(at + 1, count + 1):
                    conn.execute("UPDATE notes SET seq = ? WHERE seq = ?", (s - 1, s))
            expected = at
        elif how == "insert":
            for s in range(count, at - 1, -1):
                conn.execute("UPDATE notes SET seq = ? WHERE seq = ?", (s + 1, s))
            prev = GENESIS if at == 1 else conn.execute(
                "SELECT hash FROM notes WHERE seq = ?", (at - 1,)).fetchone()[0]
            digest = chain_hash(prev, {"seq": at, "ts_ns": 1, "body": "slipped in"})
            conn.execute("INSERT INTO notes VALUES (?, 1, 'slipped in', ?, ?)",
                         (at, prev, digest))
            expected = at + 1
        elif how == "swap":
            conn.execute("UPDATE notes SET seq = -1 WHERE seq = ?", (at,))
            conn.execute("UPDATE notes SET seq = ? WHERE seq = ?", (at, at + 1))
            conn.execute("UPDATE notes SET seq = ? WHERE seq = -1", (at + 1,))
            expected = at
        else:
            conn.execute("DELETE FROM notes WHERE seq >= ?", (at,))
            expected = at
    problem = table.verify()
    table.close()
    assert problem is not None, how
    assert problem.seq == expected, (how, at, count, problem)
