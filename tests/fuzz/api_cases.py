"""Random request bodies and query strings against the daemon's HTTP API, over real HTTP.

The daemon of tests/api (simulated site, users, HTTP on a free port) runs on an
event loop in a background thread; hypothesis drives plain synchronous
examples. Each example sends one request (an engineer's API token, so that
authorisation lets the body reach validation) with a random JSON value,
random bytes, or a mutated valid body. The property: never a 5xx, never a
hang, and every refusal is a JSON error with a non-empty message (the API's
error shape). Shared by tests/fuzz and bench.fuzz_long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import strategies as st

POSTS = [
    ("POST", "/api/v1/session", {"username": "erik", "password": "wrong-password-1"}),
    ("POST", "/api/v1/password", {"old": "x", "new": "y"}),
    ("POST", "/api/v1/alarms/dp1%2Fdp:low_action/acknowledge", {"reason": "seen it"}),
    ("POST", "/api/v1/alarms/dp1%2Fdp:low_action/shelve", {"reason": "repair", "duration": "1h"}),
    ("POST", "/api/v1/alarms/dp1%2Fdp:low_action/unshelve", {"reason": "done"}),
    ("POST", "/api/v1/locations/fill-1/state", {"state": "at_rest", "reason": "shift end"}),
    ("POST", "/api/v1/maintenance", {"target": "fill-1", "on": True, "reason": "calibration"}),
]
GETS = ["/api/v1/channels/dp1/dp/history", "/api/v1/excursions", "/api/v1/alarms",
        "/api/v1/location-state-changes", "/api/v1/channels"]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=40), st.sampled_from(["", "1h", "-5m", "at_rest", "in_operation",
                                           "x" * 5000, "\u0000", "<script>", "../../etc"]),
)
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=15)


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    doc = dict(body)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*doc, "extra"])) if doc else "extra"
        if draw(st.booleans()):
            doc[key] = draw(_json)
        else:
            doc.pop(key, None)
    return json.dumps(doc).encode()


@st.composite
def post_case(draw: st.DrawFn) -> tuple[str, str, bytes, str, str]:
    method, path, body = draw(st.sampled_from(POSTS))
    data = draw(st.one_of(mutated(body), _json.map(lambda v: json.dumps(v).encode()),
                          st.binary(max_size=200),
                          st.sampled_from([b"", b"{", b"[" * 5000, b'{"reason": "\xff"}'])))
    ctype = draw(st.sampled_from(["application/json", "application/json", "text/plain",
                                  "application/x-www-form-urlencoded"]))
    return method, path, data, ctype, ""


@st.composite
def get_case(draw: st.DrawFn) -> tuple[str, str, bytes, str, str]:
    path = draw(st.sampled_from(GETS))
    keys = st.sampled_from(["from", "to", "limit", "location", "channel", "format", "x"])
    values = st.one_of(st.text(max_size=30), st.integers().map(str),
                       st.sampled_from(["2024-01-01T00:00:00Z", "now", "-1", "1e309", "9" * 40]))
    params = draw(st.dictionaries(keys, values, max_size=4))
    return "GET", path, b"", "", "&".join(f"{k}={v}" for k, v in params.items())


bodies = st.one_of(post_case(), post_case(), get_case())


class ApiFuzzHarness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tmp = tempfile.TemporaryDirectory(prefix="fuzz-api-")
        self._stack = contextlib.AsyncExitStack()
        self.daemon: Any = None
        self.session: aiohttp.ClientSession | None = None
        self.token = ""

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def _start(self) -> None:
        from tests.api.daemon import running_daemon

        self.daemon = await self._stack.enter_async_context(running_daemon(Path(self.tmp.name)))
        self.token = self.daemon.token("erik")
        self.session = aiohttp.ClientSession(base_url=self.daemon.url)

    async def _stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        await self._stack.aclose()

    async def _case(self, case: tuple[str, str, bytes, str, str]) -> tuple[int, str, bytes]:
        assert self.session is not None
        method, path, data, ctype, query = case
        headers = {"Authorization": f"Bearer {self.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        url = f"{path}?{query}" if query else path
        async with asyncio.timeout(10), self.session.request(method, url, data=data or None,
                                                             headers=headers) as r:
            return r.status, r.content_type, await r.read()

    def run_case(self, case: tuple[str, str, bytes, str, str]) -> str:
        status, ctype, body = self.call(self._case(case))
        assert status < 500, f"{case[0]} {case[1]} -> {status}: {body[:300]!r}"
        if status >= 400:
            assert ctype == "application/json", (status, ctype, body[:200])
            error = json.loads(body)
            assert isinstance(error.get("message"), str), error
            assert error["message"], error
            return f"refused {status}"
        return f"accepted {status}"


@contextlib.contextmanager
def api_harness() -> Iterator[ApiFuzzHarness]:
    harness = ApiFuzzHarness()
    harness.thread.start()
    try:
        harness.call(harness._start(), 60)
        yield harness
    finally:
        try:
            harness.call(harness._stop(), 60)
        finally:
            harness.loop.call_soon_threadsafe(harness.loop.stop)
            harness.thread.join(10)
            harness.tmp.cleanup()
