"""Per-address login throttling, in memory: the first brake on password guessing.

Per-account lockout (in the user store) stops guessing one account's password;
this stops one address from trying many accounts. It lives in memory: a
restart clears it, which is acceptable because the account lockouts persist.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from monitor.errors import AuthError
from monitor.model import utc_now_ns


class LoginThrottle:
    def __init__(self, max_failures: int, window_s: float,
                 clock: Callable[[], int] = utc_now_ns) -> None:
        self.max_failures = max_failures
        self.window_ns = int(window_s * 1e9)
        self.clock = clock
        self._failures: dict[str, deque[int]] = {}

    def check(self, source: str) -> None:
        """Raise ``AuthError`` if ``source`` failed too often within the window."""
        times = self._recent(source)
        if len(times) >= self.max_failures:
            wait = max(1, (times[0] + self.window_ns - self.clock()) // 1_000_000_000)
            raise AuthError(f"too many failed logins from {source}; try again in {wait} s")

    def failed(self, source: str) -> None:
        self._recent(source).append(self.clock())
        if len(self._failures) > 10_000:  # bound memory under a spray from many addresses
            for key in [k for k, v in self._failures.items() if not v][:5000]:
                del self._failures[key]

    def succeeded(self, source: str) -> None:
        self._failures.pop(source, None)

    def _recent(self, source: str) -> deque[int]:
        times = self._failures.setdefault(source, deque())
        cutoff = self.clock() - self.window_ns
        while times and times[0] <= cutoff:
            times.popleft()
        return times
