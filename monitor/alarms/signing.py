"""Electronic signatures on alarm acknowledgements (``monitor.signatures``, when installed).

An action alarm is acknowledged with a signature bound to the alarm's record:
record type ``alarm``, record id the alarm id, record hash the chain hash of
the event that raised it (immutable, in the hash-chained log). The signer
re-enters a password (``Signer.sign``); the engine checks the seal, the
binding and the audit entry (``Signer.verify``) before it accepts the
acknowledgement, and keeps the signature in the acknowledgement event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitor.errors import AlarmError, AuthError

RECORD_TYPE = "alarm"
MEANING = "acknowledged"

Verifier = Callable[[Mapping[str, Any], str, Mapping[str, Any]], None]


class SignatureCheck:
    """``Signer.verify`` on demand: the user store and trail are opened at the first check."""

    def __init__(self, data_dir: str | Path, user_policy: Any) -> None:
        self.data_dir, self.user_policy = data_dir, user_policy
        self._opened: tuple[Any, Any, Any] | None = None  # trail, users, signer

    def __call__(self, signature: Mapping[str, Any], meaning: str,
                 record: Mapping[str, Any]) -> None:
        from monitor.signatures import Signature

        sig = Signature.from_dict(signature)
        if sig.meaning != meaning:
            raise AuthError(f"the signature means {sig.meaning!r}, not {meaning!r}")
        problem = self._signer().verify(sig, record_type=str(record["record_type"]),
                                        record_id=str(record["record_id"]),
                                        record_hash=str(record["record_hash"]))
        if problem is not None:
            raise AuthError(f"signature rejected: {problem}")

    def _signer(self) -> Any:
        if self._opened is None:
            from monitor.audit import AuditTrail
            from monitor.signatures import Signer
            from monitor.users.store import UserStore

            trail = AuditTrail(self.data_dir)
            users = UserStore(self.data_dir, trail, self.user_policy)
            self._opened = (trail, users, Signer(users, trail))
        return self._opened[2]

    def close(self) -> None:
        if self._opened is not None:
            trail, users, _ = self._opened
            users.close()
            trail.close()
            self._opened = None


def signature_verifier(data_dir: str | Path, user_policy: Any = None) -> Verifier | None:
    """A verifier backed by ``monitor.signatures``; None when that module is absent."""
    try:
        import monitor.signatures
        import monitor.users.store  # noqa: F401
    except ImportError:
        return None
    return SignatureCheck(data_dir, user_policy)


def sign_acknowledgement(data_dir: str | Path, user_policy: Any, username: str, password: str,
                         *, record: Mapping[str, Any], comment: str | None = None
                         ) -> dict[str, Any]:
    """Sign an acknowledgement (CLI): checks the password and the ACKNOWLEDGE permission."""
    try:
        from monitor.audit import AuditTrail
        from monitor.signatures import Signer
        from monitor.users.roles import Permission
        from monitor.users.store import UserStore
    except ImportError as err:
        raise AuthError("electronic signatures need monitor.signatures, which is not "
                        "installed") from err
    with AuditTrail(data_dir) as audit:
        users = UserStore(data_dir, audit, user_policy)
        try:
            sig = Signer(users, audit).sign(
                username, password, meaning=MEANING, record_type=str(record["record_type"]),
                record_id=str(record["record_id"]), record_hash=str(record["record_hash"]),
                permission=Permission.ACKNOWLEDGE, comment=comment, source="cli")
        finally:
            close = getattr(users, "close", None)
            if close is not None:
                close()
    return sig.to_dict()


def signing_record(log: Any, alarm_id: int | None) -> dict[str, Any]:
    """What an acknowledgement signature of an open alarm is bound to: the hash of the event
    that raised it in the chained log ``log``."""
    if alarm_id is None:
        raise AlarmError("only an open alarm can be signed for")
    digest = log.raise_hash(alarm_id)
    if digest is None:
        raise AlarmError(f"alarm {alarm_id} is not on disk yet; try again")
    return {"record_type": RECORD_TYPE, "record_id": str(alarm_id), "record_hash": digest}


def check_signature(verify: Verifier | None, signature: Mapping[str, Any], user: str,
                    record: Mapping[str, Any]) -> None:
    """Refuse a signature that is not the acknowledging user's, for ``acknowledged``, on
    ``record`` (``verify``: the full check of seal, binding and audit entry)."""
    if not isinstance(signature, Mapping):
        raise AlarmError("a signature is a mapping (printed name, time, meaning)")
    signer = signature.get("username", signature.get("user", user))
    if signer != user:
        raise AuthError(f"the signature is {signer!r}'s, not the acknowledging user's")
    if signature.get("meaning", MEANING) != MEANING:
        raise AuthError(f"the signature's meaning must be {MEANING!r}")
    if verify is not None:
        verify(signature, MEANING, record)
