"""Every CLI command registers the QA commands at start-up: that must not load matplotlib.

matplotlib (with numpy) took about half a second of every ``cleanroom-monitor``
invocation, ``--help`` and ``check-config`` included, when it came in through
the report modules. Only drawing a trend needs it. A fresh interpreter is
used: this test process has long imported it.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from monitor.cli.main import build_parser
build_parser()
import monitor.qa.context, monitor.reports.generate, monitor.reports.approval
heavy = sorted(m for m in ("matplotlib", "numpy", "PIL") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_registering_commands_and_opening_qa_do_not_load_matplotlib() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "none"
