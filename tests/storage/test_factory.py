"""build_stores and attach wire the embedded store and the sinks into a runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from monitor.config import load_config
from monitor.model import Quality, Reading, utc_now_ns
from monitor.pipeline import Pipeline
from monitor.runtime import Runtime
from monitor.storage.attach import attach
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import build_stores
from monitor.storage.history import History
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import count_rows, wait_until
from tests.storage.test_query_cli import CONFIG

SINKS = """\
storage:
  embedded: {{commit_interval: 50ms}}
  sinks:
    - {{name: vm, type: influxdb_v2, url: "{url}", flush_interval: 100ms, retry_max: 500ms}}
"""


async def test_runtime_stores_locally_forwards_to_the_sink_and_stamps_the_state(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    path = tmp_path / "cleanroom-monitor.yaml"
    path.write_text(CONFIG.format(data_dir=tmp_path / "data") + SINKS.format(url=victoria.url))
    loaded = load_config(path)
    stores = build_stores(loaded)
    (store,) = stores
    assert isinstance(store, EmbeddedStore)
    assert store.path == tmp_path / "data" / "readings.db"
    runtime = Runtime(loaded, Pipeline(stores), [], stores)
    runtime.alarms = SimpleNamespace(state_of=lambda location: "at_rest")
    attach(runtime)
    (sink,) = runtime.extras["sinks"]
    assert sink.name == "vm"
    assert runtime.extras["storage_health"]() == []

    async with asyncio.TaskGroup() as group:
        await runtime.start(group)
        now = utc_now_ns()
        for i in range(50):
            runtime.pipeline.ingest([Reading("dp1/dp", 12.0 + i, Quality.GOOD, now + i * 10**6)])
        await wait_until(lambda: sink.sent == 50, 20, "the sink to receive the readings")
        await runtime.stop()
    assert count_rows(store.path) == 50
    with History(tmp_path / "data") as history:
        samples = history.query("dp1/dp", "fill-1", now, now + 10**9).samples
    assert {s.state for s in samples} == {"at_rest"}
    series = victoria.wait_for_samples('{__name__="reading_value"}', 50)
    (only,) = series
    assert only["metric"] == {
        "__name__": "reading_value", "channel": "dp1/dp", "device": "dp1", "grade": "B",
        "location": "fill-1", "room": "fill", "site": "plant-a", "unit": "Pa",
    }
    assert len(only["values"]) == 50


def test_no_sink_no_influxdb_client(tmp_path: Path) -> None:
    """influxdb-client (and the numpy it pulls in, ~25 MB) is loaded only for a configured sink."""
    import subprocess
    import sys

    path = tmp_path / "cleanroom-monitor.yaml"
    path.write_text(CONFIG.format(data_dir=tmp_path / "data"))
    probe = (
        "import sys\n"
        "from monitor.config import load_config\n"
        "from monitor.runtime import build_runtime\n"
        f"runtime = build_runtime(load_config({str(path)!r}), with_http=True)\n"
        "print(sorted(m for m in ('influxdb_client', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
