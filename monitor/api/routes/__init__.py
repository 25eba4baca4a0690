"""API routes, one module per resource; ``ROUTES`` lists them all (served and documented)."""

from __future__ import annotations

from monitor.api.routing import Route

from . import alarms, health, qa, readings, session, users

ROUTES: tuple[Route, ...] = (
    *health.ROUTES, *session.ROUTES, *readings.ROUTES, *alarms.ROUTES, *qa.ROUTES,
    *users.ROUTES,
)
