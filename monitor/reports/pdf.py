"""PDF copies of the HTML report, printed by headless Chromium (Debian ``chromium``).

Chromium is maintained, already on the machines that view the web page, and
prints the same HTML the archive holds, so the PDF cannot drift from it. A
missing browser is a clear error, never a silent skip.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from monitor.errors import MonitorError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise MonitorError("PDF output needs Chromium (apt install chromium); "
                       "HTML output does not")


def html_to_pdf(html: str, out: Path, *, timeout: float = 60.0) -> None:
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="cm-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        try:
            done = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu",
                 f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
                 f"--print-to-pdf={out}", page.as_uri()],
                capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise MonitorError(f"Chromium could not print the report: {err}") from err
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise MonitorError("Chromium could not print the report: "
                           + done.stderr.decode(errors="replace")[-500:])
