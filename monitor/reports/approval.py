"""Approving a report file with an electronic signature, and checking a report file later.

A report is identified by its content: the signature's record id and record
hash are the file's SHA-256, so a renamed copy still verifies and any change
to a single byte does not. Signatures are kept in a sidecar file
(``<report>.signatures.json``; signing cannot change the signed file) and,
like every signature, in the audit trail. ``check_report`` also finds the
audit entry that recorded the file's generation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from monitor.audit import Action, AuditEntry, AuditTrail
from monitor.errors import MonitorError
from monitor.signatures import Meaning, Signature, Signer
from monitor.users.roles import Permission

RECORD_TYPE = "report"


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".signatures.json")


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise MonitorError(f"{path}: cannot read the report: {err.strerror}") from err


def _load(path: Path) -> list[Signature]:
    side = sidecar(path)
    if not side.exists():
        return []
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
        return [Signature.from_dict(s) for s in doc["signatures"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MonitorError(f"{side}: unreadable signature file: {err}") from err


def approve(signer: Signer, path: Path, username: str, password: str, *,
            meaning: Meaning | str = Meaning.APPROVED, comment: str | None = None,
            source: str | None = None) -> Signature:
    """Sign the report at ``path`` (QA's report-approval right is required)."""
    digest = file_sha256(path)
    if generation_entry(signer.audit, digest) is None:
        raise MonitorError(f"{path} is not a report this site generated (no audit entry "
                           "records a report with its SHA-256)")
    signatures = _load(path)
    sig = signer.sign(username, password, meaning=meaning, record_type=RECORD_TYPE,
                      record_id=digest, record_hash=digest,
                      permission=Permission.APPROVE_REPORT, comment=comment, source=source)
    signatures.append(sig)
    side = sidecar(path)
    tmp = side.with_name(side.name + ".part")
    tmp.write_text(json.dumps({"report_sha256": digest,
                               "signatures": [s.to_dict() for s in signatures]},
                              indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(side)
    return sig


def generation_entry(audit: AuditTrail, digest: str) -> AuditEntry | None:
    for entry in audit.entries(action=Action.REPORT_GENERATED):
        value = entry.new_value
        if isinstance(value, dict) and value.get("sha256") == digest:
            return entry
    return None


@dataclass
class ReportCheck:
    sha256: str
    generated: AuditEntry | None
    signatures: list[tuple[Signature, str | None]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.generated is not None and all(p is None for _, p in self.signatures)


def check_report(signer: Signer, path: Path) -> ReportCheck:
    digest = file_sha256(path)
    check = ReportCheck(digest, generation_entry(signer.audit, digest))
    for sig in _load(path):
        check.signatures.append((sig, signer.verify(sig, record_type=RECORD_TYPE,
                                                    record_id=digest, record_hash=digest)))
    return check
