"""Notifier libraries are imported only for the notifier kinds a configuration uses."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from monitor.config.notify import NotifyConfig
from monitor.notify.attach import build_notifiers
assert "aiosmtplib" not in sys.modules, "aiosmtplib imported without an email notifier"
assert "monitor.notify.webhook" not in sys.modules
config = NotifyConfig.model_validate({"notifiers": [
    {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": 2525,
     "sender": "monitor@example.com", "recipients": ["qa@example.com"]}]})
notifiers = build_notifiers(config, site="s")
assert type(notifiers["mail"]).__module__ == "monitor.notify.email"
assert "aiosmtplib" in sys.modules
assert "monitor.notify.webhook" not in sys.modules
print("ok")
"""


def test_notifier_modules_are_imported_when_configured() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
