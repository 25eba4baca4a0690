"""Login attempts per client address, in a sliding window (21 CFR 11.300(d)).

The account lockout in ``monitor.users`` stops guessing one user's password;
this stops one address from trying many users. Memory stays bounded: old
attempts are dropped as the window moves, and at most ``max_keys`` addresses
are tracked (the oldest is forgotten first).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, attempts: int, window_s: float, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            if len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        now = self.clock()
        hits = self._recent(key, now)
        if len(hits) < self.attempts:
            return 0.0
        return max(0.0, hits[0] + self.window_s - now)

    def hit(self, key: str) -> None:
        """Count an attempt (every attempt counts, so success cannot reset a guesser)."""
        now = self.clock()
        self._recent(key, now).append(now)
