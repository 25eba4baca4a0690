"""Disk full for the data dir: a small tmpfs mounted there and filled up while the daemon polls.

SQLite then fails its commits with SQLITE_FULL. The daemon must keep polling,
keep the uncommitted readings in memory, show the fault (``cleanroom_store_
writable 0``, write errors counted, a storage health problem) and, once space
is freed, commit everything it held: nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import free_ports
from tests.faults.harness import (
    assert_nothing_lost,
    fault_site,
    running_farm,
    start_daemon,
    wait_for,
    write,
)

SIZE = "8m"


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs",
                              str(path)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (needs root): "
                    f"{mounted.stderr.strip()}", pytrace=False)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Fill the file system holding ``path`` to the last byte."""
    filler = path / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):
                while os.write(fd, chunk) == size:
                    pass
    finally:
        os.close(fd)
    return filler


async def test_disk_full_holds_readings_and_commits_them_later(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    with small_disk(tmp_path / "data") as data_dir:
        config = write(tmp_path / "site.yaml", fault_site(data_dir, [port]))
        async with running_farm([port]):
            daemon = await start_daemon(config)
            try:
                await asyncio.sleep(1.0)
                assert daemon.metric("cleanroom_store_writable") == 1
                filler = await asyncio.to_thread(fill, data_dir)
                await wait_for(lambda: daemon.metric("cleanroom_store_writable") == 0, 10,
                               "the store to report the disk full", task=daemon.task)
                assert (daemon.metric("cleanroom_store_write_errors_total") or 0) >= 1
                assert daemon.storage_health(), "no storage health problem while disk full"
                held = daemon.metric("cleanroom_store_pending_readings") or 0
                before = daemon.accepted
                await asyncio.sleep(1.5)
                assert daemon.accepted - before >= 0.8 * 200 * 1.5, "polling slowed down"
                assert (daemon.metric("cleanroom_store_pending_readings") or 0) > held
                os.unlink(filler)
                await wait_for(lambda: daemon.metric("cleanroom_store_writable") == 1, 15,
                               "the store to write again", task=daemon.task)
                await wait_for(lambda: (daemon.metric("cleanroom_store_pending_readings")
                                        or 0) < 200, 15, "the held readings to be committed")
                assert not daemon.storage_health(), daemon.storage_health()
            finally:
                await daemon.stop()
        assert_nothing_lost(daemon, data_dir)
        assert (daemon.metric("cleanroom_store_dropped_readings_total") or 0) == 0
