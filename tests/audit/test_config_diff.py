"""The config diff recorded at each load: a unified diff that turns the old text into the new."""

from __future__ import annotations

import difflib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.audit.config_audit import config_diff
from monitor.audit.textdiff import _line_window, _text_window

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@\n$")


def apply(old: str, diff: str) -> str:
    """``patch`` for one file, strict: every context and removed line must match."""
    a = old.splitlines(keepends=True)
    lines = diff.splitlines(keepends=True)
    assert lines[0].startswith("--- ")
    assert lines[1].startswith("+++ ")
    out: list[str] = []
    pos = 0  # lines of a consumed
    i = 2
    while i < len(lines):
        match = HUNK.match(lines[i])
        assert match, lines[i]
        a_start, a_len = int(match[1]), int(match[2] or 1)
        b_start, b_len = int(match[3]), int(match[4] or 1)
        a_first = a_start - 1 if a_len else a_start  # an empty range names the line before
        assert a_first >= pos, "hunks overlap or go backwards"
        out.extend(a[pos:a_first])
        assert (b_start - 1 if b_len else b_start) == len(out), "new-side line number"
        pos = a_first
        i += 1
        seen_a = seen_b = 0
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][0], lines[i][1:]
            if tag in " -":
                assert a[pos] == text, f"line {pos + 1} does not match"
                pos += 1
                seen_a += 1
            if tag in " +":
                out.append(text)
                seen_b += 1
            i += 1
        assert (seen_a, seen_b) == (a_len, b_len), "hunk counts"
    out.extend(a[pos:])
    return "".join(out)


ROWS = ["{", "}", "  a: 1,", "  b: 2,", "limit: 5", "x", ""]
lines = st.lists(st.sampled_from(ROWS), max_size=60)
# other line boundaries str.splitlines knows: the diff then trims line by line
odd_lines = st.lists(st.sampled_from([*ROWS, "x\r", "\u2028y", "z\x0cw"]), max_size=40)


@st.composite
def edited(draw: st.DrawFn, rows: st.SearchStrategy[list[str]] = lines
           ) -> tuple[list[str], list[str]]:
    old = draw(rows)
    new = list(old)
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(new)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.lists(st.sampled_from(["  a: 1,", "new", "}", "limit: 6"]),
                              min_size=1, max_size=4))
        if kind == "insert" or at == len(new):
            new[at:at] = chunk
        elif kind == "delete":
            del new[at:at + len(chunk)]
        else:
            new[at:at + len(chunk)] = chunk
    return old, new


def text(rows: list[str]) -> str:
    return "".join(row + "\n" for row in rows)


def assert_diff_applies(old: str, new: str) -> None:
    """Equal texts give no diff; otherwise the diff applied to ``old`` gives ``new``."""
    diff = config_diff(old, new, "previous", "new")
    if old == new:
        assert diff == ""
    else:
        assert apply(old, diff) == new


@settings(max_examples=300, deadline=None)
@given(edited())
def test_applying_the_diff_to_the_old_text_gives_the_new(pair: tuple[list[str], list[str]]
                                                         ) -> None:
    assert_diff_applies(text(pair[0]), text(pair[1]))


@settings(max_examples=200, deadline=None)
@given(edited(), st.booleans())
def test_trimming_the_strings_sets_aside_the_lines_trimming_lines_would(
        pair: tuple[list[str], list[str]], last_newline: bool) -> None:
    old, new = text(pair[0]), text(pair[1])
    if not last_newline:  # the last line unended in both (or one) of them
        old, new = old[:-1], new[:-1]
    if old == new:
        return
    assert _text_window(old, new) == _line_window(old.splitlines(keepends=True),
                                                  new.splitlines(keepends=True))


@settings(max_examples=150, deadline=None)
@given(edited(odd_lines))
def test_other_line_boundaries_diff_line_by_line(pair: tuple[list[str], list[str]]) -> None:
    assert_diff_applies(text(pair[0]), text(pair[1]))


def test_a_large_file_with_one_edit_gives_difflibs_diff() -> None:
    rows = [f'    {{"name": "c{i}", "high_alert": {i % 97}.0}},' for i in range(100_000)]
    edited_rows = list(rows)
    edited_rows[51_234] = '    {"name": "c51234", "high_alert": 12.5},'
    del edited_rows[70_000:70_002]
    old, new = text(rows), text(edited_rows)
    diff = config_diff(old, new, "previous (abc)", "site.yaml (def)")
    assert diff == "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile="previous (abc)", tofile="site.yaml (def)"))
    assert diff.count("\n@@ ") == 2
    assert apply(old, diff) == new


def test_edits_at_the_very_start_and_end() -> None:
    old = text(["a", "b", "c", "d", "e", "f", "g", "h"])
    for new in (text(["z", "b", "c", "d", "e", "f", "g", "h"]),
                text(["a", "b", "c", "d", "e", "f", "g", "z"]),
                text(["a", "b", "c", "d", "e", "f", "g", "h", "i"]),
                text(["0", "a", "b", "c", "d", "e", "f", "g", "h"]),
                "", text(["a"])):
        diff = config_diff(old, new, "old", "new")
        assert apply(old, diff) == new
        assert diff == "".join(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile="old", tofile="new"))
    assert apply("", config_diff("", old, "old", "new")) == old
