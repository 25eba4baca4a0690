"""Password and lockout rules (21 CFR 11.300), set per site in the config's ``users:`` section.

11.300 asks that id/password pairs stay unique (user names are never reused:
accounts are disabled, never deleted), that passwords are periodically
revised (``max_age``), and that attempts at unauthorised use are prevented and
reported (``lockout_attempts`` failures lock the account for
``lockout_duration``, and every failure is audited). Length matters more than
composition (NIST SP 800-63B), so the rules are: a minimum length, a modest
mix of character classes, no user name inside, not a well-known password,
and none of the last ``history`` passwords.
The rules themselves are configuration (``monitor.config.users.UserPolicy``).
"""

from __future__ import annotations

from monitor.config.users import UserPolicy

__all__ = ["UserPolicy", "password_problems"]

_COMMON = frozenset({
    "password", "password1", "password123", "passw0rd", "p@ssw0rd", "p@ssword1", "welcome1",
    "welcome123", "qwerty123", "qwertyuiop", "1234567890", "123456789", "12345678",
    "letmein123", "iloveyou", "admin123", "administrator", "changeme", "changeme123",
    "cleanroom", "cleanroom1", "cleanroom123", "monitor123", "sunshine1", "football1",
    "trustno1", "abc123456", "abcd1234", "1q2w3e4r", "1qaz2wsx", "zaq12wsx", "qazwsxedc",
})


def password_problems(password: str, username: str, full_name: str,
                      policy: UserPolicy) -> list[str]:
    """Every rule the password breaks (empty when acceptable); never echoes the password."""
    problems: list[str] = []
    if len(password) < policy.min_length:
        problems.append(f"shorter than {policy.min_length} characters")
    classes = sum((
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ))
    if classes < policy.min_classes:
        problems.append(f"uses {classes} of the {policy.min_classes} character classes needed "
                        "(lower case, upper case, digits, others)")
    lowered = password.lower()
    if username and username.lower() in lowered:
        problems.append("contains the user name")
    for part in full_name.lower().split():
        if len(part) >= 4 and part in lowered:
            problems.append("contains part of the user's name")
            break
    if lowered in _COMMON or lowered.rstrip("!.1") in _COMMON:
        problems.append("is a well-known password")
    if password and len(set(password)) <= 2:
        problems.append("repeats one or two characters")
    if password != password.strip():
        problems.append("starts or ends with white space")
    return problems
