"""Hash-chained, append-only records: the primitives and the table every GMP log is built on.

``ChainedTable`` (``table``) is what the audit trail, the QA review log and the
alarm event log use; ``chain`` holds the hashing and chain check, ``headfile``
the head kept outside the database.
"""

from .chain import (
    GENESIS,
    BrokenRow,
    ChainProblem,
    ChainRow,
    append_only_triggers,
    canonical,
    chain_hash,
    head,
    verify_chain,
)
from .headfile import ChainHead, HeadFile, check_against_head
from .table import ChainedLog, ChainedTable, ChainSpec, Row, span_filter

__all__ = [
    "GENESIS",
    "BrokenRow",
    "ChainHead",
    "ChainProblem",
    "ChainRow",
    "ChainSpec",
    "ChainedLog",
    "ChainedTable",
    "HeadFile",
    "Row",
    "append_only_triggers",
    "canonical",
    "chain_hash",
    "check_against_head",
    "head",
    "span_filter",
    "verify_chain",
]
