"""InfluxDB v2 write API (``/api/v2/write``) through influxdb-client's async client.

This is the path for InfluxDB 2.x and 3.x, for 1.8+ (``org`` ignored, bucket
``db/rp``, token ``user:password``) and for VictoriaMetrics. Batching is the
outbox's job (``batch_size``, ``flush_interval``), so the client's
``WriteApiAsync`` is given one ready body of line protocol per request.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision

from monitor.config.storage import InfluxV2Sink
from monitor.storage.transport import Transport, Unavailable, classify

_NS: Any = WritePrecision.NS


class InfluxV2Transport(Transport):
    kind = "influxdb_v2"

    def __init__(self, config: InfluxV2Sink) -> None:
        super().__init__(config.name, config.url)
        self.config = config
        self._client: Any = None  # InfluxDBClientAsync, created on first use

    def _get_client(self) -> Any:
        if self._client is None:
            token: Any = self.config.token.get_secret_value() if self.config.token else None
            self._client = InfluxDBClientAsync(
                url=self.config.url,
                token=token,
                org=self.config.org,
                timeout=int(self.config.timeout * 1000),
            )
        return self._client

    async def send(self, body: bytes) -> None:
        client = self._get_client()
        try:
            await client.write_api().write(
                bucket=self.config.bucket,
                org=self.config.org,
                record=body,
                write_precision=_NS,
            )
        except InfluxDBError as err:
            status = getattr(err, "status", None)
            if status is None and err.response is not None:
                status = getattr(err.response, "status", None)
            if status is None:
                raise Unavailable(f"{self.name}: {err.message}") from err
            raise classify(int(status), str(err.message), err.retry_after) from err
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            await self.close()  # a fresh connection pool after a network failure
            raise Unavailable(f"{self.name}: {type(err).__name__}: {err}") from err

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
                await client.close()
