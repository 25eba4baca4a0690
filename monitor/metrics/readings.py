"""Latest value, time and quality of every channel, read from the pipeline at scrape time.

The pipeline already keeps the latest reading of each channel; exporting it
costs nothing on the poll path. The one thing it does not keep is when a
channel last had a *good* reading, which is what staleness alerts need, so
``LastGoodTracker`` listens to the readings and remembers that per channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.config import ChannelInfo
from monitor.model import Quality, Reading
from monitor.pipeline import Pipeline

from .units import PARTICLES, BaseUnit, base_unit

CHANNEL_LABELS = ("site", "room", "location", "grade", "device", "channel", "quantity")
NS = 1e-9
_SIZE = re.compile(r"(\d+)_(\d+)\s*um")


class LastGoodTracker:
    """A pipeline reading listener: UTC ns of each channel's last reading of good quality."""

    def __init__(self) -> None:
        self.last_good_ns: dict[str, int] = {}

    def __call__(self, readings: Sequence[Reading]) -> None:
        last = self.last_good_ns
        for reading in readings:
            if reading.quality is Quality.GOOD:
                last[reading.channel] = reading.ts_ns


@dataclass(frozen=True, slots=True)
class _ChannelExport:
    labels: tuple[str, ...]
    family: str
    base: BaseUnit | None
    unit: str
    size_um: str


def particle_size(quantity: str) -> str:
    """``particles_0_5um`` -> ``0.5``; the size is a label, not part of the metric name."""
    match = _SIZE.search(quantity)
    if not match:
        return ""
    return f"{int(match.group(1))}.{match.group(2)}"


def _export(info: ChannelInfo) -> _ChannelExport:
    base = base_unit(info.spec.unit)
    labels = (info.site, info.room, info.location, info.grade, info.device, info.id,
              info.spec.quantity)
    family = f"cleanroom_reading_{base.suffix}" if base else "cleanroom_reading"
    return _ChannelExport(labels, family, base, info.spec.unit, particle_size(info.spec.quantity))


_FAMILY_HELP = {
    "cleanroom_reading": "Latest value of channels whose unit has no Prometheus base unit "
    "(unconverted; see the unit label)",
}


class ReadingCollector(Collector):
    """Exports ``pipeline.latest`` converted to base units, with time and quality."""

    def __init__(
        self,
        channels: Mapping[str, ChannelInfo],
        pipeline: Pipeline,
        tracker: LastGoodTracker,
    ) -> None:
        self._exports = {cid: _export(info) for cid, info in channels.items()}
        self._pipeline = pipeline
        self._tracker = tracker
        self._snapshot: tuple[dict[str, Reading], dict[str, int], int] | None = None

    def describe(self) -> list[Metric]:
        return []  # families depend on the configured units; collect() on registration is cheap

    def prepare(self) -> None:
        """Copy what the pipeline holds, on the event loop, so collect() can run in a thread."""
        self._snapshot = (dict(self._pipeline.latest), dict(self._tracker.last_good_ns),
                          self._pipeline.accepted)

    def collect(self) -> Iterator[Metric]:
        values: dict[str, GaugeMetricFamily] = {}
        ts = GaugeMetricFamily("cleanroom_reading_timestamp_seconds",
                               "UTC time of the latest reading of a channel, of any quality",
                               labels=CHANNEL_LABELS)
        good = GaugeMetricFamily("cleanroom_reading_last_good_timestamp_seconds",
                                 "UTC time of the latest reading of good quality of a channel",
                                 labels=CHANNEL_LABELS)
        quality = GaugeMetricFamily("cleanroom_reading_quality",
                                    "Quality of the channel's latest reading: one series, value "
                                    "1, labelled with the quality", labels=(*CHANNEL_LABELS,
                                                                            "quality"))
        if self._snapshot is None:
            self.prepare()
        assert self._snapshot is not None
        latest, last_good, accepted = self._snapshot
        self._snapshot = None
        for cid, export in self._exports.items():
            reading = latest.get(cid)
            good_ns = last_good.get(cid)
            if good_ns is not None:
                good.add_metric(export.labels, good_ns * NS)
            if reading is None:
                continue
            ts.add_metric(export.labels, reading.ts_ns * NS)
            # one series per channel (not one per possible quality): 10,000 channels stay
            # 10,000 series; a quality change ends the old series like any vanished one
            quality.add_metric((*export.labels, reading.quality.value), 1.0)
            if reading.value is None:
                continue
            family = values.get(export.family)
            if family is None:
                family = values[export.family] = self._family(export)
            if export.base is None:
                family.add_metric((*export.labels, export.unit), reading.value)
            elif export.base.suffix == PARTICLES:
                family.add_metric((*export.labels, export.size_um),
                                  export.base.convert(reading.value))
            else:
                family.add_metric(export.labels, export.base.convert(reading.value))
        yield from values.values()
        yield ts
        yield good
        yield quality
        yield CounterMetricFamily("cleanroom_readings", "Readings accepted by the pipeline "
                                  "since the configuration was loaded",
                                  value=float(accepted))

    @staticmethod
    def _family(export: _ChannelExport) -> GaugeMetricFamily:
        if export.base is None:
            return GaugeMetricFamily(export.family, _FAMILY_HELP[export.family],
                                     labels=(*CHANNEL_LABELS, "unit"))
        suffix = export.base.suffix
        help_text = f"Latest value of each channel measured in {suffix.replace('_', ' ')}"
        if suffix == PARTICLES:
            return GaugeMetricFamily(export.family, help_text + "; size_um is the particle size "
                                     "(cumulative, at or above)",
                                     labels=(*CHANNEL_LABELS, "size_um"))
        return GaugeMetricFamily(export.family, help_text, labels=CHANNEL_LABELS)
