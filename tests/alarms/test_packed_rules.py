"""The rule tables built from packed limit entries read as rows (``PackedLimits.rows``) are
the tables built from the entries' models: same rules, limits, order and sharing."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.configs import modbus_site, write_config
from monitor.alarms.rules import build_tables, describe
from monitor.alarms.specs import LIMIT_FIELDS, RateSpec, ValueSpec
from monitor.alarms.table import Tables
from monitor.config import LoadedConfig, load_config
from monitor.config.alarms import LimitConfig
from monitor.config.resident import BASE_FIELDS, PackedLimits, release_limits

from .site import BASE, site

CHANNELS = ["pc1/p05", "pc1/p50", "dp1/dp", "th1/t", "th1/rh", "th2/t", "pc2/p05"]


class SiteLimit(LimitConfig):
    """An entry of a subclass: packed as the model, read back as one."""


def _number(value: Any) -> Any:
    """Numbers told apart as the tables hold them: -0.0 is not 0.0, 1 is not 1.0."""
    if isinstance(value, float) and value == 0.0:
        return ("float", math.copysign(1.0, value))
    if isinstance(value, tuple | list):
        return tuple(_number(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _number(v)) for k, v in value.items())
    return (type(value).__name__, value)


def _spec(spec: ValueSpec | RateSpec) -> tuple[Any, ...]:
    common = (type(spec).__name__, spec.rule, str(spec.level), spec.priority, spec.latching,
              _number(spec.sign))
    if isinstance(spec, ValueSpec):
        return (*common, _number(spec.limits), _number(spec.in_force), _number(spec.settings),
                spec.on_ns, spec.off_ns, _number(spec.deadband), spec.n, spec.m)
    return (*common, _number(spec.max_change), spec.per_ns, spec.direction, spec.capacity,
            spec.on_ns, _number(spec.settings))


def signature(t: Tables) -> tuple[Any, ...]:
    """Everything the build gives each channel, and which channels share a rule set."""
    sets: dict[int, int] = {}
    rows = []
    for index, ch in enumerate(t.channels.values()):
        shared = sets.setdefault(id(ch.rs), len(sets))
        rows.append((ch.id, t.seqs[index], shared, tuple(_spec(s) for s in ch.rs.specs),
                     ch.rs.band, ch.rs.value_band, ch.rs.wake, ch.rs.doored))
    return tuple(rows), tuple(describe(t).items())


def _with_limits(loaded: LoadedConfig, limits: Any) -> None:
    object.__setattr__(loaded.config.alarms, "limits", limits)


def _entry(**fields: Any) -> LimitConfig:
    return LimitConfig.model_validate(fields)


def _rooms() -> list[dict[str, Any]]:
    return [{"name": "fill", "grade": "B",
             "locations": [{"name": "fill-1"}, {"name": "fill-2"}, {"name": "fill-3"}]},
            {"name": "store", "grade": "D", "locations": [{"name": "store-1"}]}]


def _devices() -> list[dict[str, Any]]:
    """The base site's devices, and two of the same profiles: one in another grade, one polled
    less often (a rate of change's window depends on the interval)."""
    devices = [dict(d) for d in BASE["devices"]]
    for name, profile, unit, location, every in (("pc2", "pc", 4, "store-1", "1s"),
                                                 ("th2", "th", 5, "fill-3", "5s")):
        devices.append({"name": name, "connection": "gw", "location": location,
                        "profile": profile, "unit_id": unit, "poll_interval": every})
    return devices


def _same_tables(loaded: LoadedConfig, limits: dict[str, list[LimitConfig]]) -> None:
    _with_limits(loaded, limits)
    expected = signature(build_tables(loaded))
    packed = PackedLimits(limits)
    for source in (packed, pickle.loads(pickle.dumps(packed))):  # as the config cache holds it
        _with_limits(loaded, source)
        assert signature(build_tables(loaded)) == expected
    _with_limits(loaded, limits)


def test_the_fields_of_a_row_are_those_the_rules_are_keyed_by() -> None:
    assert BASE_FIELDS == LIMIT_FIELDS


def test_rows_give_the_tables_of_models_of_every_shape(tmp_path: Path) -> None:
    loaded = site(tmp_path, rooms=_rooms(), devices=_devices(),
                  alarms={"health": {"enabled": False}, "auto_presets": True})
    limits = {
        "fill-1": [
            _entry(channel="th1/t", high_alert=25.0, high_action=27.5, deadband=0.0),
            _entry(channel="th1/rh", high_alert=25.0, high_action=27.5, deadband=-0.0),
            _entry(channel="dp1/dp", low_alert=12.5, low_action=10.0, priority_alert="high",
                   latch_alert=True, description="Füllraum ±0.5 Pa", on_delay="30s"),
            _entry(channel="pc1/p50", high_action="preset", alert_fraction=0.8,
                   at_rest={"high_action": None, "alert_fraction": None}),  # pickled as the model
            _entry(channel="no-such/channel", high_alert=1.0),
        ],
        "fill-2": [
            # -0.0 first here: a base of its own location, equal to 0.0's of fill-1
            _entry(channel="th1/t", high_alert=25.0, high_action=27.5, deadband=-0.0),
            SiteLimit.model_validate({"channel": "th1/rh", "high_alert": 20.0}),
            _entry(channel="th1/t", high_alert=1.0,
                   rate_of_change={"max_change": 2.0, "per": "1m", "direction": "rise"}),
        ],
        "fill-3": [
            _entry(channel="pc1/p05", high_action=3_520.0, high_alert=2_000.0),
            _entry(channel="dp1/dp", low_alert=12.5, low_action=10.0, priority_alert="high",
                   latch_alert=True, description="Füllraum ±0.5 Pa", on_delay="30s"),
            _entry(channel="th1/rh", low_alert=5.0),  # replaces nothing: adds a low alert
        ],
        "store-1": [  # bases of fill-1 and fill-3 on channels of another kind
            _entry(channel="th2/t", high_alert=25.0, high_action=27.5, deadband=0.0),
            _entry(channel="th2/rh", high_alert=25.0, high_action=27.5, deadband=0.0),
            _entry(channel="pc2/p50", high_action="preset", alert_fraction=0.8),
            _entry(channel="pc2/p05", high_action="preset", alert_fraction=0.8),
            _entry(channel="th2/t", high_alert=1.0,
                   rate_of_change={"max_change": 2.0, "per": "1m", "direction": "rise"}),
        ],
        "empty": [],
    }
    limits["fill-3"] += [_entry(channel="pc1/p50", high_action="preset", alert_fraction=0.8),
                         _entry(channel="pc1/p05", high_action="preset", alert_fraction=0.8)]
    packed = PackedLimits(limits)
    kinds = [type(row).__name__ for row in packed.rows("fill-2")[1]]
    assert kinds == ["tuple", "SiteLimit", "LimitConfig"]
    assert [type(row).__name__ for row in packed.rows("fill-1")[1]] == [
        "tuple", "LimitConfig", "tuple", "LimitConfig", "tuple"]  # -0.0 after 0.0: a model
    _same_tables(loaded, limits)


def test_a_row_reads_back_as_its_entry() -> None:
    entries = [_entry(channel="th1/t", high_alert=25.0, deadband=-0.0),
               _entry(channel="th1/rh", high_alert=25.0, deadband=-0.0, description="x")]
    packed = PackedLimits({"loc": entries})
    bases, rows = packed.rows("loc")
    for (at, channel, fields_set), entry in zip(rows, entries, strict=True):
        model = packed.model(bases[at], channel, fields_set)
        assert model == entry
        assert model.model_fields_set == entry.model_fields_set
        assert math.copysign(1.0, model.deadband) == -1.0


limit_entries = st.lists(st.fixed_dictionaries(
    {"channel": st.sampled_from([*CHANNELS, "gone/x"])},
    optional={
        "high_alert": st.sampled_from([20.0, 25.0, 25]),
        "high_action": st.sampled_from([40.0, "preset"]),
        "low_alert": st.sampled_from([1.0, 2.0]),
        "deadband": st.sampled_from([0.0, -0.0, 0.5]),
        "window": st.integers(1, 3),
        "priority_action": st.sampled_from(["critical", "low"]),
        "latch_alert": st.booleans(),
        "description": st.sampled_from(["", "door side"]),
        "rate_of_change": st.just({"max_change": 1.0, "per": "10s"}),
        "in_operation": st.just({"high_alert": 30.0}),
        "subclass": st.just(True),
    }), max_size=8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(limit_entries, min_size=1, max_size=3))
def test_rows_give_the_tables_of_models(tmp_path: Path, locations: list[list[Any]]) -> None:
    loaded = site(tmp_path, rooms=_rooms(), devices=_devices(),
                  alarms={"health": {"enabled": False}})
    limits: dict[str, list[LimitConfig]] = {}
    for i, entries in enumerate(locations):
        models: list[LimitConfig] = []
        for fields in entries:
            kind = SiteLimit if fields.pop("subclass", False) else LimitConfig
            models.append(kind.model_validate(fields))
        limits[f"fill-{i + 1}"] = models
    _same_tables(loaded, limits)


def test_a_generated_site_gives_the_same_tables_packed(tmp_path: Path) -> None:
    """bench.configs' site (ten limit entries a device, one base a location), 200 devices."""
    path = write_config(tmp_path / "site.json", modbus_site(tmp_path / "data", 200, [5020]))
    loaded = load_config(path)
    limits = loaded.config.alarms.limits
    assert isinstance(limits, dict)
    _same_tables(loaded, limits)
    release_limits(loaded)  # as the service packs them
    assert isinstance(loaded.config.alarms.limits, PackedLimits)
    _with_limits(loaded, limits)
    expected = signature(build_tables(loaded))
    release_limits(loaded)
    assert signature(build_tables(loaded)) == expected
