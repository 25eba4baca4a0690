"""``cleanroom-monitor audit verify|export|list`` as an inspector would run them."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.cli.main import main

from .sitecfg import write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    with AuditTrail(tmp_path / "data") as trail:
        for i in range(5):
            trail.record("eng1" if i % 2 else "qa1", "limits.changed", f"limit:{i}", old=i,
                         new=i + 1)
    return path


def test_verify_ok_and_records_itself(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "-c", str(config)]) == 0
    assert "audit trail OK: 5 entries" in capsys.readouterr().out
    with AuditTrail(config.parent / "data") as trail:
        last = trail.entries()[-1]
    assert last.action == "audit.verified"
    assert last.user.startswith("os:")
    assert last.new_value["result"] == "ok"


def test_verify_names_the_tampered_entry(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(config.parent / "data" / "audit.db", isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET new_value = '42' WHERE seq = 3")
    conn.close()
    assert main(["audit", "verify", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "FAILED verification: entry 3: content does not match its hash (altered)" in err
    with AuditTrail(config.parent / "data") as trail:
        last = trail.entries()[-1]
    assert last.new_value["result"] == "failed"  # the detection itself is on record


def test_verify_reports_a_deleted_trail(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(config.parent / "data" / "audit.db") + suffix).unlink(missing_ok=True)
    assert main(["audit", "verify", "-c", str(config)]) == 1
    assert "the trail was deleted" in capsys.readouterr().err


def test_export_csv_and_json(config: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "export", "-c", str(config), "--format", "csv", "--user", "eng1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["object"] for r in rows] == ["limit:1", "limit:3"]
    out = tmp_path / "audit.json"
    assert main(["audit", "export", "-c", str(config), "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["verification"] == "ok"
    assert len(doc["entries"]) == 6  # the CSV export above is on record too
    with AuditTrail(config.parent / "data") as trail:
        exported = trail.entries(action="audit.exported")
    assert [e.new_value["format"] for e in exported] == ["csv", "json"]


def test_list_and_bad_time(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "list", "-c", str(config), "--last", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "limit:4" in lines[-1]
    assert main(["audit", "list", "-c", str(config), "--from", "last tuesday"]) == 1
    assert "not an ISO 8601" in capsys.readouterr().err


def test_verify_reports_a_byte_truncated_file(config: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = config.parent / "data" / "audit.db"
    with AuditTrail(config.parent / "data") as trail:
        for i in range(200):
            trail.record("eng1", "limits.changed", f"limit:{i}", new="x" * 200)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    assert main(["audit", "verify", "-c", str(config)]) == 1
    assert "audit trail FAILED" in capsys.readouterr().err
