"""The user store: ``<data_dir>/users.db``, argon2id password hashes, lockout, audit.

Accounts are never deleted (a triggers refuses it): 21 CFR 11.300(a) wants an
id/password combination never to be reused, and signatures made under an
account must stay attributable to a person. Accounts are disabled instead.
Every change, and every login attempt, is written to the audit trail with
the acting user; passwords and hashes never are.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from monitor.audit import Action, AuditTrail
from monitor.errors import AuthError, MonitorError, StoreError
from monitor.integrity.table import create_schema
from monitor.model import utc_now_ns
from monitor.sqlite_memory import keep_page_cache_small

from .model import PasswordChangeRequired, User
from .policy import UserPolicy, password_problems
from .roles import Role, parse_roles
from .throttle import LoginThrottle
from .tokens import TOKENS_SCHEMA, Tokens

if TYPE_CHECKING:
    from argon2 import PasswordHasher

DB_NAME = "users.db"
BAD_LOGIN = "invalid user name or password"
UNAUTHENTICATED = "unauthenticated"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    full_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    password_set_ns INTEGER NOT NULL,
    must_change INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until_ns INTEGER,
    created_ns INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    last_login_ns INTEGER
);
CREATE TABLE IF NOT EXISTS password_history (
    user_id INTEGER NOT NULL REFERENCES users(id),
    password_hash TEXT NOT NULL,
    set_ns INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS users_no_delete BEFORE DELETE ON users
BEGIN SELECT RAISE(ABORT, 'users are disabled, never deleted'); END;
"""

def default_hasher() -> PasswordHasher:
    """argon2id at the library's default cost.

    argon2 and cffi (10 modules and two shared libraries, ~0.5 MB of the daemon's
    RSS) are imported here, at the first password operation (a login, a signature,
    a new account), not when the store is opened: a daemon nobody logs in to
    never loads them.
    """
    from argon2 import PasswordHasher

    return PasswordHasher()


_USER_COLUMNS = ("id, username, full_name, roles, disabled, must_change, password_set_ns, "
                 "locked_until_ns, created_ns, last_login_ns")


class UserStore:
    """Accounts of one site. ``actor`` arguments name who makes a change, for the trail.

    Authorisation of the actor (is an admin?) is the caller's job: the HTTP API
    checks ``Permission.MANAGE_USERS``; the CLI trusts the operating-system
    account that can read the data directory, and records it as ``os:<login>``.
    """

    def __init__(
        self,
        data_dir: str | Path,
        audit: AuditTrail,
        policy: UserPolicy | None = None,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], int] = utc_now_ns,
    ) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.audit = audit
        self.policy = policy or UserPolicy()
        self._hasher = hasher
        self.clock = clock
        self.throttle = LoginThrottle(self.policy.source_attempts, self.policy.source_window,
                                      clock)
        self._lock = threading.Lock()
        self._dummy: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            keep_page_cache_small(self._conn)
            create_schema(self._conn, _SCHEMA + TOKENS_SCHEMA)  # one sync of the WAL
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{self.path}: cannot open the user store: {err}") from err
        with contextlib.suppress(OSError):  # not ours to change (run as another account)
            self.path.chmod(0o600)
        self.tokens = Tokens(self)

    @property
    def hasher(self) -> PasswordHasher:
        """The store's hasher, made by ``default_hasher`` at first use unless one was given."""
        if self._hasher is None:
            self._hasher = default_hasher()
        return self._hasher

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- queries -------------------------------------------------------------------------

    def get(self, username: str) -> User | None:
        rows = self.query(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return self._user(rows[0]) if rows else None

    def by_id(self, user_id: int) -> User | None:
        rows = self.query(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return self._user(rows[0]) if rows else None

    def users(self) -> list[User]:
        return [self._user(r) for r in self.query(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")]

    def _user(self, row: tuple[Any, ...]) -> User:
        max_age_ns = int(self.policy.max_age * 1e9)
        set_ns = int(row[6])
        return User(
            id=int(row[0]), username=str(row[1]), full_name=str(row[2]),
            roles=parse_roles([str(row[3])]), disabled=bool(row[4]),
            must_change_password=bool(row[5]), password_set_ns=set_ns,
            password_expires_ns=set_ns + max_age_ns if max_age_ns else None,
            locked_until_ns=row[7], created_ns=int(row[8]), last_login_ns=row[9],
        )

    def _require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise MonitorError(f"no user {username!r}")
        return user

    # --- account management --------------------------------------------------------------

    def add(self, actor: str, username: str, full_name: str, roles: Iterable[Role | str],
            password: str, *, reason: str | None = None, must_change: bool = True) -> User:
        """Create an account. Its first password is temporary unless ``must_change`` is False."""
        role_set = parse_roles(str(r) for r in roles)
        if not full_name.strip():
            raise MonitorError("a user needs a full name: it is printed on their signatures")
        self._check_password(actor, username, full_name, password, [])
        now = self.clock()
        digest = self.hasher.hash(password)
        with self._lock:
            try:
                cur = self._conn.execute(
                    "INSERT INTO users (username, full_name, roles, password_hash, "
                    "password_set_ns, must_change, created_ns, created_by) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (username, full_name.strip(), ",".join(sorted(role_set)), digest, now,
                     int(must_change), now, actor))
                self._conn.execute("INSERT INTO password_history VALUES (?,?,?)",
                                   (cur.lastrowid, digest, now))
            except sqlite3.IntegrityError as err:
                raise MonitorError(f"user name {username!r} is taken (names are never reused, "
                                   "even of disabled accounts)") from err
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: user not added: {err}") from err
        user = self._require(username)
        self.audit.record(actor, Action.USER_ADDED, f"user:{username}", new=user.public(),
                          reason=reason)
        return user

    def set_password(self, actor: str, username: str, new_password: str, *,
                     old_password: str | None = None, reason: str | None = None) -> User:
        """Change a password. The user themself must give the old one; anyone else (an
        admin resetting it) sets a temporary password that must be changed at next login."""
        user = self._require(username)
        self_service = actor == username
        if self_service:
            if old_password is None:
                raise AuthError("the current password is needed to change it")
            self._verify(user.username, old_password, purpose="password change")
        history = [str(r[0]) for r in self.query(
            "SELECT password_hash FROM password_history WHERE user_id = ? ORDER BY set_ns DESC "
            "LIMIT ?", (user.id, self.policy.history))] if self.policy.history else []
        self._check_password(actor, username, user.full_name, new_password, history)
        now = self.clock()
        digest = self.hasher.hash(new_password)
        self.execute(
            "UPDATE users SET password_hash = ?, password_set_ns = ?, must_change = ?, "
            "failed_attempts = 0, locked_until_ns = NULL WHERE id = ?",
            (digest, now, int(not self_service), user.id))
        self.execute("INSERT INTO password_history VALUES (?,?,?)", (user.id, digest, now))
        self.audit.record(actor, Action.PASSWORD_CHANGED, f"user:{username}",
                          new={"temporary": not self_service}, reason=reason)
        return self._require(username)

    def disable(self, actor: str, username: str, reason: str) -> User:
        return self._set_flag(actor, username, "disabled", 1, action=Action.USER_DISABLED,
                              reason=reason)

    def enable(self, actor: str, username: str, reason: str) -> User:
        return self._set_flag(actor, username, "disabled", 0, action=Action.USER_ENABLED,
                              reason=reason)

    def unlock(self, actor: str, username: str, reason: str) -> User:
        user = self._require(username)
        self.execute("UPDATE users SET failed_attempts = 0, locked_until_ns = NULL WHERE id = ?",
                      (user.id,))
        self.audit.record(actor, Action.USER_UNLOCKED, f"user:{username}",
                          old={"locked_until_ns": user.locked_until_ns}, reason=reason)
        return self._require(username)

    def set_roles(self, actor: str, username: str, roles: Iterable[Role | str],
                  reason: str) -> User:
        user = self._require(username)
        role_set = parse_roles(str(r) for r in roles)
        self.execute("UPDATE users SET roles = ? WHERE id = ?",
                      (",".join(sorted(role_set)), user.id))
        self.audit.record(actor, Action.ROLES_CHANGED, f"user:{username}",
                          old=sorted(user.roles), new=sorted(role_set), reason=reason)
        return self._require(username)

    def _set_flag(self, actor: str, username: str, column: str, value: int, *, action: Action,
                  reason: str) -> User:
        if not reason.strip():
            raise MonitorError("a reason is required")
        user = self._require(username)
        self.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (value, user.id))
        self.audit.record(actor, action, f"user:{username}", old={column: bool(1 - value)},
                          new={column: bool(value)}, reason=reason)
        return self._require(username)

    def _check_password(self, actor: str, username: str, full_name: str, password: str,
                        history: list[str]) -> None:
        problems = password_problems(password, username, full_name, self.policy)
        if any(self._matches(old, password) for old in history):
            problems.append(f"was used among the last {self.policy.history} passwords")
        if problems:
            self.audit.record(actor, Action.PASSWORD_REFUSED, f"user:{username}",
                              new={"problems": problems})
            raise MonitorError("password refused: " + "; ".join(problems))

    def _dummy_hash(self) -> str:
        """Verifying against this for unknown users keeps their timing like known ones."""
        if self._dummy is None:
            self._dummy = self.hasher.hash("no such user: timing equaliser")
        return self._dummy

    def _matches(self, digest: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self.hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return False

    # --- authentication ------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, source: str | None = None,
                     allow_password_change: bool = False) -> User:
        """Log in: the user, or ``AuthError``. Success and failure are both audited.

        An expired or temporary password raises ``PasswordChangeRequired`` unless
        ``allow_password_change`` (the login page then asks for a new one).
        """
        if source is not None:
            try:
                self.throttle.check(source)
            except AuthError as err:
                self.audit.record(UNAUTHENTICATED, Action.LOGIN_FAILED, f"user:{username}",
                                  new={"source": source, "why": "throttled"})
                raise err
        try:
            user = self._verify(username, password, purpose="login", source=source)
        except AuthError:
            if source is not None:
                self.throttle.failed(source)
            raise
        if source is not None:
            self.throttle.succeeded(source)
        now = self.clock()
        if (user.must_change_password or user.password_expired(now)) and not (
                allow_password_change):
            self.audit.record(user.username, Action.LOGIN_FAILED, f"user:{user.username}",
                              new={"source": source, "why": "password change required"})
            raise PasswordChangeRequired(
                f"the password of {user.username!r} "
                + ("is temporary" if user.must_change_password else "has expired")
                + " and must be changed")
        self.execute("UPDATE users SET last_login_ns = ? WHERE id = ?", (now, user.id))
        self.audit.record(user.username, Action.LOGIN, f"user:{user.username}",
                          new={"source": source})
        return user

    def logout(self, username: str, *, source: str | None = None, why: str = "logout") -> None:
        self.audit.record(username, Action.LOGOUT, f"user:{username}",
                          new={"source": source, "why": why})

    def verify_password(self, username: str, password: str, *, purpose: str,
                        source: str | None = None) -> User:
        """Check a re-entered password (signatures): the enabled, unlocked, current user.

        Failures count towards the lockout and are audited; success is not audited
        here (the caller records what the password was given for).
        """
        user = self._verify(username, password, purpose=purpose, source=source)
        if user.must_change_password or user.password_expired(self.clock()):
            raise PasswordChangeRequired(f"the password of {username!r} must be changed first")
        return user

    def _verify(self, username: str, password: str, *, purpose: str,
                source: str | None = None) -> User:
        now = self.clock()
        rows = self.query("SELECT id, password_hash FROM users WHERE username = ?", (username,))
        if not rows:
            self._matches(self._dummy_hash(), password)
            self._fail(username, purpose, source, "unknown user")
        user_id, digest = int(rows[0][0]), str(rows[0][1])
        user = self.by_id(user_id)
        assert user is not None
        if user.locked(now):
            self._fail(user.username, purpose, source, "account locked")
        if not self._matches(digest, password):
            self._count_failure(user, purpose, source)
        if user.disabled:
            self._fail(user.username, purpose, source, "account disabled",
                       message=f"account {user.username!r} is disabled")
        self.execute("UPDATE users SET failed_attempts = 0 WHERE id = ?", (user.id,))
        if self.hasher.check_needs_rehash(digest):
            self.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                          (self.hasher.hash(password), user.id))
        return user

    def _count_failure(self, user: User, purpose: str, source: str | None) -> None:
        with self._lock:
            row = self._conn.execute(
                "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = ? "
                "RETURNING failed_attempts", (user.id,)).fetchone()
        attempts = int(row[0])
        if attempts >= self.policy.lockout_attempts:
            until = self.clock() + int(self.policy.lockout_duration * 1e9)
            self.execute("UPDATE users SET failed_attempts = 0, locked_until_ns = ? "
                          "WHERE id = ?", (until, user.id))
            self.audit.record(user.username, Action.USER_LOCKED, f"user:{user.username}",
                              new={"attempts": attempts, "locked_until_ns": until,
                                   "source": source})
        self._fail(user.username, purpose, source, "wrong password", attempts=attempts)

    def _fail(self, username: str, purpose: str, source: str | None, why: str, *,
              message: str = BAD_LOGIN, attempts: int | None = None) -> NoReturn:
        # a failed login is not attributable to the account it claimed; a failed
        # signature or password change comes from a session of that account
        login = purpose == "login"
        action = Action.LOGIN_FAILED if login else Action.SIGNATURE_FAILED
        new: dict[str, Any] = {"purpose": purpose, "why": why, "source": source}
        if attempts is not None:
            new["attempts"] = attempts
        self.audit.record(UNAUTHENTICATED if login else username, action, f"user:{username}",
                          new=new)
        if why == "account locked":
            message = f"account {username!r} is locked after repeated failures"
        raise AuthError(message)

    # --- plumbing ------------------------------------------------------------------------

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, params)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: {err}") from err

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: {err}") from err
