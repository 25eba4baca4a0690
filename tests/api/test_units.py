"""Sessions, the login limiter and chart scaling, with fake clocks (no server needed)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.api.ratelimit import SlidingWindowLimiter
from monitor.api.sessions import SessionStore
from monitor.api.web.charts import nice_ticks, trend_svg
from monitor.api.web.render import esc

S = 1_000_000_000


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def ns(self) -> int:
        return int(self.now * S)

    def s(self) -> float:
        return self.now


def test_sessions_expire_when_idle_and_absolutely(tmp_path: Path) -> None:
    clock = Clock()
    store = SessionStore(tmp_path, idle_s=60, max_s=300, clock=clock.ns)
    cookie, session = store.create("olivia", "127.0.0.1")
    assert store.get(cookie) == session
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok(session.csrf[:-1])
    for _ in range(5):  # activity keeps it alive past the idle time...
        clock.now += 50
        assert store.get(cookie) is not None
    clock.now += 51  # ...but not past the absolute limit (301 s)
    assert store.get(cookie) is None
    cookie, _ = store.create("olivia", "127.0.0.1")
    clock.now += 61
    assert store.get(cookie) is None
    store.close()


def test_sessions_store_only_hashes_and_survive_reopen(tmp_path: Path) -> None:
    clock = Clock()
    store = SessionStore(tmp_path, idle_s=60, max_s=300, clock=clock.ns)
    cookie, _ = store.create("erik", "10.0.0.5")
    other, _ = store.create("erik", "10.0.0.6")
    store.close()
    assert cookie.encode() not in (tmp_path / "sessions.db").read_bytes()
    assert (tmp_path / "sessions.db").stat().st_mode & 0o077 == 0
    reopened = SessionStore(tmp_path, idle_s=60, max_s=300, clock=clock.ns)
    assert reopened.get(cookie) is not None
    assert reopened.revoke_user("erik") == 2
    assert reopened.get(other) is None
    assert reopened.get("made-up") is None
    reopened.close()


def test_limiter_counts_every_attempt_in_a_sliding_window() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60, clock=clock.s)
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.hit("a")
        clock.now += 10
    assert limiter.retry_after("a") == 30  # the first attempt leaves the window in 30 s
    assert limiter.retry_after("b") == 0  # addresses are independent
    clock.now += 30
    assert limiter.retry_after("a") == 0


def test_limiter_memory_is_bounded() -> None:
    limiter = SlidingWindowLimiter(1, 60, max_keys=100, clock=Clock().s)
    for i in range(1000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._hits) <= 100


@settings(max_examples=200)
@given(st.floats(-1e7, 1e7), st.floats(0, 1e7))
def test_ticks_cover_the_range(low: float, span: float) -> None:
    ticks = nice_ticks(low, low + span)
    assert ticks == sorted(ticks)
    assert ticks[0] <= low
    assert ticks[-1] >= low + span - abs(low + span) * 1e-9 - 1e-9
    assert 2 <= len(ticks) <= 12


def test_chart_breaks_the_line_at_missing_data_and_escapes_text() -> None:
    start = 1_700_000_000 * S
    points = [{"ts_ns": start + i * 60 * S, "mean": 10.0 + i, "min": 9.0 + i, "max": 11.0 + i,
               "good": 1, "count": 1} for i in range(5)]
    points[2] = {**points[2], "mean": None, "min": None, "max": None, "good": 0}
    svg = trend_svg(points, start_ns=start, end_ns=start + 300 * S, unit="<Pa>",
                    limits={"low_action": 10.0, "high_alert": 14.0}, title='a "b" <c>')
    assert svg.count('class="series"') == 2  # two runs around the gap
    assert 'class="gap"' in svg
    assert "limit-action" in svg
    assert "limit-alert" in svg
    assert "<Pa>" not in svg
    assert esc("<Pa>") in svg
    assert '"b"' not in svg
