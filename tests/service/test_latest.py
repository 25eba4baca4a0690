"""The pipeline's latest readings kept as columns give back what a dict of readings would,
and each channel's last good time what the former reading listener kept."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.latest import LatestReadings
from monitor.model import Quality, Reading
from monitor.pipeline import Pipeline

CHANNELS = ["a/x", "a/y", "b/x", "c/p0_5um"]
floats = st.floats(allow_nan=False) | st.just(-0.0)
readings = st.builds(
    Reading,
    channel=st.sampled_from(CHANNELS),
    value=st.none() | floats | st.integers(-5, 5),
    quality=st.sampled_from(list(Quality)),
    ts_ns=st.integers(0, 2**63 - 1),
    raw=st.none() | floats | st.integers(-(2**40), 2**40),
    device_ts_ns=st.none() | st.integers(0, 2**63 - 1),
    detail=st.none() | st.text(max_size=8),
)


def same(a: Reading | None, b: Reading | None) -> bool:
    """Equal field by field, with the same types (3 is not 3.0 in an API answer) and signs."""
    if a is None or b is None:
        return a is b
    for x, y in zip(a, b, strict=True):
        if type(x) is not type(y) or x != y:
            return False
        if isinstance(x, float) and isinstance(y, float) and \
                math.copysign(1, x) != math.copysign(1, y):
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(readings, max_size=6), max_size=8))
def test_the_columns_answer_as_a_dict_of_the_last_reading_of_each_channel(
        batches: list[list[Reading]]) -> None:
    latest, expected, good = LatestReadings(), {}, {}
    snapshots = []
    for batch in batches:
        latest.put(batch)
        for reading in batch:
            expected[reading.channel] = reading
            if reading.quality is Quality.GOOD:
                good[reading.channel] = reading.ts_ns
        snapshots.append((latest.snapshot(), dict(expected), dict(good)))
        assert dict(latest.last_good()) == good
        assert len(latest) == len(expected)
        assert list(latest) == list(expected)
        for channel in CHANNELS:
            assert (channel in latest) == (channel in expected)
            assert same(latest.get(channel), expected.get(channel))
            if channel in expected:
                assert same(latest[channel], expected[channel])
    # a snapshot keeps what was latest when it was taken, whatever came after
    for snapshot, then, good_then in snapshots:
        assert len(snapshot) == len(then)
        assert list(snapshot) == list(then)
        for channel in CHANNELS:
            assert (channel in snapshot) == (channel in then)
            assert same(snapshot.get(channel), then.get(channel))
            assert snapshot.last_good_ns(channel) == good_then.get(channel)


def test_the_pipeline_keeps_the_latest_reading_of_each_channel() -> None:
    pipeline = Pipeline([])
    pipeline.ingest([Reading("a/x", 1.5, Quality.GOOD, 10, 15.0),
                     Reading("a/y", None, Quality.COMM_ERROR, 10, None, None, "timeout")])
    pipeline.ingest([Reading("a/x", 2.5, Quality.GOOD, 20, 25.0)])
    assert pipeline.latest["a/x"] == Reading("a/x", 2.5, Quality.GOOD, 20, 25.0)
    assert pipeline.latest.get("a/y") == Reading("a/y", None, Quality.COMM_ERROR, 10, None,
                                                 None, "timeout")
    assert "b/x" not in pipeline.latest
    assert pipeline.latest.get("b/x") is None
