"""Hooking the audit trail into a running daemon (``monitor.runtime`` calls ``attach``).

The runtime gets the trail as ``extras["audit"]`` for every component that
audits (API, alarm acknowledgement, maintenance mode), the user store as
``extras["users"]``, the signature service as ``extras["signer"]``, and a
service that publishes the chain heads: the audit trail's, the QA review
log's (``qa.db`` is written by CLI commands, so the daemon opens it only to
read and publish its head) and those of the other chained logs (the alarm
event log), which add themselves to ``extras["chain_head_sources"]``. Other
outlets (InfluxDB) add themselves to ``extras["chain_head_sinks"]``; both lists
are read on every round, so the order in which subsystems attach does not
matter.
"""

from __future__ import annotations

from typing import Any

from .head import HeadSink, HeadSource, publish_heads
from .trail import AuditTrail

HEAD_INTERVAL = 300.0


def attach(runtime: Any, *, interval: float = HEAD_INTERVAL) -> AuditTrail:
    from monitor.qa.reviewlog import ReviewLog
    from monitor.signatures import Signer
    from monitor.users.store import UserStore

    config = runtime.loaded.config
    extras = runtime.extras
    # whichever subsystem attaches first creates them; the others share them
    trail: AuditTrail = extras.get("audit") or extras.setdefault(
        "audit", AuditTrail(config.data_dir))
    users: UserStore = extras.get("users") or extras.setdefault(
        "users", UserStore(config.data_dir, trail, config.users))
    extras.setdefault("signer", Signer(users, trail))
    sources: list[HeadSource] = runtime.extras.setdefault("chain_head_sources", [])
    review: ReviewLog = extras.get("review_log") or extras.setdefault(
        "review_log", ReviewLog(config.data_dir))
    sources[:0] = [trail, review]
    sinks: list[HeadSink] = runtime.extras.setdefault("chain_head_sinks", [])

    async def publish() -> None:
        await publish_heads(sources, interval, sinks)

    async def close() -> None:
        # The connection stays open: closers of components attached later (API logout
        # entries) may still write; it closes with the runtime.
        trail.publish_head()
        review.publish_head()

    runtime.services["audit-head"] = publish
    runtime.closers.append(close)
    return trail
