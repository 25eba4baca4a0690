"""The HTML report renders in Debian Chromium (headless screenshot) and prints to PDF."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from monitor.qa.context import QAContext, open_qa
from monitor.reports.build import build_report
from monitor.reports.html import render_html
from monitor.reports.pdf import html_to_pdf
from tests.fixtures.ports import require_binary
from tests.users.conftest import fast_hasher

from .conftest import PASSWORD, make_user
from .events import T0
from .scenario import END, NOW, record


@pytest.fixture
async def html(tmp_path: Path) -> Iterator[str]:  # type: ignore[misc]
    loaded = await record(tmp_path)
    with open_qa(loaded, hasher=fast_hasher()) as ctx:
        qa1 = make_user(ctx.users, "qa1", "qa", "Quentin Assurance")
        ctx.review.review(qa1, "1", root_cause="equipment", impact="minor")
        ctx.review.close("qa1", PASSWORD, "1")
        yield render_html(_report(ctx))


def _report(ctx: QAContext):  # type: ignore[no-untyped-def]
    return build_report(ctx.report_sources(), "excursions", T0, END, location=None,
                        generated_by="qa1", now_ns=NOW)


def test_screenshot_shows_the_report_and_its_plots(html: str, tmp_path: Path) -> None:
    browser = require_binary("chromium")
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-800:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None
    count = {rgb: n for n, rgb in colours}
    # the action-limit red (#c62828), the value blue (#1f4e99) and the alert orange
    # (#ef8f00) of the inline SVG plots are on the page, not just text on white
    assert count.get((0xC6, 0x28, 0x28), 0) > 200
    assert count.get((0x1F, 0x4E, 0x99), 0) > 200
    assert count.get((0xEF, 0x8F, 0x00), 0) > 100
    white = count.get((255, 255, 255), 0)
    assert white < image.size[0] * image.size[1] * 0.97


def test_pdf(html: str, tmp_path: Path) -> None:
    require_binary("chromium")
    out = tmp_path / "report.pdf"
    html_to_pdf(html, out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(data) > 10_000
