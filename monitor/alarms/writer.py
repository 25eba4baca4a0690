"""Who may write the alarm event log: one engine at a time, across processes.

The engine numbers its events itself, so two engines appending to one log
would fork it. The daemon's alarm service holds ``<data_dir>/alarms.lock``
(``flock``) for as long as it runs; a CLI command that finds the lock taken
hands its request to the daemon through the request queue instead of writing.
Inside one process the lock is shared (a config reload builds the new service
while the old one may not be closed yet).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

LOCK_NAME = "alarms.lock"

_held: dict[str, tuple[int, int]] = {}  # path -> (fd, holders in this process)
_guard = threading.Lock()


class WriterLock:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = str(Path(data_dir) / LOCK_NAME)
        self.held = False

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; False if another process has it."""
        if self.held:
            return True
        deadline = time.monotonic() + timeout
        while True:
            with _guard:
                entry = _held.get(self.path)
                if entry is not None:
                    _held[self.path] = (entry[0], entry[1] + 1)
                    self.held = True
                    return True
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                else:
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                    _held[self.path] = (fd, 1)
                    self.held = True
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with _guard:
            fd, count = _held[self.path]
            if count > 1:
                _held[self.path] = (fd, count - 1)
                return
            del _held[self.path]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder(self) -> str:
        """The pid written by the holder, for messages."""
        try:
            return Path(self.path).read_text().strip() or "?"
        except OSError:
            return "?"
