"""The libyaml walk of ``yaml_source`` without the line map: the values only, faster.

A config is valid nearly every time it is loaded, and then no line is ever
read; ``yaml_source.load_yaml`` takes the values from here and has the lines
found (by ``yaml_source._Builder``) only when an error needs one. The rules
are ``_Builder``'s: the same scalar resolution, and the same cases handed
to the reference loader (``_Unusual``), so the values are the same.

Most of ``_Builder``'s time was not its own: libyaml parses a 2,000-device
site in ~0.03 s, but ruamel.yaml.clib builds a Python event object for each
of its 230,000 events through ``ruamel.yaml.events``' ``__init__`` methods
(~0.13 s). While this walk runs (``_light_events``), the event classes the
clib module instantiates are swapped for ``BaseException`` subclasses, which
keep their constructor arguments in ``args`` without running Python code:
0.35 -> ~0.15 s for that site. The swap is checked to take effect (else this
walk is not used and ``_Builder``'s, with lines, reads the file), held under
``yaml_source.CLIB_LOCK`` (which ``_Builder`` holds too), and undone before the
walk returns. Code outside this package that uses ruamel.yaml's C parser in the
same process (``YAML(typ="safe")``) does not take the lock: the daemon has
none, and a test or tool that has must not read YAML while a config loads.
"""

from __future__ import annotations

import copy
import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ruamel.yaml.events import DocumentEndEvent, StreamEndEvent

from .yaml_source import (
    _RULES,
    _T_STR,
    CLIB_LOCK,
    CParser,
    _Unusual,
    resolve_plain,
    typed_scalar,
)


class _Scalar(BaseException):
    """args: anchor, tag, implicit, value, start_mark, end_mark, style."""


class _MappingStart(BaseException):
    """args: anchor, tag, implicit, start_mark, end_mark, flow_style."""


class _SequenceStart(BaseException):
    """args: anchor, tag, implicit, start_mark, end_mark, flow_style."""


class _MappingEnd(BaseException):
    """args: start_mark, end_mark."""


class _SequenceEnd(BaseException):
    """args: start_mark, end_mark."""


class _Alias(BaseException):
    """args: anchor, start_mark, end_mark."""


_LIGHT = {
    "ScalarEvent": _Scalar, "MappingStartEvent": _MappingStart,
    "SequenceStartEvent": _SequenceStart, "MappingEndEvent": _MappingEnd,
    "SequenceEndEvent": _SequenceEnd, "AliasEvent": _Alias,
}
_MISSING = object()
_SHAREABLE = (str, int, float, bool, type(None))


def plain_document(text: str) -> Any:
    """The document's value as ``_Builder`` gives it; ``_Unusual`` (or a parser error) if not."""
    clib = _clib()
    if clib is None:  # the walk reads the light events' ``args``: the walk with lines decides
        raise _Unusual("the clib's event classes cannot be swapped")
    with CLIB_LOCK, _light_events(clib):
        return _PlainWalk(text).document()


@functools.cache
def _clib() -> Any:
    """The clib module, if swapping its event classes takes effect (checked once)."""
    candidates = (sys.modules.get(getattr(CParser, "__module__", "")),
                  sys.modules.get("_ruamel_yaml"))
    module = next((m for m in candidates if getattr(m, "CParser", None) is CParser), None)
    if module is None or not all(hasattr(module, name) for name in _LIGHT):
        return None
    with CLIB_LOCK, _light_events(module):  # a walk in another thread may be swapping too
        events = CParser("a: [1]\n")
        kinds = [type(events.get_event()) for _ in range(7)]
    if kinds[2:] != [_MappingStart, _Scalar, _SequenceStart, _Scalar, _SequenceEnd]:
        return None
    return module


@contextmanager
def _light_events(module: Any) -> Iterator[None]:
    saved = {name: getattr(module, name) for name in _LIGHT}
    try:
        for name, light in _LIGHT.items():
            setattr(module, name, light)
        yield
    finally:
        for name, kind in saved.items():
            setattr(module, name, kind)


class _PlainWalk:
    """``_Builder``'s walk over the light events, recording nothing but the values."""

    def __init__(self, text: str) -> None:
        self.next_event = CParser(text).get_event
        self.anchors: dict[str, Any] = {}
        self.resolved: dict[str, Any] = {}
        self.texts: dict[str, str] = {}
        self.numbers: dict[str, int | float] = {}
        #: plain scalar text -> its value (text, number, bool or None: one object each)
        self.plain: dict[str, Any] = {}
        self.keys: dict[str, str] = {}  # plain key text -> the key (resolved as text)

    def document(self) -> Any:
        next_event = self.next_event
        next_event()  # stream start
        if type(next_event()) is StreamEndEvent:
            return None  # no document
        first = next_event()
        if type(first) is _Scalar and first.args[6] in ("|", ">"):
            raise _Unusual("a block scalar document")
        value = self.node(first)
        end, stream_end = next_event(), next_event()
        if type(end) is not DocumentEndEvent or type(stream_end) is not StreamEndEvent:
            raise _Unusual("more than one document")
        return value

    def node(self, event: Any) -> Any:
        kind = type(event)
        args = event.args
        if kind is _Alias:
            return copy.deepcopy(self.anchors[args[0]])  # KeyError: the reference words it
        anchor = args[0]
        if anchor is not None and anchor in self.anchors:
            raise _Unusual(f"anchor {anchor!r} defined twice")
        if kind is _Scalar:
            value = self.scalar(args)
        elif args[1] is not None:
            raise _Unusual(args[1])  # a tag
        elif kind is _MappingStart:
            value = self.mapping()
        elif kind is _SequenceStart:
            value = self.sequence()
        else:
            raise _Unusual(kind.__name__)
        if anchor is not None:
            self.anchors[anchor] = value
        return value

    def mapping(self) -> dict[str, Any]:
        next_event, texts, plain, keys = self.next_event, self.texts, self.plain, self.keys
        out: dict[str, Any] = {}
        while True:
            key_event = next_event()
            if type(key_event) is not _Scalar:
                if type(key_event) is _MappingEnd:
                    return out
                raise _Unusual("a mapping key that is not plain text")
            args = key_event.args
            if args[0] is not None or args[1] is not None:
                raise _Unusual("a mapping key that is not plain text")
            text = args[3]
            if args[2][0]:
                key = keys.get(text)
                if key is None:
                    key = self.plain_key(text)
            else:
                key = texts.setdefault(text, text)
            if key in out:
                raise _Unusual(f"duplicate key {key!r}")
            value_event = next_event()
            args = value_event.args
            if type(value_event) is _Scalar and args[0] is None and args[1] is None:
                text = args[3]
                if not args[2][0]:
                    out[key] = texts.setdefault(text, text)
                else:
                    value = plain.get(text, _MISSING)
                    if value is _MISSING:
                        if text[:1] in _RULES:
                            value = self.plain_scalar(args)
                        else:  # no rule starts with its first character: text
                            value = plain[text] = texts.setdefault(text, text)
                    out[key] = value
            else:
                out[key] = self.node(value_event)

    def sequence(self) -> list[Any]:
        next_event, texts, plain = self.next_event, self.texts, self.plain
        items: list[Any] = []
        while True:
            event = next_event()
            kind = type(event)
            args = event.args
            if kind is _Scalar and args[0] is None and args[1] is None:
                text = args[3]
                if not args[2][0]:
                    items.append(texts.setdefault(text, text))
                else:
                    value = plain.get(text, _MISSING)
                    items.append(self.plain_scalar(args) if value is _MISSING else value)
            elif kind is _SequenceEnd:
                return items
            else:
                items.append(self.node(event))

    def plain_key(self, text: str) -> str:
        """A plain mapping key, which must resolve as text (``1``, ``true``: the reference)."""
        if self.resolve(text) is not _T_STR:
            raise _Unusual(f"a mapping key {text!r} that is not text")
        key = self.keys[text] = self.texts.setdefault(text, text)
        return key

    def plain_scalar(self, args: tuple[Any, ...]) -> Any:
        """``scalar``, remembered for the text when its value is immutable (not a timestamp)."""
        value = self.scalar(args)
        if type(value) in _SHAREABLE:
            self.plain[args[3]] = value
        return value

    def scalar(self, args: tuple[Any, ...]) -> Any:
        """``_Builder.scalar`` on the event's arguments."""
        if args[1] is not None:
            raise _Unusual(args[1])  # explicit tags
        value: str = args[3]
        if not args[2][0]:
            return self.texts.setdefault(value, value)  # quoted or block: text
        tag = self.resolved.get(value)
        if tag is None:
            tag = self.resolve(value)
        if tag is _T_STR:
            return self.texts.setdefault(value, value)
        return typed_scalar(tag, value, self.numbers, args[4:7])

    def resolve(self, value: str) -> Any:
        """The tag ruamel's YAML 1.2 resolver gives a plain scalar, kept for its next use."""
        tag = self.resolved[value] = resolve_plain(value)
        return tag
