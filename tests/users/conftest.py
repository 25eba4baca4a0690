"""A user store on a fake clock with a cheap argon2 setting (the real cost is tested once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from monitor.audit import AuditTrail
from monitor.users.store import UserStore

GOOD_PASSWORD = "Correct-horse-42"
TEMP_PASSWORD = "Temporary-Pass-0"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def trail(tmp_path: Path, clock: Clock) -> Iterator[AuditTrail]:
    with AuditTrail(tmp_path, clock=clock) as t:
        yield t


@pytest.fixture
def users(tmp_path: Path, trail: AuditTrail, clock: Clock) -> Iterator[UserStore]:
    with UserStore(tmp_path, trail, hasher=fast_hasher(), clock=clock) as store:
        yield store


def add_active(users: UserStore, username: str, role: str, full_name: str = "") -> None:
    """An account whose password is its own (not temporary), ready to sign."""
    users.add("os:root", username, full_name or username.title() + " Person", [role],
              TEMP_PASSWORD)
    users.set_password(username, username, GOOD_PASSWORD, old_password=TEMP_PASSWORD)
