"""Durations as written: parsed once per text, with the same result and errors every time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import durations
from monitor.config.durations import parse_duration


class _Text(str):
    """A str subclass: parsed, never remembered."""


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["ms", "s", "m", "min", "h", "d"]),
       st.sampled_from(["", " "]))
def test_a_text_parses_alike_every_time(number: int, unit: str, space: str) -> None:
    text = f"{number}{space}{unit}"
    first, again = parse_duration(text), parse_duration(text)
    assert first == again == number * durations._UNITS[unit]
    assert parse_duration(_Text(text)) == first


@pytest.mark.parametrize("value", ["30", "1 second", "-1s", "", True, 5, 2.5, None])
def test_what_is_refused_stays_refused(value: object) -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(value)


def test_zero_and_the_bound_of_what_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_duration(0) == parse_duration(0.0) == 0.0
    monkeypatch.setattr(durations, "_PARSED", {})
    monkeypatch.setattr(durations, "_PARSED_MAX", 2)
    assert [parse_duration(f"{n}s") for n in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(durations._PARSED) == 2
    assert parse_duration("4s") == 4.0
