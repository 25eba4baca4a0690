"""The QA walk-through on the command line: users, review, signature, report, audit."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from monitor.audit import AuditTrail, iso_utc
from monitor.cli.main import main
from tests.users.conftest import fast_hasher

from .events import T0, S
from .scenario import END, record


def run(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    # the library's default cost (tested in tests/users) takes ~0.3 s a hash on a busy CI box
    monkeypatch.setattr("monitor.users.store.default_hasher", fast_hasher)
    return main(argv)


def add_user(monkeypatch: pytest.MonkeyPatch, c: list[str], name: str, role: str,
             full: str) -> None:
    assert run(monkeypatch, ["user", "add", *c, name, "--full-name", full, "--role", role,
                             "--password-stdin"], "Temporary-Pass-0\n") == 0
    assert run(monkeypatch, ["user", "passwd", *c, name, "--self", "--password-stdin"],
               "Temporary-Pass-0\nCorrect-horse-42\n") == 0


async def test_walk_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    loaded = await record(tmp_path)
    c = ["-c", str(loaded.path)]
    period = ["--from", iso_utc(T0), "--to", iso_utc(END)]
    add_user(monkeypatch, c, "qa1", "qa", "Quentin Assurance")
    add_user(monkeypatch, c, "eng1", "engineer", "Erin Engineer")
    capsys.readouterr()

    assert run(monkeypatch, ["excursions", "list", *c, *period]) == 0
    out = capsys.readouterr().out
    assert "open" in out
    assert len(out.strip().splitlines()) == 3  # header + 2 excursions

    # an engineer may comment but not assess or sign
    assert run(monkeypatch, ["excursions", "review", *c, "1", "--user", "eng1", "--comment",
                             "door closer broken", "--password-stdin"], "Correct-horse-42\n") == 0
    assert run(monkeypatch, ["excursions", "review", *c, "1", "--user", "eng1", "--root-cause",
                             "hvac", "--password-stdin"], "Correct-horse-42\n") == 1
    assert "may not review excursion" in capsys.readouterr().err
    assert run(monkeypatch, ["excursions", "review", *c, "1", "--user", "qa1", "--root-cause",
                             "equipment", "--impact", "minor", "--deviation", "DEV-7",
                             "--password-stdin"], "Correct-horse-42\n") == 0
    # wrong password at signing; a signer without the QA role
    assert run(monkeypatch, ["excursions", "close", *c, "1", "--user", "qa1",
                             "--password-stdin"], "Wrong-horse-42\n") == 1
    assert "invalid user name or password" in capsys.readouterr().err
    assert run(monkeypatch, ["excursions", "close", *c, "1", "--user", "eng1",
                             "--password-stdin"], "Correct-horse-42\n") == 1
    assert "signature refused" in capsys.readouterr().err
    assert run(monkeypatch, ["excursions", "close", *c, "2", "--user", "qa1",
                             "--password-stdin"], "Correct-horse-42\n") == 1
    assert "has not been reviewed" in capsys.readouterr().err
    assert run(monkeypatch, ["excursions", "close", *c, "1", "--user", "qa1", "--comment",
                             "closed per SOP-QA-017", "--password-stdin"],
               "Correct-horse-42\n") == 0
    assert "closed: Quentin Assurance (qa1) — reviewed" in capsys.readouterr().out
    assert run(monkeypatch, ["excursions", "show", *c, "1"]) == 0
    assert "signature     verified" in capsys.readouterr().out

    report = tmp_path / "exc.html"
    assert run(monkeypatch, ["report", "excursions", *c, *period, "-o", str(report)]) == 0
    html = report.read_text()
    assert "Quentin Assurance (qa1) — reviewed" in html
    assert html.count("<svg") == 2
    assert "DEV-7" in html
    assert run(monkeypatch, ["report", "period", *c, *period, "--format", "json", "-o",
                             str(tmp_path / "p.json"), "--user", "qa1", "--password-stdin"],
               "Correct-horse-42\n") == 0
    assert "Quentin Assurance (qa1)" in (tmp_path / "p.json").read_text()
    capsys.readouterr()
    assert run(monkeypatch, ["report", "excursions", *c, "--from", iso_utc(T0 - 86400 * S),
                             "--to", iso_utc(T0 - 3600 * S), "-o", str(tmp_path / "e.html")]) == 1
    assert "report refused: no readings and no excursions" in capsys.readouterr().err
    assert not (tmp_path / "e.html").exists()
    assert run(monkeypatch, ["report", "excursions", *c, *period, "--user", "eng1",
                             "--password-stdin", "-o", str(tmp_path / "x.html")],
               "Correct-horse-42\n") == 1
    assert "may not generate report" in capsys.readouterr().err

    # QA approves the report file; a changed copy no longer verifies
    assert run(monkeypatch, ["report", "approve", *c, str(report), "--user", "qa1",
                             "--password-stdin"], "Correct-horse-42\n") == 0
    assert run(monkeypatch, ["report", "approve", *c, str(report), "--user", "eng1",
                             "--password-stdin"], "Correct-horse-42\n") == 1
    capsys.readouterr()
    assert run(monkeypatch, ["report", "verify", *c, str(report)]) == 0
    out = capsys.readouterr().out
    assert "generated" in out
    assert "Quentin Assurance (qa1) — approved" in out
    copy = tmp_path / "copy.html"
    copy.write_text(html.replace("DEV-7", "DEV-8"))
    (tmp_path / "copy.html.signatures.json").write_text(
        (tmp_path / "exc.html.signatures.json").read_text())
    assert run(monkeypatch, ["report", "verify", *c, str(copy)]) == 1
    out = capsys.readouterr().out
    assert "NOT FOUND in the audit trail" in out
    assert "NOT VALID" in out

    assert run(monkeypatch, ["audit", "verify", *c]) == 0
    with AuditTrail(loaded.config.data_dir) as trail:
        actions = [e.action for e in trail.entries()]
    for expected in ("user.login", "signature.failed", "signature.refused", "signature.applied",
                     "excursion.closed", "report.generated", "report.refused"):
        assert expected in actions
