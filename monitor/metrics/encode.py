"""Fast encoders of the Prometheus text format (0.0.4) and OpenMetrics 1.0 for large sites.

prometheus_client's encoders format every sample of every series on every
scrape from a ``Sample`` object whose labels are a dict: at 2,000 devices
(20,000 channels) that was a few hundred thousand objects and several seconds
per scrape. Here the families with one series per channel, device or location
are ``SeriesFamily`` objects: each series' label part (``a="x",b="y"``,
escaped) is rendered once, when the collector is built, and a scrape only
formats the values and joins the lines. Families made by the library's
``*MetricFamily`` classes (small: process, build, per-store...) are encoded
from their samples as before. Each family is turned into bytes as soon as it is
rendered, so a scrape never holds more than one family's worth of line
strings at a time.

Both formats are checked against the library's own encoders in the tests
(parsed and compared) and by ``promtool check metrics``.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from .labels import ChannelTable, LocationTable

_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
          "unknown": "untyped"}
#: families the fast OpenMetrics path knows how to write; anything else goes to the library
_OM_TYPES = frozenset({"counter", "gauge", "histogram", "info", "summary", "unknown"})
_INF = float("inf")
_FAST_LIMIT = 1e6  # below this (and finite) floatToGoString is repr(); see prometheus_client


def escape(value: str) -> str:
    """A label value as it appears between the quotes of the exposition formats."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def label_part(names: Sequence[str], values: Sequence[str]) -> str:
    """``a="x",b="y"``: the inside of a series' braces, rendered once per series."""
    return ",".join(f'{k}="{escape(v)}"' for k, v in zip(names, values, strict=True))


def fmt(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's formatting), fast for the usual.

    Large finite positive values (every timestamp: 40,000 a scrape at 2,000
    devices) are written here as ``floatToGoString`` writes them, without its
    conversions and checks for infinities and NaN.
    """
    if -_FAST_LIMIT < value < _FAST_LIMIT:
        return repr(float(value))
    if _FAST_LIMIT <= value < _INF:
        text = repr(float(value))
        dot = text.find(".")
        if dot > 6:  # Go switches to an exponent sooner than Python
            return f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.") + f"e+{dot - 1:02d}"
        return text
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def _help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", r"\\").replace("\n", r"\n")
    return text.replace('"', r"\"") if openmetrics else text


class SeriesFamily(Metric):
    """A gauge or counter family whose series' label parts are rendered strings.

    ``add(part, value)`` takes the pre-rendered ``part`` (from ``label_part``,
    with the family's ``labelnames`` in order). ``extra`` names a last label
    whose value varies per scrape (e.g. a channel's quality); its values are
    escaped as they are added (they are few distinct strings). ``samples``,
    for the library's encoders and tests only, parses the parts back.
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 typ: str = "gauge", extra: str | None = None) -> None:
        super().__init__(name, documentation, typ)
        self.labelnames = tuple(labelnames)
        self.extra = extra
        self._parts: list[str] = []
        self._values = array("d")  # no float object per series
        self._extras: list[str] = []

    # The library sets ``samples`` in Metric.__init__; here they are made only if asked for
    # (OpenMetrics for an unusual family, tests), never on the fast path.
    @property
    def samples(self) -> list[Sample]:
        sample_name = self.sample_name
        names = (*self.labelnames, self.extra) if self.extra else self.labelnames
        out = []
        for i, value in enumerate(self._values):
            label_values = [_unescape(v) for v in _VALUE.findall(self._parts[i])]
            if self.extra:
                label_values.append(_unescape(self._extras[i]))
            out.append(Sample(sample_name, dict(zip(names, label_values, strict=True)), value))
        return out

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:
            raise ValueError("add series with SeriesFamily.add")

    @property
    def sample_name(self) -> str:
        return self.name + "_total" if self.type == "counter" else self.name

    def part_appenders(self) -> tuple[Callable[[str], None], Callable[[float], None]]:
        """The bound appends of the parts and values, for a loop over every device."""
        if self.extra:
            raise TypeError(f"{self.name} takes a value of {self.extra} per series: add")
        return self._parts.append, self._values.append

    def add(self, part: str, value: float, extra: str | None = None) -> None:
        self._parts.append(part)
        self._values.append(value)
        if self.extra:
            self._extras.append(escape(extra or ""))

    def __len__(self) -> int:
        return len(self._values)

    def lines(self) -> str:
        return "".join(self.batches())

    def batches(self, size: int = 1000) -> Iterator[str]:
        """The family's lines, ``size`` at a time: the line strings of a batch are freed
        before the next is made, so their memory is reused instead of piling up."""
        head = self.sample_name + "{"
        parts, values = self._parts, self._values
        if self.extra:
            tail, extras = f',{self.extra}="', self._extras
            for i in range(0, len(values), size):
                yield "".join([f'{head}{p}{tail}{e}"}} {fmt(v)}\n' for p, e, v in zip(
                    parts[i:i + size], extras[i:i + size], values[i:i + size], strict=True)])
            return
        for i in range(0, len(values), size):
            yield "".join([f"{head}{p}}} {fmt(v)}\n"
                           for p, v in zip(parts[i:i + size], values[i:i + size], strict=True)])


class ChannelFamily(SeriesFamily):
    """A family with at most one series per channel of a ``labels.ChannelTable`` (or per
    location of a ``labels.LocationTable``, which has the same pieces, per room).

    ``add_channel(i, value, suffix)`` keeps the channel's index and the value
    in two arrays and, if the family was made ``suffixed``, ``suffix``: label
    text after the channel's (``,quality="good"``; a shared string). The line
    is written from the table's shared pieces when encoding, so a scrape makes
    no label string, float or int object per channel: at 20,000 channels the
    limits family alone made 40,000 label strings (~8 MB) per scrape, freed
    again but left in pymalloc's arenas, under objects made meanwhile.
    ``value``: the series carry the value family's labels (``value_tails``).
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 table: ChannelTable | LocationTable, *, value: bool = False,
                 suffixed: bool = False, typ: str = "gauge") -> None:
        super().__init__(name, documentation, labelnames, typ)
        self._table = table
        self._tails: list[str] = table.value_tails if value else table.tails
        self._index = array("I")
        self._numbers = array("d")
        self._suffixes: list[str] | None = [] if suffixed else None

    def add_channel(self, i: int, value: float, suffix: str = "") -> None:
        self._index.append(i)
        self._numbers.append(value)
        if self._suffixes is not None:
            self._suffixes.append(suffix)

    def appenders(self) -> tuple[Callable[[int], None], Callable[[float], None]]:
        """The bound appends of the index and value arrays, for a collector's loop over
        every channel (``add_channel``'s call per series was ~5% of a scrape's CPU)."""
        if self._suffixes is not None:
            raise TypeError(f"{self.name} takes a suffix per series: add_channel")
        return self._index.append, self._numbers.append

    def add(self, part: str, value: float, extra: str | None = None) -> None:
        raise TypeError("a ChannelFamily takes channels by index: add_channel")

    def __len__(self) -> int:
        return len(self._numbers)

    @property
    def samples(self) -> list[Sample]:
        sample_name, names, table = self.sample_name, self.labelnames, self._table
        heads, devices, ids = table.heads, table.devices, table.names
        tails, kinds = self._tails, table.kinds
        out = []
        for n, (i, value) in enumerate(zip(self._index, self._numbers, strict=True)):
            part = (heads[devices[i]] + ids[i] + tails[kinds[i]]
                    + (self._suffixes[n] if self._suffixes else ""))
            label_values = [_unescape(v) for v in _VALUE.findall(part)]
            out.append(Sample(sample_name, dict(zip(names, label_values, strict=True)), value))
        return out

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:
            raise ValueError("add series with ChannelFamily.add_channel")

    def batches(self, size: int = 1000) -> Iterator[str]:
        head, table = self.sample_name + "{", self._table
        heads, devices, ids = table.heads, table.devices, table.names
        tails, kinds = self._tails, table.kinds
        index, numbers, suffixes = self._index, self._numbers, self._suffixes
        for i in range(0, len(numbers), size):
            if suffixes is None:
                yield "".join([f"{head}{heads[devices[k]]}{ids[k]}{tails[kinds[k]]}}} {fmt(v)}\n"
                               for k, v in zip(index[i:i + size], numbers[i:i + size],
                                               strict=True)])
            else:
                yield "".join([f"{head}{heads[devices[k]]}{ids[k]}{tails[kinds[k]]}{x}}} "
                               f"{fmt(v)}\n"
                               for k, x, v in zip(index[i:i + size], suffixes[i:i + size],
                                                  numbers[i:i + size], strict=True)])


_VALUE = re.compile(r'="((?:[^"\\]|\\.)*)"')
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


class TextEncoder:
    """Encodes a registry's families; small families' series prefixes are cached."""

    #: prefixes of library-made families (~800 bytes an entry with its key: 20,000 held
    #: 16 MB once 2,000 devices' poll errors went through here). Those families are small
    #: now (process, stores, alarm counts); past this the cache starts again.
    MAX_CACHED = 2_000

    def __init__(self) -> None:
        self._prefixes: dict[tuple[Any, ...], str] = {}

    def _prefix(self, name: str, labels: dict[str, str]) -> str:
        key = (name, *labels.items())
        prefix = self._prefixes.get(key)
        if prefix is None:
            if len(self._prefixes) >= self.MAX_CACHED:
                self._prefixes.clear()
            inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
            prefix = self._prefixes[key] = f"{name}{{{inner}}} " if inner else f"{name} "
        return prefix

    def encode(self, registry: Collector, openmetrics: bool = False) -> bytes:
        return b"".join(self.chunks(registry.collect(), openmetrics))

    def chunks(self, metrics: Iterable[Metric], openmetrics: bool = False) -> Iterator[bytes]:
        """The encoded answer in pieces of at most ~1,000 lines, then ``# EOF`` for
        OpenMetrics; a caller can send or compress each piece as it comes."""
        for metric in metrics:
            head = self._om_header(metric) if openmetrics else self._text_header(metric)
            if isinstance(metric, SeriesFamily):
                yield head.encode()
                for batch in metric.batches():
                    yield batch.encode()
            else:
                body = self._om_samples(metric) if openmetrics else self._text_samples(metric)
                yield (head + body).encode()
        if openmetrics:
            yield b"# EOF\n"

    @staticmethod
    def _text_header(metric: Metric) -> str:
        name, mtype = metric.name, metric.type
        if mtype == "counter":
            name += "_total"
        elif mtype == "info":
            name += "_info"
        mtype = _TYPES.get(mtype, mtype)
        return f"# HELP {name} {_help(metric.documentation, False)}\n# TYPE {name} {mtype}\n"

    def _text_samples(self, metric: Metric) -> str:
        out: list[str] = []
        extra: dict[str, list[str]] = {}
        for s in metric.samples:
            line = self._prefix(s.name, s.labels) + fmt(s.value)
            if s.timestamp is not None:
                line += f" {int(float(s.timestamp) * 1000):d}"
            suffix = s.name[len(metric.name):]
            if suffix in _OM_SUFFIXES:
                extra.setdefault(suffix, []).append(line + "\n")
            else:
                out.append(line + "\n")
        for suffix, lines in sorted(extra.items()):
            gauge = metric.name + suffix
            out.append(f"# HELP {gauge} {_help(metric.documentation, False)}\n"
                       f"# TYPE {gauge} gauge\n")
            out.extend(lines)
        return "".join(out)

    @staticmethod
    def _om_header(metric: Metric) -> str:
        if metric.type not in _OM_TYPES:
            raise ValueError(f"no fast OpenMetrics encoding of {metric.type} {metric.name}")
        return (f"# HELP {metric.name} {_help(metric.documentation, True)}\n"
                f"# TYPE {metric.name} {metric.type}\n")

    def _om_samples(self, metric: Metric) -> str:
        out: list[str] = []
        for s in metric.samples:
            line = self._prefix(s.name, s.labels) + fmt(s.value)
            if s.timestamp is not None:
                line += f" {float(s.timestamp)!r}"
            out.append(line + "\n")
        return "".join(out)

    def can_openmetrics(self, metrics: Sequence[Metric]) -> bool:
        """Whether every family is of a type the fast OpenMetrics path writes, without
        exemplars (the library's encoder is used otherwise)."""
        for metric in metrics:
            if metric.type not in _OM_TYPES:
                return False
            if not isinstance(metric, SeriesFamily) and any(
                    s.exemplar is not None for s in metric.samples):
                return False
        return True
