"""Micro-benchmark of the alarm engine's hot path: CPU per reading and per one-second tick.

The daemon's 2,000-device Modbus benchmark spends about an eighth of its
profile in the alarm engine, on readings that are nearly all within their
limits. This measures that cost in process, with no I/O around it, so that a
change to ``monitor/alarms`` can be judged on a shared machine: CPU time of
this process (``time.process_time``), the fastest and the median of several
rounds, each round one simulated second of 2,000 devices.

Sites (both 2,000 devices x 10 channels, from ``bench.configs.modbus_site``):

* ``modbus``: exactly the table of ``bench.modbus_scale`` (alert 90, action 95
  on every channel, health rules on), values 20..80 drifting as the farm's do;
* ``gmp``: the same devices as a GMP site: rooms of EU GMP Annex 1 grades A-D,
  China GMP A-C and ISO 5/7/8; particle channels with grade presets (automatic,
  or explicit with 2-of-3 consecutive samples in grades A/B), differential
  pressure with on-delay, deadband and door suppression, temperature with
  deadband and rate of change, humidity, CO2, O2, flow; a door contact per
  device. About one reading in 50,000 is beyond a limit (a spike), and a door
  opens every few seconds.

Readings are made outside the timed part (a driver makes them), each second's
just before it, and handed over one device at a time (10 readings), as the
drivers' batches are; the
timed part is ``AlarmEngine.evaluate`` of every batch, then ``tick`` once, and
the same through ``AlarmService`` (its mutex, the clock pairing, the event log).

    python -m bench.alarm_eval                     # both sites, this tree
    python -m bench.alarm_eval --profile gmp       # cProfile of the engine rounds
    python -m bench.alarm_eval --compare /tmp/base # alternate runs: that tree, this one

``--compare`` runs this script in a fresh process per tree (``PYTHONPATH`` set
to the tree), alternating, and prints each figure and the ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.configs import modbus_site, write_config

DEVICES = 2000
S = 1_000_000_000
T0 = 1_800_000_000_000_000_000
RESULT = "ALARM_EVAL "
GRADES = (("A", "eu_gmp_annex1"), ("B", "eu_gmp_annex1"), ("C", "eu_gmp_annex1"),
          ("D", "eu_gmp_annex1"), ("A", "china_gmp"), ("B", "china_gmp"), ("C", "china_gmp"),
          ("ISO5", "iso_14644_1"), ("ISO7", "iso_14644_1"), ("ISO8", "iso_14644_1"))
GMP_CHANNELS = (
    ("p05", "particles_0_5um", "particles/m3"), ("p50", "particles_5_0um", "particles/m3"),
    ("dp", "differential_pressure", "Pa"), ("door", "door", "1"), ("t", "temperature", "degC"),
    ("rh", "relative_humidity", "%RH"), ("co2", "co2", "%"), ("o2", "o2", "%"),
    ("flow", "flow", "L/min"), ("status", "status", "1"),
)
# (normal centre, noise, excursion value) per GMP channel; particle centres scale by grade
NORMAL = {"dp": (15.0, 0.8, 8.0), "door": (0.0, 0.0, 1.0), "t": (20.0, 0.05, 26.0),
          "rh": (45.0, 0.5, 62.0), "co2": (5.0, 0.05, 6.5), "o2": (20.9, 0.05, 18.0),
          "flow": (28.3, 0.2, 20.0), "status": (0.0, 0.0, 0.0)}
EXCURSION_RATE = 0.00002
"""Share of readings beyond a limit (GMP site): a few a second at 20,000 readings/s."""


def gmp_site(data_dir: Path) -> dict[str, Any]:
    """The benchmark's devices as a GMP site (see the module docstring)."""
    doc = modbus_site(data_dir, DEVICES, [1502], limits=False)
    doc["profiles"] = {"bench-10reg": {
        "kind": "generic", "family": "generic", "source": "generic: GMP benchmark profile",
        "channels": [{"name": n, "quantity": q, "unit": u, "address": 2 * i, "type": "f32"}
                     for i, (n, q, u) in enumerate(GMP_CHANNELS)],
    }}
    for r, room in enumerate(doc["rooms"]):
        room["grade"], room["standard"] = GRADES[r % len(GRADES)]
    limits: dict[str, list[dict[str, Any]]] = {}
    doors = []
    grade_of = {loc["name"]: room["grade"] for room in doc["rooms"] for loc in room["locations"]}
    for dev in doc["devices"]:
        n, loc = dev["name"], dev["location"]
        entries = [
            {"channel": f"{n}/dp", "low_alert": 12, "low_action": 10, "high_alert": 60,
             "on_delay": "30s", "deadband": 0.5},
            {"channel": f"{n}/t", "high_alert": 24, "high_action": 25, "low_alert": 16,
             "low_action": 15, "deadband": 0.2, "on_delay": "60s",
             "rate_of_change": {"max_change": 2, "per": "5m"}},
            {"channel": f"{n}/rh", "high_alert": 55, "high_action": 60, "low_alert": 30,
             "low_action": 25, "deadband": 1},
            {"channel": f"{n}/co2", "high_alert": 5.5, "high_action": 6, "low_alert": 4.5,
             "low_action": 4, "on_delay": "2m"},
            {"channel": f"{n}/o2", "low_alert": 19.5, "low_action": 19},
            {"channel": f"{n}/flow", "low_alert": 25, "low_action": 22, "off_delay": "10s"},
        ]
        if grade_of[loc] in ("A", "B"):  # Annex 1: >=5 um counts, consecutive, investigated
            entries.append({"channel": f"{n}/p50", "high_action": "preset", "high_alert": 1,
                            "consecutive": 2, "window": 3})
        limits[loc] = entries
        doors.append({"channel": f"{n}/door", "suppress": [f"{n}/dp"], "suppress_for": "60s",
                      "settle": "10s"})
    doc["alarms"] = {"limits": limits, "doors": doors, "preset_alert_fraction": 0.5}
    return doc


def load(site: str, tmp: Path) -> Any:
    from monitor.config import load_config

    doc = modbus_site(tmp / "data", DEVICES, [1502]) if site == "modbus" else gmp_site(tmp / "data")
    return load_config(write_config(tmp / f"{site}.yaml", doc))


class Feed:
    """One simulated second of readings at a time, per device (drivers' batches)."""

    def __init__(self, loaded: Any, site: str, seed: int = 8) -> None:
        self.rng = random.Random(seed)
        self.site = site
        by_device: dict[str, list[str]] = {}
        for cid, info in loaded.channels.items():
            by_device.setdefault(info.device, []).append(cid)
        self.devices = list(by_device.values())
        self.offsets = [self.rng.randrange(0, S // 20) * 20 for _ in self.devices]
        grade = {name: room.grade for name, (room, _loc) in loaded.locations.items()}
        self.grade = {cid: grade[info.location] for cid, info in loaded.channels.items()}
        self.value = {cid: self._centre(cid) for cid in loaded.channels}
        self.doors_open: set[str] = set()

    def _centre(self, cid: str) -> float:
        name = cid.rsplit("/", 1)[1]
        if self.site == "modbus":
            return self.rng.uniform(20.0, 80.0)
        if name in ("p05", "p50"):
            g = self.grade[cid]
            base = {"A": 300.0, "B": 1000.0, "C": 50_000.0, "D": 400_000.0, "ISO5": 300.0,
                    "ISO7": 50_000.0, "ISO8": 400_000.0}[g]
            return base if name == "p05" else 0.0
        return NORMAL[name][0]

    def second(self, k: int) -> list[list[Any]]:
        from monitor.model import Quality, Reading

        rng, good, site = self.rng, Quality.GOOD, self.site
        out = []
        for offset, chans in zip(self.offsets, self.devices, strict=True):
            ts = T0 + k * S + offset
            batch = []
            for cid in chans:
                centre = self.value[cid]
                name = cid[cid.rindex("/") + 1:]
                if site == "modbus":
                    v = round(centre + rng.uniform(-2.0, 2.0), 1)
                elif name == "door":
                    v = self._door(cid)
                elif name in ("p05", "p50"):
                    v = float(rng.random() < 0.03) if name == "p50" else float(round(
                        centre * rng.uniform(0.5, 1.2)))
                    if rng.random() < EXCURSION_RATE:
                        v = centre * 20 + 30
                else:
                    _c, noise, spike = NORMAL[name]
                    v = round(centre + rng.gauss(0.0, noise), 2) if noise else centre
                    if rng.random() < EXCURSION_RATE:
                        v = spike
                batch.append(Reading(cid, v, good, ts))
            out.append(batch)
        return out

    def _door(self, cid: str) -> float:
        if cid in self.doors_open:
            if self.rng.random() < 0.2:
                self.doors_open.discard(cid)
                return 0.0
            return 1.0
        if self.rng.random() < 0.0002:
            self.doors_open.add(cid)
            return 1.0
        return 0.0


def timed_rounds(step: Callable[[int], tuple[float, float]], warmup: int,
                 rounds: int) -> tuple[list[float], list[float]]:
    for k in range(1, warmup + 1):
        step(k)
    evals, ticks = [], []
    for k in range(warmup + 1, warmup + rounds + 1):
        e, t = step(k)
        evals.append(e)
        ticks.append(t)
    return evals, ticks


def bench_site(site: str, rounds: int, warmup: int, profile: bool) -> dict[str, Any]:
    from monitor.alarms.engine import AlarmEngine
    from monitor.alarms.rules import build_tables
    from monitor.alarms.service import build_alarm_service

    clock = time.process_time
    with tempfile.TemporaryDirectory(prefix="alarm-eval-") as tmp:
        loaded = load(site, Path(tmp))
        feed = Feed(loaded, site)
        # each second's readings are made just before they are evaluated, as a driver does
        # (made all at once beforehand, they would be colder in the caches than in a daemon)
        feed2 = Feed(loaded, site)
        n_readings = len(loaded.channels)
        engine = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0)
        events = [0]

        prof = cProfile.Profile() if profile else None

        def engine_second(k: int) -> tuple[float, float]:
            batches = feed.second(k)
            evaluate = engine.evaluate
            if prof is not None and k > warmup:
                prof.enable()  # the engine only, not the making of the readings
            t0 = clock()
            for batch in batches:
                events[0] += len(evaluate(batch))
            t1 = clock()
            events[0] += len(engine.tick(T0 + k * S + S - 1))
            t2 = clock()
            if prof is not None:
                prof.disable()
            return t1 - t0, t2 - t1

        if prof is not None:
            timed_rounds(engine_second, warmup, rounds)
            stats = pstats.Stats(prof).sort_stats("tottime")
            stats.print_stats(25)
            return {}
        e_eval, e_tick = timed_rounds(engine_second, warmup, rounds)
        engine_events = events[0]

        now = [T0]
        service = build_alarm_service(loaded, clock=lambda: now[0],
                                      monotonic=lambda: now[0] - T0)
        try:
            def service_second(k: int) -> tuple[float, float]:
                batches = feed2.second(k)
                evaluate = service.evaluate
                t0 = clock()
                for batch in batches:
                    now[0] = batch[0].ts_ns
                    evaluate(batch)
                t1 = clock()
                now[0] = T0 + k * S + S - 1
                service.tick(now[0])
                return t1 - t0, clock() - t1

            s_eval, s_tick = timed_rounds(service_second, warmup, rounds)
        finally:
            service.close()
    out: dict[str, Any] = {"site": site, "readings_per_round": n_readings, "rounds": rounds,
                           "events": engine_events, "evaluated": engine.counters.evaluated}
    for key, values, scale in (("engine_us_per_reading", e_eval, 1e6 / n_readings),
                               ("engine_tick_ms", e_tick, 1e3),
                               ("service_us_per_reading", s_eval, 1e6 / n_readings),
                               ("service_tick_ms", s_tick, 1e3)):
        out[key + "_min"] = min(values) * scale
        out[key + "_median"] = statistics.median(values) * scale
        out[key + "_mean"] = statistics.fmean(values) * scale
    return out


FIGURES = (("engine_us_per_reading", "engine evaluate, us/reading"),
           ("engine_tick_ms", "engine tick, ms"),
           ("service_us_per_reading", "service evaluate, us/reading"),
           ("service_tick_ms", "service tick, ms"))


def show(result: dict[str, Any], label: str = "") -> None:
    print(f"{label}{result['site']}: {result['readings_per_round']} readings/round, "
          f"{result['rounds']} rounds, {result['events']} events")
    for key, text in FIGURES:
        print(f"  {text:32s} min {result[key + '_min']:8.3f}   median "
              f"{result[key + '_median']:8.3f}   mean {result[key + '_mean']:8.3f}")


def run_tree(tree: Path, sites: list[str], rounds: int, warmup: int) -> Iterator[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--rounds", str(rounds),
           "--warmup", str(warmup), *sites]
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{tree}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            yield json.loads(line[len(RESULT):])


def compare(base: Path, sites: list[str], rounds: int, warmup: int, repeat: int) -> None:
    here = Path(__file__).resolve().parent.parent
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {"before": {}, "after": {}}
    for i in range(repeat):
        for name, tree in (("before", base), ("after", here)):
            for result in run_tree(tree, sites, rounds, warmup):
                runs[name].setdefault(result["site"], []).append(result)
                show(result, f"[{name} #{i + 1}] ")
    print("\nbefore -> after (ratio): min over rounds and runs; mean of the runs' means")
    for site in sites:
        print(f"{site}:")
        for key, text in FIGURES:
            b = min(r[key + "_min"] for r in runs["before"][site])
            a = min(r[key + "_min"] for r in runs["after"][site])
            bm = statistics.fmean(r[key + "_mean"] for r in runs["before"][site])
            am = statistics.fmean(r[key + "_mean"] for r in runs["after"][site])
            print(f"  {text:32s} min {b:8.3f} -> {a:8.3f} ({b / a:5.1f}x)   "
                  f"mean {bm:8.3f} -> {am:8.3f} ({bm / am:5.1f}x)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sites", nargs="*", help="modbus, gmp (default: both)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the engine rounds")
    parser.add_argument("--json", action="store_true", help="one result line per site")
    parser.add_argument("--compare", type=Path, help="tree to compare with (e.g. a clone)")
    parser.add_argument("--repeat", type=int, default=2, help="alternations with --compare")
    args = parser.parse_args(argv)
    sites = args.sites or ["modbus", "gmp"]
    unknown = set(sites) - {"modbus", "gmp"}
    if unknown:
        parser.error(f"unknown site(s): {', '.join(sorted(unknown))}")
    if args.compare is not None:
        compare(args.compare.resolve(), sites, args.rounds, args.warmup, args.repeat)
        return
    for site in sites:
        result = bench_site(site, args.rounds, args.warmup, args.profile)
        if args.profile:
            continue
        if args.json:
            print(RESULT + json.dumps(result), flush=True)
        else:
            show(result)


if __name__ == "__main__":
    main()
