"""Electronic signatures (21 CFR 11.50, 11.70, 11.200; EU GMP Annex 11 §14).

A signature is given by re-entering one's password at the moment of signing;
it shows the printed name, the UTC time and the meaning ("reviewed",
"approved"...), and it is bound to the signed record's hash, so that it
cannot be cut from one record and pasted onto another, nor survive a change
of the record it signed.

Binding is done twice. The signature's fields, including the record's type,
id and hash, are sealed with an HMAC whose key lives only on the server
(``<data_dir>/signing.key``, mode 0600): a copied or edited signature fails
the seal. And every signature is written to the hash-chained audit trail,
whose entry must match: a signature forged by someone holding the key still
has no audit entry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from monitor.audit import Action, AuditTrail, iso_utc
from monitor.errors import AuthError, MonitorError, StoreError
from monitor.integrity import canonical
from monitor.users.model import User, require
from monitor.users.roles import Permission
from monitor.users.store import UserStore

KEY_NAME = "signing.key"


class Meaning(StrEnum):
    """What the signer means by signing (11.50(a)(3))."""

    AUTHORED = "authored"
    ACKNOWLEDGED = "acknowledged"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    VERIFIED = "verified"
    REJECTED = "rejected"


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON: what a signature is bound to."""
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True)
class Signature:
    id: str
    user_id: int
    username: str
    printed_name: str
    meaning: str
    ts_ns: int
    ts_iso: str
    record_type: str
    record_id: str
    record_hash: str
    comment: str | None
    seal: str
    audit_seq: int = 0  # the audit entry that records this signature

    def sealed_fields(self) -> dict[str, Any]:
        out = asdict(self)
        del out["seal"], out["audit_seq"]
        return out

    def manifestation(self) -> str:
        """How the signature reads on screen and on paper (11.50)."""
        return (f"{self.printed_name} ({self.username}) — {self.meaning} — "
                f"{self.ts_iso[:19]}Z UTC")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        names = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.name not in data and f.name != "audit_seq"]
        if missing:
            raise MonitorError("not a complete signature record (missing "
                               + ", ".join(missing) + ")")
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as err:
            raise MonitorError(f"malformed signature record: {err}") from err


def load_key(data_dir: str | Path, *, create: bool = True) -> bytes:
    """The server's signing key, created (0600) on first use."""
    path = Path(data_dir) / KEY_NAME
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        if not create:
            raise StoreError(f"{path}: signing key missing: signatures cannot be "
                             "verified") from None
    except (OSError, ValueError) as err:
        raise StoreError(f"{path}: unreadable signing key: {err}") from err
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return load_key(data_dir, create=False)
    except OSError as err:
        raise StoreError(f"{path}: cannot create the signing key: {err}") from err
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key


class Signer:
    def __init__(self, users: UserStore, audit: AuditTrail, key: bytes | None = None) -> None:
        self.users = users
        self.audit = audit
        self._key = key if key is not None else load_key(users.path.parent)

    def sign(
        self,
        username: str,
        password: str,
        *,
        meaning: Meaning | str,
        record_type: str,
        record_id: str,
        record_hash: str,
        permission: Permission | None = None,
        comment: str | None = None,
        source: str | None = None,
    ) -> Signature:
        """Verify the re-entered password and the signer's right, then sign and audit.

        A wrong password raises ``AuthError`` (audited ``signature.failed``, counted
        towards the lockout); a signer without ``permission`` raises ``AuthError``
        (audited ``signature.refused``).
        """
        meaning = Meaning(meaning)
        obj = f"{record_type}:{record_id}"
        user = self.users.verify_password(username, password, purpose=f"signature ({meaning})",
                                          source=source)
        if permission is not None:
            try:
                require(user, permission)
            except AuthError as err:
                self.audit.record(user.username, Action.SIGNATURE_REFUSED, obj,
                                  new={"meaning": meaning.value, "why": str(err)})
                raise AuthError(f"signature refused: {err}") from err
        return self._apply(user, meaning, record_type=record_type, record_id=record_id,
                           digest=record_hash, comment=comment)

    def _apply(self, user: User, meaning: Meaning, *, record_type: str, record_id: str,
               digest: str, comment: str | None) -> Signature:
        ts_ns = self.audit.clock()
        unsealed = Signature(
            id=secrets.token_hex(8), user_id=user.id, username=user.username,
            printed_name=user.full_name, meaning=meaning.value, ts_ns=ts_ns,
            ts_iso=iso_utc(ts_ns), record_type=record_type, record_id=record_id,
            record_hash=digest, comment=comment, seal="",
        )
        sig = replace(unsealed, seal=self._seal(unsealed))
        entry = self.audit.record(user.username, Action.SIGNATURE_APPLIED,
                                  f"{record_type}:{record_id}", new=sig.to_dict(),
                                  reason=comment)
        return replace(sig, audit_seq=entry.seq)

    def _seal(self, sig: Signature) -> str:
        return hmac.new(self._key, canonical(sig.sealed_fields()), hashlib.sha256).hexdigest()

    def verify(self, sig: Signature, *, record_type: str, record_id: str,
               record_hash: str) -> str | None:
        """Why ``sig`` is not a valid signature of this record, or None if it is."""
        if not hmac.compare_digest(sig.seal, self._seal(sig)):
            return "the signature's seal does not match its content (altered or forged)"
        if (sig.record_type, sig.record_id) != (record_type, record_id):
            return (f"the signature belongs to {sig.record_type}:{sig.record_id}, not "
                    f"{record_type}:{record_id} (copied from another record)")
        if not hmac.compare_digest(sig.record_hash, record_hash):
            return "the record was changed after it was signed (its hash differs)"
        entry = self.audit.get(sig.audit_seq) if sig.audit_seq else None
        value = entry.new_value if entry is not None else None
        if (entry is None or entry.action != Action.SIGNATURE_APPLIED
                or not isinstance(value, dict) or value.get("seal") != sig.seal):
            return f"no matching audit trail entry (entry {sig.audit_seq})"
        signer = self.users.by_id(sig.user_id)
        if signer is None or signer.username != sig.username:
            return f"the signer {sig.username!r} is not a known user"
        return None
