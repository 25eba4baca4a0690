"""Block-style YAML as people and dumpers write it, read line by line: the values only.

``yaml_source.load_yaml`` tries this reader before the libyaml walk of
``yaml_plain``. Most of that walk's time is not its own: ruamel.yaml.clib makes
a Python event and two mark objects for each of libyaml's events (230,000 for a
2,000-device site: ~0.14 s of its ~0.17 s), which no walk over events avoids.
A config in block style is mostly lines of one key or one sequence item each,
whose structure the indentation gives; reading those lines with ``str``
methods takes ~0.1 s for the same site.

It reads a strict subset and refuses everything else (``_Unusual``), which then
goes the libyaml way, so it never gives a value the walk would not:

- block mappings of plain keys (``[A-Za-z0-9_./-]``, not starting with ``-``
  or ``.``, resolving as text) and block sequences of ``- `` items, including a mapping
  that starts on its item's line and a sequence at its key's indentation;
- values on the key's or the item's line: a plain scalar (resolved with the
  walk's own ``resolve_plain``/``typed_scalar``), a single- or double-quoted
  one (no backslash), or a flow sequence or mapping (of plain scalars, quoted
  ones holding no quote nor backslash, and flow collections), possibly wrapped
  over more indented lines that follow at once;
- whole-line comments, and a comment after a plain value or a key alone.

Refused: tags, anchors, aliases, block scalars, directives and document
markers, multi-line scalars, complex or quoted keys, plain flow items holding
``:``, ``#`` or ``?``, keys longer than 1,000 characters
(YAML's limit on implicit keys is 1,024), carriage returns, and any indentation
it does not expect. Values are shared as the walk shares them (one object per
distinct text or number). ``tests/config/test_yaml_source.py`` compares
``load_yaml`` with the round-trip loader on corners, shipped and generated
documents and arbitrary text; ``tests/config/test_yaml_block.py`` that the
reader's values are the walk's wherever it takes a document.
"""

from __future__ import annotations

import re
from typing import Any

from .yaml_source import _RULES, _T_STR, _T_TIMESTAMP, _Unusual, resolve_plain, typed_scalar

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-")
_KEY_MAX = 1000
#: no flow item holds one of these (quotes, nested collections, pairs, comments, indicators;
#: libyaml ends a plain scalar at a ``?`` in a flow collection)
_FLOW_REFUSED = frozenset("[]{}'\"#&*!|>%@`\\:,?")
#: a quoted flow item is text if it holds none of these (no escapes to undo, nothing split)
_QUOTES = ("'", '"')
_BRACKETS = frozenset("[]{}")
_FLOW_STOP = re.compile(r"[,\[\]{}]")
_QUOTED_REFUSED = frozenset("'\"\\")
#: a plain scalar starting with one of these is refused (a ``-`` before a digit or ``.``
#: is a number's sign, and allowed)
_START_REFUSED = frozenset("[]{}#&*!|>%@`'\",?:-")
_SIGNED = frozenset("0123456789.")
#: a plain scalar starting with none of these resolves as text (no YAML 1.2 rule starts so)
_NOT_TEXT_AT_ONCE = _START_REFUSED | frozenset(_RULES)
_MISSING = object()
_SHARED = (str, int, float, bool, type(None))  # the values the walk shares between equal texts

Line = tuple[int, str, int]  # indentation, text without it (right-stripped), line number


def block_document(text: str) -> dict[str, Any]:
    """The mapping ``text`` holds, as ``yaml_plain.plain_document`` gives it; ``_Unusual``
    for anything outside the subset this module reads (see its docstring)."""
    if "\r" in text:
        raise _Unusual("a carriage return")
    return _Reader(text).document()


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines: list[Line] = [
            (len(line) - len(content), content.rstrip(" "), number)
            for number, line in enumerate(text.split("\n"))
            if (content := line.lstrip(" ")) and content[0] != "#"
        ]
        self.at = 0  # the next line to read
        self.texts: dict[str, str] = {}
        self.numbers: dict[str, Any] = {}
        self.plain: dict[str, Any] = {}  # plain scalar text -> its value
        self.flow: dict[str, Any] = {}  # flow item text -> its value
        self.pairs: dict[str, tuple[str, Any]] = {}  # flow mapping pair text -> key, value
        self.keys: dict[str, str] = {}  # key text -> the key (checked)

    def document(self) -> dict[str, Any]:
        if not self.lines or self.lines[0][0] != 0:
            raise _Unusual("no mapping at the top")
        value = self.mapping(0)
        if self.at != len(self.lines):
            raise _Unusual("lines after the top mapping")
        return value

    def mapping(self, indent: int) -> dict[str, Any]:
        lines = self.lines
        out: dict[str, Any] = {}
        count = len(lines)
        while self.at < count:
            column, content, _ = lines[self.at]
            if column != indent:
                if column < indent:
                    return out
                raise _Unusual("indentation")
            colon = content.find(":")
            if colon < 0:
                raise _Unusual("not a key")
            rest = content[colon + 1:]
            if rest and rest[0] != " ":
                raise _Unusual("not a key")
            key = self.key(content[:colon])
            if key in out:
                raise _Unusual(f"duplicate key {key!r}")
            self.at += 1
            rest = rest.lstrip(" ")
            if not rest or rest[0] == "#":
                out[key] = self.below(indent)
            else:
                out[key] = self.inline(rest, indent)
                if self.at < count and lines[self.at][0] > indent:
                    raise _Unusual("indentation")  # a multi-line scalar, or worse
        return out

    def below(self, indent: int) -> Any:
        """The value of a key written alone on its line: the block after it, or null."""
        if self.at >= len(self.lines):
            return None
        column, content, _ = self.lines[self.at]
        if column > indent:
            return self.sequence(column) if content[:2] == "- " else self.mapping(column)
        if column == indent and content[:2] == "- ":
            return self.sequence(column)  # a sequence at its key's indentation
        return None

    def sequence(self, indent: int) -> list[Any]:
        lines = self.lines
        items: list[Any] = []
        count = len(lines)
        flow_mapping, append = self.flow_mapping, items.append
        while self.at < count:
            at = self.at
            column, content, number = lines[at]
            while (column == indent and content[-1] == "}" and content.startswith("- {")
                   and _BRACKETS.isdisjoint(inner := content[3:-1])):
                # the common item, a one-line flow mapping of scalars (as ``inline`` reads
                # it), in a run of them; a line indented more than the dash after one is
                # refused below, as after any item
                append(flow_mapping(inner))
                at += 1
                if at == count:
                    self.at = at
                    return items
                column, content, number = lines[at]
            self.at = at
            if column != indent or content[:2] != "- ":
                if column <= indent:
                    return items
                raise _Unusual("indentation")
            item = content[2:]
            stripped = item.lstrip(" ")
            colon = stripped.find(":")
            if (colon > 0 and stripped[0] not in "[{'\""
                    and (colon + 1 == len(stripped) or stripped[colon + 1] == " ")):
                # a mapping starting on the item's line: read as if on a line of its own
                lines[self.at] = (indent + 2 + len(item) - len(stripped), stripped, number)
                items.append(self.mapping(lines[self.at][0]))
                continue
            if stripped[0] == "-" and stripped[1:2] in ("", " "):
                raise _Unusual("a sequence in a sequence item")
            self.at += 1
            items.append(self.inline(stripped, indent))
            if self.at < count and lines[self.at][0] > indent:
                raise _Unusual("indentation")
        return items

    def key(self, text: str) -> str:
        key = self.keys.get(text)
        if key is None:
            if (not text or text[0] in "-." or len(text) > _KEY_MAX  # no "---"/"..." either
                    or not _KEY_CHARS.issuperset(text) or resolve_plain(text) is not _T_STR):
                raise _Unusual(f"a key {text!r}")
            key = self.keys[text] = self.texts.setdefault(text, text)
        return key

    def inline(self, rest: str, indent: int) -> Any:
        """A value written after its key or dash (``rest`` starts with no space)."""
        first = rest[0]
        if first in "[{":
            closer = "]" if first == "[" else "}"
            if rest[-1] != closer:
                rest = self.wrapped(rest, closer, indent)
            inner = rest[1:-1]
            if not _BRACKETS.isdisjoint(inner):  # a collection in the collection
                value, end = self.flow_node(rest, 0)
                if end != len(rest):
                    raise _Unusual("text after a flow collection")
                return value
            if first == "[":
                return [self.flow_scalar(item) for item in inner.split(",")] \
                    if inner.strip(" ") else []
            return self.flow_mapping(inner)
        if first == "'":
            inner = rest[1:-1]
            if len(rest) < 2 or rest[-1] != "'" or "'" in inner.replace("''", ""):
                raise _Unusual("a single-quoted value")
            inner = inner.replace("''", "'")
            return self.texts.setdefault(inner, inner)
        if first == '"':
            inner = rest[1:-1]
            if len(rest) < 2 or rest[-1] != '"' or '"' in inner or "\\" in inner:
                raise _Unusual("a double-quoted value")
            return self.texts.setdefault(inner, inner)
        comment = rest.find(" #")
        if comment >= 0:
            rest = rest[:comment].rstrip(" ")
        return self.scalar(rest)

    def wrapped(self, rest: str, closer: str, indent: int) -> str:
        """A flow collection over several lines, joined by spaces (how YAML folds them):
        the lines after its first must follow at once (no blank or comment line between),
        be indented more than its key or dash, and hold no comment."""
        lines, parts = self.lines, [rest]
        previous = lines[self.at - 1][2]
        while parts[-1][-1] != closer:
            if self.at >= len(lines):
                raise _Unusual("an unclosed flow collection")
            column, content, number = lines[self.at]
            if column <= indent or number != previous + 1 or "#" in content:
                raise _Unusual("a flow collection's lines")
            parts.append(content)
            previous = number
            self.at += 1
        return " ".join(parts)

    def flow_node(self, text: str, at: int) -> tuple[Any, int]:
        """The flow collection starting at ``text[at]`` (``[`` or ``{``), collections in it
        included, and where it ends: items are split at ``,`` and brackets, so a quoted item
        holding one is cut and then refused."""
        mapping = text[at] == "{"
        closer = "}" if mapping else "]"
        out: Any = {} if mapping else []
        at += 1
        while text[at:at + 1] == " ":
            at += 1
        if text[at:at + 1] == closer:
            return out, at + 1
        while True:
            if mapping:
                colon = text.find(": ", at)
                if colon < 0:
                    raise _Unusual("a flow mapping's pair")
                key = self.key(text[at:colon].strip(" "))
                if key in out:
                    raise _Unusual(f"duplicate key {key!r}")
                at = colon + 2
            while text[at:at + 1] == " ":
                at += 1
            if text[at:at + 1] in ("[", "{"):
                value, at = self.flow_node(text, at)
                while text[at:at + 1] == " ":
                    at += 1
            else:
                stop = _FLOW_STOP.search(text, at)
                end = len(text) if stop is None else stop.start()
                value = self.flow_scalar(text[at:end])
                at = end
            if mapping:
                out[key] = value
            else:
                out.append(value)
            following = text[at:at + 1]
            if following == closer:
                return out, at + 1
            if following != ",":
                raise _Unusual("a flow collection's items")
            at += 1

    def flow_mapping(self, inner: str) -> dict[str, Any]:
        """A one-line flow mapping of scalars (``inner`` without its braces): its pairs
        split at ``,``, each read once per distinct text (``pair``) and then looked up
        (a site repeats most pairs: ``high_alert: 90.0``, ``driver: modbus_tcp``)."""
        out: dict[str, Any] = {}
        if not inner.strip(" "):
            return out
        pairs = self.pairs
        count = 0
        for text in inner.split(","):
            known = pairs.get(text)
            key, value = self.pair(text) if known is None else known
            out[key] = value
            count += 1
        if len(out) != count:
            raise _Unusual("duplicate key in a flow mapping")
        return out

    def pair(self, text: str) -> tuple[str, Any]:
        """A flow mapping's pair, split at its first ``: ``; kept for the next time its
        text comes once its value's text has come before (a value read the first time is
        mostly a name, whose pair never repeats: ~30,000 at 2,000 devices; a timestamp is
        never kept, it is new each time). A value not read before that is plain text at a
        glance (no character a flow item refuses, none starting a quoted or refused scalar
        or a resolver rule) is taken as it is: what ``flow_scalar`` would find, one call
        chain shorter."""
        key_text, colon, value_text = text.partition(": ")
        if not colon:
            raise _Unusual("a flow mapping's pair")
        key_text = key_text.strip(" ")
        key = self.keys.get(key_text) or self.key(key_text)
        value_text = value_text.strip(" ")
        flow = self.flow
        value = flow.get(value_text, _MISSING)
        if value is _MISSING:
            if (value_text and value_text[0] not in _NOT_TEXT_AT_ONCE
                    and _FLOW_REFUSED.isdisjoint(value_text)):
                value = flow[value_text] = self.texts.setdefault(value_text, value_text)
            else:
                value = self.flow_scalar(value_text)
        else:  # the value's text came before (``flow`` holds no timestamp): kept
            self.pairs[text] = (key, value)
        return key, value

    def flow_scalar(self, item: str) -> Any:
        text = item.strip(" ")
        value = self.flow.get(text, _MISSING)  # apart from ``plain``: "a:b" is plain text
        if value is not _MISSING:  # in a block, not in a flow collection
            return value
        if text[:1] in _QUOTES and len(text) > 1 and text[-1] == text[0]:
            inner = text[1:-1]  # quoted: text, if it holds no quote nor escape
            if not _QUOTED_REFUSED.isdisjoint(inner):
                raise _Unusual(f"a flow item {text!r}")
            value = self.texts.setdefault(inner, inner)
        elif not text or not _FLOW_REFUSED.isdisjoint(text):
            raise _Unusual(f"a flow item {text!r}")
        else:
            value = self.scalar(text)
            if type(value) not in _SHARED:
                return value  # a timestamp: a new one each time, as from the walk
        self.flow[text] = value
        return value

    def scalar(self, text: str) -> Any:
        """A plain scalar, as the walk resolves it (text shared, numbers shared)."""
        value = self.plain.get(text, _MISSING)
        if value is not _MISSING:
            return value
        if (not text or (text[0] in _START_REFUSED
                         and not (text[0] == "-" and text[1:2] and text[1] in _SIGNED))
                or ": " in text or text[-1] == ":"):
            raise _Unusual(f"a plain scalar {text!r}")
        tag = resolve_plain(text)
        if tag is _T_STR:
            value = self.texts.setdefault(text, text)
        elif tag is _T_TIMESTAMP:  # its marks only word a failure: the walk words that one
            try:
                return typed_scalar(tag, text, self.numbers, (None, None, ""))  # new each time
            except Exception as err:  # no such date: the walk (and then the reference) says so
                raise _Unusual(f"a timestamp {text!r}") from err
        else:
            value = typed_scalar(tag, text, self.numbers, ())
        self.plain[text] = value
        return value
