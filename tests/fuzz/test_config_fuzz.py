"""Fuzz the config loader: mutated valid configs are accepted or rejected with FILE:LINE errors."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzz.config_cases import byte_mutation, check_config_bytes, structural_mutation

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(byte_mutation())
def test_byte_mutated_config_is_accepted_or_a_config_error(data: bytes) -> None:
    check_config_bytes(data)


@FUZZ
@given(structural_mutation())
def test_structurally_mutated_config_is_accepted_or_a_config_error(data: bytes) -> None:
    check_config_bytes(data)


def test_invalid_utf8_is_a_config_error() -> None:
    assert check_config_bytes(b"site: {id: \xff\xfe}\n") == "rejected"
