"""The line-free YAML walk: the libyaml events it swaps in take effect and are always undone.

Its values are compared with the reference loader's by tests/config/test_yaml_source.py
(``load_yaml`` takes this walk first); here: that it is the walk taken for a site
kept in YAML, that the clib module is left as it was, and that lines come later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ruamel.yaml.events

from monitor.config import load_config, yaml_plain, yaml_source
from monitor.config.yaml_source import SourceMap, load_yaml
from monitor.errors import ConfigError

EVENTS = ("ScalarEvent", "MappingStartEvent", "MappingEndEvent", "SequenceStartEvent",
          "SequenceEndEvent", "AliasEvent")


def _clib_events() -> dict[str, Any]:
    clib = yaml_plain._clib()
    assert clib is not None, "swapping the clib's event classes took no effect"
    return {name: getattr(clib, name) for name in EVENTS}


def test_the_clib_events_are_restored_after_a_walk_and_after_a_failed_one() -> None:
    assert _clib_events() == {name: getattr(ruamel.yaml.events, name) for name in EVENTS}
    assert yaml_plain.plain_document("a: [1, {b: c}]\n") == {"a": [1, {"b": "c"}]}
    assert _clib_events() == {name: getattr(ruamel.yaml.events, name) for name in EVENTS}
    with pytest.raises(Exception):  # noqa: B017 - the parser's own error type
        yaml_plain.plain_document("a: [1\n")
    with pytest.raises(yaml_source._Unusual):
        yaml_plain.plain_document("a: 1\na: 2\n")
    assert _clib_events() == {name: getattr(ruamel.yaml.events, name) for name in EVENTS}


def _yaml_site(tmp_path: Path, devices: int) -> Path:
    from bench.configs import modbus_site, write_yaml_config

    return write_yaml_config(tmp_path / "site.yaml",
                             modbus_site(tmp_path / "data", devices, [5020], http_port=18080))


def test_a_site_kept_in_yaml_is_read_without_lines(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = _yaml_site(tmp_path, 20)

    def refuse(*args: Any) -> Any:
        raise AssertionError("the walk with lines ran for a valid config")

    monkeypatch.setattr(yaml_source, "_load_with_lines", refuse)
    source = SourceMap()
    raw = load_yaml(path, source)
    assert raw["devices"][7]["unit_id"] == 8
    monkeypatch.undo()
    text = path.read_text("utf-8").splitlines()
    line = source.lines[("devices", 7, "unit_id")][1]
    assert "{name: d0007," in text[line - 1]
    assert "unit_id: 8," in text[line - 1]


def test_an_error_in_a_yaml_site_names_its_line(tmp_path: Path) -> None:
    path = _yaml_site(tmp_path, 12)
    text = path.read_text("utf-8").replace("unit_id: 8,", "unit_id: 300,")
    path.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "unit_id: 300" in row)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [
        f"{path}:{line}: devices[7].unit_id: Input should be less than or equal to 247",
    ]


def test_the_first_checks_of_the_swap_in_two_threads_at_once_both_take_effect() -> None:
    """``_clib`` swaps the events to check the swap: unlocked, a walk (or a check) in
    another thread restored the real ones under it, and the check cached ``None`` (every
    later YAML read then fell back to the slow walk) or restored the light ones for good."""
    import sys
    import threading

    real = {name: getattr(ruamel.yaml.events, name) for name in EVENTS}
    found: list[Any] = []
    errors: list[BaseException] = []

    def first_reads() -> None:
        for _ in range(2000):
            yaml_plain._clib.cache_clear()  # each is the process' first check
            found.append(yaml_plain._clib())
            try:
                yaml_plain.plain_document("a: [1, {b: c}]\n")
            except Exception as err:  # any failure of the walk is the defect
                errors.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=first_reads) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        yaml_plain._clib.cache_clear()
    assert None not in found
    assert not errors
    assert _clib_events() == real
