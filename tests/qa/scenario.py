"""A recorded stretch of monitoring: readings in readings.db and alarm events in alarms.db.

pc1/p05 (fill-2, particles/m3) is sampled every 10 s from T0 to T0+4000 s: background
200,000, above the action limit 352,000 from T0+590 s to T0+895 s (peak 520,000 at
T0+660 s: excursion 1), device offline (comm_error) from T0+1500 s to T0+1800 s, and above
the limit again from T0+2990 s to the end (excursion 2, ongoing). dp1/dp (fill-1, Pa) reads
15 Pa with 11.5 Pa (below the 12 Pa alert limit) from T0+2000 s to T0+2300 s.
"""

from __future__ import annotations

from pathlib import Path

from monitor.alarms.eventlog import EventLog
from monitor.alarms.events import AlarmEvent
from monitor.config import LoadedConfig, load_config
from monitor.model import Quality, Reading
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import readings_path
from tests.audit.sitecfg import write_config

from .events import T0, EventWriter, S, two_excursions

END = T0 + 4000 * S
NOW = T0 + 5000 * S


def particle_value(t: int) -> float:
    if 590 <= t < 895:
        return 520000.0 if t == 660 else 400000.0 + (t - 590) * 100
    if t >= 2990:
        return 360000.0
    return 200000.0


def readings() -> list[Reading]:
    out = []
    for t in range(0, 4000, 10):
        ts = T0 + t * S
        if 1500 <= t < 1800:
            out.append(Reading("pc1/p05", None, Quality.COMM_ERROR, ts, detail="timeout"))
        else:
            out.append(Reading("pc1/p05", particle_value(t), Quality.GOOD, ts))
        out.append(Reading("dp1/dp", 11.5 if 2000 <= t < 2300 else 15.0, Quality.GOOD, ts + 1))
    return out


async def record(folder: Path, events: EventWriter | None = None) -> LoadedConfig:
    """Write the config, the readings and the alarm events; return the loaded config."""
    loaded = load_config(write_config(folder))
    data = Path(loaded.config.data_dir)
    store = EmbeddedStore(readings_path(data), loaded.channels, clock=lambda: T0,
                          state_of=lambda _loc: "in_operation", site="plant-a")
    store.append(readings())
    await store.close()
    log = EventLog(data)
    log.append([AlarmEvent.from_json(r) for r in (events or two_excursions()).records])
    log.close()
    return loaded
