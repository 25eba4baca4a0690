"""Fuzz the HTTP API's request bodies and query strings: never a 5xx, every refusal a JSON error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzz.api_cases import ApiFuzzHarness, api_harness, bodies


def test_api_answers_every_body_with_a_clear_status() -> None:
    with api_harness() as harness:
        _fuzz(harness)


def _fuzz(harness: ApiFuzzHarness) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    @given(bodies)
    def case(example: tuple[str, str, bytes, str, str]) -> None:
        harness.run_case(example)

    case()
