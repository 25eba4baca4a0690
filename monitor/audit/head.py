"""Publishing the heads of the hash chains outside the data directory.

A chain's head file (``monitor.integrity.HeadFile``) sits next to its database,
so someone who can rewrite the one can rewrite the other. ``publish_heads``
also logs every chain's head (the journal keeps it) and hands it to the sinks
the service adds (InfluxDB): a head kept there, given to ``verify``, catches
even a chain recomputed after an edit together with its head file.

``ChainHead``, ``HeadFile`` and ``check_against_head`` live in
``monitor.integrity`` and are re-exported here for existing callers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from monitor.errors import StoreError
from monitor.integrity import ChainHead, HeadFile, check_against_head
from monitor.logs import log_event
from monitor.model import utc_now_ns

log = logging.getLogger("monitor.audit.head")

__all__ = ["ChainHead", "HeadFile", "HeadSink", "HeadSource", "check_against_head", "now_head",
           "publish_heads"]


class HeadSource(Protocol):
    """A chain whose head can be read and written to its sidecar (``AuditTrail`` is one)."""

    chain_name: str

    def current_head(self) -> ChainHead: ...

    def publish_head(self) -> ChainHead: ...


HeadSink = Callable[[ChainHead], None]


async def publish_heads(
    sources: Sequence[HeadSource],
    interval: float = 300.0,
    sinks: Sequence[HeadSink] = (),
    *,
    rounds: int | None = None,
) -> None:
    """Every ``interval`` seconds: log each chain's head, refresh its sidecar, call the sinks.

    The service runs this for the daemon's lifetime (``rounds`` limits it in tests).
    A failing sink is logged and does not stop the others: publication is a
    second line of defence, never a reason to stop monitoring.
    """
    done = 0
    while rounds is None or done < rounds:
        for source in sources:
            try:
                head = await asyncio.to_thread(source.publish_head)
            except StoreError as err:
                log_event(log, logging.ERROR, "chain head not published", chain=source.chain_name,
                          error=str(err))
                continue
            log_event(log, logging.INFO, "chain head", chain=head.chain, seq=head.seq,
                      hash=head.hash)
            for sink in sinks:
                try:
                    sink(head)
                except Exception:  # a sink bug must not stop publication to the others
                    log.exception("chain head sink failed")
        done += 1
        if rounds is None or done < rounds:
            await asyncio.sleep(interval)


def now_head(chain: str, seq: int, digest: str) -> ChainHead:
    return ChainHead(chain, seq, digest, utc_now_ns())
