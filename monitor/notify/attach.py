"""Hook the notifiers into a runtime: a pipeline event listener, a service, a closer.

``attach(runtime)`` builds one notifier per ``notify.notifiers`` entry and a
``Dispatcher``; the dispatcher listens to the pipeline's alarm events, its
workers and escalation checks run as the ``notify`` service, and its closer
gives queued notifications one last attempt at shutdown. With no notifiers
configured it does nothing, and imports nothing more: the dispatcher, its
escalation and message modules are loaded only for a site that notifies.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config.notify import NotifyConfig

    from .base import Notifier
    from .dispatcher import Dispatcher

#: built-in notifier kinds and the module that registers each; a module is imported only
#: when a notifier of its kind is configured (aiosmtplib, aiohttp, aiomqtt: ~20 MB together)
BUILTIN = {"email": "monitor.notify.email", "mqtt": "monitor.notify.mqtt",
           "webhook": "monitor.notify.webhook"}


def build_notifiers(config: NotifyConfig, *, site: str, alarms: Any = None
                    ) -> dict[str, Notifier]:
    from .base import NOTIFIERS

    for kind in {n.kind for n in config.notifiers} - NOTIFIERS.keys():
        if kind in BUILTIN:
            importlib.import_module(BUILTIN[kind])
    active = _active_source(alarms)
    return {n.name: NOTIFIERS[n.kind](n, site=site, active=active)  # type: ignore[call-arg]
            for n in config.notifiers}


def _active_source(alarms: Any) -> Any:
    """The engine's list of active alarms as dicts, if the runtime has an alarm service."""
    if alarms is None or not hasattr(alarms, "active"):
        return None

    def active() -> Sequence[Mapping[str, Any]]:
        return [a.to_json() if hasattr(a, "to_json") else dict(a) for a in alarms.active()]

    return active


def attach(runtime: Any) -> Dispatcher | None:
    config: NotifyConfig = runtime.loaded.config.notify
    if not config.notifiers:
        return None
    from .dispatcher import Dispatcher

    site = runtime.loaded.config.site.id
    notifiers = build_notifiers(config, site=site, alarms=runtime.alarms)
    dispatcher = Dispatcher(config, notifiers, site=site)
    active = _active_source(runtime.alarms)
    if active is not None:
        dispatcher.seed(active())
    runtime.pipeline.event_listeners.append(dispatcher)
    runtime.services["notify"] = dispatcher.run
    runtime.closers.append(dispatcher.close)
    runtime.extras["notify"] = dispatcher
    runtime.extras["notifiers"] = notifiers
    return dispatcher
