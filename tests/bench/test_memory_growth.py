"""The memory benchmark's growth estimate (bench/memory.py): robust to a scrape's transient,
not blind to a leak."""

from __future__ import annotations

import math

from bench.memory import slope_mb_per_hour


def flat_run(seconds: int = 300, every: int = 5) -> list[tuple[float, float]]:
    return [(float(t), 99.5) for t in range(0, seconds + 1, every)]


def test_a_flat_run_with_scrape_transients_and_trim_dips_is_flat() -> None:
    samples = flat_run()
    for i, (t, m) in enumerate(samples):
        if i % 3 == 1:
            samples[i] = (t, m + 3.0)  # a /metrics scrape being encoded
        elif i % 7 == 2:
            samples[i] = (t, m - 1.5)  # the trim right after one
    assert slope_mb_per_hour(samples, 60.0) == 0.0


def test_a_leak_shows_in_full_despite_transients() -> None:
    leak_mb_per_h = 12.0
    samples = [(t, m + leak_mb_per_h * t / 3600.0) for t, m in flat_run()]
    samples[20] = (samples[20][0], samples[20][1] + 3.0)
    samples[41] = (samples[41][0], samples[41][1] - 2.0)
    assert math.isclose(slope_mb_per_hour(samples, 60.0), leak_mb_per_h, rel_tol=1e-6)


def test_start_up_growth_before_settling_is_not_counted() -> None:
    samples = [(t, 90.0 + min(t, 55.0) * 0.2) for t, _ in flat_run(120)]
    assert slope_mb_per_hour(samples, 60.0) == 0.0
    assert slope_mb_per_hour(samples, 0.0) > 100.0  # the start's allocation, counted


def test_too_few_samples_give_nan() -> None:
    assert math.isnan(slope_mb_per_hour([(0.0, 99.0), (70.0, 99.0)], 60.0))
