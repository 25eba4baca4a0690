"""Secrets in the config come from the environment or a file, never from the YAML itself.

``password: {env: INFLUX_PASSWORD}`` or ``password: {file: /etc/cleanroom-monitor/influx.pw}``.
A literal string is accepted (for tests and demos) but the value is still wrapped
in ``SecretStr`` so it is never printed or logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr


class SecretRef(SecretStr):
    """A secret read from ``{env: NAME}`` or ``{file: PATH}``; it remembers where from.

    Pickled (the validated-config cache, ``monitor.config.cache``) it is written as
    its reference and read back by resolving that again, so the value never reaches
    the disk and a rotated secret is picked up on the next start.
    """

    def __init__(self, value: str, kind: str, where: str) -> None:
        super().__init__(value)
        self.kind = kind
        self.where = where

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _resolve_ref, (self.kind, self.where)


def _resolve_ref(kind: str, where: str) -> SecretRef:
    return SecretRef(_read(kind, where), kind, where)


def _read(kind: str, where: str) -> str:
    if kind == "env":
        if where not in os.environ:
            raise ValueError(f"environment variable {where} is not set")
        return os.environ[where]
    path = Path(where)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ValueError(f"cannot read secret file {path}: {err.strerror}") from err


def resolve_secret(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return _resolve_ref("env", str(value["env"]))
        if set(value) == {"file"}:
            return _resolve_ref("file", str(value["file"]))
        raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")
    return value


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
