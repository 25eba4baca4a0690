"""Roles and what each may do.

The roles follow the people of a GMP site: operators acknowledge alarms on
shift; engineers own configuration, maintenance mode and shelving; QA reviews
and signs off excursions, approves reports and reads the audit trail; admins
manage accounts. Admins deliberately get no QA or operator rights (segregation
of duties: whoever creates accounts cannot also sign GMP records with them).
A person who needs two roles is given both.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from monitor.errors import MonitorError


class RoleError(MonitorError, ValueError):
    """A role name that does not exist, or no role at all."""


class Role(StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    QA = "qa"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW = "view"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    MAINTENANCE = "maintenance"
    LOCATION_STATE = "location_state"
    CONFIGURE = "configure"
    REVIEW_EXCURSION = "review_excursion"
    CLOSE_EXCURSION = "close_excursion"
    GENERATE_REPORT = "generate_report"
    APPROVE_REPORT = "approve_report"
    READ_AUDIT = "read_audit"
    MANAGE_USERS = "manage_users"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({P.VIEW, P.ACKNOWLEDGE}),
    Role.ENGINEER: frozenset({P.VIEW, P.ACKNOWLEDGE, P.SHELVE, P.MAINTENANCE, P.LOCATION_STATE,
                              P.CONFIGURE}),
    Role.QA: frozenset({P.VIEW, P.ACKNOWLEDGE, P.REVIEW_EXCURSION, P.CLOSE_EXCURSION,
                        P.GENERATE_REPORT, P.APPROVE_REPORT, P.READ_AUDIT}),
    Role.ADMIN: frozenset({P.VIEW, P.MANAGE_USERS, P.READ_AUDIT}),
}


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    out: set[Permission] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS[role]
    return frozenset(out)


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Roles from text (``"qa"``, ``"qa,engineer"``); unknown names raise RoleError."""
    roles: set[Role] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                roles.add(Role(name))
            except ValueError:
                known = ", ".join(r.value for r in Role)
                raise RoleError(f"unknown role {name!r} (known: {known})") from None
    if not roles:
        raise RoleError("a user needs at least one role")
    return frozenset(roles)
