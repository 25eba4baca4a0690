"""Base class of every config model: unknown keys are errors, loaded models are frozen."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
"""An identifier used in tags, metric labels, URLs and channel ids."""
