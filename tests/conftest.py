"""Shared test set-up: every module in tests/fixtures/ is loaded as a pytest plugin.

Each real server the suite uses (Mosquitto, InfluxDB 1.x, VictoriaMetrics,
Prometheus, SMTP, the project's simulators) has its own fixture module there.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

# fixture modules import each other: have pytest rewrite their asserts whoever imports first
pytest.register_assert_rewrite("tests.fixtures")

_FIXTURES = Path(__file__).parent / "fixtures"
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__"
)

# CLEANROOM_TEST_LOOP=uvloop (or --event-loop uvloop) runs every test's event loop on uvloop, the
# daemon's default loop (monitor/eventloop.py): pytest-asyncio's loops, asyncio.run and
# asyncio.new_event_loop all take their loop from the policy. Default: asyncio's own loop.
# tests/service/test_event_loops.py runs the real daemon on both loops whatever this says.
LOOP_ENV = "CLEANROOM_TEST_LOOP"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--event-loop", choices=["asyncio", "uvloop"], default=None,
                     help=f"event loop for the tests (default: ${LOOP_ENV} or asyncio)")


def requested_loop(config: pytest.Config) -> str:
    choice = config.getoption("--event-loop") or os.environ.get(LOOP_ENV) or "asyncio"
    if choice not in ("asyncio", "uvloop"):
        raise pytest.UsageError(f"{LOOP_ENV}={choice!r}: expected asyncio or uvloop")
    return str(choice)


def pytest_configure(config: pytest.Config) -> None:
    if requested_loop(config) == "uvloop":
        try:
            import uvloop
        except ImportError as err:
            raise pytest.UsageError(f"uvloop requested for the tests but not installed: {err}"
                                    ) from err
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {requested_loop(config)} (set {LOOP_ENV} or --event-loop)"
