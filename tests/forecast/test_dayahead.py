"""Series as market days, and what is known before each day (the benchmark's information rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from energylib.forecast.dayahead import DayAheadData
from energylib.schema import interval_index


def hourly(days: int = 20, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> pl.DataFrame:
    t = interval_index(start, start + timedelta(days=days), 60)
    n = len(t)
    return pl.DataFrame(
        {
            "interval_start": t,
            "price_per_kwh": np.arange(n) / 1000.0,
            "load_forecast_mw": np.arange(n) + 0.5,
        }
    )


def test_frame_becomes_day_by_slot_arrays():
    d = DayAheadData.from_frame(hourly(), "price_per_kwh", ["load_forecast_mw"])
    assert (d.n_days, d.per_day, d.n_exog) == (20, 24, 1)
    assert d.days[0] == np.datetime64("2024-01-01")
    assert d.target[2, 5] == pytest.approx((2 * 24 + 5) / 1000)
    assert d.exog[2, 5, 0] == 2 * 24 + 5 + 0.5
    assert d.weekdays()[0] == 0  # 2024-01-01 was a Monday


def test_information_for_a_day_holds_no_target_of_that_day_or_later():
    d = DayAheadData.from_frame(hourly(), "price_per_kwh", ["load_forecast_mw"])
    view = d.information_for(10)
    assert view.n_days == 11 and view.days[-1] == d.days[10]
    assert np.isnan(view.target[-1]).all()  # the target day: unknown
    assert np.array_equal(view.target[:-1], d.target[:10])  # the days before: all known
    assert np.array_equal(view.exog[-1], d.exog[10])  # day-ahead forecasts of the day: known
    view.target[0, 0] = -1.0
    assert d.target[0, 0] != -1.0  # a copy: a model cannot write into the data


def test_local_days_follow_the_time_zone_and_a_repeated_hour_is_averaged():
    # Amsterdam leaves summer time on 2024-10-27: local 02:00-03:00 happens twice.
    start = datetime(2024, 10, 25, 22, tzinfo=UTC)  # local midnight, 26 Oct
    frame = hourly(days=3, start=start)
    d = DayAheadData.from_frame(frame, "price_per_kwh", timezone="Europe/Amsterdam")
    assert d.days[0] == np.datetime64("2024-10-26")
    assert np.isfinite(d.target[1]).all()  # 27 Oct: 25 hours folded into 24 slots
    # 00:00 UTC and 01:00 UTC on 27 Oct are both local 02:00
    t = frame["interval_start"].to_list()
    i, j = (
        t.index(datetime(2024, 10, 27, 0, tzinfo=UTC)),
        t.index(datetime(2024, 10, 27, 1, tzinfo=UTC)),
    )
    assert d.target[1, 2] == pytest.approx(
        (frame["price_per_kwh"][i] + frame["price_per_kwh"][j]) / 2
    )


def test_a_missing_hour_stays_missing_unless_single_gaps_are_filled():
    frame = hourly(days=3).filter(pl.col("interval_start") != datetime(2024, 1, 2, 5, tzinfo=UTC))
    d = DayAheadData.from_frame(frame, "price_per_kwh")
    assert np.isnan(d.target[1, 5]) and np.isfinite(d.target[1, 4])
    filled = DayAheadData.from_frame(frame, "price_per_kwh", fill_single_gaps=True)
    assert filled.target[1, 5] == pytest.approx((d.target[1, 4] + d.target[1, 6]) / 2)


def test_to_frame_round_trips():
    frame = hourly(days=4)
    d = DayAheadData.from_frame(frame, "price_per_kwh", ["load_forecast_mw"])
    assert d.to_frame().equals(frame)


def test_bad_columns_and_days_say_what_to_do():
    with pytest.raises(KeyError, match="lacks"):
        DayAheadData.from_frame(hourly(), "spot_per_kwh")
    d = DayAheadData.from_frame(hourly(), "price_per_kwh")
    with pytest.raises(KeyError, match="outside the data"):
        d.day_index("2030-01-01")
