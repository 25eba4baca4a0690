"""YAML loading that remembers where every value came from.

Validation errors must say ``FILE:LINE: path.to.field: message``; pydantic only
knows the path, so the loader records, for every mapping key and sequence item,
the file and line it was written on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

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


def load_yaml(path: Path, source: SourceMap, prefix: Loc = ()) -> Any:
    """Parse ``path`` into plain dicts/lists, recording lines under ``prefix``."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    text = path.read_text(encoding="utf-8")
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
            key_line = node.lc.key(key)[0] + 1
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
