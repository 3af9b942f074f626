from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from energylib import align
from energylib.schema import DataValidationError, FrameMeta, interval_index

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def naive(*values: str) -> pl.Series:
    return pl.Series("local", [datetime.fromisoformat(v) for v in values])


# ----------------------------------------------------------------- time zones
def test_sydney_repeated_hour_is_inferred_in_order():
    # 2025-04-06 03:00 AEDT -> 02:00 AEST: 02:00-02:59 local happens twice.
    local = naive(
        "2025-04-06 01:30",
        "2025-04-06 02:00",
        "2025-04-06 02:30",
        "2025-04-06 02:00",
        "2025-04-06 02:30",
        "2025-04-06 03:00",
    )
    utc = align.local_to_utc(local, "Australia/Sydney")
    assert utc.to_list() == [
        datetime(2025, 4, 5, 14, 30, tzinfo=UTC),
        datetime(2025, 4, 5, 15, 0, tzinfo=UTC),  # 02:00 AEDT (+11)
        datetime(2025, 4, 5, 15, 30, tzinfo=UTC),
        datetime(2025, 4, 5, 16, 0, tzinfo=UTC),  # 02:00 AEST (+10)
        datetime(2025, 4, 5, 16, 30, tzinfo=UTC),
        datetime(2025, 4, 5, 17, 0, tzinfo=UTC),
    ]
    assert utc.is_sorted() and utc.n_unique() == len(utc)


def test_sydney_missing_hour_raises_naming_the_row():
    # 2025-10-05 02:00 AEST -> 03:00 AEDT: 02:30 local does not exist.
    local = naive("2025-10-05 01:30", "2025-10-05 02:30", "2025-10-05 03:00")
    with pytest.raises(DataValidationError, match="do not exist"):
        align.local_to_utc(local, "Australia/Sydney")
    out = align.local_to_utc(local, "Australia/Sydney", nonexistent="null")
    assert out.null_count() == 1 and out[2] == datetime(2025, 10, 4, 16, 0, tzinfo=UTC)


def test_amsterdam_transitions_both_ways():
    spring = naive("2025-03-30 01:45", "2025-03-30 03:00")  # 02:00-02:59 skipped
    assert align.local_to_utc(spring, "Europe/Amsterdam").to_list() == [
        datetime(2025, 3, 30, 0, 45, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
    ]
    autumn = naive(
        "2025-10-26 02:00",
        "2025-10-26 02:45",
        "2025-10-26 02:00",
        "2025-10-26 02:45",
        "2025-10-26 03:00",
    )
    assert align.local_to_utc(autumn, "Europe/Amsterdam").to_list() == [
        datetime(2025, 10, 26, 0, 0, tzinfo=UTC),
        datetime(2025, 10, 26, 0, 45, tzinfo=UTC),
        datetime(2025, 10, 26, 1, 0, tzinfo=UTC),
        datetime(2025, 10, 26, 1, 45, tzinfo=UTC),
        datetime(2025, 10, 26, 2, 0, tzinfo=UTC),
    ]


def test_local_to_utc_refuses_zone_aware_input():
    aware = pl.Series([T0])
    with pytest.raises(ValueError, match="naive"):
        align.local_to_utc(aware, "Europe/Amsterdam")


# ----------------------------------------------------------------- the grid
def test_amber_plus_one_second_starts_land_on_the_grid(frame):
    data, _ = frame
    late = data.with_columns(pl.col("interval_start") + pl.duration(seconds=1))
    assert (
        align.floor_to_grid(late, 5)["interval_start"].to_list() == data["interval_start"].to_list()
    )


def test_larger_offsets_are_an_error_not_a_shift(frame):
    data, _ = frame
    late = data.with_columns(pl.col("interval_start") + pl.duration(minutes=2))
    with pytest.raises(DataValidationError, match="5 s past the 5-min grid"):
        align.floor_to_grid(late, 5)


# ----------------------------------------------------------------- resampling
def test_downsample_sums_energy_and_weights_prices(make_frame):
    data, meta = make_frame(n=12)
    data = data.with_columns(
        pl.Series("energy_kwh", [1.0] + [0.0] * 11),
        pl.Series("price_per_kwh", [0.5] + [0.1] * 11),
    )
    out, m = align.resample(data, meta, 60, weight="energy_kwh")
    assert m.interval_minutes == 60 and out.height == 1
    assert out["energy_kwh"][0] == pytest.approx(1.0)
    assert out["price_per_kwh"][0] == pytest.approx(0.5)  # all energy bought at 0.5
    plain, _ = align.resample(data, meta, 60)
    assert plain["price_per_kwh"][0] == pytest.approx((0.5 + 1.1) / 12)


def test_zero_energy_bucket_falls_back_to_plain_mean(make_frame):
    data, meta = make_frame(n=6)
    data = data.with_columns(pl.lit(0.0).alias("energy_kwh"))
    out, _ = align.resample(data, meta, 30, weight="energy_kwh")
    assert out["price_per_kwh"][0] == pytest.approx(data["price_per_kwh"].mean())


def test_partial_buckets_become_gaps_unless_kept(make_frame):
    data, meta = make_frame(n=24)
    holed = data.filter(pl.int_range(pl.len()) != 3)
    dropped, _ = align.resample(holed, meta, 60)
    assert dropped.height == 1 and dropped["interval_start"][0] == T0 + timedelta(hours=1)
    kept, _ = align.resample(holed, meta, 60, partial="keep")
    assert kept.height == 2


def test_upsampling_energy_needs_an_explicit_method(make_frame):
    data, meta = make_frame(n=4, minutes=60)
    with pytest.raises(ValueError, match="energy_method='uniform'"):
        align.resample(data, meta, 15)
    out, m = align.resample(data, meta, 15, energy_method="uniform")
    assert out.height == 16 and m.interval_minutes == 15
    assert out["energy_kwh"].sum() == pytest.approx(data["energy_kwh"].sum())
    assert out["price_per_kwh"].to_list()[:4] == [data["price_per_kwh"][0]] * 4


def test_upsampling_prices_repeats_them(make_frame):
    data, meta = make_frame(n=2, minutes=60)
    prices = data.select("interval_start", "price_per_kwh")
    out, _ = align.resample(prices, meta, 15)
    assert (
        out["interval_start"].to_list() == interval_index(T0, T0 + timedelta(hours=2), 15).to_list()
    )


def test_resample_rejects_uneven_ratios(make_frame):
    data, meta = make_frame(n=12, minutes=15)
    with pytest.raises(ValueError, match="whole multiple"):
        align.resample(data, meta, 20)


# ----------------------------------------------------------------- gaps
def test_find_gaps_reports_runs(frame):
    data, _ = frame
    holed = data.filter(~pl.int_range(pl.len()).is_in([5, 6, 7, 50]))
    gaps = align.find_gaps(holed, 5)
    assert gaps.rows() == [
        (T0 + timedelta(minutes=25), T0 + timedelta(minutes=40), 3),
        (T0 + timedelta(minutes=250), T0 + timedelta(minutes=255), 1),
    ]


def test_find_gaps_counts_missing_edges_when_a_range_is_given(frame):
    data, _ = frame
    gaps = align.find_gaps(
        data, 5, start=T0 - timedelta(minutes=10), end=T0 + timedelta(days=1, minutes=5)
    )
    assert gaps["missing"].to_list() == [2, 1]


def test_fill_policies_mark_what_they_filled(make_frame):
    data, meta = make_frame(n=288 * 2)
    holed = data.filter(~pl.int_range(pl.len()).is_in([300, 301]))
    assert align.fill_gaps(holed, 5, "none").height == holed.height
    zero = align.fill_gaps(holed, 5, "zero")
    assert zero.height == data.height
    assert zero.filter(pl.col("filled_by") == "zero")["energy_kwh"].to_list() == [0.0, 0.0]
    prev = align.fill_gaps(holed, 5, "previous_day")
    filled = prev.filter(pl.col("filled_by") == "previous_day")
    assert filled["energy_kwh"].to_list() == data["energy_kwh"][12:14].to_list()
    assert prev.filter(pl.col("filled_by").is_null()).height == holed.height


def test_interpolate_fills_prices_but_refuses_energy(make_frame):
    data, meta = make_frame(n=10)
    holed = data.filter(pl.int_range(pl.len()) != 4)
    with pytest.raises(ValueError, match="refusing to interpolate energy"):
        align.fill_gaps(holed, 5, "interpolate")
    out = align.fill_gaps(holed.select("interval_start", "price_per_kwh"), 5, "interpolate")
    p = data["price_per_kwh"]
    assert out["price_per_kwh"][4] == pytest.approx((p[3] + p[5]) / 2)
    assert out["filled_by"][4] == "interpolate"


def test_previous_day_leaves_a_gap_where_yesterday_is_missing_too(make_frame):
    data, _ = make_frame(n=288 * 2)
    holed = data.filter(~pl.int_range(pl.len()).is_in([10, 298]))  # 298 is 10 a day later
    out = align.fill_gaps(holed, 5, "previous_day")
    assert out.height == holed.height  # nothing invented
    assert align.find_gaps(out, 5)["missing"].to_list() == [1, 1]


def test_same_weekday_last_year_copies_the_interval_364_days_earlier(make_frame):
    data, _ = make_frame(n=24 * 400, minutes=60)  # 400 days, hourly
    lost = [24 * 380 + h for h in range(24)]  # a whole day, 380 days in
    holed = data.filter(~pl.int_range(pl.len()).is_in(lost))
    out = align.fill_gaps(holed, 60, "same_weekday_last_year")
    filled = out.filter(pl.col("filled_by") == "same_weekday_last_year")
    assert filled["energy_kwh"].to_list() == data["energy_kwh"][24 * 16 : 24 * 17].to_list()
    assert (
        filled["interval_start"].dt.weekday()
        == filled["interval_start"].dt.offset_by("-364d").dt.weekday()
    ).all()
    assert out.height == data.height


# ----------------------------------------------------------------- duplicates
@pytest.mark.parametrize(("policy", "expected"), [("first", 1.0), ("last", 3.0), ("mean", 2.0)])
def test_duplicate_policies(policy, expected):
    data = pl.DataFrame(
        {"interval_start": [T0, T0, T0 + timedelta(minutes=5)], "energy_kwh": [1.0, 3.0, 5.0]}
    ).with_columns(pl.col("interval_start").dt.cast_time_unit("us"))
    out = align.deduplicate(data, policy)
    assert out["energy_kwh"].to_list() == [expected, 5.0]


def test_duplicates_raise_by_default():
    data = pl.DataFrame({"interval_start": [T0, T0], "energy_kwh": [1.0, 3.0]})
    with pytest.raises(DataValidationError, match="share an interval start"):
        align.deduplicate(data)


# ----------------------------------------------------------------- joins
def test_join_returns_intervals_present_in_one_only(make_frame):
    usage, um = make_frame(n=10)
    prices, pm = make_frame(n=10, start=T0 + timedelta(minutes=10), source="amber", kind="prices")
    j = align.join(
        {
            "usage": (usage.select("interval_start", "energy_kwh"), um),
            "prices": (prices.select("interval_start", "price_per_kwh"), pm),
        }
    )
    assert j.data.height == 8 and j.data.columns == [
        "interval_start",
        "energy_kwh",
        "price_per_kwh",
    ]
    assert j.dropped["usage"].to_list() == [T0, T0 + timedelta(minutes=5)]
    assert j.dropped["prices"].to_list() == [T0 + timedelta(minutes=50), T0 + timedelta(minutes=55)]


def test_left_join_keeps_the_first_frames_grid_and_names_what_is_missing(make_frame):
    usage, um = make_frame(n=10)
    prices, pm = make_frame(n=10, start=T0 + timedelta(minutes=10), source="amber", kind="prices")
    j = align.join(
        {
            "usage": (usage.select("interval_start", "energy_kwh"), um),
            "prices": (prices.select("interval_start", "price_per_kwh"), pm),
        },
        how="left",
    )
    assert j.data["interval_start"].to_list() == usage["interval_start"].to_list()
    assert j.missing["prices"].to_list() == [T0, T0 + timedelta(minutes=5)]
    assert j.data["price_per_kwh"].null_count() == 2 and j.missing["usage"].len() == 0


def test_join_refuses_mixed_resolutions_unless_told_the_grid(make_frame):
    a, am = make_frame(n=12)
    b, bm = make_frame(n=2, minutes=30)
    with pytest.raises(ValueError, match="interval_minutes="):
        align.join({"a": (a, am), "b": (b, bm)})
    j = align.join({"a": (a, am), "b": (b, bm)}, interval_minutes=30)
    assert j.interval_minutes == 30 and j.data.height == 2
    assert j.data["energy_kwh"].to_list() == pytest.approx(
        a["energy_kwh"].reshape((2, 6)).arr.sum().to_list()
    )
    assert "energy_kwh_b" in j.data.columns  # clashing names get the frame's name as suffix
    first = align.join({"a": (a, am), "b": (b, bm)}, interval_minutes=30, clash="first")
    assert first.data.columns == ["interval_start", "energy_kwh", "price_per_kwh"]
    with pytest.raises(ValueError, match="has columns"):
        align.join({"a": (a, am), "b": (b, bm)}, interval_minutes=30, clash="error")


def test_join_says_which_frame_shares_no_interval(make_frame):
    a, am = make_frame(n=4)
    b, bm = make_frame(n=4, start=T0 + timedelta(days=1), kind="prices")
    with pytest.raises(ValueError, match="frame 'later' shares no interval"):
        align.join({"early": (a, am), "later": (b.drop("energy_kwh"), bm)})


def test_meta_replace_keeps_the_rest():
    m = FrameMeta("amber", "prices", 5, "s", "general", "AUD", "Australia/Sydney")
    assert m.replace(interval_minutes=30).currency == "AUD"


# ----------------------------------------------------------------- values at instants
def test_values_at_repeats_prices_and_splits_energy_over_finer_steps():
    data = pl.DataFrame(
        {"interval_start": [T0, T0 + timedelta(minutes=30)], "p_per_kwh": [1.0, 2.0]}
    ).with_columns(pl.col("interval_start").dt.cast_time_unit("us"), pl.Series("e_kwh", [0.6, 1.2]))
    t0_us = int(T0.timestamp() * 1_000_000)
    step = 5 * 60_000_000
    times = t0_us + np.arange(-1, 14, dtype=np.int64) * step
    got = align.values_at(data, 30, times, ["p_per_kwh", "e_kwh", "absent_kwh"], step_minutes=5)
    p, e = got["p_per_kwh"], got["e_kwh"]
    assert np.isnan(p[0]) and list(p[1:13]) == [1.0] * 6 + [2.0] * 6 and np.isnan(p[13:]).all()
    assert np.nansum(e) == pytest.approx(1.8) and e[1] == pytest.approx(0.1)
    assert np.isnan(got["absent_kwh"]).all()
    text = align.values_at(
        data.with_columns(pl.lit("low").alias("descriptor")), 30, times[:2], ["descriptor"]
    )
    assert text["descriptor"].tolist() == [None, "low"]
