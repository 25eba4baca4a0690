"""Golden config cases: each folder under cases/ holds config.yaml and the expected lines.

``expected`` holds ``OK`` for a valid config, otherwise fragments that must each
appear in one reported problem (``:LINE: path: message``). A regression needs a
folder, not new code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_config_case(case: Path) -> None:
    expected = [line for line in (case / "expected").read_text().splitlines() if line.strip()]
    config = case / "config.yaml"
    if expected == ["OK"]:
        load_config(config)
        return
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = caught.value.problems
    for fragment in expected:
        assert any(str(config) + fragment in p for p in problems), (
            f"expected {fragment!r} in:\n" + "\n".join(problems)
        )
    assert len(problems) == len(expected), "\n".join(problems)


def test_check_config_cli_exits_2_and_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    text = (Path(__file__).parent / "cases" / "wrong-type" / "config.yaml").read_text()
    config.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "check-config", str(config)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert f"{config}:11: connections[0].port:" in result.stderr
    assert "nothing started" in result.stderr


def test_check_config_cli_ok() -> None:
    config = Path(__file__).parent / "cases" / "valid" / "config.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "check-config", str(config)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_secret_from_env_is_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MQTT_PW", "s3cret-value")
    base = (Path(__file__).parent / "cases" / "valid" / "config.yaml").read_text()
    text = base.replace(
        "connections:\n",
        "connections:\n  - {name: broker, driver: mqtt, host: 127.0.0.1, username: monitor, "
        "password: {env: TEST_MQTT_PW}}\n",
    )
    config = tmp_path / "c.yaml"
    config.write_text(text)
    loaded = load_config(config)
    dumped = repr(loaded.config) + loaded.config.model_dump_json()
    assert "s3cret-value" not in dumped
    broker = loaded.config.connections[0]
    assert broker.password is not None
    assert broker.password.get_secret_value() == "s3cret-value"


def test_missing_secret_env_is_a_config_error(tmp_path: Path) -> None:
    base = (Path(__file__).parent / "cases" / "valid" / "config.yaml").read_text()
    text = base.replace(
        "connections:\n",
        "connections:\n  - {name: broker, driver: mqtt, host: 127.0.0.1, username: monitor, "
        "password: {env: SURELY_NOT_SET_42}}\n",
    )
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "environment variable SURELY_NOT_SET_42 is not set" in str(caught.value)
    assert f"{config}:11: connections[0]" in str(caught.value)


def test_schema_command_prints_json_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "schema"],
        capture_output=True, text=True, check=True,
    )
    assert '"devices"' in result.stdout
    assert '"$defs"' in result.stdout


def test_committed_schema_matches_the_models() -> None:
    """docs/config.schema.json is what editors load; `cleanroom-monitor schema` regenerates it."""
    import json

    from monitor.config import Config

    committed = json.loads((Path(__file__).parents[2] / "docs" / "config.schema.json").read_text())
    assert committed == Config.model_json_schema(), (
        "run: cleanroom-monitor schema > docs/config.schema.json"
    )
