"""A daemon with the HTTP server off never imports it (aiohttp, prometheus_client, the API)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.metrics.site import SITE_YAML

CHECK = """
import sys
from monitor.config import load_config
from monitor.runtime import build_runtime
runtime = build_runtime(load_config(sys.argv[1]), with_http=True)
heavy = [m for m in ("aiohttp", "prometheus_client", "monitor.api.server",
                     "monitor.metrics") if m in sys.modules]
assert not heavy, heavy
assert "http" not in runtime.services
if runtime.alarms is not None:
    runtime.alarms.close()
print("ok")
"""


def test_http_off_imports_no_server(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML.replace("{data_dir}", str(tmp_path / "data"))
                    + "http: {enabled: false}\n")
    done = subprocess.run([sys.executable, "-c", CHECK, str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
