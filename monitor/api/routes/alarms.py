"""Alarm routes; filled in against the alarm engine."""

from __future__ import annotations

from monitor.api.routing import Route

ROUTES: tuple[Route, ...] = ()
