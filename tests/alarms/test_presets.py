"""Every grade preset value, against the figures as published, and how presets reach rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alarms.presets import iso_concentration, preset_limit
from monitor.alarms.rules import build_tables
from monitor.errors import ConfigError

from .site import Harness, limits, site

P05, P50 = "particles_0_5um", "particles_5_0um"
REST, OPER = "at_rest", "in_operation"

# (standard, grade, state, quantity, limit) written out from the sources, not computed.
EU = [
    ("A", REST, 3_520, 29), ("A", OPER, 3_520, 29),
    ("B", REST, 3_520, 29), ("B", OPER, 352_000, 2_930),
    ("C", REST, 352_000, 2_930), ("C", OPER, 3_520_000, 29_300),
    ("D", REST, 3_520_000, 29_300), ("D", OPER, None, None),
]
CHINA = [
    ("A", REST, 3_520, 20), ("A", OPER, 3_520, 20),
    ("B", REST, 3_520, 29), ("B", OPER, 352_000, 2_900),
    ("C", REST, 352_000, 2_900), ("C", OPER, 3_520_000, 29_000),
    ("D", REST, 3_520_000, 29_000), ("D", OPER, None, None),
]
ISO = [  # ISO 14644-1:2015 Table 1; ISO 5 is not classified at >=5 um (notes d, e, f)
    ("ISO5", 3_520, None), ("ISO6", 35_200, 293), ("ISO7", 352_000, 2_930),
    ("ISO8", 3_520_000, 29_300),
]

CASES = (
    [("eu_gmp_annex1", g, s, P05, p05) for g, s, p05, _ in EU]
    + [("eu_gmp_annex1", g, s, P50, p50) for g, s, _, p50 in EU]
    + [("china_gmp", g, s, P05, p05) for g, s, p05, _ in CHINA]
    + [("china_gmp", g, s, P50, p50) for g, s, _, p50 in CHINA]
    + [("iso_14644_1", g, s, P05, p05) for g, p05, _ in ISO for s in (REST, OPER)]
    + [("iso_14644_1", g, s, P50, p50) for g, _, p50 in ISO for s in (REST, OPER)]
)


@pytest.mark.parametrize(("standard", "grade", "state", "quantity", "expected"), CASES)
def test_preset_value(standard: str, grade: str, state: str, quantity: str,
                      expected: float | None) -> None:
    assert preset_limit(standard, grade, state, quantity) == expected


@pytest.mark.parametrize(("standard"), ["eu_gmp_annex1", "china_gmp"])
def test_iso_grade_in_a_gmp_room_uses_iso(standard: str) -> None:
    assert preset_limit(standard, "ISO7", OPER, P05) == 352_000


@pytest.mark.parametrize(("n", "size", "published"), [
    (1, 0.1, 10), (2, 0.2, 24), (3, 0.3, 102), (4, 1.0, 83), (5, 0.1, 100_000),
    (5, 0.2, 23_700), (5, 0.3, 10_200), (5, 0.5, 3_520), (5, 1.0, 832), (6, 0.5, 35_200),
    (6, 1.0, 8_320), (6, 5.0, 293), (7, 0.5, 352_000), (7, 1.0, 83_200), (7, 5.0, 2_930),
    (8, 0.5, 3_520_000), (8, 1.0, 832_000), (8, 5.0, 29_300), (9, 0.5, 35_200_000),
    (9, 1.0, 8_320_000), (9, 5.0, 293_000),
])
def test_iso_formula_reproduces_table_1(n: int, size: float, published: int) -> None:
    assert iso_concentration(n, size) == published


@pytest.mark.parametrize(("n", "size"), [(0, 0.5), (10, 0.5), (5, 0.05), (5, 6.0)])
def test_iso_formula_refuses_out_of_scope(n: int, size: float) -> None:
    with pytest.raises(ValueError):
        iso_concentration(n, size)


def _rooms(grade: str, standard: str | None = None) -> list[dict[str, object]]:
    room: dict[str, object] = {"name": "fill", "grade": grade, "locations": [{"name": "fill-1"}]}
    if standard is not None:
        room["standard"] = standard
    return [room]


@pytest.mark.parametrize(("grade", "standard", "rest", "oper"), [
    ("B", None, 3_520.0, 352_000.0),
    ("B", "china_gmp", 3_520.0, 352_000.0),
    ("C", "china_gmp", 352_000.0, 3_520_000.0),
    ("ISO7", None, 352_000.0, 352_000.0),
])
def test_auto_presets_per_state(tmp_path: Path, grade: str, standard: str | None, rest: float,
                                oper: float) -> None:
    loaded = site(tmp_path, rooms=_rooms(grade, standard), alarms={"health": {"enabled": False}})
    rule = build_tables(loaded).conditions["pc1/p05:high_action"]
    assert rule.limits == (rest, oper)  # type: ignore[attr-defined]


def test_grade_d_in_operation_has_no_automatic_alarm(tmp_path: Path) -> None:
    loaded = site(tmp_path, rooms=_rooms("D"), alarms={"health": {"enabled": False}})
    rule = build_tables(loaded).conditions["pc1/p50:high_action"]
    assert rule.limits == (29_300.0, None)  # type: ignore[attr-defined]


def test_explicit_preset_for_grade_d_in_operation_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        site(tmp_path, rooms=_rooms("D"),
             alarms=limits({"channel": "pc1/p05", "high_action": "preset"}))
    assert "grade D in operation" in str(caught.value)
    assert "in_operation.high_action" in str(caught.value)


def test_explicit_value_for_the_missing_state_completes_the_preset(tmp_path: Path) -> None:
    loaded = site(tmp_path, rooms=_rooms("D"), alarms=limits(
        {"channel": "pc1/p05", "high_action": "preset",
         "in_operation": {"high_action": 10_000_000}}))
    rule = build_tables(loaded).conditions["pc1/p05:high_action"]
    assert rule.limits == (3_520_000.0, 10_000_000.0)  # type: ignore[attr-defined]


def test_explicit_value_overrides_preset_and_is_recorded(tmp_path: Path) -> None:
    loaded = site(tmp_path, alarms=limits(
        {"channel": "pc1/p05", "high_action": 100_000, "alert_fraction": 0.5}))
    h = Harness(loaded)
    (event,) = h.feed("pc1/p05", 60_000.0, 1)
    assert (event.rule, event.limit) == ("high_alert", 50_000.0)
    events = h.feed("pc1/p05", 100_001.0, 2)
    raised = next(e for e in events if e.rule == "high_action")
    assert raised.limit == 100_000.0
    assert raised.details is not None
    in_force = raised.details["limits"]
    assert in_force["high_action"] == 100_000.0
    assert in_force["high_alert"] == 50_000.0
    assert in_force["high_action_source"] == "config"
    assert raised.location_state == "in_operation"


def test_preset_source_is_recorded_with_the_excursion(tmp_path: Path) -> None:
    loaded = site(tmp_path, alarms=limits({"channel": "pc1/p05", "high_action": "preset"}))
    (event,) = Harness(loaded).feed("pc1/p05", 352_001.0, 1)
    assert event.details is not None
    assert event.details["limits"]["high_action_source"] == "EU GMP Annex 1 (2022) grade B"


def test_limit_at_the_preset_value_is_not_an_excursion(tmp_path: Path) -> None:
    loaded = site(tmp_path, alarms=limits({"channel": "pc1/p05", "high_action": "preset"}))
    h = Harness(loaded)
    assert h.feed("pc1/p05", 352_000.0, 1) == []
    assert [e.kind for e in h.feed("pc1/p05", 352_000.5, 2)] == ["raised"]


@pytest.mark.parametrize("bad", [
    {"channel": "dp1/dp", "high_action": "preset"},  # not a particle channel
    {"channel": "pc1/p05", "high_alert": 10, "high_action": 5},
    {"channel": "pc1/p05", "low_alert": 5, "low_action": 10},
    {"channel": "pc1/p05", "high_action": 10, "consecutive": 3, "window": 2},
    {"channel": "pc1/p05", "high_action": 10, "low_action": 20},
    {"channel": "pc1/p05", "high_action": 100, "in_operation": {"high_alert": 200}},
    {"channel": "nope/p05", "high_action": 10},
])
def test_bad_limits_are_refused(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        site(tmp_path, alarms=limits(bad))


def test_ft3_counters_get_no_automatic_preset(tmp_path: Path) -> None:
    from .site import BASE

    profiles = dict(BASE["profiles"])
    pc = {**profiles["pc"], "channels": [
        {"name": "p05", "quantity": "particles_0_5um", "unit": "particles/ft3", "address": 0,
         "type": "u32"}]}
    loaded = site(tmp_path, profiles={**profiles, "pc": pc},
                  alarms={"health": {"enabled": False}})
    assert "pc1/p05:high_action" not in build_tables(loaded).points
