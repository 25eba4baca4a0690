"""API routes: ``ROUTES`` lists them all (served and documented), one module per resource.

Only the health routes (``/healthz``, ``/readyz``, ``/metrics``) are imported
with the table. The other resources list their routes here with their
handlers and models named as ``"module:attribute"``: a module (and the QA
workflow, excursion derivation, alarm actions... it imports) is loaded at the
first request to one of its routes (``Route.loaded``), not by every daemon
that serves the API; a daemon that is only scraped never loads them.
"""

from __future__ import annotations

from monitor.api.routing import Route
from monitor.users.roles import Permission

from . import health

_SESSION = "monitor.api.routes.session:"
SESSION_ROUTES = (
    Route("POST", "session", _SESSION + "post_session", "Log in (web session); returns the "
          "CSRF token", permission=None, body=_SESSION + "LoginBody", tag="session",
          csrf=False, responses=(201, 401, 403, 429)),
    Route("GET", "session", _SESSION + "get_session", "The logged-in user, roles and CSRF "
          "token", permission=None, tag="session", responses=(401,)),
    Route("DELETE", "session", _SESSION + "delete_session", "Log out", permission=None,
          tag="session", responses=(204,)),
    Route("POST", "password", _SESSION + "post_password", "Change one's own password (old one "
          "required)", permission=None, body=_SESSION + "PasswordBody", tag="session",
          csrf=False, responses=(401, 422, 429)),
)

_READINGS = "monitor.api.routes.readings:"
READINGS_ROUTES = (
    Route("GET", "site", _READINGS + "get_site", "Site, rooms and the configuration in force"),
    Route("GET", "locations", _READINGS + "list_locations", "Locations with state, alarm level "
          "and latest readings", query=_READINGS + "LocationsQuery"),
    Route("GET", "locations/{location}", _READINGS + "get_location", "One location"),
    Route("GET", "channels", _READINGS + "list_channels", "Channels with their latest reading "
          "and limits", query=_READINGS + "ChannelsQuery"),
    Route("GET", "channels/{device}/{channel}", _READINGS + "get_channel", "One channel"),
    Route("GET", "channels/{device}/{channel}/history", _READINGS + "get_history",
          "Readings of a channel between two times, raw or aggregated per step",
          query=_READINGS + "HistoryParams", responses=(400, 404, 503)),
)

_ALARMS = "monitor.api.routes.alarms:"
ALARMS_ROUTES = (
    Route("GET", "alarms", _ALARMS + "list_alarms", "Active, unacknowledged, shelved and "
          "suppressed alarms", query=_ALARMS + "AlarmsQuery", tag="alarms", responses=(503,)),
    Route("GET", "alarms/{alarm}", _ALARMS + "get_alarm", "One active alarm by id or point key",
          tag="alarms"),
    Route("POST", "alarms/{alarm}/acknowledge", _ALARMS + "post_ack", "Acknowledge with reason "
          "and password (electronic signature, meaning 'acknowledged')",
          permission=Permission.ACKNOWLEDGE, body=_ALARMS + "AckBody", tag="alarms",
          responses=(409,)),
    Route("POST", "alarms/{alarm}/shelve", _ALARMS + "post_shelve", "Shelve for a time (at most "
          "alarms.max_shelve)", permission=Permission.SHELVE, body=_ALARMS + "ShelveBody",
          tag="alarms", responses=(409,)),
    Route("POST", "alarms/{alarm}/unshelve", _ALARMS + "post_unshelve", "Return a shelved "
          "alarm to service", permission=Permission.SHELVE, body=_ALARMS + "UnshelveBody",
          tag="alarms", responses=(409,)),
    Route("GET", "excursions", _ALARMS + "list_excursions", "Excursions overlapping a time "
          "range", query=_ALARMS + "RangeQuery", tag="alarms"),
    Route("GET", "excursions/{excursion}", _ALARMS + "get_excursion", "One excursion (alarm "
          "id)", tag="alarms"),
    Route("GET", "location-states", _ALARMS + "list_location_states", "Current state of every "
          "location", tag="locations"),
    Route("GET", "location-state-changes", _ALARMS + "list_state_changes", "At rest / in "
          "operation changes in a time range", query=_ALARMS + "RangeQuery", tag="locations"),
    Route("POST", "locations/{location}/state", _ALARMS + "post_state", "Set a location's "
          "state by hand ('auto' releases it)", permission=Permission.LOCATION_STATE,
          body=_ALARMS + "StateBody", tag="locations", responses=(409,)),
    Route("POST", "maintenance", _ALARMS + "post_maintenance", "Maintenance (alarm suppression) "
          "on or off for a location, device or channel", permission=Permission.MAINTENANCE,
          body=_ALARMS + "MaintenanceBody", tag="locations", responses=(409,)),
)

_QA = "monitor.api.routes.qa:"
QA_ROUTES = (
    Route("GET", "qa/excursions", _QA + "list_reviews", "Excursions with their QA review "
          "status (default: awaiting review)", query=_QA + "ListQuery", tag="qa",
          responses=(503,)),
    Route("GET", "qa/excursions/{excursion}", _QA + "get_review", "One excursion with its "
          "review, comments and closing signature (verified)", tag="qa", responses=(404,)),
    Route("POST", "qa/excursions/{excursion}/review", _QA + "post_review", "Start or add to "
          "the review: root cause, impact, deviation and CAPA references, comment",
          permission=Permission.REVIEW_EXCURSION, body=_QA + "ReviewBody", tag="qa",
          responses=(404, 422)),
    Route("POST", "qa/excursions/{excursion}/comments", _QA + "post_comment", "Add a comment",
          body=_QA + "CommentBody", tag="qa", responses=(201, 404, 422)),
    Route("POST", "qa/excursions/{excursion}/close", _QA + "post_close", "Close the review "
          "with a QA electronic signature (password again; meaning 'reviewed' or 'approved')",
          permission=Permission.CLOSE_EXCURSION, body=_QA + "CloseBody", tag="qa",
          responses=(404, 422)),
)

_USERS = "monitor.api.routes.users:"
_USER = "users/{username}"
_ADMIN = Permission.MANAGE_USERS
USER_ROUTES = (
    Route("GET", "users", _USERS + "list_users", "Every account (disabled ones too) with its "
          "state", permission=_ADMIN, tag="users"),
    Route("POST", "users", _USERS + "post_user", "Create an account with a temporary password",
          permission=_ADMIN, body=_USERS + "CreateBody", tag="users", responses=(201, 422)),
    Route("GET", _USER, _USERS + "get_user", "One account", permission=_ADMIN, tag="users",
          responses=(404,)),
    Route("POST", f"{_USER}/disable", _USERS + "post_disable", "Disable an account (never "
          "deleted); ends its sessions", permission=_ADMIN, body=_USERS + "ReasonBody",
          tag="users", responses=(404, 422)),
    Route("POST", f"{_USER}/enable", _USERS + "post_enable", "Enable a disabled account",
          permission=_ADMIN, body=_USERS + "ReasonBody", tag="users", responses=(404,)),
    Route("POST", f"{_USER}/unlock", _USERS + "post_unlock", "Lift a lockout after failed "
          "logins", permission=_ADMIN, body=_USERS + "ReasonBody", tag="users",
          responses=(404,)),
    Route("POST", f"{_USER}/password", _USERS + "post_reset", "Reset the password to a "
          "temporary one (changed at next login); ends the user's sessions",
          permission=_ADMIN, body=_USERS + "ResetBody", tag="users", responses=(404, 422)),
    Route("PUT", f"{_USER}/roles", _USERS + "put_roles", "Replace an account's roles",
          permission=_ADMIN, body=_USERS + "RolesBody", tag="users", responses=(404, 422)),
)

ROUTES: tuple[Route, ...] = (
    *health.ROUTES, *SESSION_ROUTES, *READINGS_ROUTES, *ALARMS_ROUTES, *QA_ROUTES,
    *USER_ROUTES,
)
