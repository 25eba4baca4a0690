"""Per-channel families written from the shared label pieces of a ChannelTable are the same
bytes as the same series written from whole label parts."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as om_families,
)

from monitor.metrics.encode import ChannelFamily, SeriesFamily, TextEncoder, label_part
from monitor.metrics.labels import CHANNEL_LABELS, LOCATION_LABELS, ChannelTable, LocationTable

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
UNITS = st.sampled_from(["degC", "hPa", "particles/ft3", "lx", "weird \"unit\"\\"])
QUANTITIES = st.sampled_from(["temperature", "particles_0_5um", "particles_5_0um", "x\ny"])


def _info(*labels: str) -> Any:
    """A ChannelInfo's label fields: site, room, location, grade, device, name, quantity, unit."""
    site, room, location, grade, device, name, quantity, unit = labels
    return SimpleNamespace(site=site, room=room, location=location, grade=grade, device=device,
                           id=f"{device}/{name}", spec=SimpleNamespace(quantity=quantity,
                                                                       unit=unit))


CHANNELS = st.lists(st.builds(_info, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, QUANTITIES, UNITS),
                    min_size=1, max_size=8)
VALUES = st.floats(allow_nan=False) | st.sampled_from(
    [float("inf"), float("-inf"), 0.0, -0.0, 1e6, 123456789.0, 1e-9, float("nan")])


def _whole_part(info: Any, value_family: bool) -> str:
    from monitor.metrics.labels import particle_size
    from monitor.metrics.units import PARTICLES, base_unit

    labels = (info.site, info.room, info.location, info.grade, info.device, info.id,
              info.spec.quantity)
    if not value_family:
        return label_part(CHANNEL_LABELS, labels)
    base = base_unit(info.spec.unit)
    if base is None:
        return label_part((*CHANNEL_LABELS, "unit"), (*labels, info.spec.unit))
    if base.suffix == PARTICLES:
        return label_part((*CHANNEL_LABELS, "size_um"),
                          (*labels, particle_size(info.spec.quantity)))
    return label_part(CHANNEL_LABELS, labels)


@settings(max_examples=60, deadline=None)
@given(infos=CHANNELS, data=st.data())
def test_channel_family_is_byte_identical_to_whole_parts(infos: list[Any], data: Any) -> None:
    table = ChannelTable(infos)
    assert len(table) == len(infos)
    for value_family in (False, True):
        picked = data.draw(st.lists(st.tuples(st.integers(0, len(infos) - 1), VALUES,
                                              st.sampled_from(["", ',q="a\\"b"'])),
                                    max_size=12))
        names = (*CHANNEL_LABELS, "extra")
        fast = ChannelFamily("x_reading", "help", names, table, value=value_family,
                             suffixed=True)
        whole = SeriesFamily("x_reading", "help", names)
        for i, value, suffix in picked:
            fast.add_channel(i, value, suffix)
            whole.add(_whole_part(infos[i], value_family) + suffix, value)
        for openmetrics in (False, True):
            encoder = TextEncoder()
            assert b"".join(encoder.chunks([fast], openmetrics)) == b"".join(
                encoder.chunks([whole], openmetrics))
        for i in range(len(infos)):
            assert table.part(i) == _whole_part(infos[i], False)


def test_channel_family_samples_parse_back() -> None:
    """``samples`` (the library's encoders, tests) gives the label values unescaped."""
    infos = [_info("s", 'r"1', "l\\1", "A", "d\n1", "c", "particles_0_5um", "particles/m3")]
    table = ChannelTable(infos)
    family = ChannelFamily("x", "help", (*CHANNEL_LABELS, "size_um", "level"), table,
                           value=True, suffixed=True)
    family.add_channel(0, 2.5, ',level="alert"')
    (sample,) = family.samples
    assert sample.labels == {"site": "s", "room": 'r"1', "location": "l\\1", "grade": "A",
                             "device": "d\n1", "channel": "d\n1/c",
                             "quantity": "particles_0_5um", "size_um": "0.5",
                             "level": "alert"}
    assert sample.value == 2.5
    text = b"".join(TextEncoder().chunks([family], openmetrics=True)).decode()
    (parsed,) = om_families(text)
    assert parsed.samples[0].labels == sample.labels


ROOMS = st.lists(st.tuples(TEXT, TEXT, st.lists(TEXT, min_size=1, max_size=3)),
                 min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(site=TEXT, rooms=ROOMS, values=st.lists(VALUES, min_size=12, max_size=12))
def test_location_family_is_byte_identical_to_whole_parts(
        site: str, rooms: list[tuple[str, str, list[str]]], values: list[float]) -> None:
    """Per-location families written from a LocationTable's room pieces are the bytes of the
    same series written from whole label parts; labels() gives the values back."""
    locations: dict[str, tuple[Any, Any]] = {}
    for room_name, grade, names in rooms:
        room = SimpleNamespace(name=room_name, grade=grade)
        for name in names:
            locations.setdefault(name, (room, None))
    table = LocationTable(site, locations)
    assert list(table) == list(locations)
    fast = ChannelFamily("x_location", "help", LOCATION_LABELS, table)
    whole = SeriesFamily("x_location", "help", LOCATION_LABELS)
    for i, (name, (room, _)) in enumerate(locations.items()):
        labels = (site, room.name, name, room.grade)
        assert table.labels(name) == labels
        assert table.part(i) == label_part(LOCATION_LABELS, labels)
        fast.add_channel(i, values[i % len(values)])
        whole.add(label_part(LOCATION_LABELS, labels), values[i % len(values)])
    for openmetrics in (False, True):
        encoder = TextEncoder()
        assert b"".join(encoder.chunks([fast], openmetrics)) == b"".join(
            encoder.chunks([whole], openmetrics))
    assert table.labels("\x00 not configured") == (site, "", "\x00 not configured", "")
