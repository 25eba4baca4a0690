"""The names of audited actions, so that every component writes the same words.

An inspector filters the trail by action; a typo in one call site would hide
its entries from that filter. Components may still record an action not listed
here (the column is free text), but the common ones are named once, here.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # configuration
    CONFIG_LOADED = "config.loaded"
    CONFIG_RELOADED = "config.reloaded"
    CONFIG_RELOAD_REFUSED = "config.reload_refused"
    LIMITS_CHANGED = "limits.changed"
    # sessions and logins
    LOGIN = "user.login"
    LOGIN_FAILED = "user.login_failed"
    LOGOUT = "user.logout"
    TOKEN_USED_INVALID = "token.rejected"
    # user management
    USER_ADDED = "user.added"
    PASSWORD_CHANGED = "user.password_changed"
    PASSWORD_REFUSED = "user.password_refused"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_LOCKED = "user.locked"
    USER_UNLOCKED = "user.unlocked"
    ROLES_CHANGED = "user.roles_changed"
    TOKEN_ISSUED = "token.issued"
    TOKEN_REVOKED = "token.revoked"
    # electronic signatures
    SIGNATURE_APPLIED = "signature.applied"
    SIGNATURE_FAILED = "signature.failed"
    SIGNATURE_REFUSED = "signature.refused"
    # alarms, locations, maintenance
    ALARM_ACKNOWLEDGED = "alarm.acknowledged"
    ALARM_SHELVED = "alarm.shelved"
    ALARM_UNSHELVED = "alarm.unshelved"
    LOCATION_STATE_CHANGED = "location.state_changed"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_ENDED = "maintenance.ended"
    CALIBRATION_OVERDUE = "calibration.overdue"
    CALIBRATION_DUE_SOON = "calibration.due_soon"
    # QA
    REVIEW_STARTED = "excursion.review_started"
    REVIEW_UPDATED = "excursion.review_updated"
    REVIEW_COMMENTED = "excursion.commented"
    REVIEW_CLOSED = "excursion.closed"
    REPORT_GENERATED = "report.generated"
    REPORT_REFUSED = "report.refused"
    # the trail itself
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_EXPORTED = "audit.exported"
