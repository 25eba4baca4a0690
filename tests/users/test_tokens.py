"""API tokens: shown once, stored hashed, expire, revoked, audited when misused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.errors import AuthError, MonitorError
from monitor.users.store import UserStore

from .conftest import Clock, add_active


def test_issue_authenticate_revoke(users: UserStore, trail: AuditTrail, tmp_path: Path) -> None:
    add_active(users, "lims", "operator")
    info, secret = users.tokens.issue("os:root", "lims", "LIMS export", lifetime_s=86400)
    assert secret.startswith(f"cmt_{info.id}_")
    assert users.tokens.authenticate(secret).username == "lims"
    conn = sqlite3.connect(tmp_path / "users.db")
    stored = conn.execute("SELECT token_hash FROM tokens").fetchone()[0]
    conn.close()
    assert secret.split("_", 2)[2] not in stored
    users.tokens.revoke("os:root", info.id, "LIMS decommissioned")
    with pytest.raises(AuthError, match="invalid API token"):
        users.tokens.authenticate(secret)
    assert trail.entries()[-1].new_value["why"] == "revoked"
    assert [t.revoked_ns is not None for t in users.tokens.listing("lims")] == [True]


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-2] + "xx",
    lambda s: "cmt_ffffffffffff_" + s.split("_", 2)[2],
    lambda s: "Bearer nonsense",
    lambda s: "",
])
def test_bad_tokens_are_refused_and_audited(users: UserStore, trail: AuditTrail, mangle) -> None:  # type: ignore[no-untyped-def]
    add_active(users, "lims", "operator")
    _, secret = users.tokens.issue("os:root", "lims", "LIMS")
    with pytest.raises(AuthError):
        users.tokens.authenticate(mangle(secret), source="10.1.1.1")
    entry = trail.entries()[-1]
    assert entry.action == "token.rejected"
    assert entry.new_value["source"] == "10.1.1.1"


def test_expiry_and_disabled_user(users: UserStore, clock: Clock) -> None:
    add_active(users, "lims", "operator")
    _, secret = users.tokens.issue("os:root", "lims", "LIMS", lifetime_s=3600)
    clock.advance(3601)
    with pytest.raises(AuthError):
        users.tokens.authenticate(secret)
    _, secret = users.tokens.issue("os:root", "lims", "LIMS 2")
    users.disable("os:root", "lims", "retired")
    with pytest.raises(AuthError):
        users.tokens.authenticate(secret)
    with pytest.raises(MonitorError, match="disabled"):
        users.tokens.issue("os:root", "lims", "LIMS 3")


def test_lifetime_is_bounded(users: UserStore) -> None:
    add_active(users, "lims", "operator")
    with pytest.raises(MonitorError, match="365 days"):
        users.tokens.issue("os:root", "lims", "forever", lifetime_s=10 * 365 * 86400)
