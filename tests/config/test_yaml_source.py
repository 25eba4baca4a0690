"""The libyaml fast path of ``load_yaml`` gives exactly what ruamel's round-trip loader gives.

Every value (with its Python type), every recorded line and every error message
is compared with the reference path (``_load_roundtrip``) on hand-picked YAML
corners, on the shipped configs and on generated documents; and a site-sized
config must not fall back to the slow reference path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import yaml_source
from monitor.config.yaml_source import SourceMap, load_yaml

ROOT = Path(__file__).parents[2]
SHIPPED = sorted(
    [*(ROOT / "tests" / "config" / "cases").glob("*/config.yaml"),
     *(ROOT / "config").glob("*.yaml"), *(ROOT / "config" / "devices").glob("*.yaml")]
)


def outcome(path: Path, *, reference: bool) -> tuple[str, dict[Any, Any]]:
    """(repr of the value or the error, line map) from one of the two paths."""
    source = SourceMap()
    try:
        if reference:
            value = yaml_source._load_roundtrip(path.read_text("utf-8"), path, source, ())
        else:
            value = load_yaml(path, source)
    except Exception as err:  # the two paths must fail alike too
        return f"{type(err).__name__} {err}", {}
    return _typed_repr(value), source.lines


def _typed_repr(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_typed_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_typed_repr(v) for v in value) + "]"
    return f"{type(value).__name__}:{value!r}"


def assert_same(path: Path) -> None:
    fast = outcome(path, reference=False)
    assert fast == outcome(path, reference=True)


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("load_yaml fell back to the round-trip loader")

    monkeypatch.setattr(yaml_source, "_load_roundtrip", refuse)


def test_the_libyaml_parser_is_installed() -> None:
    """Without ruamel.yaml.clib every start-up takes the 10x slower reference path."""
    assert yaml_source.CParser is not None, "pip install ruamel.yaml.clib (a dependency)"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_load_identically(path: Path) -> None:
    assert_same(path)


CORNERS = {
    "numbers": "a: [0x1F, 0o17, 0b101, 0755, 1_000, -0, +5, 007, 0x_1, 12_]\n",
    "floats": "a: [1.5, -0.0, 1e3, 1.5E-3, .5, 1., 1_0.2_5, .inf, -.Inf, +.INF, .nan, 6.02e+23]\n",
    "plain words": "a: [yes, no, on, off, y, n, True, FALSE, ~, null, Null, NULL, '', =, <]\n",
    "empty values": "a:\nb: ''\nc: []\nd: {}\ne:\n  -\n  - x\n",
    "dates": "a: 2025-01-31\nb: 2025-01-31T10:00:00Z\nc: 2025-1-2 3:04:05.5 +02:00\n",
    "bad date": "a: 2025-13-45\n",
    "quoted": "a: '12'\nb: \"1.5\"\nc: \"true\"\nd: 'null'\ne: \"tab\\there\\u00e9\"\n",
    "block scalars": "a: |\n  line one\n  line two\nb: >\n  folded\n  text\n\n  para\nc: |-\n  x\n",
    "anchors": "base: &b {x: 1, y: [2, 3]}\nuse: *b\nlist:\n  - &i 5\n  - *i\n",
    "merge key": "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n",
    "scalar keys": "1: a\ntrue: b\n~: c\n0x10: d\n1.5: e\n2025-01-01: f\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "int and text key": "1: a\n'1': b\n",
    "complex key": "? [a, b]\n: c\n",
    "set-like key": "? a\n? b\n",
    "flow json": '{"a": {"b": [1, 2.5, "x", null, true]}, "c": []}\n',
    "nested block": "a:\n  b:\n    - c: 1\n      d:\n        - 1\n        -   - 2\n",
    "comments": "# top\na: 1 # one\n# between\nb:   # empty\n  - 2\n",
    "unicode": "raum: Reinraum Ä\n名前: 値\n",
    "crlf": "a: 1\r\nb:\r\n  - 2\r\n",
    "empty document": "",
    "only a comment": "# nothing\n",
    "scalar document": "just text\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "explicit end": "a: 1\n...\n",
    "tags": "a: !!str 5\nb: ! 4\nc: !!float 1\nd: !custom x\n",
    "omap": "a: !!omap\n  - x: 1\n",
    "directive": "%YAML 1.1\n---\na: yes\nb: 0755\n",
    "bom": "\ufeffa: 1\n",
    "control character": "a: b\x07c\n",
    "undefined alias": "a: *nope\n",
    "bad indent": "a:\n  b: 1\n c: 2\n",
    "tab indent": "a:\n\tb: 1\n",
    "unclosed flow": "a: [1, 2\nb: 3\n",
    "lone dash": "a: [\n  - 1\n",
    "duplicate anchor": "a: &x 1\nb: &x 2\nc: *x\n",
    "long line": "a: " + "x" * 5000 + "\n",
    "tab after value": "a: b\t\n",
    "aliases in lists": "a: &l\n  - &m {x: 1,\n    y: [2]}\n  - 3\nb:\n  - *m\n  - *l\n  - [*m]\n",
    "nested anchors": "a: &o\n  in: &i\n    v: 1\nb: *i\nc: *o\nd: {e: *o}\n",
    "generated ids": "l:\n  l1: &id001\n  - {channel: d/c, high: 5}\n  l2: *id001\n  l3: *id001\n",
    "alias as key": "a: &k name\n*k : 2\n",
    "anchored key": "&k a: 1\nb: 2\n",
    "recursive alias": "a: &r\n  b: *r\n",
    "alias before anchor": "a: *x\nb: &x 1\n",
    "anchored timestamp": "a: &d 2025-01-02\nb: *d\n",
    "anchored empty": "a: &e\nb: *e\n",
    "comment on block header": "a: |#c\n  x\n",
    "spaces-only line in block": "a: >\n  \n    x\n",
    "root block scalar": ">\n#x\n",
    "odd anchor name": "&b?: 1\n",
    "carriage returns": "a: 1\rb: 2\r",
    "escapes": '"a": "\\x41\\u00e9\\U0001F600\\N\\_\\L\\P\\e\\/\\0"\n',
}


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
@pytest.mark.parametrize("name", sorted(CORNERS))
def test_yaml_corners_load_identically(name: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(CORNERS[name].encode("utf-8"))
    assert_same(path)


SCALARS = st.one_of(
    st.sampled_from(
        ["0", "-1", "+7", "0x1A", "0o7", "0b1", "012", "1_0", "1.0", "-2.5e3", ".inf", ".NaN",
         "true", "False", "yes", "~", "null", "2025-02-03", "a b", "x:y", "-x", "'q'", '"d"',
         "é", "50ms", "1s", "C", "ISO5", "#", "a #b", "''"]
    ),
    st.text(alphabet="abc019 .-_:#'\"[]{},&*?|>%@`\\\t", min_size=0, max_size=6),
)
KEYS = st.one_of(st.sampled_from(["a", "b", "1", "true", "~", "name", "x y"]),
                 st.text(alphabet="abz019_-", min_size=1, max_size=4))
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
    ),
    max_leaves=12,
)


def render(value: Any, indent: int, flow: bool) -> str:
    """YAML text for a tree of plain scalars (written unquoted, so the resolver decides)."""
    if flow or not isinstance(value, dict | list) or not value:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {render(v, 0, True)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(render(v, 0, True) for v in value) + "]"
        return str(value)
    pad = " " * indent
    lines = []
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        head = f"{pad}{key}:" if isinstance(value, dict) else f"{pad}-"
        if isinstance(item, dict | list) and item:
            lines.append(head + "\n" + render(item, indent + 2, False))
        else:
            lines.append(f"{head} {render(item, 0, True)}")
    return "\n".join(lines)


@settings(max_examples=150, deadline=None)
@given(tree=TREES, flow=st.booleans())
def test_generated_documents_load_identically(tree: Any, flow: bool, tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("gen") / "g.yaml"
    path.write_text(render(tree, 0, flow) + "\n", encoding="utf-8")
    assert_same(path)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=" \n-:[]{},#'\"&*!|>?ab1.\t\\%~", max_size=40))
def test_arbitrary_text_loads_identically(text: str, tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("txt") / "t.yaml"
    path.write_text(text, encoding="utf-8")
    assert_same(path)


def test_a_site_sized_config_takes_the_fast_path(tmp_path: Path, no_fallback: None) -> None:
    """Written as JSON like the benchmarks' 2,000-device sites (200 devices here)."""
    from bench.configs import modbus_site, write_config

    path = write_config(tmp_path / "site.yaml",
                        modbus_site(tmp_path / "data", 200, [5020], http_port=18080))
    source = SourceMap()
    raw = load_yaml(path, source)
    assert raw == json.loads(path.read_text())
    text_lines = path.read_text().splitlines()
    assert source.lines[("devices", 7, "unit_id")][1] == next(
        i + 1 for i, line in enumerate(text_lines) if '"name": "d0007"' in line
    ) + 4


def test_shipped_demo_config_takes_the_fast_path(no_fallback: None) -> None:
    load_yaml(ROOT / "config" / "demo.yaml", SourceMap())


def test_merged_keys_have_the_line_they_were_written_on(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("base: &b\n  x: 1\n  z: 3\nuse:\n  <<: *b\n  y: 2\n  z: 4\n")
    source = SourceMap()
    assert load_yaml(path, source) == {"base": {"x": 1, "z": 3}, "use": {"y": 2, "z": 4, "x": 1}}
    assert source.lines[("use", "x")] == (str(path), 2)
    assert source.lines[("use", "z")] == (str(path), 7)


def test_aliases_take_the_fast_path(tmp_path: Path, no_fallback: None) -> None:
    """A generator that dumps a shared object writes anchors and aliases (PyYAML's &id001)."""
    path = tmp_path / "a.yaml"
    path.write_text("limits:\n  l1: &id001\n  - {channel: d/c,\n     high: 5}\n  l2: *id001\n")
    source = SourceMap()
    raw = load_yaml(path, source)
    assert raw["limits"]["l2"] == raw["limits"]["l1"]
    assert raw["limits"]["l2"] is not raw["limits"]["l1"]
    assert source.lines[("limits", "l2")] == (str(path), 5)
    assert source.lines[("limits", "l2", 0, "high")] == (str(path), 4)


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
def test_unicode_line_breaks_in_quoted_text_load_identically(char: str, tmp_path: Path) -> None:
    """libyaml counts them as line breaks inside quotes, ruamel does not: the lines differed."""
    path = tmp_path / "c.yaml"
    path.write_text(f'{{"0": "{char}", "": null}}\nb: "x{char}y"\n', encoding="utf-8")
    assert_same(path)
    path.write_text(f'a: "x{char}y"\nb: 1\n', encoding="utf-8")
    assert_same(path)
