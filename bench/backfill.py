"""Backfill after an outage: how fast the outbox drains into a real VictoriaMetrics.

Scenario (full run): 2,000 channels at 1 s for one hour = 7.2 M readings are
accepted by the embedded store while the InfluxDB server is down, then the
server comes back. Measured: the drain rate (points/s acknowledged by the
server) and its ratio to the live rate of 2,000 points/s (target >= 10x), and,
because live readings keep arriving during the drain (2,000/s), how late the
live readings were acknowledged meanwhile (catch-up must not starve them).
VictoriaMetrics' own count is checked at the end: every point arrived.

``--quick`` queues 5 minutes (600 k readings). Results are printed and, with
``--update-docs``, written to the backfill section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.common import ROOT, BenchResult, free_port, load_average, machine, percentile
from monitor.config.storage import InfluxV2Sink
from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import build_transport
from monitor.storage.forwarder import Forwarder

CHANNELS = 2000
LIVE_RATE = CHANNELS  # points/s: every channel once a second
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- backfill:begin -->", "<!-- backfill:end -->"


class Victoria:
    """A VictoriaMetrics process of our own, stopped by its pid."""

    def __init__(self, root: Path) -> None:
        self.binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
        if not Path(self.binary).exists():
            sys.exit("victoria-metrics is not installed (apt-get install victoria-metrics)")
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, f"-httpListenAddr=127.0.0.1:{self.port}",
             f"-storageDataPath={self.root / 'vm'}", "-retentionPeriod=100y",
             "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit("victoria-metrics did not start")

    def count(self, start_ms: int, end_ms: int) -> int:
        """Samples stored with start <= t <= end (after a flush of VM's buffers)."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=30):
            pass
        time.sleep(2)  # VictoriaMetrics makes new samples searchable within ~1 s
        query = urllib.parse.urlencode({
            "query": 'count_over_time({__name__="reading_value"}[10y])',
            "time": str(end_ms / 1000),
        })
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=120) as resp:
            data = json.loads(resp.read())
        return int(sum(float(r["value"][1]) for r in data["data"]["result"]))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _sink(url: str) -> InfluxV2Sink:
    return InfluxV2Sink.model_validate({
        "name": "vm", "type": "influxdb_v2", "url": url, "batch_size": 5000,
        "flush_interval": "1s", "backfill_batch_size": 20000, "retry_initial": "200ms",
        "retry_max": "2s", "timeout": "30s",
    })


def _second(t: int, base_ns: int) -> list[Reading]:
    ts = base_ns + t * 1_000_000_000
    return [
        Reading(f"dev{c // 8:03d}/ch{c % 8}", 20.0 + (t + c) % 100 * 0.01, Quality.GOOD,
                ts + c * 1000)
        for c in range(CHANNELS)
    ]


def _collect(forwarder: Forwarder, pending: list[tuple[int, float]], lags: list[float]) -> None:
    """Move every live tick the sink has acknowledged from ``pending`` to ``lags``."""
    now = time.perf_counter()
    for item in [p for p in pending if forwarder.is_done(p[0])]:
        lags.append(now - item[1])
        pending.remove(item)


async def run(seconds: int, root: Path) -> BenchResult:
    result = BenchResult("backfill", quick=seconds < 3600)
    store = EmbeddedStore(root / "readings.db", {}, commit_interval=0.5, retention_s=1e9)
    vm = Victoria(root)
    forwarder = Forwarder(store, build_transport(_sink(vm.url)), _sink(vm.url))
    store.forwarders.append(forwarder)
    task = asyncio.create_task(store.run())  # the sink is configured but its server is down
    now = utc_now_ns()
    base_ns = now - (seconds + 60) * 1_000_000_000
    # 1. the outage: readings accepted and committed while the server is down
    t0 = time.perf_counter()
    for t in range(seconds):
        store.append(_second(t, base_ns))
        if t % 30 == 29:
            await store.flush()
    await store.flush()
    queue_s = time.perf_counter() - t0
    queued = store.committed
    result.add("readings queued during the outage", queued, "readings")
    result.add("local commit rate while queueing", queued / queue_s, "readings/s")
    result.add("outbox depth when the server came back", forwarder.outbox_depth, "readings")

    # 2. the server is back: drain, with live readings arriving at 2,000/s
    try:
        vm.start()
        live_lag: list[float] = []
        pending_live: list[tuple[int, float]] = []
        start = time.perf_counter()
        first_ok: float | None = None
        t_live = seconds
        while forwarder.backfilling or forwarder.outbox_depth > 3 * LIVE_RATE:
            store.append(_second(t_live, base_ns))
            t_live += 1
            await store.flush()
            if first_ok is not None:  # earlier readings belong to the outage's backlog
                pending_live.append((store.last_committed_id, time.perf_counter()))
            tick_end = time.perf_counter() + 1.0
            while time.perf_counter() < tick_end:
                await asyncio.sleep(0.05)
                if first_ok is None and forwarder.batches:
                    first_ok = time.perf_counter()
                _collect(forwarder, pending_live, live_lag)
            if time.perf_counter() - start > 3 * seconds + 120:
                result.note("drain did not finish in time")
                break
        done_at = time.perf_counter()
        first_ok = first_ok or start
        drained_s = done_at - first_ok
        while pending_live and time.perf_counter() - done_at < 30:
            await asyncio.sleep(0.05)
            _collect(forwarder, pending_live, live_lag)
        await store.close()
        task.cancel()
        live_sent = (t_live - seconds) * CHANNELS
        rate = queued / drained_s
        result.add("first write accepted after the server came back", first_ok - start, "s",
                   target="<= retry_max (2 s) + 1 s tick")
        result.add("backlog drain time from the first accepted write", drained_s, "s")
        result.add("backfill rate (backlog points acknowledged)", rate, "points/s")
        result.add("backfill / live rate", rate / LIVE_RATE, "x", target=">= 10x",
                   ok=rate / LIVE_RATE >= 10)
        result.add("live readings sent during the drain", live_sent, "readings")
        result.add("live ticks measured (after the first accepted write)", len(live_lag))
        result.add("live ack delay during the drain p50", percentile(live_lag, 50), "s")
        result.add("live ack delay during the drain max", max(live_lag, default=float("nan")),
                   "s", target="<= 5 s", ok=bool(live_lag) and max(live_lag) <= 5)
        stored = await asyncio.to_thread(
            vm.count, base_ns // 1_000_000, (base_ns // 1_000_000) + (t_live + 1) * 1000
        )
        expected = queued + live_sent
        result.add("points in VictoriaMetrics / points written", f"{stored}/{expected}",
                   ok=stored == expected)
        result.add("send errors", forwarder.send_errors)
    finally:
        vm.stop()
    result.note(f"{CHANNELS} channels at 1 s; outage of {seconds} s; load average "
                f"{load_average():.2f} on a shared machine")
    result.note("send errors are the retries while the server was down (retry_max 2 s); the "
                "queueing time includes building the Reading objects")
    return result


def update_doc(result: BenchResult, command: str) -> None:
    info = machine()
    lines = [BEGIN, "", f"Command: `{command}`", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {info['cpu']}, "
             f"{info['cores']} cores (shared), Python {info['python']}; "
             f"1-min load average {load_average():.2f}.", "",
             "| figure | value | target |", "|---|---|---|"]
    for fig in result.figures:
        value = fig.value if isinstance(fig.value, str) else (
            f"{fig.value:,.1f}" if isinstance(fig.value, float) else f"{fig.value:,}")
        verdict = {True: " ✔", False: " ✘", None: ""}[fig.ok]
        lines.append(f"| {fig.name} | {value} {fig.unit} | {fig.target}{verdict} |")
    lines += ["", *(f"- {n}" for n in result.notes), "", END]
    block = "\n".join(lines)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if BEGIN not in text:
        text = text.rstrip("\n") + (
            "\n\n## Outbox backfill after an outage\n\n"
            "`bench/backfill.py` queues readings in the embedded store while VictoriaMetrics is "
            "down, starts it, and measures how fast the outbox drains while live readings keep "
            "arriving (see docs/storage.md, \"Catch-up\").\n\n" + BEGIN + "\n" + END + "\n"
        )
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + block + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a 5-minute outage instead of 1 h")
    parser.add_argument("--seconds", type=int, help="outage length in seconds")
    parser.add_argument("--update-docs", action="store_true",
                        help="write the results to docs/performance.md")
    args = parser.parse_args(argv)
    seconds = args.seconds or (300 if args.quick else 3600)
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        result = asyncio.run(run(seconds, Path(tmp)))
    result.emit()
    if args.update_docs:
        update_doc(result, "python -m bench.backfill" + " ".join(
            [""] + (argv if argv is not None else sys.argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
