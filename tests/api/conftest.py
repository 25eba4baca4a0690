"""Fixtures of the API tests: a daemon polling simulators, with the four role users.

``site`` is shared by the tests of one module (start-up costs a second or
two); tests that change the daemon's config or lifecycle start their own with
``running_daemon``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.api.daemon import Daemon, running_daemon


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    async with running_daemon(tmp_path_factory.mktemp("site")) as daemon:
        yield daemon
