"""YAML loading that remembers where every value came from.

Validation errors must say ``FILE:LINE: path.to.field: message``; pydantic only
knows the path, so the loader records, for every mapping key and sequence item,
the file and line it was written on.

Two paths give the same result. The reference is ruamel.yaml's round-trip
loader (``_load_roundtrip``): pure Python, and it builds a commented object for
every value, which costs ~10 µs per value (15-24 s and several hundred MB for a
2,000-device site). The fast path lets libyaml (ruamel.yaml.clib's
``CParser``) compose the node tree, resolves plain scalars with ruamel's own
YAML 1.2 rules, and builds plain dicts/lists and the line map in one walk of
the nodes, which are then dropped. Anything the walk does not reproduce
exactly (tags, directives, merge keys, duplicate or non-text keys, any syntax
error) goes to the reference path, so every value, line and error message is
the round-trip loader's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import main as _ruamel_main
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import Reader
from ruamel.yaml.resolver import BaseResolver, implicit_resolvers
from ruamel.yaml.tag import Tag

#: ruamel.yaml.clib's libyaml parser, which ruamel.yaml imports when it is installed
CParser: Any = getattr(_ruamel_main, "CParser", None)

Loc = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Path (as pydantic reports it) -> (file, 1-based line)."""

    lines: dict[Loc, tuple[str, int]] = field(default_factory=dict)

    def locate(self, loc: Loc, default_file: str) -> tuple[str, int]:
        """The line of the deepest part of ``loc`` that was written in a file."""
        for end in range(len(loc), -1, -1):
            hit = self.lines.get(tuple(loc[:end]))
            if hit is not None:
                return hit
        return default_file, 1


class YamlSyntaxError(Exception):
    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line, self.message = file, line, message
        super().__init__(f"{file}:{line}: {message}")


def load_yaml(path: Path, source: SourceMap, prefix: Loc = (), text: str | None = None) -> Any:
    """Parse ``path`` (or its ``text``) into plain dicts/lists, recording lines under ``prefix``."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    if CParser is not None and not _needs_reference(text):
        lines: dict[Loc, tuple[str, int]] = {}
        try:
            doc = _Composer(text, str(path), lines).document(prefix)
        except Exception:  # anything unusual: the reference loader decides and words errors
            pass
        else:
            if source.lines:
                for loc, where in lines.items():
                    source.lines.setdefault(loc, where)
            else:
                source.lines = lines
            return doc
    return _load_roundtrip(text, path, source, prefix)


# ---------------------------------------------------------------- fast path

_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
_TAG = re.compile(r"(?:^|[\s\[{,:])!", re.MULTILINE)
_BLOCK_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")
_BLOCK_HEADER = re.compile(r"[|>][-+0-9]* *(?:#.*)?$", re.MULTILINE)
_BLANK_WITH_SPACES = re.compile(r"^ +$", re.MULTILINE)
_ODD_ANCHOR = re.compile(r"(?:^|[\s\[{,:])[&*][\w-]*[^\w\s,\[\]{}-]", re.MULTILINE | re.ASCII)
_NON_PRINTABLE = re.compile(Reader.NON_PRINTABLE.pattern)


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
      reader refuses.
    """
    return (
        ("%" in text and _DIRECTIVE.search(text) is not None)
        or ("!" in text and _TAG.search(text) is not None)
        or ("#" in text and _BLOCK_HEADER_COMMENT.search(text) is not None)
        or (_BLANK_WITH_SPACES.search(text) is not None and _BLOCK_HEADER.search(text) is not None)
        or (("&" in text or "*" in text) and _ODD_ANCHOR.search(text) is not None)
        or "\t" in text
        or "\ufeff" in text
        or _NON_PRINTABLE.search(text) is not None
    )


_T_STR, _T_SEQ, _T_MAP = (
    BaseResolver.DEFAULT_SCALAR_TAG, BaseResolver.DEFAULT_SEQUENCE_TAG,
    BaseResolver.DEFAULT_MAPPING_TAG,
)
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


class _Composer(CParser or object):  # type: ignore[misc]
    """libyaml composes the nodes; plain scalars are resolved as ruamel's 1.2 resolver does.

    ``resolve``, ``descend_resolver`` and ``ascend_resolver`` are what the C
    composer calls back; path resolvers are not used, so the last two do nothing.
    """

    def __init__(self, text: str, file: str, lines: dict[Loc, tuple[str, int]]) -> None:
        super().__init__(text)
        self.file = file
        self.lines = lines
        self.resolved: dict[str, Tag] = {}
        self.texts: dict[str, str] = {}  # libyaml's string -> the copy the result holds

    def resolve(self, kind: Any, value: str | None, implicit: tuple[bool, bool]) -> Tag:
        if kind is ScalarNode:
            if not implicit[0] or value is None:
                return _T_STR
            tag = self.resolved.get(value)
            if tag is None:
                tag = _T_STR
                for candidate, regexp in _RULES.get(value[:1], ()):
                    if regexp.match(value):
                        tag = candidate
                        break
                self.resolved[value] = tag
            return tag
        return _T_MAP if kind is MappingNode else _T_SEQ

    def descend_resolver(self, parent: Any, index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def document(self, prefix: Loc) -> Any:
        try:
            root = self.get_single_node()
        finally:
            self.dispose()
        if type(root) is ScalarNode and root.style in ("|", ">"):
            raise _Unusual("a block scalar document")  # ruamel reads '#' lines into it
        return self.build(root, prefix, 1)

    def build(self, node: Any, loc: Loc, line: int) -> Any:
        """Plain value of ``node``; records the line of ``loc`` and of everything below it."""
        self.lines.setdefault(loc, (self.file, line))
        kind = type(node)
        if kind is MappingNode:
            if node.ctag is not _T_MAP:
                raise _Unusual(node.tag)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.text(_key(key_node))
                if key in out:
                    raise _Unusual(f"duplicate key {key!r}")  # the reference words the error
                out[key] = self.build(value_node, (*loc, key), key_node.start_mark.line + 1)
            return out
        if kind is SequenceNode:
            if node.ctag is not _T_SEQ:
                raise _Unusual(node.tag)
            build = self.build
            return [
                build(item, (*loc, index), item.start_mark.line + 1)
                for index, item in enumerate(node.value)
            ]
        if node is None:
            return None  # an empty document
        value = _scalar(node)
        return self.text(value) if type(value) is str else value

    def text(self, value: str) -> str:
        """One fresh copy per distinct string.

        The strings libyaml made sit among the nodes in memory; keeping them would
        pin the whole node tree's memory pages after the tree is freed (+60 MB RSS
        at 2,000 devices). A copy made now lies with the result, and repeated
        values (profile names, units, grades) share one object.
        """
        copy = self.texts.get(value)
        if copy is None:
            copy = self.texts[value] = "".join((value, ""))
        return copy


def _key(node: Any) -> str:
    """A text mapping key; others (``1``, ``true``: ``1 == True`` clash) go to the reference."""
    if type(node) is not ScalarNode or node.ctag is not _T_STR:
        raise _Unusual(f"a {node.tag} mapping key")
    return str(node.value)


def _scalar(node: Any) -> Any:
    """The value the round-trip constructor builds, as plain Python (see ``_plain``)."""
    tag = node.ctag
    value: str = node.value
    if tag is _T_STR:
        return value
    if tag is _T_INT:
        return _int(value)
    if tag is _T_FLOAT:
        return _float(value)
    if tag is _T_BOOL:
        return value.lower() == "true"
    if tag is _T_NULL:
        return None
    if tag is _T_TIMESTAMP:
        return _RT.construct_yaml_timestamp(node)
    raise _Unusual(node.tag)  # merge keys, '=' values, explicit tags


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
    return _plain(doc, str(path), prefix, source, 1)


def _plain(node: Any, file: str, loc: Loc, source: SourceMap, line: int) -> Any:
    source.lines.setdefault(loc, (file, line))
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key_line = _key_line(node, key, line)
            out[str(key)] = _plain(value, file, (*loc, str(key)), source, key_line)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            item_line = node.lc.item(index)[0] + 1
            items.append(_plain(value, file, (*loc, index), source, item_line))
        return items
    if hasattr(node, "__float__") and type(node).__name__ == "ScalarFloat":
        return float(node)
    if type(node).__name__ in {"ScalarBoolean"}:
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int) and not isinstance(node, bool):
        return int(node)
    return node


def _key_line(node: CommentedMap, key: Any, default: int) -> int:
    """A key merged in with ``<<: *base`` has its line in the mapping it came from."""
    if key in (node.lc.data or {}):
        return int(node.lc.key(key)[0]) + 1
    for merged in getattr(node, merge_attrib, ()):
        if isinstance(merged, CommentedMap) and key in merged:
            return _key_line(merged, key, default)
    return default
