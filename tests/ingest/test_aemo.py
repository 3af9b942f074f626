"""AEMO monthly price-and-demand CSVs: parsing and fetching from a local server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug import Request, Response

from energylib.ingest.aemo import (
    aemo_url,
    backfill_aemo,
    get_aemo_prices,
    normalise_region,
    read_aemo_price_csv,
)
from energylib.ingest.backfill import BackfillError
from energylib.ingest.http import RetryPolicy
from energylib.schema import TIME, DataValidationError
from energylib.store import ParquetStore

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "aemo"
NSW = FIX / "PRICE_AND_DEMAND_202401_NSW1.csv"
QLD = FIX / "PRICE_AND_DEMAND_201906_QLD1.csv"


def month_csv(region: str, year: int, month: int) -> str:
    """A whole month of 5-min rows in AEMO's format (quoted, interval-end NEM time)."""
    rows = ['"REGION","SETTLEMENTDATE","TOTALDEMAND","RRP","PERIODTYPE"']
    t = datetime(year, month, 1) + timedelta(minutes=5)
    stop = datetime(year + (month == 12), month % 12 + 1, 1)
    i = 0
    while t <= stop:
        rows.append(
            f'"{region}","{t:%Y/%m/%d %H:%M:%S}",{6000 + i % 500:.2f},{50 + (i % 40):.2f},"TRADE"'
        )
        t += timedelta(minutes=5)
        i += 1
    return "\n".join(rows) + "\n"


def test_settlement_date_is_interval_end_in_utc_plus_10():
    data, meta = read_aemo_price_csv(NSW)
    # 2024/01/01 00:05:00 (UTC+10) ends the interval that starts 2023-12-31 14:00 UTC
    assert data[TIME][0] == datetime(2023, 12, 31, 14, 0, tzinfo=UTC)
    assert (
        meta.interval_minutes == 5 and meta.site == "NSW1" and meta.timezone == "Australia/Sydney"
    )
    assert data.height == 12


def test_rrp_aud_per_mwh_converted_to_aud_per_kwh():
    data, meta = read_aemo_price_csv(NSW)
    assert meta.currency == "AUD"
    assert data["spot_per_kwh"][0] == pytest.approx(0.08512)  # 85.12 AUD/MWh
    assert data["spot_per_kwh"][2] == pytest.approx(-0.0125)  # negative prices are real
    assert data["spot_per_kwh"].max() == pytest.approx(16.6)  # near the cap, kept
    assert data["demand_mw"][0] == pytest.approx(7100.5)
    assert data["interval_type"].unique().to_list() == ["TRADE"]


def test_thirty_minute_files_before_october_2021():
    data, meta = read_aemo_price_csv(QLD)
    assert (
        meta.interval_minutes == 30
        and meta.site == "QLD1"
        and meta.timezone == "Australia/Brisbane"
    )
    assert data[TIME][0] == datetime(2019, 5, 31, 14, 0, tzinfo=UTC)


def test_bad_rrp_names_file_and_line(tmp_path):
    lines = NSW.read_text().splitlines()
    lines[4] = lines[4].replace("0.0,", "n/a,")
    bad = tmp_path / "PRICE_AND_DEMAND_202401_NSW1.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataValidationError,
        match=r"(?s)PRICE_AND_DEMAND_202401_NSW1\.csv.*unreadable RRP on line\(s\) 5",
    ):
        read_aemo_price_csv(bad)


def test_wrong_header_is_explained(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("REGION,DATE,PRICE\nNSW1,2024/01/01 00:05:00,1\n")
    with pytest.raises(DataValidationError, match="missing column"):
        read_aemo_price_csv(bad)


def test_region_names_and_url_pattern():
    assert normalise_region("nsw") == "NSW1" and normalise_region("SA1") == "SA1"
    with pytest.raises(ValueError, match="unknown NEM region"):
        normalise_region("WA")
    assert (
        aemo_url("vic", 2025, 3)
        == "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_202503_VIC1.csv"
    )


@pytest.fixture
def aemo_server(httpserver):
    calls = []

    def handler(request: Request) -> Response:
        name = request.path.rsplit("/", 1)[-1]
        calls.append(name)
        ym, region = name.removeprefix("PRICE_AND_DEMAND_").removesuffix(".csv").split("_")
        return Response(month_csv(region, int(ym[:4]), int(ym[4:])), content_type="text/csv")

    httpserver.expect_request(
        "/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_202401_NSW1.csv"
    ).respond_with_handler(handler)
    httpserver.expect_request(
        "/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_202402_NSW1.csv"
    ).respond_with_handler(handler)
    httpserver.expect_request(
        "/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_202403_NSW1.csv"
    ).respond_with_handler(handler)
    return httpserver.url_for("/aemo/data/nem/priceanddemand"), calls


def test_get_prices_across_months_keeps_only_the_range(aemo_server):
    base, calls = aemo_server
    data, meta = get_aemo_prices("NSW1", "2024-01-30", "2024-02-02", base_url=base)
    assert calls == ["PRICE_AND_DEMAND_202401_NSW1.csv", "PRICE_AND_DEMAND_202402_NSW1.csv"]
    assert data.height == 4 * 288
    assert data[TIME].min() == datetime(2024, 1, 29, 14, 0, tzinfo=UTC)
    assert data[TIME].max() == datetime(2024, 2, 2, 13, 55, tzinfo=UTC)
    assert data[TIME].is_unique().all()


def test_backfill_aemo_stores_months_and_resumes(aemo_server, tmp_path):
    base, calls = aemo_server
    store = ParquetStore(tmp_path)
    report = backfill_aemo(store, "nsw", "2024-01-01", "2024-02-29", base_url=base, progress=False)
    assert report.ok and len(report.windows) == 2
    data, meta = store.read("aemo", "prices", site="NSW1")
    assert data.height == (31 + 29) * 288 and meta.interval_minutes == 5
    calls.clear()
    again = backfill_aemo(
        store, "NSW1", "2024-01-01", "2024-03-31", base_url=base, progress=False, resume=True
    )
    assert calls[0] == "PRICE_AND_DEMAND_202402_NSW1.csv"  # resumed on the last stored day's month
    assert again.stored.inserted == 31 * 288


def test_backfill_aemo_missing_month_stops_with_resume_hint(aemo_server, tmp_path):
    base, _ = aemo_server
    store = ParquetStore(tmp_path)
    policy = RetryPolicy(max_retries=0, backoff_base_s=0.001, jitter_s=0.0, sleep=lambda s: None)
    with pytest.raises(BackfillError) as err:
        backfill_aemo(
            store, "NSW1", "2024-03-01", "2024-04-30", base_url=base, progress=False, policy=policy
        )
    assert "2024-04-01..2024-04-30" in str(err.value) and "--resume" in str(err.value)
    assert store.read("aemo", "prices", site="NSW1")[0].height == 31 * 288


def test_get_prices_rejects_a_range_across_the_5_minute_change(httpserver):
    def handler(request: Request) -> Response:
        if "202109" in request.path:
            return Response(QLD.read_text().replace("QLD1", "NSW1"), content_type="text/csv")
        return Response(month_csv("NSW1", 2021, 10), content_type="text/csv")

    httpserver.expect_request("/p/PRICE_AND_DEMAND_202109_NSW1.csv").respond_with_handler(handler)
    httpserver.expect_request("/p/PRICE_AND_DEMAND_202110_NSW1.csv").respond_with_handler(handler)
    with pytest.raises(ValueError, match="5-min settlement began 2021-10-01"):
        get_aemo_prices(
            "NSW1", date(2021, 9, 30), date(2021, 10, 2), base_url=httpserver.url_for("/p")
        )
