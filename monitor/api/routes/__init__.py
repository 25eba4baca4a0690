"""API routes, one module per resource; ``ROUTES`` lists them all (served and documented).

QA review (``qa``) and user administration (``users``) are used now and then,
by few people: their routes are listed here with their handlers and models
named as ``"module:attribute"``, and their modules (with the QA workflow and
excursion derivation they import) are loaded at the first request to one of
them (``Route.loaded``), not by every daemon that serves the API.
"""

from __future__ import annotations

from monitor.api.routing import Route
from monitor.users.roles import Permission

from . import alarms, health, readings, session

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
    *health.ROUTES, *session.ROUTES, *readings.ROUTES, *alarms.ROUTES, *QA_ROUTES,
    *USER_ROUTES,
)
