"""Writing the audit trail out for an inspector: CSV for spreadsheets, JSON for tools.

An export states how it was made (when, by whom, from which head) and whether
the chain verified at that moment, so a printed copy is not mistaken for
evidence that the trail was intact when it was not.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Any, TextIO

from monitor.integrity import ChainProblem

from .timefmt import iso_utc
from .trail import AuditEntry

CSV_COLUMNS = ("seq", "ts_iso", "ts_ns", "user", "action", "object", "old", "new", "reason",
               "prev_hash", "hash")


def write_csv(entries: Sequence[AuditEntry], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        record = entry.as_dict()
        writer.writerow(["" if record[c] is None else record[c] for c in CSV_COLUMNS])


def write_json(
    entries: Sequence[AuditEntry], out: TextIO, *, head: tuple[int, str],
    problem: ChainProblem | None, exported_by: str, exported_ns: int,
    filters: dict[str, Any] | None = None,
) -> None:
    doc = {
        "exported_at": iso_utc(exported_ns),
        "exported_by": exported_by,
        "head": {"seq": head[0], "hash": head[1]},
        "verification": "ok" if problem is None else str(problem),
        "filters": filters or {},
        "entries": [
            {**e.as_dict(), "old": e.old_value, "new": e.new_value} for e in entries
        ],
    }
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")
