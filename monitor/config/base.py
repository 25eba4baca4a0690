"""Base class of every config model: unknown keys are errors, loaded models are frozen."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

_FIELDS_SETS: dict[tuple[type, frozenset[str]], set[str]] = {}
#: per class, the shared set its last model got: compared first, since models of a class
#: mostly come in runs with the same fields set (20,000 limits of ``channel, high_alert,
#: high_action``), which spares building a frozenset per model (~3 ms of a 2,000-device load)
_LAST_SHARED: dict[type, set[str]] = {}
_setattr = object.__setattr__


class ConfigModel(BaseModel):
    # defer_build: validators are built on the first validation, not on import, so that a
    # start from the config cache (monitor/config/cache.py) never builds them (~0.1-0.3 s).
    # Default sections are made with model_construct() for the same reason.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @model_validator(mode="after")
    def _share_fields_set(self) -> Self:
        """Models of one class with the same fields set share one ``__pydantic_fields_set__``.

        The config lives as long as the daemon; at 2,000 devices with a limit on every
        channel one set per model was 7 MB of 24 (a set is 216-728 B). Sharing is safe:
        the models are frozen and ``model_copy`` copies the set before changing it. The
        config cache's pickle keeps the sharing (it memoises objects).
        """
        fields_set = self.__pydantic_fields_set__
        cls = type(self)
        shared = _LAST_SHARED.get(cls)
        if shared is None or shared != fields_set:
            shared = _FIELDS_SETS.setdefault((cls, frozenset(fields_set)), fields_set)
            _LAST_SHARED[cls] = shared
        if shared is not fields_set:
            _setattr(self, "__pydantic_fields_set__", shared)
        return self


def share_fields_set(cls: type[BaseModel], names: frozenset[str]) -> set[str]:
    """The ``__pydantic_fields_set__`` that models of ``cls`` with these fields set share
    (for models made without validation, as ``monitor.config.resident`` makes them)."""
    shared = _FIELDS_SETS.get((cls, names))
    if shared is None:
        shared = _FIELDS_SETS[(cls, names)] = set(names)
    return shared


Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
"""An identifier used in tags, metric labels, URLs and channel ids."""
