"""Property-based tests of the foundation's invariants."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib import align
from energylib.schema import FrameMeta, interval_index
from energylib.store import ParquetStore

T0 = datetime(2025, 3, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def usage_frames(draw, minutes=5):
    hours = draw(st.integers(1, 30))
    n = hours * 60 // minutes
    energy = draw(
        st.lists(st.floats(0, 5, allow_nan=False, allow_subnormal=False), min_size=n, max_size=n)
    )
    price = draw(st.lists(st.floats(-1, 17.5, allow_nan=False), min_size=n, max_size=n))
    start = T0 + timedelta(hours=draw(st.integers(0, 24 * 200)))
    data = pl.DataFrame(
        {
            "interval_start": interval_index(
                start, start + timedelta(minutes=minutes * n), minutes
            ),
            "energy_kwh": energy,
            "price_per_kwh": price,
        }
    )
    return data, FrameMeta("p", "usage", minutes, currency="AUD", timezone="Australia/Sydney")


@SETTINGS
@given(usage_frames(), st.sampled_from([15, 30, 60]))
def test_resampling_preserves_total_kwh(frame, target):
    data, meta = frame
    out, _ = align.resample(data, meta, target, weight="energy_kwh", partial="keep")
    assert np.isclose(out["energy_kwh"].sum(), data["energy_kwh"].sum(), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(usage_frames(minutes=60), st.sampled_from([5, 15, 30]))
def test_uniform_upsampling_preserves_kwh_and_round_trips(frame, target):
    data, meta = frame
    fine, fine_meta = align.resample(data, meta, target, energy_method="uniform")
    assert fine.height == data.height * (60 // target)
    assert np.isclose(fine["energy_kwh"].sum(), data["energy_kwh"].sum(), rtol=1e-9, atol=1e-9)
    back, _ = align.resample(fine, fine_meta, 60, weight="energy_kwh")
    assert back["interval_start"].equals(data["interval_start"])
    np.testing.assert_allclose(back["energy_kwh"], data["energy_kwh"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(back["price_per_kwh"], data["price_per_kwh"], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(usage_frames())
def test_energy_weighted_price_preserves_cost(frame):
    data, meta = frame
    out, _ = align.resample(data, meta, 60, weight="energy_kwh", partial="keep")
    joined = out.filter(pl.col("energy_kwh") > 0)
    cost_out = (joined["energy_kwh"] * joined["price_per_kwh"]).sum()
    kept = data.filter(
        pl.col("interval_start").dt.truncate("1h").is_in(joined["interval_start"].implode())
    )
    assert np.isclose(
        cost_out, (kept["energy_kwh"] * kept["price_per_kwh"]).sum(), rtol=1e-9, atol=1e-9
    )


@SETTINGS
@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=50),
    st.integers(0, 4),
    st.sampled_from([5, 15, 30, 60]),
)
def test_flooring_is_idempotent(offsets_s, late_s, minutes):
    step = minutes * 60
    t = sorted({T0 + timedelta(seconds=(o // step) * step) for o in offsets_s})
    data = pl.DataFrame({"interval_start": t}).with_columns(
        pl.col("interval_start").dt.cast_time_unit("us") + pl.duration(seconds=late_s)
    )
    once = align.floor_to_grid(data, minutes)
    assert once["interval_start"].to_list() == t
    assert align.floor_to_grid(once, minutes).equals(once)


@SETTINGS
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(
        ["Australia/Sydney", "Europe/Amsterdam", "Australia/Brisbane", "America/New_York"]
    ),
)
def test_utc_round_trip(instant, zone):
    utc = pl.Series([instant]).dt.cast_time_unit("us")
    local = align.utc_to_local(utc, zone).dt.replace_time_zone(None)
    # A single instant: a repeated local hour is ambiguous on its own, so pick the matching side.
    early = align.local_to_utc(local, zone, ambiguous="earliest")
    late = align.local_to_utc(local, zone, ambiguous="latest")
    assert utc[0] in (early[0], late[0])


@settings(max_examples=15, deadline=None)
@given(usage_frames(minutes=30))
def test_upsert_twice_equals_upsert_once(tmp_path_factory, frame):
    data, meta = frame
    store = ParquetStore(tmp_path_factory.mktemp("store"))
    first = store.upsert(data, meta)
    files = {p: p.stat().st_mtime_ns for p in store.root.rglob("*.parquet")}
    second = store.upsert(data, meta)
    assert first.inserted == data.height
    assert second.inserted == 0 and second.updated == 0 and second.unchanged == data.height
    assert second.files_written == 0
    assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*.parquet")} == files
    back, _ = store.read("p", "usage")
    assert back.equals(data)


@given(
    st.integers(0, 10 * 365 * 24 * 12),
    st.integers(0, 3000),
    st.sampled_from([1, 5, 15, 30, 60]),
    st.integers(-12, 14),
)
def test_interval_index_is_polars_datetime_range_in_utc(start_5min, n, minutes, offset_h):
    """The numpy grid builder gives exactly polars' datetime_range, for any zone of the bounds."""
    start = (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * start_5min)).astimezone(
        timezone(timedelta(hours=offset_h))
    )
    end = start + timedelta(minutes=minutes * n + (minutes // 2))
    expected = pl.datetime_range(
        start,
        end,
        interval=f"{minutes}m",
        closed="left",
        time_unit="us",
        time_zone="UTC",
        eager=True,
    )
    got = interval_index(start, end, minutes)
    assert got.dtype == pl.Datetime("us", "UTC") and got.to_list() == expected.to_list()
