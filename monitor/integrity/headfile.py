"""The head of a hash chain kept outside its database.

A hash chain proves that no entry inside it was altered, removed or inserted,
but not that the newest entries (or the whole file) were not cut off: a
shorter chain is still a valid chain. So the head (last seq and hash) is
written to a sidecar file next to the database after every append and
published elsewhere (log, sinks; ``monitor.audit.head.publish_heads``).
Verification compares the database with the last head seen: a database that
ends before it, or whose entry at the head's seq has another hash, has been
truncated or rewritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from monitor.errors import StoreError

from .chain import ChainProblem


@dataclass(frozen=True)
class ChainHead:
    """The last entry of a chain at one moment: what an outside observer keeps."""

    chain: str  # "audit", "alarm_events", "qa_review"
    seq: int
    hash: str
    ts_ns: int  # UTC, host clock, when the head was read


class HeadFile:
    """A sidecar JSON file holding the highest head ever published for one chain.

    Writes are atomic (temp file + rename) and never move the head backwards, so
    a process appending to a restored or truncated database cannot overwrite
    the evidence that entries existed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> ChainHead | None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise StoreError(f"{self.path}: unreadable chain head file: {err}") from err
        try:
            return ChainHead(str(doc["chain"]), int(doc["seq"]), str(doc["hash"]),
                             int(doc["ts_ns"]))
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(f"{self.path}: malformed chain head file: {err}") from err

    def write(self, head: ChainHead) -> bool:
        """Record ``head`` unless a later one is already recorded; True if written."""
        try:
            with self._locked():
                current = self.read()
                if current is not None and current.seq >= head.seq:
                    return False
                tmp = self.path.with_name(self.path.name + ".tmp")
                with open(tmp, "w", encoding="utf-8") as out:
                    json.dump(asdict(head), out, sort_keys=True)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
                _fsync_dir(self.path.parent)
                return True
        except OSError as err:
            raise StoreError(f"{self.path}: cannot write chain head: {err}") from err

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The daemon and a CLI command may append to the same chain at once.
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_against_head(
    published: ChainHead | None, hash_at: Callable[[int], str | None], db_seq: int,
    *, entries_exist: bool,
) -> ChainProblem | None:
    """Compare a chain's database with its last published head.

    ``hash_at(seq)`` returns the database's hash of entry ``seq`` (None if absent).
    """
    if published is None:
        if entries_exist:
            return ChainProblem(db_seq, "the chain head file is missing: truncation of the "
                                "newest entries could not be ruled out")
        return None
    if published.seq > db_seq:
        return ChainProblem(
            db_seq + 1,
            f"missing: the published head is entry {published.seq} but the database ends at "
            f"entry {db_seq} (truncated or replaced by an older copy)",
        )
    if published.seq == 0:
        return None
    actual = hash_at(published.seq)
    if actual != published.hash:
        return ChainProblem(
            published.seq,
            f"does not match the published head (hash {published.hash[:16]}…): the chain "
            "was rewritten",
        )
    return None
