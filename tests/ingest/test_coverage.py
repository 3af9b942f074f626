"""Coverage matrix, gap table and monthly summaries behind the backfill notebook."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from amber_fake import prices_for_days
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.config import Settings
from energylib.ingest.amber import read_amber_prices
from energylib.ingest.backfill import store_frames
from energylib.ingest.configured import configured_backfill
from energylib.ingest.coverage import (
    coverage_matrix,
    gap_table,
    load_series,
    monthly_price_summary,
    monthly_usage_summary,
)
from energylib.ingest.powerpal import read_powerpal_csv
from energylib.plots import coverage_chart
from energylib.schema import TIME, FrameMeta, interval_index
from energylib.store import ParquetStore

SYD = "Australia/Sydney"


def frame(start: datetime, end: datetime, minutes: int, drop=()) -> tuple[pl.DataFrame, FrameMeta]:
    t = interval_index(start, end, minutes)
    data = pl.DataFrame({TIME: t, "price_per_kwh": 0.2, "energy_kwh": 0.1}).filter(
        ~pl.col(TIME).is_in(list(drop))
    )
    return data, FrameMeta("amber", "prices", minutes, site="S", currency="AUD", timezone=SYD)


def test_coverage_matrix_counts_intervals_per_local_day_and_hour():
    # two full local days in January (UTC+11)
    start = datetime(2025, 1, 1, 0, 0, tzinfo=UTC) - timedelta(hours=11)
    missing = [
        start + timedelta(hours=5, minutes=5 * k) for k in range(3)
    ]  # 3 intervals of local 05:00
    data, meta = frame(start, start + timedelta(days=2), 5, drop=missing)
    m = coverage_matrix(data, meta)
    assert m.height == 48
    assert m.filter(pl.col("fraction") < 1).select("date", "hour", "present").rows() == [
        (date(2025, 1, 1), 5, 9)
    ]
    assert m["expected"].unique().to_list() == [12]


def test_hours_with_nothing_stored_are_zero_rows_not_missing():
    start = datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=11)
    d1, meta = frame(start, start + timedelta(hours=2), 30)
    d2, _ = frame(start + timedelta(days=2), start + timedelta(days=2, hours=1), 30)
    m = coverage_matrix(pl.concat([d1, d2]), meta)
    assert m["date"].unique().sort().to_list() == [
        date(2025, 1, 1),
        date(2025, 1, 2),
        date(2025, 1, 3),
    ]
    assert m.filter(pl.col("date") == date(2025, 1, 2))["present"].sum() == 0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 600), minutes=st.sampled_from([5, 15, 30, 60]), offset=st.integers(0, 5000))
def test_coverage_counts_every_interval_once(n, minutes, offset):
    start = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=minutes * offset)
    data, meta = frame(start, start + timedelta(minutes=minutes * n), minutes)
    m = coverage_matrix(data, meta)
    assert int(m["present"].sum()) == data.height
    assert m["fraction"].max() <= 1.0


def test_gap_table_lists_longest_first_with_hours():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    drop = [start + timedelta(minutes=30 * k) for k in (3, 10, 11, 12)]
    data, meta = frame(start, start + timedelta(days=1), 30, drop=drop)
    gaps = gap_table(data, meta)
    assert gaps["missing"].to_list() == [3, 1]
    assert gaps["hours"].to_list() == [1.5, 0.5]
    assert str(gaps.schema["gap_start_local"].time_zone) == SYD


def test_monthly_price_summary_over_amber_frames():
    recs = prices_for_days(date(2025, 1, 30), date(2025, 2, 2), 30, channels=("general",))
    recs[0]["spikeStatus"] = "spike"
    ((data, meta),) = read_amber_prices(recs, site="S")
    s = monthly_price_summary(data, meta)
    assert s["month"].to_list() == ["2025-01", "2025-02"]
    # NEM days are UTC+10, Sydney is UTC+11 in summer: the local month boundary moves one hour
    assert s["intervals"].to_list() == [2 * 48 - 2, 2 * 48 + 2]
    assert s["spike_intervals"].to_list() == [1, 0]
    assert s["mean_price_per_kwh"][0] == pytest.approx(data.head(94)["price_per_kwh"].mean())


def test_monthly_usage_summary_sums_kwh_and_cost(tmp_path):
    from pathlib import Path

    data, meta = read_powerpal_csv(
        Path(__file__).resolve().parents[1] / "fixtures" / "powerpal" / "powerpal_60min.csv"
    )
    s = monthly_usage_summary(data, meta)
    assert s["energy_kwh"].sum() == pytest.approx(data["energy_kwh"].sum())
    assert s["cost_amount"].sum() == pytest.approx(data["cost_amount"].sum())
    assert s["share_present"].max() < 1


def test_coverage_chart_is_altair():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    data, meta = frame(start, start + timedelta(days=3), 30)
    chart = coverage_chart(coverage_matrix(data, meta), title="t")
    spec = chart.to_dict()
    assert (
        spec["mark"]["type"] == "rect" if isinstance(spec["mark"], dict) else spec["mark"] == "rect"
    )
    assert spec["encoding"]["y"]["field"] == "hour"


def test_load_series_picks_the_general_channel_and_returns_none_when_empty(tmp_path):
    store = ParquetStore(tmp_path)
    assert load_series(store, "amber", "prices") is None
    store_frames(
        store, read_amber_prices(prices_for_days(date(2025, 1, 1), date(2025, 1, 1)), site="S")
    )
    data, meta = load_series(store, "amber", "prices")
    assert meta.channel == "general" and data.height == 48
    assert load_series(store, "amber", "prices", site="other") is None


def test_no_token_means_no_backfill_and_says_so(tmp_path):
    store = ParquetStore(tmp_path)
    out = configured_backfill(
        store, "amber", "2025-01-01", "2025-01-02", settings=Settings(data_dir=tmp_path)
    )
    assert not out.ran and "AMBER_TOKEN" in out.message
    out = configured_backfill(
        store, "entsoe", "2025-01-01", "2025-01-02", settings=Settings(data_dir=tmp_path)
    )
    assert not out.ran and "ENTSOE_API_KEY" in out.message
    assert store.datasets() == []
