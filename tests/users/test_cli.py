"""``cleanroom-monitor user ...``: passwords from a prompt or stdin, never argv; all audited."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.cli.main import main
from tests.audit.sitecfg import write_config
from tests.users.conftest import fast_hasher


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def run(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    # the library's default cost (tested in tests/users) takes ~0.3 s a hash on a busy CI box
    monkeypatch.setattr("monitor.users.store.default_hasher", fast_hasher)
    return main(argv)


def test_user_lifecycle(config: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    c = ["-c", str(config)]
    assert run(monkeypatch, ["user", "add", *c, "qa1", "--full-name", "Quentin Assurance",
                             "--role", "qa", "--password-stdin"], "Temporary-Pass-0\n") == 0
    assert "must be changed at first login" in capsys.readouterr().out
    assert run(monkeypatch, ["user", "passwd", *c, "qa1", "--self", "--password-stdin"],
               "Temporary-Pass-0\nCorrect-horse-42\n") == 0
    assert run(monkeypatch, ["user", "roles", *c, "qa1", "--role", "qa,engineer",
                             "--reason", "covers weekends"]) == 0
    assert run(monkeypatch, ["user", "token", *c, "qa1", "--name", "LIMS", "--days", "30"]) == 0
    out = capsys.readouterr()
    secret = out.out.strip().splitlines()[-1]
    assert secret.startswith("cmt_")
    token_id = secret.split("_")[1]
    assert run(monkeypatch, ["user", "token", *c, "qa1", "--list"]) == 0
    assert f"{token_id}  LIMS" in capsys.readouterr().out
    assert run(monkeypatch, ["user", "token", *c, "qa1", "--revoke", token_id,
                             "--reason", "not needed"]) == 0
    assert run(monkeypatch, ["user", "disable", *c, "qa1", "--reason", "left"]) == 0
    capsys.readouterr()
    assert run(monkeypatch, ["user", "list", *c]) == 0
    listing = capsys.readouterr().out
    assert "qa1" in listing
    assert "engineer,qa" in listing
    assert "disabled" in listing
    with AuditTrail(config.parent / "data") as trail:
        assert [e.action for e in trail.entries()] == [
            "user.added", "user.password_changed", "user.roles_changed", "token.issued",
            "token.revoked", "user.disabled",
        ]
        added = trail.entries()[0]
        assert added.user.startswith("os:")
        assert trail.entries()[1].user == "qa1"  # self-service: attributed to the user
        assert trail.verify() is None
        for entry in trail.entries():
            assert "Correct-horse-42" not in (entry.new or "")
            assert secret not in (entry.new or "")


def test_refusals_exit_1_with_a_reason(config: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    c = ["-c", str(config)]
    assert run(monkeypatch, ["user", "add", *c, "op1", "--full-name", "Olga Operator",
                             "--role", "operator", "--password-stdin"], "short\n") == 1
    assert "password refused: shorter than 10" in capsys.readouterr().err
    assert run(monkeypatch, ["user", "add", *c, "op1", "--full-name", "Olga Operator",
                             "--role", "chief", "--password-stdin"], "Temporary-Pass-0\n") == 1
    assert "unknown role 'chief'" in capsys.readouterr().err
    assert run(monkeypatch, ["user", "disable", *c, "ghost", "--reason", "x"]) == 1
    assert "no user 'ghost'" in capsys.readouterr().err
    assert run(monkeypatch, ["user", "add", *c, "op1", "--full-name", "Olga Operator",
                             "--role", "operator", "--password-stdin"], "") == 1
    assert "standard input ended" in capsys.readouterr().err


def test_password_is_not_accepted_on_the_command_line(config: Path) -> None:
    with pytest.raises(SystemExit):
        main(["user", "add", "-c", str(config), "op1", "--full-name", "O", "--role",
              "operator", "--password", "Temporary-Pass-0"])
