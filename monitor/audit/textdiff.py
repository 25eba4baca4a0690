"""A unified diff of two versions of a large text that differ in a few places.

difflib compares every line of both texts: ~0.2 s for a 100,000-line config
with one limit edited, and the config diff is recorded before the first poll
(monitor/audit/config_audit.py). Here what the versions share at their start
and at their end is set aside first, found by comparing the strings a block
at a time (no list of lines is made of it), and difflib compares only the
lines between, plus ``CONTEXT`` lines either side. The output is what
``difflib.unified_diff`` writes, with the line numbers of the whole texts.

Lines are ended by ``\\n`` in that search; a text holding any other line
boundary that ``str.splitlines`` knows (``\\r``, form feed, ``\\u2028`` ...) is
split into lines first and trimmed line by line instead (slower, same output).
"""

from __future__ import annotations

import difflib

CONTEXT = 3  # lines around each change, as ``diff -u``
_BLOCK = 4096
_OTHER_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_OTHER_BREAKS_WIDE = ("\x85", "\u2028", "\u2029")

Window = tuple[int, list[str], list[str]]
"""(lines before the window, the old text's lines in it, the new text's lines in it)."""


def unified_diff(old_text: str, new_text: str, old_label: str, new_label: str) -> list[str]:
    """The lines of a unified diff from ``old_text`` to ``new_text``; none if they are equal."""
    if old_text == new_text:
        return []
    if _plain(old_text) and _plain(new_text):
        offset, a, b = _text_window(old_text, new_text)
    else:
        offset, a, b = _line_window(old_text.splitlines(keepends=True),
                                    new_text.splitlines(keepends=True))
    out = [f"--- {old_label}\n", f"+++ {new_label}\n"]
    for group in difflib.SequenceMatcher(None, a, b).get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1] + offset, last[2] + offset)} "
                   f"+{_range(first[3] + offset, last[4] + offset)} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                out.extend("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                out.extend("+" + line for line in b[j1:j2])
    return out if len(out) > 2 else []


def _plain(text: str) -> bool:
    """True when ``\\n`` is the only line boundary ``str.splitlines`` would see."""
    if any(c in text for c in _OTHER_BREAKS):
        return False
    return text.isascii() or not any(c in text for c in _OTHER_BREAKS_WIDE)


def _text_window(old: str, new: str) -> Window:
    start = _common_prefix(old, new)
    start = old.rfind("\n", 0, start) + 1  # back to the start of its line, in both
    shift = len(new) - len(old)
    end = len(old) - _common_suffix(old, new, min(len(old), len(new)) - start)
    # forward to a line start in both (it may be one in only one of them before the suffix)
    while end < len(old) and not (_line_start(old, end) and _line_start(new, end + shift)):
        found = old.find("\n", end)
        end = len(old) if found < 0 else found + 1
    before = start
    for _ in range(CONTEXT):
        if before == 0:
            break
        before = old.rfind("\n", 0, before - 1) + 1
    after = end
    for _ in range(CONTEXT):
        if after >= len(old):
            break
        found = old.find("\n", after)
        after = len(old) if found < 0 else found + 1
    head = old[before:start].splitlines(keepends=True)
    tail = old[end:after].splitlines(keepends=True)
    return (old.count("\n", 0, before),
            [*head, *old[start:end].splitlines(keepends=True), *tail],
            [*head, *new[start:end + shift].splitlines(keepends=True), *tail])


def _line_start(text: str, i: int) -> bool:
    return i == 0 or text[i - 1] == "\n"


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[i:i + _BLOCK] == b[i:i + _BLOCK]:
        i += _BLOCK
    i = min(i, limit)
    while i < limit and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str, limit: int) -> int:
    """How many characters ``a`` and ``b`` end with in common, at most ``limit``."""
    k = 0
    while k < limit:
        step = min(_BLOCK, limit - k)
        if a[len(a) - k - step:len(a) - k] != b[len(b) - k - step:len(b) - k]:
            break
        k += step
    else:
        return limit
    while k < limit and a[len(a) - 1 - k] == b[len(b) - 1 - k]:
        k += 1
    return k


def _line_window(a: list[str], b: list[str]) -> Window:
    shortest = min(len(a), len(b))
    lo = 0
    while lo < shortest and a[lo] == b[lo]:
        lo += 1
    a_hi, b_hi = len(a), len(b)
    while a_hi > lo and b_hi > lo and a[a_hi - 1] == b[b_hi - 1]:
        a_hi -= 1
        b_hi -= 1
    start = max(0, lo - CONTEXT)
    return (start, a[start:min(len(a), a_hi + CONTEXT)], b[start:min(len(b), b_hi + CONTEXT)])


def _range(start: int, stop: int) -> str:
    """A hunk's range in unified-diff form (an empty range names the line before it)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"
