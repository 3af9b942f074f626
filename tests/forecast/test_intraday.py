"""LagRidge: intraday price forecasts from recent lags (for MPC)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.forecast.intraday import LagRidge

DAY = 48


def prices(days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A daily shape, AR(1) noise and rare spikes that last a few intervals [AUD/kWh]."""
    rng = np.random.default_rng(seed)
    n = days * DAY
    t = np.arange(n)
    noise = np.zeros(n)
    for k in range(1, n):
        noise[k] = 0.95 * noise[k - 1] + rng.normal(0, 0.03)
    x = 0.1 + 0.08 * np.sin(2 * np.pi * (t % DAY) / DAY - 1) + noise
    for s in rng.choice(n - 4, size=days // 5, replace=False):
        x[s : s + 4] += rng.uniform(2, 10)
    return x, (t % DAY) // 2


FITTED = LagRidge(horizon=12, steps_per_day=DAY).fit(*prices(40))


@settings(max_examples=15, deadline=None)
@given(issue=st.integers(8 * DAY, 20 * DAY - 1), seed=st.integers(0, 1000))
def test_a_forecast_reads_nothing_after_its_decision_interval(issue, seed):
    x, hour = prices(20, seed=1)
    before = FITTED.table(x, hour, np.array([issue]))
    changed = x.copy()
    changed[issue + 1 :] = np.random.default_rng(seed).uniform(-1, 15, x.size - issue - 1)
    np.testing.assert_array_equal(FITTED.table(changed, hour, np.array([issue])), before)
    assert np.isfinite(before).all()


def test_it_beats_yesterdays_price_at_every_step_ahead():
    x, hour = prices(30, seed=2)
    issues = np.arange(10 * DAY, x.size - 12)
    table = FITTED.table(x, hour, issues)
    actual = x[issues[:, None] + np.arange(12)]
    yesterday = x[issues[:, None] + np.arange(12) - DAY]
    # a conditional mean: judged by squared error (spikes included)
    rmse = np.sqrt(((table - actual) ** 2).mean(axis=0))
    assert (rmse < 0.95 * np.sqrt(((yesterday - actual) ** 2).mean(axis=0))).all()
    # away from spikes, the recent prices track the next hour far better than yesterday's
    calm = (actual < 1).all(axis=1) & (yesterday < 1).all(axis=1)
    r, r_y = (np.corrcoef(f[calm, 1], actual[calm, 1])[0, 1] for f in (table, yesterday))
    assert r > 0.6 and r > r_y + 0.2, (r, r_y)


def test_too_little_history_and_an_unfitted_model_say_what_to_give():
    x, hour = prices(5)
    with pytest.raises(ValueError, match="at least 9 days of prices"):
        LagRidge(horizon=4, steps_per_day=DAY).fit(x, hour)
    with pytest.raises(ValueError, match="before fit"):
        LagRidge(horizon=4, steps_per_day=DAY).table(x, hour, np.arange(3))
