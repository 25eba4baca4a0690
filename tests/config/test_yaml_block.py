"""The line-by-line reader of block-style YAML: the walk's values wherever it takes a text.

``load_yaml`` tries it first, so tests/config/test_yaml_source.py compares it (through
``load_yaml``) with ruamel's round-trip loader too; here: that it takes the documents
it is for (a site written by a dumper, with wrapped flow lines and comments), that
whatever it takes the libyaml walk reads alike, and that it refuses what it does not read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from monitor.config import yaml_source
from monitor.config.yaml_block import block_document
from monitor.config.yaml_plain import plain_document
from monitor.config.yaml_source import SourceMap, _Unusual, load_yaml
from tests.config.test_yaml_source import _typed_repr as typed  # each scalar with its type

ROOT = Path(__file__).parents[2]


def taken(text: str) -> bool:
    """Whether the reader takes ``text``; if it does, its value must be the walk's."""
    try:
        value = block_document(text)
    except _Unusual:
        return False
    assert typed(value) == typed(plain_document(text))
    return True


def _site(tmp_path: Path, devices: int) -> Path:
    from bench.configs import modbus_site, write_yaml_config

    return write_yaml_config(tmp_path / "site.yaml",
                             modbus_site(tmp_path / "data", devices, [5020, 5021],
                                         http_port=18080))


def test_a_site_written_by_the_dumper_is_read_line_by_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _site(tmp_path, 30)
    text = path.read_text("utf-8")
    assert "timeout: 1000ms,\n  retries: 0}" in text  # flow mappings wrapped over two lines
    assert taken(text)

    def refuse(*args: Any) -> Any:
        raise AssertionError("the libyaml walk read a site in block style")

    from monitor.config import yaml_plain

    monkeypatch.setattr(yaml_plain, "plain_document", refuse)
    source = SourceMap()
    raw = load_yaml(path, source)
    monkeypatch.undo()
    assert typed(raw) == typed(plain_document(text))
    assert raw["connections"][7]["retries"] == 0
    # the lines are still found (the walk with lines) when an error asks for one
    line = source.lines[("devices", 7, "unit_id")][1]
    assert "unit_id: 8," in text.splitlines()[line - 1]


def test_comments_quotes_and_sequences_at_their_keys_indentation() -> None:
    text = (
        "# a site kept by hand\n"
        "site: {id: s1, name: Cleanroom 3}   \n"
        "data_dir: /var/lib/monitor # where the trail lives\n"
        "rooms:\n"
        "- name: fill   # the filling room\n"
        "  grade: A\n"
        "  note: 'it''s # not a comment: \"quoted\"'\n"
        "  other: \"a: b # c\"\n"
        "  locations:\n"
        "  - {name: fill-1, description: left of the door}\n"
        "  -   name: fill-2\n"
        "      tags: ['a b', \"c\", -1, .5, ~, null, true, 0x1F]\n"
        "      hash: d#e\n"
        "\n"
        "  empty:\n"
        "  nested:\n"
        "      deeper:\n"
        "        - [1, 2.5, -0.0]\n"
        "        - {}\n"
        "        - []\n"
        "limits:  # comment after a key alone\n"
        "  loc: {channel: d/c, high_alert: 90, high_action: 95.5, flag: false}\n"
        "  wrapped: [1, 2,\n"
        "    3, a b,\n"
        "      c]\n"
        "url: http://host:8086/x\n"
        "path: C:\\data\\x\n"
        "text: a:b, [c] {d}\n"
        "profile: {name: c0, range: [0, 6553.5], map: {a: [], b: {}}, list: [[1], [a, b]]}\n"
        "wrapped_nested: [{a: 1, b: [2,\n    3]}, {c: 'x y'}]\n"
        "due: 2026-03-01\n"
        "at: 2025-01-02 10:00:00\n"
        "stamps: [2025-01-02, 2025-01-02]\n"
    )
    assert taken(text)
    value = block_document(text)
    assert value["rooms"][0]["note"] == "it's # not a comment: \"quoted\""
    assert value["rooms"][0]["locations"][1]["hash"] == "d#e"
    assert value["limits"]["wrapped"] == [1, 2, 3, "a b", "c"]
    assert value["rooms"][0]["empty"] is None
    assert value["profile"]["range"] == [0, 6553.5]
    assert value["wrapped_nested"][1] == {"c": "x y"}
    assert value["stamps"][0] == value["due"].replace(year=2025, month=1, day=2)
    assert value["stamps"][0] is not value["stamps"][1]  # new each time, as from the walk
    assert value["at"].hour == 10


REFUSED = {
    "tag": "a: !!str 5\n",
    "anchor": "a: &x 1\nb: *x\n",
    "block scalar": "a: |\n  x\n",
    "folded": "a: >\n  x\n",
    "multi-line plain": "a: one\n  two\n",
    "plain on the next line": "a:\n  one\n",
    "document start": "---\na: 1\n",
    "document end": "a: 1\n...\n",
    "quoted key": "'a': 1\n",
    "key with a space": "a b: 1\n",
    "key not text": "1: a\n",
    "key true": "true: a\n",
    "long key": "k" * 1001 + ": 1\n",
    "complex key": "? a\n: b\n",
    "merge key": "a: {x: 1}\nb:\n  <<: {y: 1}\n",
    "crlf": "a: 1\r\nb: 2\r\n",
    "timestamp that is no date": "a: [2025-13-45]\n",
    "comma in a quoted flow item": "a: [1, 'x, y']\n",
    "time in a flow item": "a: [2025-01-02 10:00:00]\n",
    "text after a nested flow": "a: {b: [1, 2]} x\n",
    "unbalanced nested flow": "a: {b: [1, 2}\n",
    "pair in a flow sequence": "a: [b: 1]\n",
    "comment in a wrapped flow": "a: [1,\n  # c\n  2]\n",
    "blank line in a wrapped flow": "a: [1,\n\n  2]\n",
    "flow continued at its key's indentation": "a: [1,\n2]\n",
    "unclosed flow": "a: [1, 2\n",
    "trailing comma": "a: [1, 2,]\n",
    "escape": 'a: "x\\ty"\n',
    "quoted then comment": "a: 'x' # c\n",
    "colon space in plain": "a: b: c\n",
    "colon at end": "a: b:\n",
    "dash alone": "a:\n-\n",
    "sequence in a sequence": "a:\n- - 1\n",
    "dash word": "a: -x\n",
    "indicator start": "a: %x\n",
    "top-level sequence": "- a\n- b\n",
    "indented top": "  a: 1\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "deeper after a value": "a: 1\n  b: 2\n",
    "duplicate key": "a: 1\na: 2\n",
    "duplicate flow key": "a: {b: 1, b: 2}\n",
    "deeper after a flow item": "a:\n- {b: 1}\n  c: 2\n",
    "deeper after a run of flow items": "a:\n- {b: 1}\n- {b: 2}\n   - {b: 3}\n",
    "a flow item's text after its mapping": "a:\n- {b: 1}\n- {b: 2} x}\n",
    "empty": "",
    "only comments": "# x\n",
    "value tag": "a: =\n",
    "question mark in a flow item": "a: [x?]\n",
    "text of a block in a flow item": "a: a:b\nb: [a:b]\n",  # the block's value is not reused
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_it_does_not_read_goes_the_libyaml_way(name: str) -> None:
    with pytest.raises(_Unusual):
        block_document(REFUSED[name])


@pytest.mark.parametrize("path", sorted([*(ROOT / "config").rglob("*.yaml"),
                                         *(ROOT / "tests" / "config" / "cases").glob("*/*.yaml")]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_files_are_read_alike_or_left_to_the_walk(path: Path) -> None:
    text = path.read_text("utf-8")
    if yaml_source._needs_reference(text):
        return
    taken(text)


SCALARS = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=False, width=32), st.booleans(), st.none(),
    st.sampled_from(["a", "ms", "1s", "x y", "it's", "C", "d#e", "a:b", "-", "- x", "#", "''",
                     "true", "null", "~", "0x1F", "1e3", ".inf", "2025-01-02", "a, b", "é"]),
    st.text(alphabet="abz09 .-_:#'\"[]{},&*?|>%@`!~/", max_size=8),
)
KEYS = st.one_of(st.sampled_from(["a", "name", "high_alert", "x-y", "1", "true", "a b"]),
                 st.text(alphabet="abz09_-./", min_size=1, max_size=6))
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(tree=st.dictionaries(KEYS, TREES, min_size=1, max_size=5),
       width=st.sampled_from([20, 40, 80, 4096]), flow=st.sampled_from([None, False]),
       indent=st.sampled_from([(2, 0), (2, 2), (4, 2)]))
def test_dumped_documents_are_read_as_the_walk_reads_them(
        tree: dict[str, Any], width: int, flow: bool | None, indent: tuple[int, int]) -> None:
    """Written by ruamel's dumper in block style (leaf collections inline, or not), wrapped
    at ``width``: whatever the reader takes, it reads as the walk does."""
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.width = width
    yaml.indent(mapping=indent[0], sequence=indent[0], offset=indent[1])
    out = io.StringIO()
    yaml.dump(tree, out)
    text = out.getvalue()
    if not yaml_source._needs_reference(text):
        taken(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=" \n-:[]{},#'\"!|>?ab1.~\\", max_size=40))
def test_arbitrary_text_it_takes_is_read_as_the_walk_reads_it(text: str) -> None:
    """The reader never takes a text the walk refuses or reads otherwise."""
    try:
        value = block_document(text)
    except _Unusual:
        return
    assert typed(value) == typed(plain_document(text))


TOKENS = st.sampled_from(
    ["1", "-1", "x", "'q'", '"d"', "a b", "~", "1.5", "-0.0", "0o7", "a:b", "a: b", "'it''s'",
     "x #c", "x#c", ".5", "1e3", "null", "true", "yes", "é", "http://h:1/x", "''", "a  b", "c]",
     "{d", "x?", "?x", "-x", "-", "%x", "&a", "*a", "!t", "|", "2025-01-02", "a,b", "'", "\\"])
RAW_KEYS = st.sampled_from(["a", "b", "c1", "x.y", "x-y", "k/l", "n_2", "1", "true", "-k", ".k",
                            "k k", "...", "?", "a#b"])
RAW_TREES = st.recursive(
    TOKENS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(RAW_KEYS, inner, max_size=4)),
    max_leaves=14,
)


def render(value: Any, indent: int, choices: list[int], out: list[str]) -> None:
    """Block YAML of ``value``, its scalars written as they are (unquoted), in styles
    picked by ``choices``: sequences at or under their key's indentation, mappings starting
    on their dash's line, comments, flow collections wrapped over two lines."""
    def pick(n: int) -> int:
        return choices.pop() % n if choices else 0

    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item and pick(3):
                out.append(f"{pad}{key}:" + (" # c" if pick(4) == 0 else ""))
                nested = 0 if isinstance(item, list) and pick(2) == 0 else 2 + pick(2)
                render(item, indent + nested, choices, out)
            else:
                out.append(f"{pad}{key}: {inline(item, choices)}"
                           + (" # c" if pick(5) == 0 else ""))
        return
    for item in value:
        if isinstance(item, dict) and item and pick(2) == 0:
            lines: list[str] = []
            render(item, indent + 2, choices, lines)
            lines[0] = pad + "- " + lines[0][indent + 2:]
            out.extend(lines)
        else:
            out.append(f"{pad}- {inline(item, choices)}")


def inline(value: Any, choices: list[int]) -> str:
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {inline(v, choices)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        text = "[" + ", ".join(inline(v, choices) for v in value) + "]"
    else:
        return str(value)
    if choices and choices[-1] % 3 == 0 and ", " in text:
        choices.pop()
        text = text.replace(", ", ",\n      ", 1)
    return text


@settings(max_examples=400, deadline=None)
@given(tree=st.dictionaries(RAW_KEYS, RAW_TREES, min_size=1, max_size=4),
       choices=st.lists(st.integers(0, 11), max_size=30))
def test_hand_written_styles_are_read_as_the_walk_reads_them(
        tree: dict[str, Any], choices: list[int]) -> None:
    """Scalars written unquoted, so the walk resolves them (or refuses the text): the reader
    takes a text only where the walk reads the same (a "a:b" is text in a block, an error
    in a flow collection; a "x?" ends a plain scalar in one)."""
    lines: list[str] = []
    render(tree, 0, list(choices), lines)
    text = "\n".join(lines) + "\n"
    if not yaml_source._needs_reference(text):
        taken(text)


#: mostly pairs it reads (weighted by repeating them), now and then one it refuses
PAIR_KEYS = st.sampled_from(["a", "b", "k/l", "x.y", "x-y"] * 8 + [
    "1", "true", "-k", ".k", "a b", "a#b", "'a'", "a:b", ""])
PAIR_VALUES = st.sampled_from(
    ["1", "90.0", "x", "'a: b'", '"c: d"', "'x # y'", "x#c", "2025-01-02", "~", "null", "-1",
     "é", "'it''s'", "x y", "tRue", "True", "d0000/c0", "1000ms", "127.0.0.1", "''", "a  b"] * 4
    + ["", " ", "'a, b'", "x #c", "a:b", "-", "-x", "'", "{", "[1]", "x?", "!t", "&a", "*a",
       "%x", "'q", "q'"])
SPACES = st.sampled_from(["", " ", "  "])
PAIRS = st.tuples(SPACES, PAIR_KEYS, st.sampled_from(["", "", " "]),
                  st.sampled_from([": "] * 6 + [":  ", ":"]), PAIR_VALUES, SPACES)


@settings(max_examples=400, deadline=None)
@given(pool=st.lists(PAIRS, min_size=1, max_size=5, unique_by=lambda pair: pair[1]),
       items=st.lists(st.lists(st.integers(0, 4), max_size=4, unique=True), min_size=1,
                      max_size=6),
       block=PAIR_VALUES, spaced=st.booleans())
def test_flow_mapping_items_are_read_as_the_walk_reads_them(
        pool: list[tuple[str, ...]], items: list[list[int]], block: str, spaced: bool) -> None:
    """Items of one-line flow mappings whose pairs repeat (as a site's limits do: the reader
    keeps each pair's text once read), with odd spacing, quoted values holding ``,``,
    ``: `` or ``#``, empty values and keys that are no text; a block value
    of the same text before them. Whatever the reader takes, it reads as the walk does."""
    texts = ["".join(pair) for pair in pool]  # of distinct keys (duplicates: below)
    lines = [f"v: {block}", "items:"]
    for item in items:
        pairs = [texts[i] for i in item if i < len(texts)]
        lines.append("- {" + (", " if spaced else ",").join(pairs) + "}")
    text = "\n".join(lines) + "\n"
    if not yaml_source._needs_reference(text):
        taken(text)


def test_repeated_pairs_share_their_values_as_the_walk_does() -> None:
    """A pair read again gives the same objects (one per distinct text or number), except a
    timestamp, new each time, as the walk makes it; odd spacing and quoted values alike
    (a quoted value holding ``,`` is cut at it, and refused: below)."""
    text = (
        "limits:\n"
        "- {channel: d0/c0, high_alert: 90.0, at: 2025-01-02, note: ''}\n"
        "- {channel: d0/c1,high_alert:  90.0 ,  at: 2025-01-02, note: 'a: b'}\n"
        "- {channel: d0/c2, high_alert: 90.0, at: 2025-01-02, note: \"x # y\"}\n"
    )
    value = block_document(text)
    walk = plain_document(text)
    assert typed(value) == typed(walk)
    first, second, third = value["limits"]
    assert [first["note"], second["note"], third["note"]] == ["", "a: b", "x # y"]
    assert first["high_alert"] is second["high_alert"] is third["high_alert"]
    assert (first["at"] is second["at"]) == (walk["limits"][0]["at"] is walk["limits"][1]["at"])
    assert first["at"] is not second["at"]


@pytest.mark.parametrize("item", [
    "{a: 1, a: 1}", "{a: 1,a: 2}", "{a 1}", "{a:1}", "{a: }", "{a: 1, }", "{, a: 1}",
    "{true: 1}", "{1: x}", "{a: x: y}", "{a: 'x, y'}", "{a: 'q}", "{a: x #c}", "{a: -}", "{a: !t}",
])
def test_flow_mapping_items_it_does_not_read(item: str) -> None:
    """Each twice: the second time the pairs before the refused one are known."""
    with pytest.raises(_Unusual):
        block_document(f"a:\n- {{k: 1}}\n- {item}\n- {item}\n")


def test_runs_of_flow_mapping_items_end_where_the_sequence_does() -> None:
    """A run of one-line flow mappings ends at a key, at the end, at another kind of item
    (a collection in the mapping too), across comments and blank lines: read as the walk."""
    for text in ("a:\n- {b: 1}\n- {b: 2}\nc: 3\n", "a:\n  - {b: 1}\n  - {b: 2}\n",
                 "a:\n- {b: 1}\n- x\n- {b: [2]}\n- {b: 3}\n",
                 "a:\n- {b: 1}\n# c\n\n- {b: 2}\n"):
        assert taken(text), text
