"""YAML loading that remembers where every value came from.

Validation errors must say ``FILE:LINE: path.to.field: message``; pydantic only
knows the path, so the loader records, for every mapping key and sequence item,
the file and line it was written on.

Two paths give the same result. The reference is ruamel.yaml's round-trip
loader (``_load_roundtrip``): pure Python, and it builds a commented object for
every value, which costs ~10 µs per value (15-24 s and ~250 MB for a
2,000-device site). The fast path (``_Builder``) reads libyaml's parse events
(ruamel.yaml.clib's ``CParser``) and builds the plain dicts/lists and the line
map from them directly, with no node tree: 0.5 s and a 40 MB peak for the same
site. Plain scalars are resolved with ruamel's own YAML 1.2 rules. Anything the
builder does not reproduce exactly (tags, directives, merge keys, duplicate or
non-text keys, text where libyaml and ruamel's scanner disagree, any syntax
error) goes to the reference path, so every value, line and error message is
the round-trip loader's own; tests/config/test_yaml_source.py compares the two.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import main as _ruamel_main
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import BaseResolver, implicit_resolvers
from ruamel.yaml.tag import Tag

from .json_source import non_printable, read_json
from .sourcemap import Loc, SourceMap, YamlSyntaxError

__all__ = ["Loc", "SourceMap", "YamlSyntaxError", "load_yaml"]

#: ruamel.yaml.clib's libyaml parser, which ruamel.yaml imports when it is installed
CParser: Any = getattr(_ruamel_main, "CParser", None)
#: held by every read through ``CParser`` here: ``yaml_plain`` swaps the clib's event
#: classes process-wide while it walks, and a ``_Builder`` running meanwhile would get them
CLIB_LOCK = threading.RLock()

def load_yaml(path: Path, source: SourceMap, prefix: Loc = (), text: str | None = None) -> Any:
    """Parse ``path`` (or its ``text``) into plain dicts/lists, recording lines under ``prefix``."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    is_json, value = read_json(path, source, text, prefix)
    if is_json:
        return value
    if CParser is not None and not _needs_reference(text):
        try:
            value = _plain_value(text)
        except Exception:  # anything unusual: the walk with lines, or the reference, decides
            pass
        else:  # the lines only if an error asks for one
            source.defer(functools.partial(_fill_lines, text, path, prefix))
            return value
    return _load_with_lines(text, path, source, prefix)


def _plain_value(text: str) -> Any:
    """The document's value without lines: block style read line by line (``yaml_block``),
    else (anything it does not read) the libyaml walk (``yaml_plain``)."""
    from .yaml_block import block_document  # they import this module
    from .yaml_plain import plain_document

    try:
        return block_document(text)
    except Exception:  # _Unusual, or a slip of the line reader: the walk decides
        return plain_document(text)


def _fill_lines(text: str, path: Path, prefix: Loc, lines: dict[Loc, tuple[str, int]]) -> None:
    merge_lines(lines, read_lines(text, path, prefix))


def _load_with_lines(text: str, path: Path, source: SourceMap, prefix: Loc) -> Any:
    if CParser is not None and not _needs_reference(text):
        try:
            with CLIB_LOCK:
                builder = _Builder(text, str(path))
                doc = builder.document(prefix)
        except Exception:  # anything unusual: the reference loader decides and words errors
            pass
        else:
            merge_lines(source.lines, builder.lines)
            return doc
    return _load_roundtrip(text, path, source, prefix)


def read_lines(text: str, path: Path, prefix: Loc) -> dict[Loc, tuple[str, int]]:
    """The line map of text already read (as JSON, or without lines), read again with them."""
    source = SourceMap()
    try:
        _load_with_lines(text, path, source, prefix)
    except YamlSyntaxError:  # not reached: the text was read before
        return {}
    return source.lines


def merge_lines(lines: dict[Loc, tuple[str, int]], new: dict[Loc, tuple[str, int]]) -> None:
    """Lines already recorded win (a file's own lines are recorded before an include's)."""
    if lines:
        for loc, where in new.items():
            lines.setdefault(loc, where)
    else:
        lines.update(new)


# ---------------------------------------------------------------- fast path

_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
_TAG = re.compile(r"(?:^|[\s\[{,:])!", re.MULTILINE)
_BLOCK_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")
_BLOCK_HEADER = re.compile(r"[|>][-+0-9]* *(?:#.*)?$", re.MULTILINE)
_BLANK_WITH_SPACES = re.compile(r"^ +$", re.MULTILINE)
_ODD_ANCHOR = re.compile(r"(?:^|[\s\[{,:])[&*][\w-]*[^\w\s,\[\]{}-]", re.MULTILINE | re.ASCII)
#: what ruamel's reader refuses (``non_printable``) in ASCII text (a substring search each:
#: ~10x faster than the regex, which is compiled only for text that is not ASCII: ~3 ms)
_ASCII_NON_PRINTABLE = [chr(c) for c in (*range(32), 127) if chr(c) not in "\t\n\r"]


def _needs_reference(text: str) -> bool:
    """Text where libyaml and ruamel's own scanner disagree: the reference loader reads it.

    - a directive (``%YAML 1.1`` changes the scalar rules);
    - anything that may be a tag (libyaml resolves ``! 4`` as an int where
      ruamel keeps a string; ``!!omap`` and custom tags build other types);
    - a comment right after a block scalar's ``|`` (libyaml accepts it), or a
      block scalar in a file with a line of only spaces (ruamel refuses some);
    - an anchor or alias name with a character libyaml ends it on (``&b?``);
    - a tab (libyaml accepts tabs where ruamel refuses them), a byte-order mark
      (libyaml skips one at the start of any line), or a character ruamel's
      reader refuses;
    - U+0085, U+2028 or U+2029, which libyaml counts as line breaks in quoted
      text where ruamel does not (the lines of what follows differ).
    """
    return (
        ("%" in text and _DIRECTIVE.search(text) is not None)
        or ("!" in text and _TAG.search(text) is not None)
        or ("#" in text and _BLOCK_HEADER_COMMENT.search(text) is not None)
        or ((" \n" in text or text.endswith(" "))  # else no line of only spaces
            and _BLANK_WITH_SPACES.search(text) is not None
            and _BLOCK_HEADER.search(text) is not None)
        or (("&" in text or "*" in text) and _ODD_ANCHOR.search(text) is not None)
        or "\t" in text
        or "\ufeff" in text
        or (any(char in text for char in _ASCII_NON_PRINTABLE) if text.isascii() else (
            non_printable().search(text) is not None
            or any(char in text for char in ("\x85", "\u2028", "\u2029"))))
    )


_T_STR = BaseResolver.DEFAULT_SCALAR_TAG
_PLAIN_TAGS: dict[str, Tag] = {}  # tag name -> the one Tag object the resolver returns for it
_RULES: dict[str, list[tuple[Tag, Any]]] = {}  # first character -> (tag, regexp), YAML 1.2
for _versions, _name, _regexp, _first in implicit_resolvers:
    if (1, 2) in _versions:
        _tag = _PLAIN_TAGS.setdefault(_name, Tag(suffix=_name))
        for _char in _first:
            _RULES.setdefault(_char, []).append((_tag, _regexp))
_T_INT = _PLAIN_TAGS["tag:yaml.org,2002:int"]
_T_FLOAT = _PLAIN_TAGS["tag:yaml.org,2002:float"]
_T_BOOL = _PLAIN_TAGS["tag:yaml.org,2002:bool"]
_T_NULL = _PLAIN_TAGS["tag:yaml.org,2002:null"]
_T_TIMESTAMP = _PLAIN_TAGS["tag:yaml.org,2002:timestamp"]
_RT = RoundTripConstructor()  # for timestamps only: the round-trip loader's own objects


class _Unusual(Exception):
    """The walk met something only the reference loader reproduces exactly."""


def resolve_plain(value: str) -> Tag:
    """The tag ruamel's YAML 1.2 resolver gives a plain scalar (text if no rule matches)."""
    for candidate, regexp in _RULES.get(value[:1], ()):
        if regexp.match(value):
            return candidate
    return _T_STR


def typed_scalar(tag: Any, value: str, numbers: dict[str, Any], marks: tuple[Any, ...]) -> Any:
    """A plain scalar resolved to ``tag`` other than text, as the round-trip constructor
    builds it (see ``_plain``); equal numbers come back as one object (``numbers``).
    ``marks`` are the event's start mark, end mark and style (for timestamps)."""
    if tag is _T_INT or tag is _T_FLOAT:
        number = numbers.get(value)
        if number is None:
            number = _int(value) if tag is _T_INT else _float(value)
            numbers[value] = number
        return number
    if tag is _T_BOOL:
        return value.lower() == "true"
    if tag is _T_NULL:
        return None
    if tag is _T_TIMESTAMP:
        node = ScalarNode(tag, value, *marks)
        return _RT.construct_yaml_timestamp(node)
    raise _Unusual(str(tag))  # merge keys, '=' values


class _Builder:
    """Plain values and lines straight from libyaml's events; no node tree is built.

    Each value is what ruamel's round-trip composer, constructor and ``_plain``
    give: plain scalars are resolved with ruamel's YAML 1.2 rules, a mapping
    key's line is the key's, a sequence item's line is where its node starts,
    and an alias is a copy of its anchor's value with the anchor's lines below it.
    """

    def __init__(self, text: str, file: str) -> None:
        self.next_event = CParser(text).get_event
        self.file = file
        self.lines: dict[Loc, tuple[str, int]] = {}
        self.order: list[Loc] = []  # locs in the order recorded (an anchor's lines are a slice)
        #: anchor -> (value, line its node starts on, [(path below the node, (file, line))])
        self.anchors: dict[str, tuple[Any, int, list[tuple[Loc, tuple[str, int]]]]] = {}
        self.resolved: dict[str, Tag] = {}
        self.texts: dict[str, str] = {}
        #: one object per distinct number text: 20,000 limits of ``high_alert: 90`` share one
        #: float (pydantic keeps the object it is given, the config cache's pickle keeps sharing)
        self.numbers: dict[str, int | float] = {}

    def document(self, prefix: Loc) -> Any:
        next_event = self.next_event
        next_event()  # stream start
        event = next_event()
        if type(event) is StreamEndEvent:
            self.record(prefix, 1)
            return None  # no document: the reference loader gives None too
        first = next_event()
        if type(first) is ScalarEvent and first.style in ("|", ">"):
            raise _Unusual("a block scalar document")  # ruamel reads '#' lines into it
        value = self.node(first, prefix, 1)
        if type(next_event()) is not DocumentEndEvent or type(next_event()) is not StreamEndEvent:
            raise _Unusual("more than one document")
        return value

    def record(self, loc: Loc, line: int) -> None:
        self.lines[loc] = (self.file, line)
        self.order.append(loc)

    def start_line(self, event: Any) -> int:
        if type(event) is AliasEvent:
            return self.anchors[event.anchor][1]
        return int(event.start_mark.line) + 1

    def node(self, event: Any, loc: Loc, line: int) -> Any:
        """The value that starts with ``event``; its lines are recorded under ``loc``."""
        self.record(loc, line)
        kind = type(event)
        if kind is AliasEvent:
            value, _, below = self.anchors[event.anchor]  # KeyError: the reference words it
            for suffix, where in below:
                self.lines[(*loc, *suffix)] = where
                self.order.append((*loc, *suffix))
            return copy.deepcopy(value)
        anchor = event.anchor
        if anchor is None:
            return self.build(event, kind, loc)
        if anchor in self.anchors:
            raise _Unusual(f"anchor {anchor!r} defined twice")  # ruamel warns about it
        first = len(self.order)
        value = self.build(event, kind, loc)
        depth = len(loc)
        below = [(sub[depth:], self.lines[sub]) for sub in self.order[first:]]
        self.anchors[anchor] = (value, int(event.start_mark.line) + 1, below)
        return value

    def build(self, event: Any, kind: type, loc: Loc) -> Any:
        if kind is ScalarEvent:
            return self.scalar(event)
        if event.tag is not None:
            raise _Unusual(event.tag)
        next_event, lines, order, file = self.next_event, self.lines, self.order, self.file
        if kind is MappingStartEvent:
            out: dict[str, Any] = {}
            while True:
                key_event = next_event()
                if type(key_event) is MappingEndEvent:
                    return out
                key = self.key(key_event)
                if key in out:
                    raise _Unusual(f"duplicate key {key!r}")  # the reference words the error
                line = int(key_event.start_mark.line) + 1
                value_event = next_event()
                at = (*loc, key)
                if type(value_event) is ScalarEvent and value_event.anchor is None:
                    lines[at] = (file, line)
                    order.append(at)
                    out[key] = self.scalar(value_event)
                else:
                    out[key] = self.node(value_event, at, line)
        if kind is SequenceStartEvent:
            items: list[Any] = []
            while True:
                item_event = next_event()
                if type(item_event) is SequenceEndEvent:
                    return items
                at = (*loc, len(items))
                if type(item_event) is ScalarEvent and item_event.anchor is None:
                    lines[at] = (file, int(item_event.start_mark.line) + 1)
                    order.append(at)
                    items.append(self.scalar(item_event))
                else:
                    items.append(self.node(item_event, at, self.start_line(item_event)))
        raise _Unusual(kind.__name__)

    def key(self, event: Any) -> str:
        """A text mapping key; others (``1``, ``true``: ``1 == True`` clash) go to the reference."""
        if type(event) is not ScalarEvent or event.tag is not None or event.anchor is not None:
            raise _Unusual("a mapping key that is not plain text")
        if event.implicit[0] and self.resolve(event.value) is not _T_STR:
            raise _Unusual(f"a mapping key {event.value!r} that is not text")
        return self.text(event.value)

    def scalar(self, event: Any) -> Any:
        """The value the round-trip constructor builds, as plain Python (see ``_plain``)."""
        if event.tag is not None:
            raise _Unusual(event.tag)  # explicit tags
        value: str = event.value
        if not event.implicit[0]:
            return self.text(value)  # quoted or block: text
        tag = self.resolve(value)
        if tag is _T_STR:
            return self.text(value)
        return typed_scalar(tag, value, self.numbers,
                            (event.start_mark, event.end_mark, event.style))

    def resolve(self, value: str) -> Tag:
        """The tag ruamel's YAML 1.2 resolver gives a plain scalar."""
        tag = self.resolved.get(value)
        if tag is None:
            tag = self.resolved[value] = resolve_plain(value)
        return tag

    def text(self, value: str) -> str:
        """One object per distinct string: repeated names, units and grades share it."""
        return self.texts.setdefault(value, value)


def _int(text: str) -> int:
    """``RoundTripConstructor.construct_yaml_int`` under YAML 1.2, without the formatting."""
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    base = {"0b": 2, "0x": 16, "0o": 8}.get(digits[:2])
    if base is not None:
        return sign * int(digits[2:], base)
    return sign * int(digits)  # a leading zero is decimal in YAML 1.2


def _float(text: str) -> float:
    """``RoundTripConstructor.construct_yaml_float`` under YAML 1.2, without the formatting."""
    digits = text.replace("_", "").lower()
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == ".inf":
        return sign * float("inf")
    if digits == ".nan":
        return float("nan")
    return sign * float(digits)


# ---------------------------------------------------------------- reference path


def _load_roundtrip(text: str, path: Path, source: SourceMap, prefix: Loc) -> Any:
    """ruamel.yaml's round-trip loader: the behaviour the fast path reproduces."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(str(path), line, f"YAML: {err.problem or err}") from err
    except Exception as err:  # ruamel raises several unrelated types for duplicate keys
        raise YamlSyntaxError(str(path), 1, f"YAML: {err}") from err
    return _plain(doc, str(path), prefix, source, 1, numbers={})


def _plain(node: Any, file: str, loc: Loc, source: SourceMap, line: int,
           *, numbers: dict[str, Any]) -> Any:
    """Plain Python values; ``numbers`` shares equal numbers, as the fast path does."""
    source.lines.setdefault(loc, (file, line))
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key_line = _key_line(node, key, line)
            out[str(key)] = _plain(value, file, (*loc, str(key)), source, key_line, numbers=numbers)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            item_line = node.lc.item(index)[0] + 1
            items.append(_plain(value, file, (*loc, index), source, item_line, numbers=numbers))
        return items
    if hasattr(node, "__float__") and type(node).__name__ == "ScalarFloat":
        real = float(node)
        return numbers.setdefault(f"f{real.hex()}", real)  # hex: 0.0 and -0.0 differ
    if type(node).__name__ in {"ScalarBoolean"}:
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int) and not isinstance(node, bool):
        integer = int(node)
        return numbers.setdefault(f"i{integer}", integer)
    return node


def _key_line(node: CommentedMap, key: Any, default: int) -> int:
    """A key merged in with ``<<: *base`` has its line in the mapping it came from."""
    if key in (node.lc.data or {}):
        return int(node.lc.key(key)[0]) + 1
    for merged in getattr(node, merge_attrib, ()):
        if isinstance(merged, CommentedMap) and key in merged:
            return _key_line(merged, key, default)
    return default
