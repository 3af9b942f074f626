"""Baselines on series whose right answer is known."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.forecast.baselines import (
    RidgeAR,
    hour_of_week_profile,
    profile_forecast,
    seasonal_naive,
    week_slots,
)
from energylib.schema import interval_index


def test_seasonal_naive_repeats_the_same_interval_one_season_back():
    y = np.arange(20, dtype=float)
    f = seasonal_naive(y, np.array([9]), horizon=6, season=4)
    # steps 1..4 -> rows 6,7,8,9 (one season back); steps 5,6 -> rows 6,7 again
    assert f.tolist() == [[6, 7, 8, 9, 6, 7]]


@settings(max_examples=40, deadline=None)
@given(anchor=st.integers(0, 500), horizon=st.integers(1, 400), season=st.sampled_from([48, 336]))
def test_seasonal_naive_only_reads_rows_up_to_the_anchor(anchor, horizon, season):
    y = np.arange(1000, dtype=float)
    f = seasonal_naive(y, np.array([anchor]), horizon, season)
    used = f[np.isfinite(f)]
    assert (used <= anchor).all() and (used > anchor - season).all()


def test_seasonal_naive_is_exact_on_a_daily_periodic_series():
    t = np.arange(48 * 10)
    y = np.sin(2 * np.pi * t / 48)
    f = seasonal_naive(y, np.array([100, 200]), 48, 48)
    assert np.allclose(f, y[np.array([100, 200])[:, None] + np.arange(1, 49)])


def test_ridge_learns_a_linear_periodic_series_exactly():
    t = np.arange(48 * 30)
    y = 2 + np.sin(2 * np.pi * t / 48) + 0.5 * np.cos(4 * np.pi * t / 48)
    train = np.arange(47, 48 * 20)
    test = np.arange(48 * 20, 48 * 28)
    model = RidgeAR.fit(y, None, train, horizon=48, lags=48, alpha=1e-6)
    pred = model.predict(y, None, test)
    truth = y[test[:, None] + np.arange(1, 49)]
    assert np.abs(pred - truth).max() < 1e-4


def test_profile_baseline_recovers_an_hour_of_week_pattern():
    start = datetime(2025, 1, 5, 13, tzinfo=UTC)  # Monday 00:00 in Sydney
    times = interval_index(start, datetime(2025, 3, 2, 13, tzinfo=UTC), 30)
    slots = week_slots(pl.Series(times), "Australia/Sydney")
    assert slots[0] == 0 and slots[48] == 48 and slots.max() == 335
    y = np.cos(2 * np.pi * slots / 336) + slots / 1000
    prof = hour_of_week_profile(y, slots, (0, len(y) // 2))
    anchors = np.array([len(y) // 2 + 10])
    assert np.allclose(
        profile_forecast(prof, slots, anchors, 96), y[anchors[0] + 1 : anchors[0] + 97][None, :]
    )
