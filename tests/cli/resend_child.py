"""The daemon's storage side as its own process, for the SIGKILL test of a resend.

Runs the embedded store and the configured sink's forwarder (which works off
resend requests) until killed; prints ``running`` once started.
"""

from __future__ import annotations

import asyncio
import sys

from monitor.config import load_config
from tests.cli.support import start_daemon


async def main(config: str) -> None:
    daemon = start_daemon(load_config(config))
    print("running", flush=True)
    await daemon.task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
