"""Which asyncio event loop the daemon runs on: uvloop by default, asyncio's own on request.

uvloop (libuv under asyncio's API) costs less CPU per socket read and timer
than asyncio's selector loop; at 2,000 Modbus devices polled each second the
event loop is a large share of the daemon's CPU (docs/operations.md, "Event
loop"). Everything the daemon uses works on both loops (Modbus TCP, RTU over
TCP and serial, MQTT, SMTP, HTTP, signals, threads); tests/service/
test_event_loops.py runs the real daemon on each. ``asyncio`` stays selectable
for a platform without a uvloop wheel or for ruling the loop out in a fault.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar, get_args

from monitor.errors import ConfigError
from monitor.logs import log_event

log = logging.getLogger(__name__)

LoopChoice = Literal["auto", "uvloop", "asyncio"]
CHOICES: tuple[str, ...] = get_args(LoopChoice)

T = TypeVar("T")

#: ``"name"``: the loop the daemon started on ("uvloop 0.23.0", "asyncio"), for logs and
#: metrics; absent while :func:`run` runs none.
_running: dict[str, str] = {}


def loop_factory(choice: str) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop's name and a factory for it.

    ``auto`` falls back to asyncio's loop when uvloop cannot be imported (a
    platform without a wheel); an explicit ``uvloop`` that cannot be imported is
    a configuration error, never a silent fallback.
    """
    if choice not in CHOICES:
        raise ConfigError([f"event_loop: {choice!r} is not one of {', '.join(CHOICES)}"])
    if choice == "asyncio":
        return "asyncio", asyncio.new_event_loop
    try:
        import uvloop
    except ImportError as err:
        if choice == "uvloop":
            raise ConfigError([f"event_loop: uvloop is not installed ({err}); install it "
                               "or set event_loop: asyncio"]) from err
        return "asyncio", asyncio.new_event_loop
    from importlib.metadata import version

    return f"uvloop {version('uvloop')}", uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: str, *, setting: str = "event_loop") -> T:
    """Run ``main`` to completion on the chosen loop (as :func:`asyncio.run` does).

    ``setting`` names where the choice came from, for the start-up log line.
    """
    try:
        name, factory = loop_factory(choice)
    except ConfigError:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        _running["name"] = name
        log_event(log, logging.INFO, "event loop", loop=name, choice=choice, setting=setting)
        try:
            return runner.run(main)
        finally:
            _running.pop("name", None)


def running_loop_name() -> str:
    """The loop :func:`run` started, or the type of the running loop if something else did."""
    if "name" in _running:
        return _running["name"]
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "none"
    module = type(loop).__module__.split(".", 1)[0]
    return "uvloop" if module == "uvloop" else "asyncio"
