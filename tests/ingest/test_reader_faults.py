"""Bad files get the library's own error, naming the file and line (or item), in the file's
terms; nothing wrong is read as if it were right."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from amber_fake import interval

from energylib.ingest.aemo import read_aemo_price_csv
from energylib.ingest.amber import SavedResponses, read_amber_prices, store_amber_responses
from energylib.ingest.entsoe import read_entsoe_csv
from energylib.ingest.http import MalformedResponse
from energylib.ingest.powerpal import read_powerpal_csv
from energylib.schema import DataValidationError, FrameMeta, validate
from energylib.store import ParquetStore

FIX = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = "datetime_utc,datetime_local,watt_hours,cost_dollars,is_peak"
T0 = datetime(2025, 1, 14, 14, 0, tzinfo=UTC)


def powerpal(tmp_path, rows: list[str], name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def pp_row(t: datetime, wh: float = 120, cost: str = "0.03720") -> str:
    local = t + timedelta(hours=11)  # Sydney in April before the change: UTC+11
    return f"{t:%Y-%m-%d %H:%M:%S},{local:%Y-%m-%d %H:%M:%S},{wh:g},{cost},false"


P0 = datetime(2025, 3, 1, 0, 0)


# --------------------------------------------------------------------------- Powerpal
def test_powerpal_file_mixing_30_and_60_min_rows_is_refused_naming_the_line(tmp_path):
    rows = [pp_row(P0 + timedelta(minutes=30 * i)) for i in range(10)]
    last = P0 + timedelta(minutes=30 * 9)
    rows += [pp_row(last + timedelta(minutes=60 * (i + 1))) for i in range(10)]
    with pytest.raises(DataValidationError) as err:
        read_powerpal_csv(powerpal(tmp_path, rows))
    text = str(err.value)
    assert "from 30-min to 60-min intervals at line 12" in text  # header + 10 rows, then line 12
    assert "p.csv" in text


def test_powerpal_stretch_of_60_min_rows_after_a_gap_is_named_where_it_begins(tmp_path):
    times = [P0 + timedelta(minutes=30 * i) for i in range(12) if i != 3]  # a gap at line 5
    times += [times[-1] + timedelta(minutes=60 * (i + 1)) for i in range(4)]
    with pytest.raises(DataValidationError, match="from 30-min to 60-min intervals at line 13"):
        read_powerpal_csv(powerpal(tmp_path, [pp_row(t) for t in times]))


def test_powerpal_gap_in_a_30_min_export_is_still_a_gap(tmp_path):
    times = [P0 + timedelta(minutes=30 * i) for i in range(10) if i != 4]
    data, meta = read_powerpal_csv(powerpal(tmp_path, [pp_row(t) for t in times]))
    assert meta.interval_minutes == 30 and data.height == 9
    assert meta.extra["gaps"].height == 1


def test_powerpal_blank_lines_are_skipped_and_lines_still_counted(tmp_path):
    rows = [pp_row(P0 + timedelta(minutes=30 * i)) for i in range(4)]
    path = powerpal(tmp_path, [rows[0], "", rows[1], rows[2], "", rows[3], "", ""])
    data, _ = read_powerpal_csv(path)
    assert data.height == 4
    bad = [rows[0], "", rows[1], rows[2].replace(",120,", ",-5,"), rows[3]]
    with pytest.raises(DataValidationError, match=r"(?s)line 5\b.*negative energy"):
        read_powerpal_csv(powerpal(tmp_path, bad, "neg.csv"))


def test_powerpal_truncated_line_is_named_as_truncated_not_as_a_dollar_sign(tmp_path):
    rows = [pp_row(P0 + timedelta(minutes=30 * i)) for i in range(4)]
    rows[2] = rows[2].rsplit(",", 2)[0]  # cut after watt_hours
    with pytest.raises(DataValidationError) as err:
        read_powerpal_csv(powerpal(tmp_path, rows))
    text = str(err.value)
    assert "line 4" in text and "truncated" in text and "cost_dollars, is_peak" in text
    assert "$" not in text


def test_powerpal_too_many_fields_names_the_line_without_polars_advice(tmp_path):
    rows = [pp_row(P0 + timedelta(minutes=30 * i)) for i in range(4)]
    rows[1] += ",extra"
    with pytest.raises(DataValidationError) as err:
        read_powerpal_csv(powerpal(tmp_path, rows))
    assert "line 3" in str(err.value) and "more fields" in str(err.value)
    assert "truncate_ragged_lines" not in str(err.value)


def test_powerpal_implausible_energy_is_explained_in_wh_not_as_undivided_wh(tmp_path):
    rows = [pp_row(P0 + timedelta(minutes=30 * i)) for i in range(4)]
    rows[1] = pp_row(P0 + timedelta(minutes=30), wh=9_000_000)
    with pytest.raises(DataValidationError) as err:
        read_powerpal_csv(powerpal(tmp_path, rows))
    text = str(err.value)
    assert "line 3" in text and "Wh in a 30-min interval" in text
    assert "divide by 1000" not in text


def test_powerpal_messages_show_times_not_python_reprs(tmp_path):
    rows = [pp_row(P0 + timedelta(minutes=30 * i)) for i in range(6)]
    rows[2] = pp_row(P0 + timedelta(minutes=61))
    with pytest.raises(DataValidationError) as err:
        read_powerpal_csv(powerpal(tmp_path, rows))
    text = str(err.value)
    assert "datetime.datetime" not in text and "zoneinfo" not in text
    assert "2025-03-01 01:01:00 UTC" in text


def test_powerpal_unknown_timezone_is_the_librarys_error_naming_the_option(tmp_path):
    with pytest.raises(DataValidationError, match=r'unknown time zone "Mars/Olympus".*--timezone'):
        read_powerpal_csv(FIX / "powerpal" / "powerpal_30min_a.csv", timezone="Mars/Olympus")


def test_powerpal_timezone_advice_names_the_cli_option():
    with pytest.raises(DataValidationError) as err:
        read_powerpal_csv(FIX / "powerpal" / "powerpal_30min_a.csv", timezone="Australia/Perth")
    assert "--timezone" in str(err.value) and "timezone=" not in str(err.value)


# --------------------------------------------------------------------------- AEMO
def aemo(tmp_path, ends: list[datetime], rrp: list[float] | None = None) -> Path:
    rrp = rrp or [85.0] * len(ends)
    lines = ['"REGION","SETTLEMENTDATE","TOTALDEMAND","RRP","PERIODTYPE"']
    lines += [
        f'"NSW1","{e:%Y/%m/%d %H:%M:%S}",7100.5,{p},"TRADE"' for e, p in zip(ends, rrp, strict=True)
    ]
    path = tmp_path / "PRICE_AND_DEMAND_202401_NSW1.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


A0 = datetime(2024, 1, 1, 0, 5)


def test_aemo_5_min_file_with_30_min_rows_is_refused_naming_the_line(tmp_path):
    ends = [A0 + timedelta(minutes=5 * i) for i in range(12)]
    ends += [ends[-1] + timedelta(minutes=30 * (i + 1)) for i in range(4)]
    with pytest.raises(DataValidationError, match="from 5-min to 30-min intervals at line 14"):
        read_aemo_price_csv(aemo(tmp_path, ends))


def test_aemo_validation_problems_name_file_lines_not_row_indices(tmp_path):
    ends = [A0 + timedelta(minutes=5 * i) for i in range(6)]
    rrp = [85.0, 85.0, 85.0, 40_000.0, 85.0, 85.0]  # 40 AUD/kWh: beyond any market cap
    with pytest.raises(DataValidationError) as err:
        read_aemo_price_csv(aemo(tmp_path, ends, rrp))
    assert "line 5 " in str(err.value) and "row" not in str(err.value)
    assert "/1000" not in str(err.value)  # the reader divided already: no advice to divide


def test_entsoe_csv_problems_name_file_lines(tmp_path):
    path = tmp_path / "nl.csv"
    rows = [f"2025-01-01 {h:02d}:00:00+01:00,{p}" for h, p in enumerate([80, 85, 30000, 90])]
    path.write_text("\n".join([",0", *rows]) + "\n")
    with pytest.raises(DataValidationError) as err:
        read_entsoe_csv(path, zone="NL")
    assert "line 4 " in str(err.value) and "row" not in str(err.value)


def test_aemo_repeated_interval_names_both_lines(tmp_path):
    ends = [A0 + timedelta(minutes=5 * i) for i in range(6)]
    ends[4] = ends[2]
    with pytest.raises(DataValidationError, match=r"given more than once on line\(s\) 4, 6"):
        read_aemo_price_csv(aemo(tmp_path, ends))


# --------------------------------------------------------------------------- Amber
def save(tmp_path, name: str, recs: list[dict], prefix: bytes = b"") -> Path:
    path = tmp_path / name
    path.write_bytes(prefix + json.dumps(recs).encode())
    return path


def amber_day(n: int = 6, **kw) -> list[dict]:
    return [interval(T0 + timedelta(minutes=5 * i), 5, "general", **kw) for i in range(n)]


def test_amber_conflicting_actuals_in_two_files_are_an_error_naming_both(tmp_path):
    a = save(tmp_path, "a.json", amber_day(per_kwh=18.0))
    b_recs = amber_day(per_kwh=18.0)
    b_recs[3]["perKwh"] = 99.0
    b = save(tmp_path, "b.json", b_recs)
    with pytest.raises(MalformedResponse) as err:
        read_amber_prices(SavedResponses([a, b]))
    text = str(err.value)
    assert "a.json item 3" in text and "b.json item 3" in text and "--on-conflict last" in text
    # the named policy keeps the later file
    ((data, _),) = read_amber_prices(SavedResponses([a, b]), on_conflict="last")
    assert data["price_per_kwh"][3] == pytest.approx(0.99)
    # identical repeats (overlapping downloads) are fine
    ((data, _),) = read_amber_prices(SavedResponses([a, a]))
    assert data.height == 6


def test_amber_later_forecast_still_replaces_an_earlier_one(tmp_path):
    a = save(tmp_path, "a.json", amber_day(kind="ForecastInterval", per_kwh=20.0))
    b = save(tmp_path, "b.json", amber_day(kind="ForecastInterval", per_kwh=30.0))
    ((data, _),) = read_amber_prices(SavedResponses([a, b]))
    assert data["price_per_kwh"].to_list() == [pytest.approx(0.30)] * 6


def test_amber_boolean_price_is_refused_with_file_and_item(tmp_path):
    recs = amber_day()
    recs[2]["perKwh"] = True
    path = save(tmp_path, "bool.json", recs)
    with pytest.raises(
        MalformedResponse, match=r"bool\.json: item 2 .*has perKwh true, not a number"
    ):
        read_amber_prices(path)
    with pytest.raises(MalformedResponse, match="has perKwh true"):
        read_amber_prices(recs)  # an API answer, decoded already


def test_amber_unknown_channel_type_is_refused_with_file_and_item(tmp_path):
    recs = amber_day()
    recs[4]["channelType"] = "battery"
    path = save(tmp_path, "chan.json", recs)
    with pytest.raises(MalformedResponse, match=r'channelType "battery" in .*chan\.json, item 4'):
        read_amber_prices(path)


def test_amber_file_with_a_utf8_bom_reads(tmp_path):
    path = save(tmp_path, "bom.json", amber_day(), prefix=b"\xef\xbb\xbf")
    ((data, _),) = read_amber_prices(path)
    assert data.height == 6


def test_amber_local_offset_is_explained_as_an_offset(tmp_path):
    recs = amber_day()
    recs[1]["startTime"] = recs[1]["startTime"].replace("Z", "+10:00")
    path = save(tmp_path, "offset.json", recs)
    with pytest.raises(MalformedResponse) as err:
        read_amber_prices(path)
    assert "offset.json, item 1" in str(err.value) and "UTC with a Z suffix" in str(err.value)


def test_amber_messages_name_the_file_among_several(tmp_path):
    good = save(tmp_path, "good.json", amber_day())
    recs = amber_day()
    del recs[5]["spotPerKwh"]
    bad = save(tmp_path, "bad.json", recs)
    with pytest.raises(MalformedResponse, match=r"bad\.json: item 5 .*has no spotPerKwh"):
        store_amber_responses(ParquetStore(tmp_path / "store"), [good, bad])
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.parquet"))


# --------------------------------------------------------------------------- schema
def test_nan_price_is_reported_as_nan_only():
    t = pl.datetime_range(T0, T0 + timedelta(minutes=10), "5m", eager=True, time_zone="UTC")
    data = pl.DataFrame({"interval_start": t, "price_per_kwh": [0.2, math.nan, 0.3]})
    with pytest.raises(DataValidationError) as err:
        validate(data, FrameMeta("x", "prices", 5, currency="AUD"))
    assert "NaN" in str(err.value) and "market cap" not in str(err.value)
