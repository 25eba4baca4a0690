"""Fixtures of the API tests: a running daemon with the four role users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.daemon import Daemon, add_users, running_daemon, write_config


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    path = write_config(tmp_path)
    add_users(tmp_path / "data")
    async with running_daemon(path) as running:
        yield running
