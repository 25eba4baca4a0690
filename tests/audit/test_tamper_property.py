"""Property: whatever single change is made behind the triggers, verify names where it is."""

from __future__ import annotations

import sqlite3
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.audit import AuditTrail

COLUMNS = ("ts_ns", "user", "action", "object", "old_value", "new_value", "reason")


@st.composite
def tampering(draw: st.DrawFn) -> tuple[int, str, int, str]:
    n = draw(st.integers(min_value=2, max_value=12))
    op = draw(st.sampled_from(["edit", "delete", "swap", "truncate"]))
    k = draw(st.integers(min_value=1, max_value=n - 1 if op == "swap" else n))
    column = draw(st.sampled_from(COLUMNS))
    return n, op, k, column


@settings(max_examples=25, deadline=None)
@given(tampering())
def test_any_single_change_is_found_where_it_was_made(case: tuple[int, str, int, str]) -> None:
    n, op, k, column = case
    with tempfile.TemporaryDirectory() as tmp:
        trail = AuditTrail(tmp)
        for i in range(n):
            trail.record(f"u{i}", "a.b", f"o{i}", old=i, new=i + 1, reason=f"r{i}")
        conn = sqlite3.connect(trail.path, isolation_level=None)
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        if op == "edit":
            value = "1" if column == "ts_ns" else "'changed'"
            conn.execute(f"UPDATE audit SET {column} = {value} WHERE seq = ?", (k,))
        elif op == "delete":
            conn.execute("DELETE FROM audit WHERE seq = ?", (k,))
        elif op == "swap":
            conn.execute("UPDATE audit SET seq = -1 WHERE seq = ?", (k,))
            conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (k, k + 1))
            conn.execute("UPDATE audit SET seq = ? WHERE seq = -1", (k + 1,))
        else:
            conn.execute("DELETE FROM audit WHERE seq >= ?", (k,))
        conn.close()
        problem = trail.verify()
        trail.close()
    assert problem is not None, case
    assert problem.seq == k, (case, str(problem))
