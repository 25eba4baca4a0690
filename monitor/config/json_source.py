"""Configs written as JSON (as generators write them), read with the json module.

JSON is nearly a subset of YAML 1.2, and a generated 2,000-device site is
usually written as JSON: the libyaml event walk of ``yaml_source`` takes
~0.33 s for its 2.5 MB, ``json`` ~0.03 s. ``load_json`` gives the value only
for text that ruamel's round-trip loader (the reference of ``yaml_source``)
reads as the same value, and None for anything else, which then goes the
YAML way. JSON that YAML reads otherwise, and what is refused here for it:

- duplicate keys (JSON keeps the last, YAML refuses the file);
- ``NaN``/``Infinity`` (Python's json accepts them, YAML reads text);
- a key whose ``:`` is on a later line, or more than 1024 characters
  after it (YAML's limit on implicit keys): every line must be shorter than
  1,000 characters, and a key's colon on its line;
- surrogate escapes (JSON joins ``\\ud83d\\ude00`` into one character, YAML
  keeps two); tabs, byte-order marks, characters ruamel's reader refuses, and
  the line breaks YAML knows beyond JSON's (U+0085, U+2028, U+2029).

The line map is not built here: ``yaml_source.load_yaml`` asks for it only
when an error must name a line, by reading the text again the YAML way.
Repeated strings and numbers come back as one object each, as from the YAML
walk (the running config and the config cache keep that sharing).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from .sourcemap import Loc, SourceMap

#: a key string whose colon is on a later line (no raw line break can be inside a JSON string)
_KEY_COLON_APART = re.compile(r'"[ \r\n]*[\r\n][ \r\n]*:')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")
_YAML_ONLY_BREAKS = ("\x85", "\u2028", "\u2029")
_LONGEST_LINE = 1000


class _NotAlike(Exception):
    """The text is JSON that YAML would read otherwise (a duplicate key)."""


def read_json(path: Path, source: SourceMap, text: str, prefix: Loc = ()) -> tuple[bool, Any]:
    """``load_json(text)``; when taken, the file's lines are deferred to ``source``."""
    taken, value = load_json(text)
    if taken:
        source.defer(functools.partial(_lines_later, text, path, prefix))
    return taken, value


def _lines_later(text: str, path: Path, prefix: Loc, lines: dict[Loc, tuple[str, int]]) -> None:
    from .yaml_source import merge_lines, read_lines  # ruamel.yaml: only when a line is needed

    merge_lines(lines, read_lines(text, path, prefix))


def load_json(text: str) -> tuple[bool, Any]:
    """``(True, value)`` if ``text`` is a JSON object YAML reads alike, else ``(False, None)``."""
    if text.lstrip(" \r\n")[:1] != "{" or not _reads_alike(text):
        return False, None
    texts: dict[str, str] = {}
    numbers: dict[str, Any] = {}

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            raise _NotAlike
        for key, value in pairs:
            if type(value) is str:
                out[key] = texts.setdefault(value, value)
        return out

    def number(kind: type, text: str) -> Any:
        value = numbers.get(text)
        if value is None:
            value = numbers[text] = kind(text)
        return value

    def refuse(name: str) -> Any:
        raise _NotAlike(name)

    decoder = json.JSONDecoder(
        object_pairs_hook=mapping,
        parse_float=lambda t: number(float, t),
        parse_int=lambda t: number(int, t),
        parse_constant=refuse,
    )
    try:
        return True, decoder.decode(text)
    except (ValueError, _NotAlike, RecursionError):  # not JSON, or JSON read otherwise
        return False, None


def _reads_alike(text: str) -> bool:
    """No character or layout on which YAML and JSON part (see the module's docstring)."""
    if "\t" in text or "\ufeff" in text or "\x7f" in text:
        return False
    if not text.isascii() and (
        non_printable().search(text) is not None
        or any(char in text for char in _YAML_ONLY_BREAKS)
    ):
        return False
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None:
        return False
    if _KEY_COLON_APART.search(text) is not None:
        return False
    return max(map(len, text.splitlines()), default=0) < _LONGEST_LINE


@functools.cache
def non_printable() -> re.Pattern[str]:
    """The characters ruamel's reader refuses, compiled at the first text that is not ASCII
    (~3 ms a process; an ASCII config never needs it). Shared with ``yaml_source``."""
    from ruamel.yaml.reader import Reader

    return re.compile(Reader.NON_PRINTABLE.pattern)
