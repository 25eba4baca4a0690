"""The notify section: every mistake reported with its file and line at load time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError

HOOK = {"name": "hook", "kind": "webhook", "url": "https://example.org/hook"}


def _load(tmp_path: Path, notify: dict[str, Any]) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps({"site": {"id": "a"}, "notify": notify}, indent=1),
                    encoding="utf-8")
    load_config(path)


@pytest.mark.parametrize(("notify", "message"), [
    ({"notifiers": [{**HOOK, "url": "ftp://x"}]}, "starts with http:// or https://"),
    ({"notifiers": [{"name": "m", "kind": "email", "host": "h", "sender": "nope",
                     "recipients": ["a@b.example"]}]}, "'nope' is not an e-mail address"),
    ({"notifiers": [{"name": "m", "kind": "email", "host": "h", "sender": "a@b.example",
                     "recipients": []}]}, "at least 1"),
    ({"notifiers": [HOOK, HOOK]}, "duplicate notifier name(s): hook"),
    ({"notifiers": [HOOK], "routes": [{"name": "r", "notifiers": ["ghost"]}]},
     "unknown notifier(s) ghost"),
    ({"notifiers": [HOOK], "routes": [{"name": "r", "notifiers": ["hook"],
                                       "escalate_after": "15m"}]},
     "escalate_after and escalate_to go together"),
    ({"notifiers": [HOOK], "routes": [{"name": "r", "notifiers": ["hook"],
                                       "escalate_after": "15m", "escalate_to": "boss"}]},
     "unknown route 'boss'"),
    ({"notifiers": [HOOK], "routes": [{"name": "r", "notifiers": ["hook"],
                                       "priorities": ["urgent"]}]}, "priorities"),
    ({"notifiers": [{"name": "s", "kind": "mqtt", "host": "h", "topic": "a/#"}]},
     "no wildcards"),
    ({"notifiers": [{"name": "s", "kind": "mqtt", "host": "h", "password": "p"}]},
     "password needs username"),
    ({"notifiers": [HOOK], "retry": {"initial": "10s", "max": "1s"}}, "initial <= max"),
])
def test_notify_config_errors(tmp_path: Path, notify: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, notify)
    assert message in str(err.value)
    assert all(p.startswith(f"{tmp_path / 'site.yaml'}:") for p in err.value.problems)


def test_line_of_a_notifier_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, {"notifiers": [{**HOOK, "url": "ftp://x"}]})
    problem, = err.value.problems
    assert problem.split(": ")[1] == "notify.notifiers[0].url"
    lines = (tmp_path / "site.yaml").read_text().splitlines()
    line = int(problem.split(":")[1])
    assert '"url"' in lines[line - 1]


def test_a_valid_notify_section(tmp_path: Path) -> None:
    _load(tmp_path, {
        "notifiers": [HOOK, {"name": "mail", "kind": "email", "host": "smtp.example.org",
                             "sender": "monitor@plant.example",
                             "recipients": ["qa@plant.example"]}],
        "routes": [{"name": "ops", "notifiers": ["hook"], "escalate_after": "15m",
                    "escalate_to": "qa"},
                   {"name": "qa", "notifiers": ["mail"]}],
    })
