"""Where every value of a config file was written, for errors that name FILE:LINE.

Kept apart from the YAML reader (``yaml_source``, which imports ruamel.yaml)
so that a config read as JSON (``json_source``) imports no YAML code unless an
error needs its lines.
"""

from __future__ import annotations

from collections.abc import Callable

Loc = tuple[str | int, ...]


class SourceMap:
    """Path (as pydantic reports it) -> (file, 1-based line).

    Lines can be deferred (``defer``): a file read as JSON (``json_source``)
    has its lines found only when an error needs one, by reading it again the
    YAML way. ``lines`` runs what was deferred, in the order it was deferred.
    """

    def __init__(self) -> None:
        self._lines: dict[Loc, tuple[str, int]] = {}
        self._deferred: list[Callable[[dict[Loc, tuple[str, int]]], None]] = []

    @property
    def lines(self) -> dict[Loc, tuple[str, int]]:
        while self._deferred:
            self._deferred.pop(0)(self._lines)
        return self._lines

    def defer(self, fill: Callable[[dict[Loc, tuple[str, int]]], None]) -> None:
        """Have ``fill`` add to the lines when they are first read."""
        self._deferred.append(fill)

    def locate(self, loc: Loc, default_file: str) -> tuple[str, int]:
        """The line of the deepest part of ``loc`` that was written in a file."""
        lines = self.lines
        for end in range(len(loc), -1, -1):
            hit = lines.get(tuple(loc[:end]))
            if hit is not None:
                return hit
        return default_file, 1


class YamlSyntaxError(Exception):
    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line, self.message = file, line, message
        super().__init__(f"{file}:{line}: {message}")
