"""Sites, rooms and locations: where a reading was taken and which GMP rules apply there."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field

from monitor.model import LocationState

from .base import ConfigModel, Name
from .durations import Duration


class Standard(StrEnum):
    """Which regulation's particle limits fill in the action limits of a grade."""

    EU_GMP_ANNEX1 = "eu_gmp_annex1"
    CHINA_GMP = "china_gmp"
    ISO_14644_1 = "iso_14644_1"


Grade = Literal["A", "B", "C", "D", "ISO5", "ISO6", "ISO7", "ISO8", "CNC"]


class SiteConfig(ConfigModel):
    id: Name = "site"
    name: str = "Cleanroom site"
    timezone: str = Field("UTC", description="Used only to interpret schedules; records are UTC.")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScheduleWindow(ConfigModel):
    """A weekly window (site time zone) in which the location is in ``state``.

    ``end`` at or before ``start`` runs past midnight into the next day.
    """

    days: list[Weekday] = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")
    end: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$", description="HH:MM (24:00 allowed)")
    state: LocationState = LocationState.IN_OPERATION


class StateConfig(ConfigModel):
    """How a location's at-rest / in-operation state is decided.

    Precedence: an authorised manual setting (API/CLI, audited), then the
    ``input`` channel (e.g. a "production running" contact), then the weekly
    ``schedule``, then ``default``.
    """

    default: LocationState = LocationState.IN_OPERATION
    schedule: list[ScheduleWindow] = Field(default_factory=list)
    input: str | None = Field(None, description="'device/channel' whose value sets the state")
    input_in_operation_when: Literal["nonzero", "zero"] = Field(
        "nonzero", description="Which input value means in operation"
    )
    clean_up: Duration = Field(
        0.0, description="After operations end, in-operation limits stay in force this long "
        "(GMP 'clean-up period', guidance 15-20 min) before at-rest limits apply"
    )

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """Itself: the settings are frozen, and pydantic deep-copies a model default for each
        instance (2,000 locations without state settings made 2,000 copies, 1 MB)."""
        return self


class LocationConfig(ConfigModel):
    name: Name
    description: str = ""
    state: StateConfig = StateConfig.model_construct()


class RoomConfig(ConfigModel):
    name: Name
    description: str = ""
    grade: Grade
    standard: Standard | None = Field(
        None, description="Defaults to the top-level 'standard'."
    )
    locations: list[LocationConfig] = Field(min_length=1)
