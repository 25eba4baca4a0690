"""Auditing configuration loads: which config was in force, and what changed.

Limits, delays and device maps are GMP-relevant settings; an inspector asks
"what were the limits on that day, and who changed them when?". Every load
and reload is recorded with the config's SHA-256 and a unified diff against
the config in force before. The text of every version is kept (once per
hash) in the trail's database, so the diff at start-up is against the config
of the previous run, not against nothing.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

from .actions import Action
from .trail import SYSTEM_USER, AuditEntry, AuditTrail

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

MAX_DIFF_LINES = 5000


CONTEXT = 3  # lines around each change, as ``diff -u``


def config_diff(old_text: str, new_text: str, old_label: str, new_label: str) -> str:
    """A unified diff (``diff -u`` format, line numbers of the whole files) from old to new.

    The diff is recorded at the start, before the first poll, in the same entry
    that names the new config's hash: an inspector reading that entry sees what
    changed under which readings, with nothing recorded later or apart. So it
    has to be cheap: difflib compared every line of the files, ~0.2 s for a
    100,000-line generated site with one limit edited. Here the lines the
    versions share at their start and at their end (all of an edited file but
    the edit, usually) are set aside first, and difflib compares only what lies
    between them, plus ``CONTEXT`` lines either side; the hunks' line numbers are
    those of the whole files. Applying the diff to the old text gives the new.
    """
    a = old_text.splitlines(keepends=True)
    b = new_text.splitlines(keepends=True)
    lo, a_hi, b_hi = _changed_span(a, b)
    lines: list[str] = []
    if lo < a_hi or lo < b_hi:
        start = max(0, lo - CONTEXT)
        a_end, b_end = min(len(a), a_hi + CONTEXT), min(len(b), b_hi + CONTEXT)
        matcher = difflib.SequenceMatcher(None, a[start:a_end], b[start:b_end])
        lines = [f"--- {old_label}\n", f"+++ {new_label}\n"]
        for group in matcher.get_grouped_opcodes(CONTEXT):
            _hunk(lines, a, b, [(tag, i1 + start, i2 + start, j1 + start, j2 + start)
                                for tag, i1, i2, j1, j2 in group])
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... diff cut at {MAX_DIFF_LINES} lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _changed_span(a: list[str], b: list[str]) -> tuple[int, int, int]:
    """(lines both start with, end of the change in ``a``, end of the change in ``b``)."""
    shortest = min(len(a), len(b))
    lo = 0
    while lo < shortest and a[lo] == b[lo]:
        lo += 1
    a_hi, b_hi = len(a), len(b)
    while a_hi > lo and b_hi > lo and a[a_hi - 1] == b[b_hi - 1]:
        a_hi -= 1
        b_hi -= 1
    return lo, a_hi, b_hi


def _hunk(out: list[str], a: list[str], b: list[str],
          group: list[tuple[str, int, int, int, int]]) -> None:
    """One hunk, as ``difflib.unified_diff`` writes it."""
    first, last = group[0], group[-1]
    out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
    for tag, i1, i2, j1, j2 in group:
        if tag == "equal":
            out.extend(" " + line for line in a[i1:i2])
            continue
        if tag in ("replace", "delete"):
            out.extend("-" + line for line in a[i1:i2])
        if tag in ("replace", "insert"):
            out.extend("+" + line for line in b[j1:j2])


def _range(start: int, stop: int) -> str:
    """A hunk's range in unified-diff form (an empty range names the line before it)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def last_config_sha256(trail: AuditTrail) -> str | None:
    """The hash of the config recorded by the latest load or reload entry."""
    latest: AuditEntry | None = None
    for action in (Action.CONFIG_LOADED, Action.CONFIG_RELOADED):
        found = trail.entries(action=action)
        if found and (latest is None or found[-1].seq > latest.seq):
            latest = found[-1]
    if latest is None:
        return None
    value = latest.new_value
    return str(value["sha256"]) if isinstance(value, dict) and "sha256" in value else None


def record_config_loaded(
    loaded: LoadedConfig,
    previous: LoadedConfig | str | None = None,
    *,
    trail: AuditTrail | None = None,
    user: str = SYSTEM_USER,
    reason: str | None = None,
) -> AuditEntry:
    """Record that ``loaded`` is now in force (start-up if ``previous`` is None, else reload).

    ``previous`` is the config that was in force (a ``LoadedConfig`` or its text);
    at start-up the previous run's config is looked up in the trail. Opens
    ``<data_dir>/audit.db`` when no ``trail`` is given.
    """
    own = trail is None
    trail = trail or AuditTrail(loaded.config.data_dir)
    try:
        prev_sha: str | None
        if previous is None:
            prev_sha = last_config_sha256(trail)
            prev_text = trail.config_text(prev_sha) if prev_sha else None
        elif isinstance(previous, str):
            prev_text = previous
            prev_sha = None
        else:
            prev_text, prev_sha = previous.text, previous.sha256
        trail.store_config_text(loaded.sha256, str(loaded.path), loaded.text)
        new: dict[str, object] = {
            "sha256": loaded.sha256,
            "path": str(Path(loaded.path)),
            "devices": len(loaded.config.devices),
            "channels": len(loaded.channels),
        }
        if prev_text is None:
            new["diff"] = None
            new["note"] = "first configuration recorded in this audit trail"
        elif prev_sha == loaded.sha256:
            new["diff"] = ""
            new["note"] = "unchanged since the previous load"
        else:
            new["diff"] = config_diff(
                prev_text, loaded.text,
                f"previous ({prev_sha[:12]})" if prev_sha else "previous",
                f"{loaded.path} ({loaded.sha256[:12]})",
            )
            if not new["diff"]:
                new["note"] = "main file unchanged; included profile files changed"
        action = Action.CONFIG_LOADED if previous is None else Action.CONFIG_RELOADED
        return trail.record(
            user, action, f"config:{loaded.path}",
            old=None if prev_sha is None else {"sha256": prev_sha}, new=new, reason=reason,
        )
    finally:
        if own:
            trail.close()
