"""The demo's effective config: every port it chooses is a different one.

Ports chosen one bind-and-release at a time once gave the web server and the
RTU-over-TCP simulator the same port, and `make demo` died on "address already
in use"; all ports are now held bound until every one is chosen."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from monitor.cli.demo import write_effective_config

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def test_the_demo_config_gets_distinct_ports_every_time(tmp_path: Path) -> None:
    for attempt in range(100):
        data_dir = tmp_path / f"d{attempt}"
        data_dir.mkdir()
        path = write_effective_config(DEMO, data_dir, mqtt_port=None)
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        ports = [doc["http"]["port"]] + [c["port"] for c in doc["connections"]]
        assert len(ports) >= 3
        assert len(set(ports)) == len(ports), ports
