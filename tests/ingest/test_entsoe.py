"""ENTSO-E day-ahead and imbalance prices: parsing real A44 documents through entsoe-py,
EUR/MWh -> EUR/kWh, both resolutions and the 2025-10-01 change-over, and the
entsoe-py client replayed against a loopback HTTP server."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from energylib.ingest.entsoe import (
    EntsoeBackfillError,
    EntsoeDocumentError,
    EntsoeError,
    backfill_entsoe,
    eur_per_mwh_to_per_kwh,
    get_entsoe_day_ahead,
    get_entsoe_imbalance,
    imbalance_zip,
    make_client,
    read_entsoe_xml,
    zone_days,
    zone_timezone,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "entsoe"
EXPECTED = json.loads((FIXTURES / "expected_prices.json").read_text())
HOURLY = FIXTURES / "A44_NL_2025-03-10_PT60M_A03.xml"
QUARTER = FIXTURES / "A44_NL_2025-11-05_PT15M_A03.xml"
CHANGEOVER = FIXTURES / "A44_NL_2025-09-30_2025-10-01_changeover_A03.xml"
ACK = FIXTURES / "acknowledgement_no_data.xml"
IMBALANCE = FIXTURES / "A85_NL_2025-03-10_imbalance.xml"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- reading documents
def test_hourly_day_converts_eur_per_mwh_to_eur_per_kwh():
    [(data, meta)] = read_entsoe_xml(HOURLY)
    assert (meta.source, meta.kind, meta.site, meta.channel) == (
        "entsoe",
        "prices",
        "NL",
        "day_ahead",
    )
    assert (meta.interval_minutes, meta.currency, meta.timezone) == (60, "EUR", "Europe/Amsterdam")
    assert data.height == 24
    assert data["interval_start"][0] == utc(2025, 3, 9, 23)
    assert data["spot_per_kwh"].to_list() == pytest.approx(
        [p / 1000 for p in EXPECTED["hourly_2025-03-10"]]
    )


def test_a03_omitted_positions_repeat_the_previous_price():
    # positions 4, 5 and the last one (24) are omitted in the document
    text = HOURLY.read_text()
    assert "<position>4</position>" not in text and "<position>24</position>" not in text
    [(data, _)] = read_entsoe_xml(HOURLY)
    prices = data["spot_per_kwh"].to_list()
    assert prices[3] == prices[4] == prices[2]
    assert prices[23] == prices[22]


def test_negative_prices_are_kept():
    [(data, _)] = read_entsoe_xml(HOURLY)
    assert data["spot_per_kwh"][13] == pytest.approx(-0.00525)


def test_quarter_hour_day_has_96_intervals_at_15_min():
    [(data, meta)] = read_entsoe_xml(QUARTER.read_bytes())
    assert meta.interval_minutes == 15
    assert data.height == 96
    assert data["interval_start"].diff().drop_nulls().unique().to_list() == [timedelta(minutes=15)]
    assert data["spot_per_kwh"].to_list() == pytest.approx(
        [p / 1000 for p in EXPECTED["quarter_2025-11-05"]]
    )


def test_changeover_day_gives_one_frame_per_resolution():
    frames = read_entsoe_xml(CHANGEOVER)
    by_res = {m.interval_minutes: d for d, m in frames}
    assert set(by_res) == {60, 15}
    assert by_res[60]["interval_start"].max() == utc(2025, 9, 30, 21)
    assert by_res[15]["interval_start"].min() == utc(2025, 9, 30, 22)
    assert by_res[60].height == 24 and by_res[15].height == 96


def test_changeover_stored_at_both_resolutions_and_read_back_resampled(store):
    for data, meta in read_entsoe_xml(CHANGEOVER):
        store.upsert(data, meta)
    series = store.series("entsoe", "prices")
    assert sorted(series["interval_minutes"].to_list()) == [15, 60]
    with pytest.raises(LookupError, match="resample_to"):
        store.read("entsoe", "prices", site="NL", channel="day_ahead")
    hourly, meta = store.read("entsoe", "prices", site="NL", channel="day_ahead", resample_to=60)
    assert meta.interval_minutes == 60 and hourly.height == 48
    q = EXPECTED["changeover_quarter_2025-10-01"]
    first_hour_after = hourly.filter(pl.col("interval_start") == utc(2025, 9, 30, 22))[
        "spot_per_kwh"
    ][0]
    assert first_hour_after == pytest.approx(sum(q[:4]) / 4 / 1000)


def test_acknowledgement_document_is_a_clear_error():
    with pytest.raises(EntsoeDocumentError, match="No matching data"):
        read_entsoe_xml(ACK)


def test_document_priced_per_other_unit_is_refused():
    text = HOURLY.read_text().replace(
        "<price_Measure_Unit.name>MWH", "<price_Measure_Unit.name>KWH"
    )
    with pytest.raises(EntsoeDocumentError, match="per 'KWH', not per MWh"):
        read_entsoe_xml(text)


def test_zone_maps_to_its_time_zone():
    assert zone_timezone("NL") == "Europe/Amsterdam"
    assert zone_timezone("DE-LU") == "Europe/Berlin"
    with pytest.raises(ValueError, match="unknown ENTSO-E bidding zone"):
        zone_timezone("ATLANTIS")


def test_zone_days_run_from_local_midnight_to_local_midnight_across_dst():
    # 2025-03-30 is 23 h long in Amsterdam (clocks go forward)
    assert zone_days("NL", date(2025, 3, 30), date(2025, 3, 30)) == (
        utc(2025, 3, 29, 23),
        utc(2025, 3, 30, 22),
    )
    lo, hi = zone_days("NL", date(2025, 1, 1), date(2025, 1, 31))
    assert (lo, hi) == (utc(2024, 12, 31, 23), utc(2025, 1, 31, 23))


def _a03_document(
    prices: list[float], resolution: str = "PT60M", start: datetime | None = None
) -> str:
    points = []
    prev = None
    for i, p in enumerate(prices, 1):
        if p != prev:
            points.append(
                f"<Point><position>{i}</position><price.amount>{p}</price.amount></Point>"
            )
        prev = p
    step = 60 if resolution == "PT60M" else 15
    start = start or utc(2025, 6, 1, 22)
    end = start + timedelta(minutes=step * len(prices))
    fmt = "%Y-%m-%dT%H:%MZ"
    return (
        '<?xml version="1.0" encoding="utf-8"?><Publication_MarketDocument><type>A44</type><TimeSeries><mRID>1</mRID>'
        '<in_Domain.mRID codingScheme="A01">10YNL----------L</in_Domain.mRID>'
        "<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
        f"<curveType>A03</curveType><Period><timeInterval><start>{start:{fmt}}</start><end>{end:{fmt}}</end>"
        f"</timeInterval><resolution>{resolution}</resolution>{''.join(points)}</Period></TimeSeries>"
        "</Publication_MarketDocument>"
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from([-20.5, 0.0, 35.25, 35.25, 80.0, 412.1]), min_size=1, max_size=30),
    st.sampled_from(["PT60M", "PT15M"]),
)
def test_a03_roundtrip_restores_every_position(prices, resolution):
    [(data, meta)] = read_entsoe_xml(_a03_document(prices, resolution))
    assert data.height == len(prices)
    assert meta.interval_minutes == (60 if resolution == "PT60M" else 15)
    assert data["spot_per_kwh"].to_list() == pytest.approx([p / 1000 for p in prices])


def test_dst_spring_forward_day_has_23_hourly_intervals():
    # delivery day 2025-03-30 in Amsterdam: 23:00Z on the 29th to 22:00Z on the 30th
    prices = [float(50 + i) for i in range(23)]
    [(data, meta)] = read_entsoe_xml(_a03_document(prices, start=utc(2025, 3, 29, 23)))
    assert data.height == 23 and meta.timezone == "Europe/Amsterdam"
    local = data["interval_start"].dt.convert_time_zone("Europe/Amsterdam").dt.hour().to_list()
    assert local == [0, 1, *range(3, 24)]  # 02:00 local does not exist that day


def test_real_de_lu_document_fills_the_omitted_hour(shared_formats):
    [real] = list((shared_formats / "entsoe").glob("A44_DE-LU_*.xml"))
    frames = {m.channel: (d, m) for d, m in read_entsoe_xml(real)}
    hourly, hmeta = frames["day_ahead"]
    quarter, qmeta = frames["day_ahead_seq2"]
    assert (hmeta.interval_minutes, qmeta.interval_minutes) == (60, 15)
    assert hmeta.site == "DE_LU" and hmeta.timezone == "Europe/Berlin"
    # day 2 has 23 points: position 11 repeats position 10 (52 EUR/MWh) and is omitted
    assert hourly.height == 48 and quarter.height == 192
    at = dict(
        zip(hourly["interval_start"].to_list(), hourly["spot_per_kwh"].to_list(), strict=True)
    )
    assert at[utc(2021, 1, 2, 8)] == pytest.approx(0.052)
    assert at[utc(2021, 1, 2, 9)] == pytest.approx(0.052)
    assert at[utc(2020, 12, 31, 23)] == pytest.approx(0.05087)


def test_real_synthetic_pt1h_document_parses_through_entsoe_py_with_a03_fill(shared_formats):
    [doc] = list((shared_formats / "entsoe").glob("SYNTHETIC_A44_A03_*.xml"))
    # the file is an auction-price document priced per EUR (not per MWh): refused with the reason
    with pytest.raises(EntsoeDocumentError, match="not per MWh"):
        read_entsoe_xml(doc)
    text = doc.read_text().replace("<price_Measure_Unit.name>EUR", "<price_Measure_Unit.name>MWH")
    [(data, meta)] = read_entsoe_xml(text, zone="SK")
    assert meta.interval_minutes == 60 and meta.site == "SK"
    assert data["spot_per_kwh"].to_list() == pytest.approx([0.05, 0.05, 0.055, 0.055, 0.055, 0.06])


# --------------------------------------------------------------------------- client against a local server
class EntsoeServer:
    """Answers like the Transparency Platform: the document for offset 0, an acknowledgement after."""

    def __init__(self, httpserver, document: bytes, *, fail: dict | None = None):
        self.document = document
        self.requests: list[dict] = []
        self.fail = fail or {}  # request number -> (status, body)
        httpserver.expect_request("/api").respond_with_handler(self)
        self.url = httpserver.url_for("/api")

    def __call__(self, request: Request) -> Response:
        params = dict(request.args)
        self.requests.append(params)
        n = len(self.requests)
        if n in self.fail:
            status, body, *headers = self.fail[n]
            return Response(
                body,
                status=status,
                content_type="text/html",
                headers=headers[0] if headers else None,
            )
        if params.get("securityToken") != "test-token":
            return Response(
                "<html><body>Unauthorized</body></html>", status=401, content_type="text/html"
            )
        if params.get("documentType") == "A85":
            return Response(
                imbalance_zip([IMBALANCE.read_bytes()]), status=200, content_type="application/zip"
            )
        if params.get("offset", "0") != "0":
            return Response(ACK.read_bytes(), status=200, content_type="text/xml")
        return Response(self.document, status=200, content_type="text/xml")


def test_get_day_ahead_through_entsoe_py_client(httpserver):
    server = EntsoeServer(httpserver, HOURLY.read_bytes())
    [(data, meta)] = get_entsoe_day_ahead(
        "NL", utc(2025, 3, 9, 23), utc(2025, 3, 10, 23), api_key="test-token", base_url=server.url
    )
    assert meta.interval_minutes == 60 and meta.site == "NL" and meta.channel == "day_ahead"
    assert data.height == 24  # [start, end): the interval starting at `end` is not included
    assert data["spot_per_kwh"].to_list() == pytest.approx(
        [p / 1000 for p in EXPECTED["hourly_2025-03-10"]]
    )
    first = server.requests[0]
    assert first["documentType"] == "A44" and first["in_Domain"] == "10YNL----------L"


def test_get_day_ahead_across_changeover_returns_both_resolutions(httpserver):
    server = EntsoeServer(httpserver, CHANGEOVER.read_bytes())
    frames = get_entsoe_day_ahead(
        "NL", utc(2025, 9, 29, 22), utc(2025, 10, 1, 22), "test-token", server.url
    )
    assert [(m.interval_minutes, d.height) for d, m in frames] == [(60, 24), (15, 96)]


def test_no_matching_data_is_an_empty_result(httpserver):
    server = EntsoeServer(httpserver, ACK.read_bytes())
    assert (
        get_entsoe_day_ahead(
            "NL", utc(2025, 10, 2, 22), utc(2025, 10, 3, 22), "test-token", server.url
        )
        == []
    )


def test_server_error_is_retried(httpserver):
    server = EntsoeServer(
        httpserver, HOURLY.read_bytes(), fail={1: (503, "busy"), 2: (502, "bad gateway")}
    )
    client = make_client("test-token", server.url, retries=3, backoff_s=0.01)
    [(data, _)] = get_entsoe_day_ahead(
        "NL", utc(2025, 3, 9, 23), utc(2025, 3, 10, 23), client=client
    )
    assert data.height == 24
    assert len(server.requests) >= 3


def test_rate_limit_honours_retry_after(httpserver):
    server = EntsoeServer(
        httpserver, HOURLY.read_bytes(), fail={1: (429, "slow down", {"Retry-After": "1"})}
    )
    client = make_client("test-token", server.url, retries=2, backoff_s=0.01)
    t0 = time.perf_counter()
    [(data, _)] = get_entsoe_day_ahead(
        "NL", utc(2025, 3, 9, 23), utc(2025, 3, 10, 23), client=client
    )
    assert time.perf_counter() - t0 >= 0.9  # waited as asked, not the 0.01 s back-off
    assert data.height == 24


def test_rejected_token_names_the_variable(httpserver):
    server = EntsoeServer(httpserver, HOURLY.read_bytes())
    with pytest.raises(EntsoeError, match="rejected the token.*ENTSOE_API_KEY"):
        get_entsoe_day_ahead("NL", utc(2025, 3, 9, 23), utc(2025, 3, 10, 23), "wrong", server.url)


def test_missing_token_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv("ENTSOE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("energylib.config.PROJECT_ROOT", tmp_path)
    with pytest.raises(EntsoeError, match="ENTSOE_API_KEY"):
        make_client()


def test_imbalance_prices_long_and_short(httpserver):
    server = EntsoeServer(httpserver, HOURLY.read_bytes())
    [(data, meta)] = get_entsoe_imbalance(
        "NL", utc(2025, 3, 9, 23), utc(2025, 3, 10, 1), "test-token", server.url
    )
    assert (meta.channel, meta.interval_minutes, meta.currency) == ("imbalance", 15, "EUR")
    assert data.columns == ["interval_start", "long_per_kwh", "short_per_kwh"]
    assert data.height == 8
    assert data["long_per_kwh"][2] == pytest.approx(-0.012)
    assert data["short_per_kwh"][6] == pytest.approx(0.135)


# --------------------------------------------------------------------------- backfill
def test_backfill_windows_resume_and_idempotence(httpserver, store):
    server = EntsoeServer(httpserver, CHANGEOVER.read_bytes())
    first = backfill_entsoe(
        store,
        "NL",
        utc(2025, 9, 29, 22),
        utc(2025, 9, 30, 22),
        api_key="test-token",
        base_url=server.url,
        window_days=1,
        progress=False,
    )
    assert first.inserted == 24 and len(first.windows) == 1
    resumed = backfill_entsoe(
        store,
        "NL",
        utc(2025, 9, 29, 22),
        utc(2025, 10, 1, 22),
        resume=True,
        api_key="test-token",
        base_url=server.url,
        window_days=1,
        progress=False,
    )
    assert resumed.resumed_from == utc(2025, 9, 30, 22)
    assert resumed.inserted == 96 and resumed.unchanged == 0 and len(resumed.windows) == 1
    again = backfill_entsoe(
        store,
        "NL",
        "2025-09-29T22:00:00+00:00",
        "2025-10-01T22:00:00+00:00",
        api_key="test-token",
        base_url=server.url,
        window_days=1,
        progress=False,
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 120)
    hourly, _ = store.read("entsoe", "prices", site="NL", channel="day_ahead", interval_minutes=60)
    quarter, _ = store.read("entsoe", "prices", site="NL", channel="day_ahead", interval_minutes=15)
    assert hourly.height == 24 and quarter.height == 96


def test_backfill_with_imbalance_stores_both_channels(httpserver, store):
    server = EntsoeServer(httpserver, HOURLY.read_bytes())
    report = backfill_entsoe(
        store,
        "NL",
        utc(2025, 3, 9, 23),
        utc(2025, 3, 10, 23),
        api_key="test-token",
        base_url=server.url,
        imbalance=True,
        progress=False,
    )
    assert report.inserted == 24 + 8
    imb, meta = store.read("entsoe", "prices", site="NL", channel="imbalance")
    assert meta.interval_minutes == 15 and imb["short_per_kwh"][6] == pytest.approx(0.135)


def test_backfill_failure_keeps_what_was_stored_and_says_how_to_resume(httpserver, store):
    # windows 1 and 2 each take two requests (offset 0, then the acknowledgement at offset 100);
    # request 3 (window 2) is answered 401
    server = EntsoeServer(httpserver, CHANGEOVER.read_bytes(), fail={3: (401, "Unauthorized")})
    with pytest.raises(EntsoeBackfillError, match="resume") as info:
        backfill_entsoe(
            store,
            "NL",
            utc(2025, 9, 29, 22),
            utc(2025, 10, 1, 22),
            api_key="test-token",
            base_url=server.url,
            window_days=1,
            progress=False,
        )
    assert info.value.report.inserted == 24
    kept, _ = store.read("entsoe", "prices", site="NL", channel="day_ahead", interval_minutes=60)
    assert kept.height == 24


def test_backfill_refuses_naive_bounds(store):
    with pytest.raises(ValueError, match="naive time"):
        backfill_entsoe(store, "NL", datetime(2025, 3, 9), utc(2025, 3, 10), api_key="x")
    assert store.datasets() == []


@settings(max_examples=50, deadline=None)
# ENTSO-E publishes EUR/MWh with two decimals, between the harmonised floor and cap
@given(st.lists(st.integers(-50_000, 400_000).map(lambda c: c / 100), min_size=1, max_size=20))
def test_eur_per_mwh_to_per_kwh_divides_by_1000(prices):
    got = eur_per_mwh_to_per_kwh(np.array(prices))
    assert got == pytest.approx([p / 1000 for p in prices])
    assert (np.sign(got) == np.sign(prices)).all()


def test_a_file_that_is_not_xml_is_named_as_such(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(",0\n2025-01-01 00:00:00+01:00,80.5\n")
    with pytest.raises(EntsoeDocumentError, match="not an XML document.*read_entsoe_csv"):
        read_entsoe_xml(path)
