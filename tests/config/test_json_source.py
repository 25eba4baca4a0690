"""A config written as JSON reads as ruamel's round-trip loader reads it, or goes the YAML way.

``json_source.load_json`` is taken only for JSON that YAML reads as the same
value; the line map is built later, when an error needs it. Generated JSON
(every json.dumps layout, any text) is compared with the reference path,
value, types and lines; the JSON that YAML reads otherwise must be refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import load_config, yaml_source
from monitor.config.json_source import load_json
from monitor.config.yaml_source import SourceMap, load_yaml
from monitor.errors import ConfigError
from tests.config.test_yaml_source import _typed_repr, assert_same

TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([*"ab1 :#-,[]{}&*!|>%@`'\"\\/\n\r\t~?.", "\x7f", "\x85", "\u2028",
                         "é", "°", "\ufeff", "\x00", "\x1b", "😀", "名"]),
        st.characters(codec="utf-8"),
    ),
    max_size=8,
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), TEXT,
    st.sampled_from(["true", "1.5", "0x1F", "~", "2025-01-02", "-0", "1e3", ""]),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=10,
)


def reference(path: Path) -> tuple[str, dict[Any, Any]]:
    source = SourceMap()
    value = yaml_source._load_roundtrip(path.read_text("utf-8"), path, source, ())
    return _typed_repr(value), source.lines


@settings(max_examples=200, deadline=None)
@given(tree=st.dictionaries(TEXT, TREES, max_size=5), indent=st.sampled_from([None, 0, 1, 2]),
       ascii_only=st.booleans(), compact=st.booleans())
def test_json_taken_reads_as_the_reference(tree: dict[str, Any], indent: int | None,
                                           ascii_only: bool, compact: bool,
                                           tmp_path_factory: Any) -> None:
    separators = (",", ":") if compact else None
    text = json.dumps(tree, indent=indent, ensure_ascii=ascii_only, separators=separators)
    path = tmp_path_factory.mktemp("json") / "c.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    taken, value = load_json(path.read_text("utf-8"))
    if taken:
        assert value == tree
        source = SourceMap()
        assert _typed_repr(load_yaml(path, source)) == _typed_repr(value)
        assert (_typed_repr(value), source.lines) == reference(path)
    else:
        assert_same(path)


def test_a_generated_site_takes_the_json_path(tmp_path: Path) -> None:
    from bench.configs import modbus_site, write_config

    path = write_config(tmp_path / "site.yaml",
                        modbus_site(tmp_path / "data", 50, [5020], http_port=18080))
    taken, value = load_json(path.read_text("utf-8"))
    assert taken
    assert value == json.loads(path.read_text("utf-8"))
    first = value["alarms"]["limits"]["loc-d0000"][0]["high_alert"]
    assert value["alarms"]["limits"]["loc-d0049"][3]["high_alert"] is first  # one float
    assert value["devices"][3]["profile"] is value["devices"][4]["profile"]  # one string


REFUSED = {
    "duplicate key": '{"a": 1, "a": 2}\n',
    "NaN": '{"a": NaN}\n',
    "Infinity": '{"a": -Infinity}\n',
    "colon on the next line": '{"a"\n : 1}\n',
    "long key": '{"' + "k" * 1100 + '": 1}\n',
    "long line": '{"a": "' + "v" * 1100 + '"}\n',
    "surrogate escape": '{"a": "\\ud83d\\ude00"}\n',
    "line separator": '{"a": "x\u2028y"}\n',
    "next line": '{"a": "x\x85y"}\n',
    "tab": '{"a":\t1}\n',
    "delete": '{"a": "x\x7fy"}\n',
    "byte-order mark": '\ufeff{"a": 1}\n',
    "not a mapping": "[1, 2]\n",
    "not json": "{a: 1}\n",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_json_yaml_reads_otherwise_is_refused(name: str, tmp_path: Path) -> None:
    assert load_json(REFUSED[name]) == (False, None)
    path = tmp_path / "c.yaml"
    path.write_bytes(REFUSED[name].encode("utf-8"))
    assert_same(path)


def test_escapes_json_and_yaml_share_are_taken(tmp_path: Path) -> None:
    text = '{"a": "q\\"b\\\\s\\/n\\nt\\tu\\u00e9\\u0001\\b\\f\\r"}\n'
    assert load_json(text)[0]
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    assert_same(path)


def _site(tmp_path: Path) -> dict[str, Any]:
    from bench.configs import modbus_site

    return modbus_site(tmp_path / "data", 12, [5020], http_port=18080)


def test_an_error_in_a_json_config_names_its_line(tmp_path: Path) -> None:
    config = _site(tmp_path)
    config["devices"][7]["unit_id"] = 300
    config["alarms"]["limits"]["loc-d0003"][2]["channel"] = "d0003/nope"
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    lines = path.read_text("utf-8").splitlines()
    unit_line = next(i for i, text in enumerate(lines, 1) if '"unit_id": 300' in text)
    nope_line = next(i for i, text in enumerate(lines, 1) if "d0003/nope" in text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [
        f"{path}:{unit_line}: devices[7].unit_id: Input should be less than or equal to 247",
    ]
    config["devices"][7]["unit_id"] = 8
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [
        f"{path}:{nope_line}: alarms.limits.loc-d0003[2].channel: unknown channel 'd0003/nope' "
        "(write it as device/channel)",
    ]


def test_an_error_in_an_included_profile_names_the_include(tmp_path: Path) -> None:
    """The main file read as JSON, its include as YAML: both line maps are deferred."""
    config = _site(tmp_path)
    config["profiles"] = {}
    config["include"] = ["profiles/*.yaml"]
    (tmp_path / "profiles").mkdir()
    include = tmp_path / "profiles" / "bench.yaml"
    include.write_text(
        "profiles:\n  bench-10reg:\n    kind: generic\n    family: generic\n"
        "    source: generic\n    channels:\n"
        + "".join(f"      - {{name: c{i}, quantity: temperature, unit: degC, address: {i}}}\n"
                  for i in range(9))
        + "      - {name: c9, quantity: temperature, unit: degC, address: 9, scale: 0}\n",
        encoding="utf-8",
    )
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [
        f"{include}:16: profiles.bench-10reg.channels[9]: scale must not be 0",
    ]


def test_a_json_config_is_loaded_without_the_yaml_reader(tmp_path: Path) -> None:
    """ruamel.yaml (~15 ms of imports) is imported only when an error needs the lines."""
    import subprocess
    import sys

    config = _site(tmp_path)
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from monitor.config import load_config\n"
        f"load_config({str(path)!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('ruamel')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
