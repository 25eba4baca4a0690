"""What the rest of the system sees of an account: never its password hash."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.errors import AuthError

from .roles import Permission, Role, permissions_of


class PasswordChangeRequired(AuthError):
    """The password is right but expired or was set by an admin: it must be changed first."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    full_name: str  # the printed name on electronic signatures (11.50)
    roles: frozenset[Role]
    disabled: bool
    must_change_password: bool
    password_set_ns: int
    password_expires_ns: int | None
    locked_until_ns: int | None
    created_ns: int
    last_login_ns: int | None

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    def password_expired(self, now_ns: int) -> bool:
        return self.password_expires_ns is not None and now_ns >= self.password_expires_ns

    def locked(self, now_ns: int) -> bool:
        return self.locked_until_ns is not None and now_ns < self.locked_until_ns

    def public(self) -> dict[str, object]:
        """A JSON-friendly view for APIs and the audit trail."""
        return {
            "id": self.id, "username": self.username, "full_name": self.full_name,
            "roles": sorted(r.value for r in self.roles), "disabled": self.disabled,
            "must_change_password": self.must_change_password,
        }


def require(user: User, permission: Permission) -> None:
    """Raise ``AuthError`` unless ``user`` may do ``permission``."""
    if user.disabled:
        raise AuthError(f"user {user.username!r} is disabled")
    if not user.has(permission):
        roles = ", ".join(sorted(r.value for r in user.roles))
        what = permission.value.replace("_", " ")
        raise AuthError(f"user {user.username!r} ({roles}) may not {what}")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    username: str
    name: str
    created_ns: int
    expires_ns: int | None
    revoked_ns: int | None
    created_by: str

    def valid(self, now_ns: int) -> bool:
        return self.revoked_ns is None and (self.expires_ns is None or now_ns < self.expires_ns)
