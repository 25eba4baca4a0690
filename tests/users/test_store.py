"""Accounts, roles, passwords (11.300), lockout and their audit entries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from monitor.audit import Action, AuditTrail
from monitor.config import Config
from monitor.errors import AuthError, MonitorError
from monitor.users.model import PasswordChangeRequired, require
from monitor.users.policy import UserPolicy, password_problems
from monitor.users.roles import Permission, Role
from monitor.users.store import UserStore

from .conftest import GOOD_PASSWORD, TEMP_PASSWORD, Clock, add_active, fast_hasher


def actions(trail: AuditTrail) -> list[str]:
    return [e.action for e in trail.entries()]


def test_add_creates_a_temporary_password_and_audits(users: UserStore, trail: AuditTrail) -> None:
    user = users.add("os:root", "jdoe", "Jane Doe", ["qa", "engineer"], "Initial-pass-1")
    assert user.roles == {Role.QA, Role.ENGINEER}
    assert user.must_change_password
    assert user.has(Permission.CLOSE_EXCURSION)
    assert user.has(Permission.MAINTENANCE)
    assert not user.has(Permission.MANAGE_USERS)
    entry = trail.entries()[-1]
    assert (entry.user, entry.action, entry.object) == ("os:root", "user.added", "user:jdoe")
    assert "Initial-pass-1" not in (entry.new or "")
    with pytest.raises(PasswordChangeRequired, match="temporary"):
        users.authenticate("jdoe", "Initial-pass-1")


def test_names_are_unique_case_insensitively_and_never_deleted(
    users: UserStore, tmp_path: Path
) -> None:
    users.add("os:root", "jdoe", "Jane Doe", ["qa"], "Initial-pass-1")
    with pytest.raises(MonitorError, match="never reused"):
        users.add("os:root", "JDoe", "John Doe", ["operator"], "Initial-pass-2")
    users.disable("os:root", "jdoe", "left the company")
    with pytest.raises(MonitorError, match="taken"):
        users.add("os:root", "jdoe", "Jane Doe", ["qa"], "Initial-pass-1")
    conn = sqlite3.connect(tmp_path / "users.db")
    with pytest.raises(sqlite3.DatabaseError, match="never deleted"):
        conn.execute("DELETE FROM users")
    conn.close()


def test_stored_hash_is_argon2id(users: UserStore, tmp_path: Path) -> None:
    users.add("os:root", "jdoe", "Jane Doe", ["qa"], "Initial-pass-1")
    conn = sqlite3.connect(tmp_path / "users.db")
    (digest,) = conn.execute("SELECT password_hash FROM users").fetchone()
    conn.close()
    assert digest.startswith("$argon2id$")
    assert "Initial-pass-1" not in digest
    assert oct((tmp_path / "users.db").stat().st_mode & 0o777) == "0o600"


def test_default_hasher_cost_is_the_library_default(tmp_path: Path) -> None:
    with AuditTrail(tmp_path) as trail, UserStore(tmp_path, trail) as store:
        assert store.hasher.memory_cost == PasswordHasher().memory_cost >= 65536


@pytest.mark.parametrize(("password", "problem"), [
    ("Short-1", "shorter than 10"),
    ("alllowercaseletters", "character classes"),
    ("Xx-jdoe-2026-x", "user name"),
    ("Password123", "well-known"),
    ("aaaaaaaaaaaaAAAA", "repeats"),
    (" Leading-space-1", "white space"),
    ("Xx-Janeth-2026", "part of the user's name"),
])
def test_password_rules(password: str, problem: str) -> None:
    problems = password_problems(password, "jdoe", "Janeth Doe", UserPolicy())
    assert any(problem in p for p in problems), problems


def test_good_password_passes_rules() -> None:
    assert password_problems(GOOD_PASSWORD, "jdoe", "Jane Doe", UserPolicy()) == []


def test_policy_comes_from_the_config() -> None:
    config = Config.model_validate({"users": {"min_length": 14, "lockout_attempts": 3,
                                              "max_age": "30d"}})
    assert config.users.min_length == 14
    assert config.users.max_age == 30 * 86400


def test_refused_password_is_audited_without_the_password(users: UserStore,
                                                          trail: AuditTrail) -> None:
    with pytest.raises(MonitorError, match="password refused: shorter than 10"):
        users.add("os:root", "jdoe", "Jane Doe", ["qa"], "short")
    entry = trail.entries()[-1]
    assert entry.action == Action.PASSWORD_REFUSED
    assert "short\"" not in (entry.new or "")
    assert users.get("jdoe") is None


def test_self_service_change_and_history(users: UserStore, clock: Clock) -> None:
    add_active(users, "jdoe", "qa")
    user = users.authenticate("jdoe", GOOD_PASSWORD)
    assert not user.must_change_password
    with pytest.raises(AuthError):
        users.set_password("jdoe", "jdoe", "Another-pass-77", old_password="wrong")
    with pytest.raises(MonitorError, match="last 5 passwords"):
        users.set_password("jdoe", "jdoe", GOOD_PASSWORD, old_password=GOOD_PASSWORD)
    with pytest.raises(MonitorError, match="last 5 passwords"):
        users.set_password("jdoe", "jdoe", TEMP_PASSWORD, old_password=GOOD_PASSWORD)
    users.set_password("jdoe", "jdoe", "Another-pass-77", old_password=GOOD_PASSWORD)
    assert users.authenticate("jdoe", "Another-pass-77").username == "jdoe"


def test_admin_reset_makes_the_password_temporary(users: UserStore) -> None:
    add_active(users, "jdoe", "qa")
    users.set_password("admin1", "jdoe", "Reset-by-admin-9")
    with pytest.raises(PasswordChangeRequired):
        users.authenticate("jdoe", "Reset-by-admin-9")
    user = users.authenticate("jdoe", "Reset-by-admin-9", allow_password_change=True)
    assert user.must_change_password


def test_password_expires_after_max_age(users: UserStore, clock: Clock) -> None:
    add_active(users, "jdoe", "qa")
    clock.advance(89 * 86400)
    users.authenticate("jdoe", GOOD_PASSWORD)
    clock.advance(2 * 86400)
    with pytest.raises(PasswordChangeRequired, match="expired"):
        users.authenticate("jdoe", GOOD_PASSWORD)
    with pytest.raises(PasswordChangeRequired):
        users.verify_password("jdoe", GOOD_PASSWORD, purpose="signature")


def test_lockout_after_repeated_failures(users: UserStore, trail: AuditTrail,
                                         clock: Clock) -> None:
    add_active(users, "jdoe", "operator")
    for _ in range(4):
        with pytest.raises(AuthError, match="invalid user name or password"):
            users.authenticate("jdoe", "guess")
    with pytest.raises(AuthError):
        users.authenticate("jdoe", "guess")  # the fifth locks
    assert actions(trail)[-2:] == ["user.locked", "user.login_failed"]
    with pytest.raises(AuthError, match="locked"):
        users.authenticate("jdoe", GOOD_PASSWORD)  # even the right password
    clock.advance(15 * 60 + 1)
    assert users.authenticate("jdoe", GOOD_PASSWORD).username == "jdoe"
    failed = trail.entries(action="user.login_failed")
    assert failed[0].user == "unauthenticated"
    assert failed[0].object == "user:jdoe"
    assert failed[0].new_value["why"] == "wrong password"
    assert failed[-1].new_value["why"] == "account locked"


def test_success_resets_the_failure_count(users: UserStore) -> None:
    add_active(users, "jdoe", "operator")
    for _ in range(3):
        for _ in range(4):
            with pytest.raises(AuthError):
                users.authenticate("jdoe", "guess")
        users.authenticate("jdoe", GOOD_PASSWORD)


def test_unlock_by_admin(users: UserStore, trail: AuditTrail) -> None:
    add_active(users, "jdoe", "operator")
    for _ in range(5):
        with pytest.raises(AuthError):
            users.authenticate("jdoe", "guess")
    users.unlock("os:root", "jdoe", "confirmed by phone")
    assert users.authenticate("jdoe", GOOD_PASSWORD)
    assert "user.unlocked" in actions(trail)


def test_unknown_user_gives_the_same_message(users: UserStore, trail: AuditTrail) -> None:
    with pytest.raises(AuthError, match=r"^invalid user name or password$"):
        users.authenticate("nobody", "whatever")
    assert trail.entries()[-1].new_value["why"] == "unknown user"


def test_disabled_user_cannot_log_in_and_enable_restores(users: UserStore) -> None:
    add_active(users, "jdoe", "operator")
    users.disable("os:root", "jdoe", "on leave")
    with pytest.raises(AuthError, match="disabled"):
        users.authenticate("jdoe", GOOD_PASSWORD)
    with pytest.raises(AuthError, match="disabled"):
        require(users.get("jdoe"), Permission.VIEW)  # type: ignore[arg-type]
    users.enable("os:root", "jdoe", "back")
    assert users.authenticate("jdoe", GOOD_PASSWORD).username == "jdoe"


def test_disable_needs_a_reason(users: UserStore) -> None:
    add_active(users, "jdoe", "operator")
    with pytest.raises(MonitorError, match="reason"):
        users.disable("os:root", "jdoe", " ")


def test_roles_and_permissions(users: UserStore, trail: AuditTrail) -> None:
    add_active(users, "op1", "operator")
    op = users.get("op1")
    assert op is not None
    require(op, Permission.ACKNOWLEDGE)
    with pytest.raises(AuthError, match="may not close excursion"):
        require(op, Permission.CLOSE_EXCURSION)
    users.set_roles("os:root", "op1", ["operator", "qa"], "trained for QA review")
    op = users.get("op1")
    assert op is not None
    require(op, Permission.CLOSE_EXCURSION)
    entry = trail.entries()[-1]
    assert (entry.old_value, entry.new_value) == (["operator"], ["operator", "qa"])
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        users.set_roles("os:root", "op1", ["boss"], "promotion")


def test_admin_is_not_a_signer() -> None:
    from monitor.users.roles import ROLE_PERMISSIONS

    assert Permission.CLOSE_EXCURSION not in ROLE_PERMISSIONS[Role.ADMIN]
    assert Permission.ACKNOWLEDGE not in ROLE_PERMISSIONS[Role.ADMIN]


def test_source_throttle(tmp_path: Path, trail: AuditTrail, clock: Clock) -> None:
    policy = UserPolicy(source_attempts=3, source_window="60s", lockout_attempts=50)
    with UserStore(tmp_path, trail, policy, hasher=fast_hasher(), clock=clock) as store:
        add_active(store, "jdoe", "operator")
        for name in ("a", "b", "c"):
            with pytest.raises(AuthError, match="invalid"):
                store.authenticate(name, "x", source="10.0.0.9")
        with pytest.raises(AuthError, match=r"too many failed logins from 10\.0\.0\.9"):
            store.authenticate("jdoe", GOOD_PASSWORD, source="10.0.0.9")
        assert store.authenticate("jdoe", GOOD_PASSWORD, source="10.0.0.10")
        clock.advance(61)
        assert store.authenticate("jdoe", GOOD_PASSWORD, source="10.0.0.9")


def test_every_management_action_is_audited(users: UserStore, trail: AuditTrail) -> None:
    add_active(users, "jdoe", "qa")
    users.authenticate("jdoe", GOOD_PASSWORD, source="127.0.0.1")
    users.logout("jdoe", source="127.0.0.1")
    users.set_roles("os:root", "jdoe", ["qa", "engineer"], "cover")
    users.disable("os:root", "jdoe", "left")
    users.enable("os:root", "jdoe", "returned")
    assert actions(trail) == [
        "user.added", "user.password_changed", "user.login", "user.logout",
        "user.roles_changed", "user.disabled", "user.enabled",
    ]
    assert trail.verify() is None
