"""Child processes of a benchmark: the device farm, the daemon probe, the baseline loop.

Each child prints a ``ready`` line when it can be used and its result as one
JSON line at the end; these helpers start them, wait for those lines with a
deadline, and stop them by their own pid only.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench.common import ROOT


class Child:
    """A child process whose stdout lines are read by a thread into a queue."""

    def __init__(self, args: Sequence[str], *, stdin: bool = False,
                 env: dict[str, str] | None = None, name: str = "") -> None:
        self.name = name or args[0]
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            list(args), cwd=ROOT, env=full_env, text=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail.append(line.rstrip("\n"))
            del self.stderr_tail[:-40]

    def wait_line(self, prefix: str, timeout: float) -> str:
        """The next stdout line starting with ``prefix``; earlier lines are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {prefix!r} line within {timeout:g} s; "
                                   f"stderr: {self.stderr_text()}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before "
                                   f"{prefix!r}; stderr: {self.stderr_text()}")
            if line.startswith(prefix):
                return line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def command(self, line: str, timeout: float = 10.0) -> str:
        """Send a control line (to the farm) and return its ``ok ...`` answer."""
        self.send(line)
        answer = self.wait_line("", timeout)
        if not answer.startswith("ok"):
            raise RuntimeError(f"{self.name}: {line!r} -> {answer!r}")
        return answer

    def result(self, timeout: float) -> dict[str, Any]:
        line = self.wait_line("RESULT ", timeout)
        return dict(json.loads(line[len("RESULT "):]))

    def stderr_text(self) -> str:
        return " | ".join(self.stderr_tail[-12:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def farm(ports: Sequence[int], *, wave: bool = True) -> Iterator[Child]:
    """The Modbus device farm (bench.modbus_farm) as a separate process."""
    args = ["--ports", ",".join(map(str, ports))]
    if wave:
        args.append("--wave")
    child = Child(python_module("bench.modbus_farm", *args), stdin=True, name="modbus-farm")
    try:
        child.wait_line("ready", 20)
        yield child
    finally:
        if child.proc.stdin is not None:
            with contextlib.suppress(OSError):
                child.proc.stdin.close()
        child.stop()


def stop_quietly(child: Child | None) -> None:
    if child is not None:
        child.stop(signal.SIGTERM)
