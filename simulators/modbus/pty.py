"""A pseudo-terminal pair made by socat: a serial line without hardware.

The daemon opens one end (``client``), the simulator the other (``server``);
both are stable symlinks, so that stopping socat and starting it again
imitates a USB serial adapter being unplugged and plugged back in.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path


class PtyError(RuntimeError):
    pass


class PtyPair:
    def __init__(self, client: str | Path, server: str | Path | None = None) -> None:
        self.client = Path(client)
        self.server = Path(server) if server is not None else Path(f"{client}.sim")
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> PtyPair:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 5.0) -> None:
        socat = shutil.which("socat")
        if socat is None:
            raise PtyError("socat is not installed (apt-get install socat)")
        for link in (self.client, self.server):
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
        self.client.parent.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            socat, f"pty,raw,echo=0,link={self.client}",
            f"pty,raw,echo=0,link={self.server}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.client.exists() and self.server.exists()):
            if self.process.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise PtyError(f"socat did not create {self.client} and {self.server}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """End socat: both ends vanish, as when an adapter is unplugged."""
        proc, self.process = self.process, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for link in (self.client, self.server):
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
