"""LagRidge: intraday price forecasts from recent lags (for MPC); AnalogScenarios: price
scenarios from its errors at similar earlier decisions (for stochastic MPC)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.forecast.intraday import AnalogScenarios, LagRidge

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


@settings(max_examples=10, deadline=None)
@given(issue=st.integers(14 * DAY, 20 * DAY - 1), seed=st.integers(0, 1000))
def test_scenarios_read_nothing_after_their_decision_interval(issue, seed):
    x, hour = prices(20, seed=1)
    changed = x.copy()
    changed[issue + 1 :] = np.random.default_rng(seed).uniform(-1, 15, x.size - issue - 1)
    got = [
        AnalogScenarios(FITTED, p, hour, history_end=10 * DAY, scenarios=5).paths(issue, 12)
        for p in (x, changed)
    ]
    np.testing.assert_array_equal(got[0], got[1])
    assert got[0].shape == (5, 12) and np.isfinite(got[0]).all()


def hot_and_calm_days(days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calm days at 0.1; hot days (one in three) at 0.5 from 08:00 and 6.0 at 17:00-18:00."""
    rng = np.random.default_rng(seed)
    hot = rng.random(days) < 1 / 3
    x = np.full((days, DAY), 0.1) + rng.normal(0, 0.01, (days, DAY))
    x[hot, 16:] = 0.5
    x[hot, 34:36] = 6.0
    t = np.arange(days * DAY)
    return x.ravel(), (t % DAY) // 2, hot


def test_scenarios_bring_the_spikes_of_similar_days_and_not_those_of_others():
    x, hour, hot = hot_and_calm_days(120)
    model = LagRidge(horizon=24, steps_per_day=DAY).fit(x[: 60 * DAY], hour[: 60 * DAY])
    sc = AnalogScenarios(model, x, hour, history_end=60 * DAY, scenarios=8)
    spiky = {True: [], False: []}
    for d in range(60, 120):
        paths = sc.paths(d * DAY + 24, 24)  # at 12:00: the spike would be 10 intervals ahead
        # at the spike's time, give or take the slot window of one interval
        spiky[bool(hot[d])].append((paths[:, 9:12].max(axis=1) > 3).mean())
    # a hot morning's scenarios carry the spike (its timing kept), a calm one's do not
    assert np.mean(spiky[True]) > 0.9 and np.mean(spiky[False]) < 0.1, spiky
