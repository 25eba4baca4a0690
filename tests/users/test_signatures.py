"""Electronic signatures: password re-entry, role, binding to the record, verification."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.errors import AuthError
from monitor.signatures import Meaning, Signature, Signer, load_key, record_hash
from monitor.users.roles import Permission
from monitor.users.store import UserStore

from .conftest import GOOD_PASSWORD, add_active

EXCURSION = {"id": "exc-1", "channel": "pc1/p05", "start_ns": 1, "end_ns": 2, "peak": 400000}
OTHER = {"id": "exc-2", "channel": "pc1/p05", "start_ns": 5, "end_ns": 9, "peak": 390000}


@pytest.fixture
def signer(users: UserStore, trail: AuditTrail) -> Signer:
    add_active(users, "qa1", "qa", "Quentin Assurance")
    add_active(users, "op1", "operator", "Olga Operator")
    return Signer(users, trail)


def sign_excursion(signer: Signer, user: str = "qa1", password: str = GOOD_PASSWORD,
                   record: dict[str, object] = EXCURSION) -> Signature:
    return signer.sign(user, password, meaning=Meaning.REVIEWED, record_type="excursion",
                       record_id=str(record["id"]), record_hash=record_hash(record),
                       permission=Permission.CLOSE_EXCURSION, comment="reviewed with CAPA-12")


def test_signature_records_name_time_meaning_and_is_audited(signer: Signer,
                                                            trail: AuditTrail) -> None:
    sig = sign_excursion(signer)
    assert sig.printed_name == "Quentin Assurance"
    assert sig.username == "qa1"
    assert sig.meaning == "reviewed"
    assert sig.ts_iso.endswith("Z")
    assert sig.manifestation().startswith("Quentin Assurance (qa1) — reviewed — ")
    entry = trail.get(sig.audit_seq)
    assert entry is not None
    assert entry.action == "signature.applied"
    assert entry.object == "excursion:exc-1"
    assert entry.new_value["seal"] == sig.seal
    assert signer.verify(sig, record_type="excursion", record_id="exc-1",
                         record_hash=record_hash(EXCURSION)) is None
    # a signature survives a round trip through JSON (how records store it)
    again = Signature.from_dict(json.loads(json.dumps(sig.to_dict())))
    assert signer.verify(again, record_type="excursion", record_id="exc-1",
                         record_hash=record_hash(EXCURSION)) is None


def test_wrong_password_is_refused_and_audited(signer: Signer, trail: AuditTrail) -> None:
    with pytest.raises(AuthError, match="invalid user name or password"):
        sign_excursion(signer, password="Not-my-password-1")
    entry = trail.entries()[-1]
    assert entry.action == "signature.failed"
    assert entry.user == "qa1"
    assert entry.new_value["why"] == "wrong password"
    assert not trail.entries(action="signature.applied")


def test_signer_without_qa_role_is_refused_and_audited(signer: Signer,
                                                       trail: AuditTrail) -> None:
    with pytest.raises(AuthError, match=r"signature refused: user 'op1' .* may not close"):
        sign_excursion(signer, user="op1")
    entry = trail.entries()[-1]
    assert (entry.action, entry.user, entry.object) == ("signature.refused", "op1",
                                                        "excursion:exc-1")


def test_signature_copied_to_another_record_fails(signer: Signer) -> None:
    sig = sign_excursion(signer)
    # pasted as is onto another excursion
    problem = signer.verify(sig, record_type="excursion", record_id="exc-2",
                            record_hash=record_hash(OTHER))
    assert problem is not None
    assert "copied from another record" in problem
    # re-labelled to look like the other excursion's: the seal breaks
    relabelled = replace(sig, record_id="exc-2", record_hash=record_hash(OTHER))
    problem = signer.verify(relabelled, record_type="excursion", record_id="exc-2",
                            record_hash=record_hash(OTHER))
    assert problem is not None
    assert "seal" in problem


def test_record_changed_after_signing_fails(signer: Signer) -> None:
    sig = sign_excursion(signer)
    changed = {**EXCURSION, "peak": 100}
    problem = signer.verify(sig, record_type="excursion", record_id="exc-1",
                            record_hash=record_hash(changed))
    assert problem == "the record was changed after it was signed (its hash differs)"


def test_edited_signature_fields_fail(signer: Signer) -> None:
    sig = sign_excursion(signer)
    for forged in (replace(sig, printed_name="Someone Else"), replace(sig, meaning="approved"),
                   replace(sig, ts_ns=sig.ts_ns - 86400 * 10**9)):
        problem = signer.verify(forged, record_type="excursion", record_id="exc-1",
                                record_hash=record_hash(EXCURSION))
        assert problem is not None
        assert "seal" in problem


def test_signature_forged_with_the_key_has_no_audit_entry(signer: Signer, trail: AuditTrail,
                                                          tmp_path: Path) -> None:
    """Someone holding the key can seal a signature, but not put it in the chained trail."""
    sig = sign_excursion(signer)
    forged = replace(sig, record_id="exc-2", record_hash=record_hash(OTHER), seal="")
    forged = replace(forged, seal=signer._seal(forged))
    problem = signer.verify(forged, record_type="excursion", record_id="exc-2",
                            record_hash=record_hash(OTHER))
    assert problem is not None
    assert "audit trail" in problem
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600


def test_key_is_stable_across_restarts(signer: Signer, users: UserStore, trail: AuditTrail,
                                       tmp_path: Path) -> None:
    sig = sign_excursion(signer)
    assert load_key(tmp_path) == load_key(tmp_path)
    fresh = Signer(users, trail)
    assert fresh.verify(sig, record_type="excursion", record_id="exc-1",
                        record_hash=record_hash(EXCURSION)) is None


def test_signature_after_tampered_audit_entry_fails(signer: Signer, trail: AuditTrail) -> None:
    sig = sign_excursion(signer)
    conn = sqlite3.connect(trail.path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET action = 'x.y' WHERE seq = ?", (sig.audit_seq,))
    conn.close()
    problem = signer.verify(sig, record_type="excursion", record_id="exc-1",
                            record_hash=record_hash(EXCURSION))
    assert problem is not None
    assert trail.verify() is not None
