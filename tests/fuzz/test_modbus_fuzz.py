"""Fuzz the Modbus driver with random and mutated replies from a raw TCP device."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.fuzz.modbus_cases import check_outcome, run_script, scripts


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(scripts)
def test_driver_survives_and_counts_any_reply(script: list[tuple[Any, ...]]) -> None:
    check_outcome(asyncio.run(run_script(script)))


def test_each_kind_of_bad_reply_is_counted_by_kind() -> None:
    cases = {
        "exception": [("exception", 4)],
        "timeout": [("silent",)],
        "garbled": [("bytes", b"\x00\x01")],
    }
    for kind, script in cases.items():
        outcome = asyncio.run(run_script(script))
        check_outcome(outcome)
        assert outcome.errors.get(kind, 0) >= 1, (kind, outcome.errors)
