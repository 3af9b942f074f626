"""NEM and Dutch price models: calibration of the generated 2025 NEM year against VIC1 2025."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.simulate import prices as P


@pytest.fixture(scope="module")
def nem_stats(nem_year):
    frame, _ = nem_year["prices/general"]
    spot_mwh = frame["spot_per_kwh"].to_numpy() * 1000.0
    index = pd.DatetimeIndex(frame["interval_start"].to_pandas())
    return P.nem_statistics(spot_mwh, index), spot_mwh, frame


def test_year_has_every_five_minute_interval(nem_stats):
    _, spot, _ = nem_stats
    assert len(spot) == 105_120


def test_mean_median_std_match_vic1(nem_stats):
    s, _, _ = nem_stats
    t, b = P.NEM_TARGETS, P.NEM_BOUNDS
    assert abs(s["mean"] - t["mean"]) <= b["mean_rel"] * t["mean"], s["mean"]
    assert abs(s["median"] - t["median"]) <= b["median_abs"], s["median"]
    assert abs(s["std"] - t["std"]) <= b["std_rel"] * t["std"], s["std"]


def test_negative_share_matches_vic1(nem_stats):
    s, _, _ = nem_stats
    assert (
        abs(s["negative_share"] - P.NEM_TARGETS["negative_share"])
        <= P.NEM_BOUNDS["negative_share_abs"]
    )


@pytest.mark.parametrize("q", [1, 5, 25, 75, 95, 99])
def test_percentiles_match_vic1(nem_stats, q):
    s, _, _ = nem_stats
    assert abs(s[f"p{q}"] - P.NEM_TARGETS[f"p{q}"]) <= P.NEM_BOUNDS["percentile_abs"], s[f"p{q}"]


@pytest.mark.parametrize("level", [300, 1000, 10000])
def test_spike_counts_match_vic1(nem_stats, level):
    s, _, _ = nem_stats
    target = P.NEM_TARGETS[f"count_above_{level}"]
    assert abs(s[f"count_above_{level}"] - target) <= P.NEM_BOUNDS["count_rel"] * target, s[
        f"count_above_{level}"
    ]


def test_hourly_medians_match_vic1(nem_stats):
    s, _, _ = nem_stats
    for hour, target in P.NEM_HOUR_MEDIAN.items():
        assert abs(s["hour_median"][hour] - target) <= P.NEM_BOUNDS["hour_median_abs"], (
            hour,
            s["hour_median"][hour],
        )


def test_negative_share_by_hour_matches_vic1(nem_stats):
    s, _, _ = nem_stats
    for hour, target in P.NEM_HOUR_NEGATIVE_SHARE.items():
        got = s["hour_negative_share"][hour]
        assert abs(got - target) <= P.NEM_BOUNDS["negative_share_abs"], (hour, got)


def test_monthly_means_match_vic1_with_june_spike_month(nem_stats):
    s, _, _ = nem_stats
    for month, target in P.NEM_MONTH_MEAN.items():
        tol = max(P.NEM_BOUNDS["month_mean_rel"] * target, P.NEM_BOUNDS["month_mean_abs"])
        assert abs(s["month_mean"][month] - target) <= tol, (month, s["month_mean"][month])
    assert s["month_mean"][6] == max(s["month_mean"].values())


def test_midday_cheaper_than_evening_peak(nem_stats):
    s, _, _ = nem_stats
    assert s["hour_median"][12] < 0 < s["hour_median"][18] - 100


def test_spikes_never_exceed_market_price_cap(nem_stats):
    _, spot, frame = nem_stats
    t = pd.DatetimeIndex(frame["interval_start"].to_pandas())
    cap = np.where(t >= pd.Timestamp("2025-06-30T14:00Z"), 20_300.0, 17_500.0)
    assert (spot <= cap + 1e-9).all()


def test_calibration_holds_for_other_seeds():
    # Not tuned to one seed: two more seeds stay within the looser of the bounds.
    idx = pd.date_range("2024-12-31T13:00Z", "2025-12-31T13:00Z", freq="5min", inclusive="left")
    for seed in (1, 7):
        s = P.nem_statistics(P.nem_spot(idx, 5, seed), idx)
        assert abs(s["mean"] - 77.9) <= 0.2 * 77.9
        assert abs(s["negative_share"] - 0.24) <= 0.05
        assert abs(s["median"] - 62.4) <= 15


def test_feed_in_price_is_negative_when_spot_is_positive(nem_year):
    gen, _ = nem_year["prices/general"]
    feed, meta = nem_year["prices/feed_in"]
    spot = feed["spot_per_kwh"].to_numpy()
    price = feed["price_per_kwh"].to_numpy()
    assert meta.channel == "feed_in"
    assert (np.sign(price[spot > 0]) == -1).all()
    assert (price[spot < 0] > 0).all()
    np.testing.assert_array_equal(spot, gen["spot_per_kwh"].to_numpy())


def test_all_in_price_is_spot_plus_network_and_charges_with_gst():
    idx = pd.DatetimeIndex(
        ["2025-03-03T07:00", "2025-03-03T17:00", "2025-03-03T23:30"], tz="Australia/Sydney"
    )
    r = P.nem_retail(np.array([100.0, 100.0, -50.0]), idx)
    assert list(r["tariff_period"]) == ["shoulder", "peak", "off_peak"]
    expected = (0.1 * 1.04 + 0.075 + 0.035) * 1.1  # spot x loss, shoulder network, pass-throughs
    assert r["general_price_per_kwh"][0] == pytest.approx(expected)
    assert r["general_price_per_kwh"][1] > r["general_price_per_kwh"][0]
    assert r["feed_in_price_per_kwh"][2] == pytest.approx(0.05 * 1.04)


def test_descriptor_and_spike_status_follow_spot():
    spot = np.array([-5.0, 10.0, 50.0, 80.0, 120.0, 260.0, 400.0])
    assert list(P.descriptor(spot)) == [
        "negative",
        "extremelyLow",
        "veryLow",
        "low",
        "neutral",
        "high",
        "spike",
    ]
    assert list(P.spike_status(spot)) == ["none"] * 5 + ["potential", "spike"]


@settings(max_examples=40, deadline=None)
@given(a=st.floats(-1000, 20000), b=st.floats(-1000, 20000))
def test_descriptor_is_monotone_in_price(a, b):
    order = [n for _, n in P.DESCRIPTORS]
    da, db = P.descriptor(np.array([a, b]))
    if a <= b:
        assert order.index(da) <= order.index(db)


def test_nl_prices_hourly_until_october_then_quarter_hourly(nl_year):
    hourly, mh = nl_year["prices/general"]
    quarter, mq = nl_year["prices/general/15min"]
    assert (mh.interval_minutes, mq.interval_minutes) == (60, 15)
    assert mh.currency == mq.currency == "EUR"
    assert hourly["interval_start"][-1] == pd.Timestamp("2025-09-30T21:00Z")
    assert quarter["interval_start"][0] == pd.Timestamp("2025-09-30T22:00Z")
    assert hourly.height + quarter.height // 4 == 8760


def test_nl_all_in_price_adds_energy_tax_and_vat(nl_year):
    f, _ = nl_year["prices/general"]
    expected = (f["spot_per_kwh"] + 0.02 + 0.10154) * 1.21
    np.testing.assert_allclose(f["price_per_kwh"].to_numpy(), expected.to_numpy())


def test_nl_day_ahead_shape_has_solar_dip_and_evening_peak(nl_year):
    f, _ = nl_year["prices/general"]
    local = f["interval_start"].dt.convert_time_zone("Europe/Amsterdam")
    spot = f["spot_per_kwh"].to_numpy() * 1000
    hour = local.dt.hour().to_numpy()
    summer = local.dt.month().is_in([5, 6, 7]).to_numpy()
    assert np.median(spot[summer & (hour == 13)]) < np.median(spot[summer & (hour == 20)]) - 40
    assert 50 < spot.mean() < 130
    assert 0.01 < (spot < 0).mean() < 0.15


def test_spike_events_overlay_the_body_and_redraw_with_their_own_seed():
    idx = pd.date_range("2025-05-31T14:00Z", "2025-07-31T14:00Z", freq="5min", inclusive="left")
    spot = P.nem_spot(idx, 5, 3)
    body = P.nem_spot(idx, 5, 3, spikes=False)
    other = P.nem_spot(idx, 5, 3, spike_seed=4)
    np.testing.assert_array_equal(P.nem_spot(idx, 5, 3, spike_seed=3), spot)
    # events only ever raise the body, and there are some in June-July
    assert (spot >= body).all() and (other >= body).all()
    raised, raised_other = spot > body, other > body
    assert raised.sum() > 0 and raised_other.sum() > 0
    assert (body[raised] < P.SPIKE_THRESHOLD).mean() > 0.5
    # another seed places the events elsewhere over the same body
    assert not np.array_equal(raised, raised_other)
    # at 30 min the body is the mean of its 5-min body
    body30 = P.nem_spot(idx[::6], 30, 3, spikes=False)
    np.testing.assert_allclose(body30, body.reshape(-1, 6).mean(axis=1))
