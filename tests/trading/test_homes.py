"""Communities from real homes (CityLearn, SGSC), generated homes and the study year."""

from __future__ import annotations

import numpy as np
import pytest
from trading.cases import market_year_from

from energylib.trading.homes import (
    TRADING_BATTERY,
    Community,
    HomeMix,
    HomesError,
    assign_assets,
    citylearn_community,
    fill_from_nearby_days,
    generated_community,
    place_on_calendar,
    sgsc_community,
)


def test_place_on_calendar_matches_local_date_and_time_latest_year_wins_and_shifts_months():
    src = np.array(
        ["2016-01-05T10:00", "2017-01-05T10:00", "2016-07-05T10:00", "2016-01-05T10:30"],
        dtype="datetime64[m]",
    )
    values = np.array([1.0, 2.0, 3.0, 4.0])
    tgt = np.array(
        ["2025-01-05T10:00", "2025-01-05T10:30", "2025-01-06T10:00"], dtype="datetime64[m]"
    )
    np.testing.assert_array_equal(place_on_calendar(values, src, tgt), [2.0, 4.0, np.nan])
    # six months on, July's reading lands in January
    assert place_on_calendar(values, src, tgt, shift_months=6)[0] == 3.0


def test_fill_from_nearby_days_takes_the_same_time_a_day_before_then_after():
    x = np.array([1.0, 2.0, np.nan, np.nan, 5.0, 6.0])  # 2 intervals a day
    filled, n = fill_from_nearby_days(x, 2, max_days=2)
    np.testing.assert_array_equal(filled, [1.0, 2.0, 1.0, 2.0, 5.0, 6.0])
    assert n == 2
    gap = np.array([np.nan, np.nan, np.nan, np.nan])
    assert np.isnan(fill_from_nearby_days(gap, 2)[0]).all()


def test_assignment_is_seeded_per_home_whatever_the_community_size():
    mix = HomeMix(pv_share=0.5, battery_share=0.5)
    a = assign_assets(10, mix, seed=4)
    assert assign_assets(4, mix, seed=4, first=6) == a[6:]
    assert assign_assets(10, mix, seed=5) != a
    assert all(x.pv_kwdc == 0 or mix.pv_kwdc_min <= x.pv_kwdc <= mix.pv_kwdc_max for x in a)


def test_citylearn_homes_keep_their_measured_energy_and_battery_specs(shared_data, nem_full_year):
    year = nem_full_year
    c = citylearn_community(shared_data / "citylearn_2022", year, shift_months=6)
    assert c.n_homes == 17 and c.load_kwh.shape == (len(year), 17)
    from energylib.ingest.households import read_citylearn_buildings

    data, meta = read_citylearn_buildings(shared_data / "citylearn_2022")[0]
    # a year placed on a year: the annual total within the few filled days
    assert c.load_kwh[:, 0].sum() == pytest.approx(data["total_kwh"].sum(), rel=0.02)
    assert c.pv_kwh[:, 0].sum() == pytest.approx(data["pv_kwh"].sum(), rel=0.02)
    b = c.batteries[0]
    assert (b.capacity_kwh, b.discharge_kw) == (meta.extra["battery_kwh"], meta.extra["battery_kw"])
    assert (b.round_trip_efficiency, b.soc_max_fraction) == (0.90, 0.80)  # the trading design's
    assert c.filled_share.max() < 0.05
    # shifted six months: California's July peak of PV lands in Sydney's January
    jan = c.year.cal.local_month == np.datetime64("2025-01")
    jul = c.year.cal.local_month == np.datetime64("2025-07")
    assert c.pv_kwh[jan].sum() > c.pv_kwh[jul].sum()


def test_sgsc_homes_get_modelled_pv_and_seeded_batteries(shared_data, nem_year):
    mix = HomeMix(pv_share=0.5, battery_share=0.5)
    c = sgsc_community(shared_data / "sgsc_households", nem_year, count=8, mix=mix, seed=2)
    assert c.n_homes == 8 and all(n.startswith("sgsc-") for n in c.names)
    draws = assign_assets(8, mix, seed=2)
    for h, a in enumerate(draws):
        np.testing.assert_allclose(c.pv_kwh[:, h], nem_year.pv_kwh_per_kwdc * a.pv_kwdc)
        assert (c.batteries[h] is not None) == a.battery
    assert (c.load_kwh.sum(axis=0) > 0).all()


def test_generated_homes_are_the_same_however_the_community_is_cut(nem_year):
    short = nem_year.window(0, 2)
    whole = generated_community(4, short, seed=9)
    tail = generated_community(2, short, seed=9, first=2)
    np.testing.assert_array_equal(whole.load_kwh[:, 2:], tail.load_kwh)
    np.testing.assert_array_equal(whole.pv_kwh[:, 2:], tail.pv_kwh)
    assert whole.names[2:] == tail.names
    assert whole.subset([2, 3]).names == tail.names


def test_a_community_refuses_missing_or_negative_energy_naming_the_home():
    year = market_year_from(np.full(4, 0.2), np.full(4, 0.05), 30)
    load = np.ones((4, 2))
    load[2, 1] = np.nan
    with pytest.raises(HomesError, match="home 'b'"):
        Community(year, ("a", "b"), load, np.zeros((4, 2)), (TRADING_BATTERY, None))
    with pytest.raises(HomesError, match=r"expected \(4 intervals, 2 homes\)"):
        Community(year, ("a", "b"), np.ones((3, 2)), np.zeros((4, 2)), (None, None))


def test_window_and_fixed_charges(nem_year):
    w = nem_year.window(2, 3)
    assert len(w) == 3 * 48
    assert w.cal.interval_start[0] == nem_year.cal.interval_start[96]
    # Amber: 1.10 a day and 25 a month, pro rata
    assert w.fixed_charges() == pytest.approx(3 * 1.10 + 3 / 31 * 25.0, rel=1e-6)
    with pytest.raises(ValueError, match="outside the year"):
        nem_year.window(400, 1)
