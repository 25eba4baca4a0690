"""In-process micro-benchmark of the MQTT driver's per-message path (no broker, no pipeline).

Builds the MQTT driver of bench.mqtt_ingest's site (500 CO2 incubators, JSON
state messages of 6 values) and times its batch handler on the load's
payloads, in batches as one socket read delivers them (CPU time of the thread, best of
the repeats: steadier than wall time on a shared machine); ``emit`` only keeps
the count. Also times splitting the same messages out of a raw MQTT byte
stream (QoS 1 PUBLISH packets) and packing their PUBACKs. Steadier than the
full benchmark on a shared machine: compare two trees with alternated runs.

    python -m bench.mqtt_decode [--messages 120000] [--batch 1000] [--repeat 5] [--profile F]
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.mqtt_load import payloads


def build_driver(tmp: Path, devices: int) -> tuple[object, list[int]]:
    from bench.configs import write_config
    from bench.mqtt_ingest import site
    from monitor.config import load_config
    from monitor.drivers.base import DeviceBinding
    from monitor.drivers.mqtt import MqttDriver

    loaded = load_config(write_config(tmp / "site.yaml", site(tmp, "127.0.0.1", 1883, devices)))
    cfg = loaded.config
    binds = [DeviceBinding(d, cfg.profiles[d.profile], tuple(loaded.device_channels(d)))
             for d in cfg.devices]
    count = [0]

    def emit(readings: Sequence[object]) -> None:
        count[0] += len(readings)

    return MqttDriver(cfg.connections[0], binds, emit), count  # type: ignore[arg-type]


def stream(msgs: list[tuple[bytes, bytes]]) -> bytes:
    """The messages as QoS 1 PUBLISH packets, as the broker sends them."""
    out = bytearray()
    for mid, (topic, body) in enumerate(msgs, 1):
        rest = len(topic).to_bytes(2, "big") + topic + (mid % 65535 + 1).to_bytes(2, "big") + body
        length, n = bytearray(), len(rest)
        while True:
            byte, n = n & 127, n >> 7
            length.append(byte | (128 if n else 0))
            if not n:
                break
        out += bytes([0x32]) + length + rest
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=120_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args(argv)
    msgs = payloads(args.devices, args.messages)
    batches = [msgs[i:i + args.batch] for i in range(0, len(msgs), args.batch)]
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-decode-") as tmp:
        driver, count = build_driver(Path(tmp), args.devices)
    import gc

    gc.collect()
    gc.freeze()  # as the daemon does after its start (monitor/service.py)
    on_batch = driver._on_batch  # type: ignore[attr-defined]
    on_batch(batches[0])  # first sight of every topic: compiled decoders
    times = []
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(args.repeat):
        count[0] = 0
        if profiler is not None:
            profiler.enable()
        t0 = time.thread_time()
        for batch in batches:
            on_batch(batch)
        times.append(time.thread_time() - t0)
        if profiler is not None:
            profiler.disable()
    if profiler is not None:
        profiler.dump_stats(args.profile)
    readings = count[0]
    best = min(times)
    print(f"decode+emit: {best / len(msgs) * 1e6:.3f} us/message, "
          f"{best / readings * 1e6:.3f} us/reading (best of {args.repeat}, {len(msgs):,} "
          f"messages, {readings:,} readings, batches of {args.batch})")
    split_times = split_bench(stream(msgs), args.batch, args.repeat)
    if split_times is not None:
        print(f"split+acks: {min(split_times) / len(msgs) * 1e6:.3f} us/message")
    return 0


def split_bench(raw: bytes, batch: int, repeat: int) -> list[float] | None:
    """Split the stream 64 KiB at a time and pack the PUBACKs, as one socket read does."""
    from monitor.drivers.mqtt import client

    splitter_cls = getattr(client, "_StreamSplitter", None)
    if splitter_cls is None:
        return None
    pack = getattr(client, "puback_packet", None)
    times = []
    chunk = 65536
    for _ in range(repeat):
        splitter = splitter_cls(None, False)
        t0 = time.thread_time()
        for pos in range(0, len(raw), chunk):
            splitter._rx += raw[pos:pos + chunk]
            _, acks = splitter._split(splitter._rx)
            if pack is not None and acks:
                pack(acks)
        times.append(time.thread_time() - t0)
    return times


if __name__ == "__main__":
    sys.exit(main())
