"""A remote particle counter: sample/hold cycles filed as records in a ring buffer.

Counts are drawn from a Poisson distribution whose mean is the location's
concentration times the sampled volume, per size bin, so that cumulative
counts stay consistent (>=0.3 >= >=0.5 >= ...). Records are produced lazily
whenever the clock is consulted, so an accelerated or manual clock yields the
same records as real time would.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .base import DeviceModel
from .environment import World

CFM_LPM = 28.316846592

# data status bits of a record (low byte), Lighthouse-style
DATA_FLOW_ALERT = 1 << 0
DATA_OVERFLOW = 1 << 1
DATA_THRESHOLD_HIGH = 1 << 2


@dataclass(frozen=True, slots=True)
class CounterRecord:
    ts: int  # Unix seconds at the end of the sample
    sample_s: int
    location_no: int
    data_status: int
    counts: tuple[int, ...]  # cumulative, smallest size first (differential if configured)


class ParticleCounterModel(DeviceModel):
    kind = "particle_counter"
    fault_names = frozenset({"laser", "flow", "sensor"})

    def __init__(
        self, name: str, world: World, location: str, *,
        sizes: tuple[float, ...] = (0.3, 0.5, 1.0, 5.0), flow_lpm: float = CFM_LPM,
        sample_s: int = 60, hold_s: int = 0, capacity: int = 3000, differential: bool = False,
        location_no: int = 1, running: bool = True, alarm_0_5: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(name, world, location, seed)
        self.sizes = tuple(sorted(sizes))
        self.flow_lpm = flow_lpm
        self.sample_s = sample_s
        self.hold_s = hold_s
        self.records: deque[CounterRecord] = deque(maxlen=capacity)
        self.differential = differential
        self.location_no = location_no
        self.alarm_0_5 = alarm_0_5
        self.np_rng = np.random.default_rng(self.rng.randrange(1 << 30))
        self.running = False
        self.cycle_start = 0.0
        self.records_made = 0
        if running:
            self.start()

    # -- control ------------------------------------------------------------------------
    def start(self) -> None:
        if not self.running:
            self.running, self.cycle_start = True, math.floor(self.now())

    def stop(self) -> None:
        self.update()
        self.running = False

    def clear(self) -> None:
        self.update()
        self.records.clear()

    def save_now(self) -> None:
        """Close the running sample early and file it (command 'save record')."""
        self.update()
        if self.running:
            now = math.floor(self.now())
            elapsed = max(1, now - int(self.cycle_start))
            self._file(now, min(elapsed, self.sample_s))
            self.cycle_start = now

    # -- physics ------------------------------------------------------------------------
    def update(self) -> None:
        """File every sample that finished by now."""
        if not self.running:
            return
        now = self.now()
        cycle = self.sample_s + self.hold_s
        while self.cycle_start + self.sample_s <= now:
            end = int(self.cycle_start + self.sample_s)
            self._file(end, self.sample_s)
            self.cycle_start += cycle

    def _file(self, end: int, sample_s: int) -> None:
        volume_m3 = self.flow_lpm * sample_s / 60.0 / 1000.0
        status = 0
        if "flow" in self.faults:
            volume_m3 *= 0.55  # a failing pump draws less air than the counter assumes
            status |= DATA_FLOW_ALERT
        middle = end - sample_s / 2
        cumulative = [self.location.concentration(s, middle) for s in self.sizes]
        diff_means = [
            max(c - (cumulative[i + 1] if i + 1 < len(cumulative) else 0.0), 0.0) * volume_m3
            for i, c in enumerate(cumulative)
        ]
        diff = [int(x) for x in self.np_rng.poisson(diff_means)]
        if "laser" in self.faults:
            diff = [0] * len(diff)  # no light, no pulses: the device status shows the fault
        cum = [sum(diff[i:]) for i in range(len(diff))]
        if (self.alarm_0_5 is not None and 0.5 in self.sizes
                and cum[self.sizes.index(0.5)] / max(volume_m3, 1e-9) > self.alarm_0_5):
            status |= DATA_THRESHOLD_HIGH
        counts = diff if self.differential else cum
        if any(c > 0xFFFFFFFF for c in counts):
            counts = [min(c, 0xFFFFFFFF) for c in counts]
            status |= DATA_OVERFLOW
        self.records.append(CounterRecord(end, sample_s, self.location_no, status, tuple(counts)))
        self.records_made += 1

    def values(self, now: float) -> dict[str, float]:
        self.update()
        return {"flow": self.flow_lpm * (0.55 if "flow" in self.faults else 1.0)}

    def conditions(self, now: float) -> set[str]:
        found = set(self.faults)
        if self.running:
            found |= {"running", "sampling"}
        if self.faults:
            found.add("device error")
        return found
