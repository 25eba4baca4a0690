"""Web sessions: opaque cookies, server-side state, idle and absolute expiry, CSRF tokens.

Sessions live in ``<data_dir>/sessions.db`` so that a config reload (which
rebuilds the HTTP server) or a restart does not log the operators on shift
out. Only the SHA-256 of a session id is stored: a copy of the file does not
let anyone take over a session. Each session carries its own CSRF token
(synchronizer pattern), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import StoreError
from monitor.model import utc_now_ns
from monitor.sqlite_memory import keep_page_cache_small

DB_NAME = "sessions.db"
TOUCH_EVERY_NS = 15 * 1_000_000_000  # last_seen is written at most this often per session

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    source TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(username);
"""


@dataclass(frozen=True)
class Session:
    id_hash: str
    username: str
    csrf: str
    source: str
    created_ns: int
    last_seen_ns: int
    expires_ns: int

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf.encode(), token.encode())


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, data_dir: str | Path, *, idle_s: float, max_s: float,
                 clock: Callable[[], int] = utc_now_ns) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.idle_ns = int(idle_s * 1e9)
        self.max_ns = int(max_s * 1e9)
        self.clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            keep_page_cache_small(self._conn)
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: cannot open the session database: {err}") from err
        self.path.chmod(0o600)

    def create(self, username: str, source: str) -> tuple[str, Session]:
        """A new session; returns the cookie value (only ever held by the client) and the row."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(_hash(session_id), username, secrets.token_urlsafe(32), source,
                          now, now, now + self.max_ns)
        self._execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session.id_hash, username, session.csrf, source, now, now, session.expires_ns),
        )
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The live session for a cookie value, refreshing its idle timer; None when expired."""
        id_hash = _hash(session_id)
        with self._lock:
            row = self._conn.execute(
                "SELECT id_hash, username, csrf, source, created_ns, last_seen_ns, expires_ns "
                "FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()
        if row is None:
            return None
        session = Session(*row)
        now = self.clock()
        if now >= session.expires_ns or now - session.last_seen_ns >= self.idle_ns:
            self.revoke_hash(id_hash)
            return None
        if now - session.last_seen_ns >= TOUCH_EVERY_NS:
            self._execute("UPDATE sessions SET last_seen_ns = ? WHERE id_hash = ?",
                          (now, id_hash))
        return session

    def revoke(self, session_id: str) -> None:
        self.revoke_hash(_hash(session_id))

    def revoke_hash(self, id_hash: str) -> None:
        self._execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def revoke_user(self, username: str) -> int:
        """End every session of a user (disabled account, changed roles)."""
        with self._lock:
            cur = self._conn.execute("DELETE FROM sessions WHERE username = ?", (username,))
        return cur.rowcount

    def purge_expired(self) -> int:
        now = self.clock()
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM sessions WHERE expires_ns <= ? OR last_seen_ns <= ?",
                (now, now - self.idle_ns))
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _execute(self, sql: str, params: tuple[object, ...]) -> None:
        try:
            with self._lock:
                self._conn.execute(sql, params)
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: {err}") from err
