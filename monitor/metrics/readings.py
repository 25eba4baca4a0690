"""Latest value, time and quality of every channel, read from the pipeline at scrape time.

The pipeline already keeps the latest reading of each channel, and when each
channel last had a *good* reading (what staleness alerts need), in columns
(``monitor.latest``); exporting them costs nothing on the poll path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.latest import LatestReadings
from monitor.pipeline import Pipeline

from .encode import ChannelFamily, escape
from .labels import CHANNEL_LABELS, ChannelTable, SiteSeries, particle_size, value_family
from .units import PARTICLES, BaseUnit

__all__ = ["CHANNEL_LABELS", "LastGoodTracker", "ReadingCollector", "particle_size"]
NS = 1e-9


class LastGoodTracker:
    """UTC ns of each channel's last reading of good quality, for the API.

    A view of the pipeline's latest readings, which keep that time in the pass
    that keeps the latest reading (``monitor.latest``); it used to be a reading
    listener with a dict and an int object per channel of its own.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.last_good_ns: Mapping[str, int] = pipeline.latest.last_good()


_FAMILY_HELP = {
    "cleanroom_reading": "Latest value of channels whose unit has no Prometheus base unit "
    "(unconverted; see the unit label)",
}


class ReadingCollector(Collector):
    """Exports ``pipeline.latest`` converted to base units, with time and quality.

    One series per channel and family, written from the label text rendered
    once (``labels.ChannelTable``): no label string, dict or sample object per
    channel per scrape.
    """

    def __init__(self, series: SiteSeries, pipeline: Pipeline,
                 tracker: LastGoodTracker) -> None:
        self._table = series.channels
        self._pipeline = pipeline
        self._tracker = tracker
        self._snapshot: tuple[LatestReadings, int] | None = None
        self._quality_labels: dict[str, str] = {}

    def describe(self) -> list[Metric]:
        return []  # families depend on the configured units; collect() on registration is cheap

    def prepare(self) -> None:
        """Copy what the pipeline holds, on the event loop, so collect() can run in a thread."""
        self._snapshot = (self._pipeline.latest.snapshot(), self._pipeline.accepted)

    def _quality_label(self, quality: str) -> str:
        """``,quality="good"``: rendered once per quality (a handful)."""
        text = self._quality_labels.get(quality)
        if text is None:
            text = self._quality_labels[quality] = f',quality="{escape(quality)}"'
        return text

    def collect(self) -> Iterator[Metric]:
        table = self._table
        values: dict[str, ChannelFamily] = {}
        ts = ChannelFamily("cleanroom_reading_timestamp_seconds",
                           "UTC time of the latest reading of a channel, of any quality",
                           CHANNEL_LABELS, table)
        good = ChannelFamily("cleanroom_reading_last_good_timestamp_seconds",
                             "UTC time of the latest reading of good quality of a channel",
                             CHANNEL_LABELS, table)
        quality = ChannelFamily("cleanroom_reading_quality",
                                "Quality of the channel's latest reading: one series, value "
                                "1, labelled with the quality", (*CHANNEL_LABELS, "quality"),
                                table, suffixed=True)
        if self._snapshot is None:
            self.prepare()
        assert self._snapshot is not None
        latest, accepted = self._snapshot
        self._snapshot = None
        bases, kinds = table.kind_bases, table.kinds
        add_good, add_good_value = good.appenders()
        add_ts, add_ts_value = ts.appenders()
        by_kind: list[ChannelFamily | None] = [None] * len(bases)  # kind -> its value family
        quality_label = self._quality_label
        for i, cid in enumerate(table.ids):
            good_ns = latest.last_good_ns(cid)
            if good_ns is not None:
                add_good(i)
                add_good_value(good_ns * NS)
            reading = latest.get(cid)
            if reading is None:
                continue
            add_ts(i)
            add_ts_value(reading.ts_ns * NS)
            # one series per channel (not one per possible quality): 10,000 channels stay
            # 10,000 series; a quality change ends the old series like any vanished one
            quality.add_channel(i, 1.0, quality_label(reading.quality.value))
            value = reading.value
            if value is None:
                continue
            kind = kinds[i]
            base = bases[kind]
            family = by_kind[kind]
            if family is None:
                key = base.suffix if base is not None else ""
                family = values.get(key)
                if family is None:
                    family = values[key] = self._family(base, table)
                by_kind[kind] = family
            family.add_channel(i, value if base is None else base.convert(value))
        yield from values.values()
        yield ts
        yield good
        yield quality
        yield CounterMetricFamily("cleanroom_readings", "Readings accepted by the pipeline "
                                  "since the configuration was loaded",
                                  value=float(accepted))

    @staticmethod
    def _family(base: BaseUnit | None, table: ChannelTable) -> ChannelFamily:
        name = value_family(base)
        if base is None:
            return ChannelFamily(name, _FAMILY_HELP[name], (*CHANNEL_LABELS, "unit"), table,
                                 value=True)
        suffix = base.suffix
        help_text = f"Latest value of each channel measured in {suffix.replace('_', ' ')}"
        if suffix == PARTICLES:
            return ChannelFamily(name, help_text + "; size_um is the particle size "
                                 "(cumulative, at or above)", (*CHANNEL_LABELS, "size_um"),
                                 table, value=True)
        return ChannelFamily(name, help_text, CHANNEL_LABELS, table, value=True)
