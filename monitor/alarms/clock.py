"""Device clocks against the daemon's: how far off is each device that stamps its data?

A reading that carries the device's time (``device_ts_ns``: the end of a
particle counter's sample, an MQTT payload's time) was stamped by the device
at ``device_ts`` and received by the daemon at ``ts_ns``. The lag
``ts_ns - device_ts`` is the transfer delay (>= 0) minus the device clock's
offset, so the smallest lag seen over a while is the best estimate of the
offset: delays only ever add to it. Records read late (a counter's buffer
caught up after an outage, a retained MQTT message) have large lags and never
win the minimum while live data keep coming.

``DeviceClocks.observe`` is a pipeline reading listener (one dict lookup per
stamped reading); ``flags(now)``, called by the periodic check, folds the
lags seen since the last call into a window of ``alarms.clock.window`` and
returns the ``clock_drift`` condition of every device that has been reporting
for at least that long: a device that has just (re)appeared is judged only
after a full window, so that the one old record a counter hands over first
(up to one sample cycle old) does not raise a false alarm.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.model import Reading

from .flags import CLOCK_DRIFT, Flag, key

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    device: str
    offset_s: float  # device clock minus daemon clock (positive: the device is ahead)
    samples: int  # stamped readings seen in the window
    judged: bool  # watched for a full window: the alarm follows this estimate


class DeviceClocks:
    def __init__(self, device_of: Mapping[str, str], *, max_drift_s: float,
                 window_s: float) -> None:
        """``device_of``: channel id -> device, for the devices whose clocks are watched."""
        self._device_of = dict(device_of)
        self.max_drift_ns = int(max_drift_s * NS)
        self.window_ns = int(window_s * NS)
        self._lag: dict[str, int] = {}  # device -> smallest lag since the last fold
        self._seen: dict[str, int] = {}  # device -> stamped readings since the last fold
        self._history: dict[str, deque[tuple[int, int, int]]] = {}  # (fold time, lag, count)
        self._since: dict[str, int] = {}  # device -> first fold of its current run
        self.estimates: dict[str, ClockEstimate] = {}

    @property
    def devices(self) -> frozenset[str]:
        return frozenset(self._device_of.values())

    def observe(self, readings: Sequence[Reading]) -> None:
        """A pipeline reading listener: keep each device's smallest lag."""
        device_of, lags, seen = self._device_of, self._lag, self._seen
        for r in readings:
            dts = r.device_ts_ns
            if dts is None:
                continue
            device = device_of.get(r.channel)
            if device is None:
                continue
            lag = r.ts_ns - dts
            best = lags.get(device)
            if best is None or lag < best:
                lags[device] = lag
            seen[device] = seen.get(device, 0) + 1

    def flags(self, now_ns: int) -> list[Flag]:
        """Fold the lags seen since the last call; the drift condition of each judged device."""
        horizon = now_ns - self.window_ns
        for device, lag in self._lag.items():
            history = self._history.setdefault(device, deque())
            if not history:
                self._since[device] = now_ns
            history.append((now_ns, lag, self._seen.get(device, 0)))
        self._lag, self._seen = {}, {}
        out = []
        for device, history in self._history.items():
            while history and history[0][0] <= horizon:
                history.popleft()
            if not history:  # silent for a whole window: judge it afresh when it is back
                self._since.pop(device, None)
                self.estimates.pop(device, None)
                continue
            offset_ns = -min(lag for _, lag, _ in history)
            judged = now_ns - self._since[device] >= self.window_ns
            self.estimates[device] = ClockEstimate(
                device, offset_ns / NS, sum(n for _, _, n in history), judged)
            if judged:
                out.append(_flag(device, offset_ns, self.max_drift_ns))
        return out


def _flag(device: str, offset_ns: int, max_drift_ns: int) -> Flag:
    offset_s = offset_ns / NS
    side = "ahead of" if offset_ns > 0 else "behind"
    return Flag(key(device, CLOCK_DRIFT), abs(offset_ns) > max_drift_ns, round(offset_s, 3),
                f"device clock {abs(offset_s):.1f} s {side} the daemon's "
                f"(limit {max_drift_ns / NS:g} s)")


def watched_channels(channels: Iterable[tuple[str, str]],
                     devices: Iterable[str]) -> dict[str, str]:
    """channel -> device for the channels of ``devices`` (``channels``: (channel, device))."""
    wanted = set(devices)
    return {cid: dev for cid, dev in channels if dev in wanted}
