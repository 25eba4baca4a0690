"""InfluxDB 1.x write API (``/write?db=&rp=&precision=ns``, basic auth) over aiohttp.

For plants still on InfluxDB 1.0-1.7, which have no ``/api/v2/write``. The
line protocol is the same influxdb-client serialisation the v2 sink uses.
"""

from __future__ import annotations

import aiohttp

from monitor.config.storage import InfluxV1Sink
from monitor.storage.transport import Transport, Unavailable, classify


def _message(body: str) -> str:
    """InfluxDB 1.x answers errors as ``{"error": "..."}``."""
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return body


class InfluxV1Transport(Transport):
    kind = "influxdb_v1"

    def __init__(self, config: InfluxV1Sink) -> None:
        super().__init__(config.name, config.url)
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        params = {"db": config.database, "precision": "ns"}
        if config.retention_policy:
            params["rp"] = config.retention_policy
        self._params = params
        self._write_url = config.url.rstrip("/") + "/write"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            auth = None
            if self.config.username is not None:
                password = self.config.password.get_secret_value() if self.config.password else ""
                auth = aiohttp.BasicAuth(self.config.username, password)
            self._session = aiohttp.ClientSession(
                auth=auth, timeout=aiohttp.ClientTimeout(total=self.config.timeout)
            )
        return self._session

    async def send(self, body: bytes) -> None:
        session = self._get_session()
        try:
            async with session.post(
                self._write_url,
                params=self._params,
                data=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            ) as resp:
                if 200 <= resp.status < 300:
                    return
                text = await resp.text(errors="replace")
                raise classify(resp.status, _message(text), resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            await self.close()
            raise Unavailable(f"{self.name}: {type(err).__name__}: {err}") from err

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
