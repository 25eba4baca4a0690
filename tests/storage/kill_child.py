"""A writer process for the SIGKILL test: commits readings and sends them to InfluxDB 1.x.

Prints ``committed N sent M`` after each commit that made readings 0..N-1
durable (M: readings InfluxDB had acknowledged then); the test kills it with
SIGKILL while readings are still unsent and checks that nothing it reported is
lost or sent twice.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from monitor.config.storage import InfluxV1Sink
from monitor.model import Quality, Reading
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import build_transport
from monitor.storage.forwarder import Forwarder


async def main(db: str, url: str, user: str, password: str, base_ns: int) -> None:
    store = EmbeddedStore(Path(db), {}, commit_interval=0.02)
    sink = InfluxV1Sink.model_validate({
        "name": "influx1", "type": "influxdb_v1", "url": url, "database": "cleanroom",
        "username": user, "password": password, "batch_size": 300, "flush_interval": "20ms",
        "retry_initial": "50ms", "retry_max": "200ms",
    })
    forwarder = Forwarder(store, build_transport(sink), sink)
    store.forwarders.append(forwarder)
    task = asyncio.create_task(store.run())
    i = 0
    while not task.done():
        store.append([
            Reading(f"dev{n % 20}/ch", float(n), Quality.GOOD, base_ns + n * 1_000_000)
            for n in range(i, i + 200)
        ])
        i += 200
        await store.flush()
        print(f"committed {i} sent {forwarder.sent}", flush=True)
        await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
