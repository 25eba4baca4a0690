"""The audit trail: every GMP-relevant action, append-only and hash-chained.

Start with ``AuditTrail(data_dir).record(user, action, object, old, new, reason)``;
``Action`` names the common actions; ``record_config_loaded`` audits a config
load; ``publish_heads`` publishes the chain head so truncation is detectable.
"""

from .actions import Action
from .config_audit import record_config_loaded
from .head import ChainHead, HeadFile, publish_heads
from .timefmt import iso_utc, parse_utc_ns, short_utc
from .trail import SYSTEM_USER, AuditEntry, AuditTrail

__all__ = [
    "SYSTEM_USER",
    "Action",
    "AuditEntry",
    "AuditTrail",
    "ChainHead",
    "HeadFile",
    "iso_utc",
    "parse_utc_ns",
    "publish_heads",
    "record_config_loaded",
    "short_utc",
]
