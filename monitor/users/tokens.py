"""API tokens for machines (a LIMS, a historian, a script): bearer secrets stored hashed.

A token reads ``cmt_<id>_<secret>``: the id finds the row without scanning,
the secret (256 random bits) is stored only as its SHA-256. A slow hash
(argon2) protects guessable passwords; a random 256-bit secret needs none, and
the API checks a token on every request. Tokens act as their user (with the
user's roles), expire, and are revoked, never deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from monitor.audit import Action
from monitor.errors import AuthError, MonitorError

from .model import TokenInfo, User

if TYPE_CHECKING:
    from .store import UserStore

PREFIX = "cmt"

TOKENS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    expires_ns INTEGER,
    revoked_ns INTEGER,
    created_by TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS tokens_no_delete BEFORE DELETE ON tokens
BEGIN SELECT RAISE(ABORT, 'tokens are revoked, never deleted'); END;
"""

_COLUMNS = ("t.id, u.username, t.name, t.created_ns, t.expires_ns, t.revoked_ns, t.created_by, "
            "t.token_hash, t.user_id")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, store: UserStore) -> None:
        self.store = store

    def issue(self, actor: str, username: str, name: str, *,
              lifetime_s: float | None = None, reason: str | None = None) -> tuple[TokenInfo, str]:
        """A new token for ``username``; returns its info and the secret, shown only once."""
        user = self.store.get(username)
        if user is None:
            raise MonitorError(f"no user {username!r}")
        if user.disabled:
            raise MonitorError(f"user {username!r} is disabled")
        max_age = self.store.policy.token_max_age
        lifetime = max_age if lifetime_s is None else lifetime_s
        if lifetime <= 0 or lifetime > max_age:
            raise MonitorError(f"a token lives between 1 s and {max_age / 86400:g} days")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = self.store.clock()
        expires = now + int(lifetime * 1e9)
        self.store.execute(
            "INSERT INTO tokens (id, user_id, name, token_hash, created_ns, expires_ns, "
            "created_by) VALUES (?,?,?,?,?,?,?)",
            (token_id, user.id, name, _digest(secret), now, expires, actor))
        self.store.audit.record(actor, Action.TOKEN_ISSUED, f"token:{token_id}",
                                new={"user": username, "name": name, "expires_ns": expires},
                                reason=reason)
        info = self.get(token_id)
        assert info is not None
        return info, f"{PREFIX}_{token_id}_{secret}"

    def revoke(self, actor: str, token_id: str, reason: str) -> TokenInfo:
        info = self.get(token_id)
        if info is None:
            raise MonitorError(f"no token {token_id!r}")
        if info.revoked_ns is not None:
            raise MonitorError(f"token {token_id!r} is already revoked")
        self.store.execute("UPDATE tokens SET revoked_ns = ? WHERE id = ?",
                           (self.store.clock(), token_id))
        self.store.audit.record(actor, Action.TOKEN_REVOKED, f"token:{token_id}",
                                old={"user": info.username, "name": info.name}, reason=reason)
        revoked = self.get(token_id)
        assert revoked is not None
        return revoked

    def get(self, token_id: str) -> TokenInfo | None:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
            (token_id,))
        return _info(rows[0]) if rows else None

    def listing(self, username: str | None = None) -> list[TokenInfo]:
        sql = f"SELECT {_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id"
        params: tuple[Any, ...] = ()
        if username is not None:
            sql += " WHERE u.username = ?"
            params = (username,)
        return [_info(r) for r in self.store.query(sql + " ORDER BY t.created_ns", params)]

    def authenticate(self, token: str, *, source: str | None = None) -> User:
        """The token's user, or ``AuthError`` (audited: a bad token is a security event)."""
        parts = token.strip().split("_", 2)
        token_id = parts[1] if len(parts) == 3 and parts[0] == PREFIX else ""
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
            (token_id,)) if token_id else []
        why = "malformed" if not token_id else "unknown"
        if rows:
            info, digest, user_id = _info(rows[0]), str(rows[0][7]), int(rows[0][8])
            user = self.store.by_id(user_id)
            if not hmac.compare_digest(digest, _digest(parts[2])):
                why = "wrong secret"
            elif not info.valid(self.store.clock()):
                why = "revoked" if info.revoked_ns is not None else "expired"
            elif user is None or user.disabled:
                why = "user disabled"
            else:
                return user
        self.store.audit.record("unauthenticated", Action.TOKEN_USED_INVALID,
                                f"token:{token_id or '?'}", new={"why": why, "source": source})
        raise AuthError("invalid API token")


def _info(row: tuple[Any, ...]) -> TokenInfo:
    return TokenInfo(id=str(row[0]), username=str(row[1]), name=str(row[2]),
                     created_ns=int(row[3]), expires_ns=row[4], revoked_ns=row[5],
                     created_by=str(row[6]))
