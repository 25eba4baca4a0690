"""What every reading store implements.

``append`` is synchronous and only buffers: the pipeline calls it for every
batch of readings and must never wait on a disk or a network. ``run`` commits
or sends the buffer in the background; ``close`` flushes what is left, so that
a clean stop leaves every accepted reading on disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from monitor.model import Reading


class ReadingStore(ABC):
    name: str = "store"

    @abstractmethod
    def append(self, readings: Sequence[Reading]) -> None:
        """Accept readings; after this returns the store is responsible for them."""

    @abstractmethod
    async def run(self) -> None:
        """Commit/send in the background until cancelled."""

    @abstractmethod
    async def flush(self) -> None:
        """Commit everything accepted so far."""

    async def close(self) -> None:
        await self.flush()
