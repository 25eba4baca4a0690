"""A QA set-up: audit trail, users (QA, engineer, operator), signer, review log, excursions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.qa.excursions import RecordsSource
from monitor.qa.reviewlog import ReviewLog
from monitor.qa.workflow import ExcursionReview
from monitor.signatures import Signer
from monitor.users.model import User
from monitor.users.store import UserStore
from tests.users.conftest import fast_hasher

from .events import two_excursions

PASSWORD = "Correct-horse-42"


@dataclass
class QA:
    trail: AuditTrail
    users: UserStore
    signer: Signer
    log: ReviewLog
    review: ExcursionReview
    qa1: User
    eng1: User
    op1: User


def make_user(users: UserStore, name: str, role: str, full_name: str) -> User:
    users.add("os:root", name, full_name, [role], "Temporary-Pass-0")
    users.set_password(name, name, PASSWORD, old_password="Temporary-Pass-0")
    user = users.get(name)
    assert user is not None
    return user


@pytest.fixture
def qa(tmp_path: Path) -> Iterator[QA]:
    with AuditTrail(tmp_path) as trail, \
            UserStore(tmp_path, trail, hasher=fast_hasher()) as users, \
            ReviewLog(tmp_path) as log:
        signer = Signer(users, trail)
        review = ExcursionReview(RecordsSource(two_excursions().records), log, signer, trail)
        yield QA(trail, users, signer, log, review,
                 make_user(users, "qa1", "qa", "Quentin Assurance"),
                 make_user(users, "eng1", "engineer", "Erin Engineer"),
                 make_user(users, "op1", "operator", "Olga Operator"))
