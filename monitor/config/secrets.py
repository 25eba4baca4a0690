"""Secrets in the config come from the environment or a file, never from the YAML itself.

``password: {env: INFLUX_PASSWORD}`` or ``password: {file: /etc/cleanroom-monitor/influx.pw}``.
A literal string is accepted (for tests and demos) but the value is still wrapped
in ``SecretStr`` so it is never printed or logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, SecretStr


def resolve_secret(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in os.environ:
                raise ValueError(f"environment variable {name} is not set")
            return os.environ[name]
        if set(value) == {"file"}:
            path = Path(str(value["file"]))
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ValueError(f"cannot read secret file {path}: {err.strerror}") from err
        raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")
    return value


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
