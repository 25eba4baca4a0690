"""Where each particle counter's record reading got to, kept in a JSON file across restarts.

A counter files a record per sample period in its own memory; the driver reads
the records after the last one it took (``RecordReader.cursor``). Kept in
``<data_dir>/modbus-cursors-<connection>.json``, that cursor lets a restarted
daemon read the records the counter filed while the daemon was down: the
counter's store-and-forward. The file is written through a temporary file and
a rename, so a crash leaves the old cursors or the new ones, never half a file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from monitor.logs import log_event

from .device import DeviceRuntime

log = logging.getLogger("monitor.drivers.modbus")


def load_cursors(path: Path, runtimes: Sequence[DeviceRuntime]) -> None:
    """Set each counter's cursor from ``path``; a missing or unreadable file leaves them unset
    (an unreadable one is logged: the counters then read what they still hold)."""
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        log_event(log, logging.WARNING, "cannot read record cursors",
                  file=str(path), error=str(err))
        return
    for dev in runtimes:
        if dev.counter is not None and isinstance(saved.get(dev.name), int):
            dev.counter.cursor = saved[dev.name]


def save_cursors(path: Path, runtimes: Sequence[DeviceRuntime],
                 last_saved: dict[str, int] | None) -> dict[str, int] | None:
    """Write the counters' cursors into ``path`` (other entries kept) unless they are those
    saved last; returns what is saved now (``last_saved`` when nothing was written)."""
    current = {d.name: d.counter.cursor for d in runtimes
               if d.counter is not None and d.counter.cursor is not None}
    if not current or current == last_saved:
        return last_saved
    try:
        merged = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        merged = {}
    merged.update(current)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, sort_keys=True))
    tmp.replace(path)
    return current
