"""Shared test set-up: every module in tests/fixtures/ is loaded as a pytest plugin.

Each real server the suite uses (Mosquitto, InfluxDB 1.x, VictoriaMetrics,
Prometheus, SMTP, the project's simulators) has its own fixture module there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# fixture modules import each other: have pytest rewrite their asserts whoever imports first
pytest.register_assert_rewrite("tests.fixtures")

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__"
)
