"""``encode.fmt`` writes every value as prometheus_client's ``floatToGoString`` does."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from prometheus_client.utils import floatToGoString

from monitor.metrics.encode import fmt


@settings(max_examples=2000, deadline=None)
@given(st.floats() | st.floats(min_value=1e5, max_value=1e18)
       | st.integers(10**6, 10**17).map(float))
@example(1e6)
@example(1780000000.123456)
@example(1e16)
@example(1.7976931348623157e308)
@example(float("inf"))
@example(float("-inf"))
@example(-1e9)
def test_fmt_is_the_library_formatting(value: float) -> None:
    assert fmt(value) == floatToGoString(value)  # type: ignore[no-untyped-call]
