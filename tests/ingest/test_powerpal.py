"""Powerpal CSV exports: units, resolutions, daylight saving, merging, bad rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.ingest.powerpal import PowerpalFormatError, read_powerpal_csv, read_powerpal_csvs
from energylib.schema import TIME, DataValidationError
from energylib.store import ParquetStore

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "powerpal"
A = FIX / "powerpal_30min_a.csv"
B = FIX / "powerpal_30min_b.csv"


def test_watt_hours_become_kwh_and_cost_is_aud():
    data, meta = read_powerpal_csv(FIX / "powerpal_60min.csv")
    raw = pl.read_csv(FIX / "powerpal_60min.csv")
    assert meta.interval_minutes == 60 and meta.currency == "AUD" and meta.kind == "usage"
    assert data["energy_kwh"].to_list() == pytest.approx((raw["watt_hours"] / 1000).to_list())
    assert data["cost_amount"].to_list() == pytest.approx(raw["cost_dollars"].to_list())
    assert (
        data["is_peak"].to_list()
        == raw["is_peak"].cast(pl.String).str.to_lowercase().eq("true").to_list()
    )
    assert data["is_peak"].any() and not data["is_peak"].all()


@pytest.mark.parametrize(
    ("name", "minutes", "rows"),
    [
        ("powerpal_1min.csv", 1, 90),
        ("powerpal_30min_a.csv", 30, 46),
        ("powerpal_60min.csv", 60, 24),
    ],
)
def test_each_export_resolution_is_kept(name, minutes, rows):
    data, meta = read_powerpal_csv(FIX / name)
    assert meta.interval_minutes == minutes and data.height == rows
    assert data[TIME].dtype == pl.Datetime("us", "UTC")


def test_utc_is_the_key_through_the_repeated_local_hour():
    # Sydney clocks went back at 2025-04-06 03:00 AEDT: local 02:00 and 02:30 occur twice
    data, _ = read_powerpal_csv(A)
    local = pl.read_csv(A)["datetime_local"]
    assert (local == "2025-04-06 02:00:00").sum() == 2
    assert data[TIME].is_unique().all()
    assert datetime(2025, 4, 5, 15, 0, tzinfo=UTC) in data[TIME].to_list()
    assert datetime(2025, 4, 5, 16, 0, tzinfo=UTC) in data[TIME].to_list()


def test_gaps_are_reported_not_filled():
    data, meta = read_powerpal_csv(A)
    gaps = meta.extra["gaps"]
    assert gaps.height == 1 and gaps["missing"][0] == 2
    assert gaps["gap_start"][0] == datetime(2025, 4, 5, 20, 0, tzinfo=UTC)
    assert data.filter(pl.col(TIME) == gaps["gap_start"][0]).height == 0


def test_repeated_seam_row_in_a_joined_export_appears_once():
    raw = pl.read_csv(B)
    assert raw.height == 37 and raw.unique().height == 36
    data, _ = read_powerpal_csv(B)
    assert data.height == 36


def test_overlapping_exports_merge_idempotently(tmp_path):
    ab, meta = read_powerpal_csvs([A, B])
    ba, _ = read_powerpal_csvs([B, A])
    assert ab.equals(ba)
    assert ab.height == 58 and ab[TIME].is_unique().all()
    assert meta.extra["files"] == [str(A), str(B)]
    store = ParquetStore(tmp_path)
    first = store.upsert(ab, meta)
    again = store.upsert(*read_powerpal_csv(B))
    assert first.inserted == 58
    assert again.inserted == 0 and again.updated == 0 and again.unchanged == 36


def test_exports_at_different_resolutions_are_not_merged():
    with pytest.raises(ValueError, match="different resolutions") as err:
        read_powerpal_csvs([A, FIX / "powerpal_60min.csv"])
    assert f"{A} (30 min)" in str(err.value)


def test_exports_that_disagree_name_both_files(tmp_path):
    lines = B.read_text().splitlines()
    f = lines[1].split(",")
    f[2] = "999"
    lines[1] = ",".join(f)
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match="differ between exports") as err:
        read_powerpal_csvs([A, changed])
    assert str(A) in str(err.value) and str(changed) in str(err.value)


@pytest.mark.parametrize(
    ("name", "line", "what"),
    [
        ("bad_timestamp.csv", 5, "unparseable datetime_utc"),
        ("bad_negative.csv", 7, "negative energy"),
        ("bad_units.csv", 4, "mixed units"),
        ("bad_local_mismatch.csv", 9, "datetime_local disagrees with datetime_utc"),
    ],
)
def test_bad_rows_raise_naming_file_and_line(name, line, what):
    with pytest.raises(PowerpalFormatError) as err:
        read_powerpal_csv(FIX / name)
    msg = str(err.value)
    assert f"{name}, line {line}" in msg and what in msg


def test_wrong_time_zone_is_caught():
    with pytest.raises(PowerpalFormatError, match="Australia/Brisbane"):
        read_powerpal_csv(A, timezone="Australia/Brisbane")


def test_conflicting_rows_in_one_file_raise(tmp_path):
    lines = (FIX / "powerpal_60min.csv").read_text().splitlines()
    f = lines[3].split(",")
    f[2] = "12345"
    lines.insert(4, ",".join(f))
    bad = tmp_path / "conflict.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(PowerpalFormatError, match="given twice with different values"):
        read_powerpal_csv(bad)


def test_wrong_header_is_explained(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("time,kwh\n2025-01-01 00:00:00,1\n")
    with pytest.raises(PowerpalFormatError, match="datetime_utc,datetime_local,watt_hours"):
        read_powerpal_csv(bad)


@settings(max_examples=30, deadline=None)
@given(
    wh=st.lists(st.integers(0, 5000), min_size=2, max_size=60),
    minutes=st.sampled_from([1, 30, 60]),
    offset=st.integers(0, 2000),
)
def test_energy_is_preserved_kwh_equals_wh_over_1000(tmp_path_factory, wh, minutes, offset):
    start = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=minutes * offset)
    rows = ["datetime_utc,datetime_local,watt_hours,cost_dollars,is_peak"]
    for i, w in enumerate(wh):
        u = start + timedelta(minutes=minutes * i)
        loc = u.astimezone(ZoneInfo("Australia/Sydney")).replace(tzinfo=None)
        rows.append(f"{u:%Y-%m-%d %H:%M:%S},{loc:%Y-%m-%d %H:%M:%S},{w},{w * 0.0003:.6f},false")
    p = tmp_path_factory.mktemp("pp") / "x.csv"
    p.write_text("\n".join(rows) + "\n")
    data, meta = read_powerpal_csv(p)
    assert meta.interval_minutes == minutes
    assert data["energy_kwh"].sum() == pytest.approx(sum(wh) / 1000)
