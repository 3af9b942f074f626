"""Amber API v1: parsing saved responses and the client against a local server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from amber_fake import interval, prices_for_days
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.ingest.amber import (
    AmberClient,
    AmberConfigError,
    get_amber_current_prices,
    get_amber_prices,
    get_amber_sites,
    get_amber_usage,
    read_amber_prices,
    read_amber_sites,
    read_amber_usage,
)
from energylib.ingest.backfill import store_frames
from energylib.ingest.http import MalformedResponse, RetryPolicy, TokenRejected
from energylib.schema import TIME
from energylib.store import ParquetStore

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "amber"
T0 = datetime(2025, 1, 14, 14, 0, tzinfo=UTC)
TOKEN = "psk_test_secret_0123456789"


def by_channel(frames):
    return {m.channel: (d, m) for d, m in frames}


def fast_policy(record=None):
    return RetryPolicy(
        backoff_base_s=0.001,
        jitter_s=0.001,
        max_wait_s=0.01,
        sleep=(record.append if record is not None else lambda s: None),
    )


@pytest.fixture
def amber_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for k in ("AMBER_TOKEN", "AMBER_SITE_ID", "AMBER_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


# --------------------------------------------------------------------------- parsing
def test_price_cents_converted_to_aud_per_kwh():
    frames = by_channel(read_amber_prices(FIX / "prices_5min.json", site="S"))
    data, meta = frames["general"]
    assert meta.currency == "AUD" and meta.interval_minutes == 5 and meta.source == "amber"
    # perKwh 24.33 c/kWh -> 0.2433 AUD/kWh; spotPerKwh 8.11 -> 0.0811
    assert data["price_per_kwh"][0] == pytest.approx(0.2433)
    assert data["spot_per_kwh"][0] == pytest.approx(0.0811)
    assert data["price_per_kwh"].to_list() == pytest.approx(
        [0.2433, 0.18, -0.035, 0.3012, 0.55, 1.20]
    )


@settings(max_examples=50, deadline=None)
@given(
    per=st.floats(-1000, 2000, allow_nan=False),
    spot=st.floats(-100, 1700, allow_nan=False),
    k=st.integers(0, 10_000),
)
def test_conversion_and_flooring_hold_for_any_interval(per, spot, k):
    start = T0 + timedelta(minutes=5 * k)
    ((data, meta),) = read_amber_prices(
        [interval(start, 5, "general", "ActualInterval", per_kwh=per, spot_per_kwh=spot)]
    )
    assert data["price_per_kwh"][0] == pytest.approx(per / 100)
    assert data["spot_per_kwh"][0] == pytest.approx(spot / 100)
    assert data[TIME][0] == start


def test_feed_in_keeps_amber_sign():
    data, meta = by_channel(read_amber_prices(FIX / "prices_5min.json"))["feed_in"]
    assert meta.channel == "feed_in"
    # the fixture's feed-in perKwh is negative (the customer is paid): the sign stays
    assert (data["price_per_kwh"].head(2) < 0).all()
    assert data["price_per_kwh"][0] == pytest.approx(-0.24330 * 0.8)


def test_start_time_plus_one_second_floored_to_grid():
    raw = json.loads((FIX / "prices_5min.json").read_text())
    assert raw[0]["startTime"].endswith(":01Z")
    data, _ = by_channel(read_amber_prices(raw))["general"]
    assert data[TIME][0] == T0
    assert (data[TIME].dt.second() == 0).all()
    assert data[TIME].diff().drop_nulls().unique().to_list() == [timedelta(minutes=5)]


def test_forecasts_flagged_with_low_predicted_high():
    data, _ = by_channel(read_amber_prices(FIX / "prices_5min.json"))["general"]
    assert (
        data["interval_type"].to_list()
        == ["ActualInterval"] * 3 + ["CurrentInterval"] + ["ForecastInterval"] * 2
    )
    # the current interval is still an estimate, so it counts as a forecast until locked in
    assert data["is_forecast"].to_list() == [False, False, False, True, True, True]
    assert data["price_low_per_kwh"].head(3).is_null().all()
    last = data.row(5, named=True)
    assert last["price_low_per_kwh"] == pytest.approx(1.15)
    assert last["price_predicted_per_kwh"] == pytest.approx(1.20)
    assert last["price_high_per_kwh"] == pytest.approx(1.25)


def test_locked_in_current_interval_is_actual():
    rec = interval(T0, 5, "general", "CurrentInterval", estimate=False)
    ((data, _),) = read_amber_prices([rec])
    assert data["is_forecast"].to_list() == [False]


def test_descriptor_spike_status_renewables_and_tariff_period_kept():
    data, _ = by_channel(read_amber_prices(FIX / "prices_5min.json"))["general"]
    assert data["descriptor"][5] == "spike" and data["spike_status"][5] == "potential"
    assert data["descriptor"][0] == "low" and data["spike_status"][0] == "none"
    assert data["renewables_pct"][0] == pytest.approx(42.5)
    # the first interval has no tariffInformation (flat tariff): null, not invented
    assert data["tariff_period"][0] is None and data["tariff_period"][1] == "offPeak"


def test_duplicate_interval_in_one_response_actual_wins():
    recs = [
        interval(T0, 5, "general", "ForecastInterval", per_kwh=99.0),
        interval(T0, 5, "general", "ActualInterval", per_kwh=21.0),
    ]
    ((data, _),) = read_amber_prices(recs)
    assert data.height == 1 and data["price_per_kwh"][0] == pytest.approx(0.21)
    assert data["is_forecast"][0] is False


def test_empty_response_gives_no_frames():
    assert read_amber_prices([]) == []
    assert read_amber_usage("[]") == []


def test_missing_field_names_the_window_and_item():
    recs = prices_for_days(date(2025, 1, 1), date(2025, 1, 1), channels=("general",))
    del recs[3]["perKwh"]
    with pytest.raises(
        MalformedResponse, match=r"prices 2025-01-01\.\.2025-01-07.*item 3.*'perKwh'"
    ):
        read_amber_prices(recs, where="prices 2025-01-01..2025-01-07")


def test_end_time_that_does_not_match_duration_is_rejected():
    rec = interval(T0, 5, "general")
    rec["endTime"] = "2025-01-14T14:30:00Z"
    with pytest.raises(MalformedResponse, match="endTime"):
        read_amber_prices([rec], where="w1")


def test_body_that_is_not_an_array_is_malformed():
    with pytest.raises(MalformedResponse, match="expected a JSON array"):
        read_amber_prices('{"message": "oops"}', where="w2")


def test_sites_parsed_with_channels_and_interval_length():
    sites = read_amber_sites(FIX / "sites.json")
    assert [s.id for s in sites] == ["01F5A5CRKMZ5BCX9P1S4V990AM", "01J0OLDSITE0000000000000000"]
    s = sites[0]
    assert s.interval_minutes == 5 and s.status == "active" and s.network == "Jemena"
    assert [c.channel for c in s.channels] == ["general", "controlled_load", "feed_in"]
    assert sites[1].interval_minutes == 30 and sites[1].closed_on == date(2021, 12, 31)


def test_usage_kwh_cost_and_quality():
    frames = by_channel(read_amber_usage(FIX / "usage.json", site="S"))
    gen, meta = frames["general"]
    assert meta.kind == "usage" and meta.interval_minutes == 30
    assert gen["energy_kwh"].to_list() == pytest.approx([0.35, 0.45, 0.55, 0.65])
    assert gen["cost_amount"][0] == pytest.approx(0.091)  # 9.1 cents
    assert gen["quality"].to_list() == ["billable"] * 3 + ["estimated"]
    feed, _ = frames["feed_in"]
    # exported kWh are negative in the API; stored positive on the feed-in channel, credit stays negative
    assert feed["energy_kwh"].to_list() == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert feed["cost_amount"][3] == pytest.approx(-0.03)


def test_fixture_fields_are_in_the_real_openapi_spec(shared_formats):
    swagger = shared_formats / "amber" / "amber_public_api_swagger.json"
    spec = json.loads(swagger.read_text())["components"]["schemas"]
    documented = set(spec["Interval"]["properties"]) | {
        "type",
        "range",
        "estimate",
        "advancedPrice",
    }
    for rec in json.loads((FIX / "prices_5min.json").read_text()):
        assert set(rec) <= documented, set(rec) - documented
    assert set(spec["Interval"]["required"]) <= set(
        json.loads((FIX / "prices_5min.json").read_text())[1]
    )


# --------------------------------------------------------------------------- storing
def test_forecast_later_replaced_by_actual_actual_wins(tmp_path):
    store = ParquetStore(tmp_path)
    store_frames(
        store,
        read_amber_prices([interval(T0, 5, "general", "ForecastInterval", per_kwh=80.0)], site="S"),
    )
    store_frames(
        store,
        read_amber_prices([interval(T0, 5, "general", "ActualInterval", per_kwh=31.0)], site="S"),
    )
    data, _ = store.read("amber", "prices", site="S", channel="general")
    assert data.height == 1
    assert data["price_per_kwh"][0] == pytest.approx(0.31) and data["is_forecast"][0] is False


def test_actual_never_overwritten_by_later_forecast(tmp_path):
    store = ParquetStore(tmp_path)
    store_frames(
        store,
        read_amber_prices([interval(T0, 5, "general", "ActualInterval", per_kwh=31.0)], site="S"),
    )
    later = [
        interval(T0, 5, "general", "ForecastInterval", per_kwh=80.0),
        interval(T0 + timedelta(minutes=5), 5, "general", "ForecastInterval", per_kwh=81.0),
    ]
    result = store_frames(store, read_amber_prices(later, site="S"))
    assert result.inserted == 1 and result.unchanged == 1 and result.updated == 0
    data, _ = store.read("amber", "prices", site="S", channel="general")
    assert data["price_per_kwh"].to_list() == pytest.approx([0.31, 0.81])
    assert data["is_forecast"].to_list() == [False, True]


def test_storing_the_same_response_twice_changes_nothing(tmp_path):
    store = ParquetStore(tmp_path)
    frames = read_amber_prices(FIX / "prices_5min.json", site="S")
    first = store_frames(store, frames)
    again = store_frames(store, frames)
    assert first.inserted == 12
    assert again.inserted == 0 and again.updated == 0 and again.unchanged == 12


# --------------------------------------------------------------------------- the client
def test_client_sends_bearer_token_and_dates(httpserver, amber_env):
    body = prices_for_days(date(2025, 1, 1), date(2025, 1, 2))
    httpserver.expect_request(
        "/v1/sites/SITE1/prices",
        query_string={"startDate": "2025-01-01", "endDate": "2025-01-02", "resolution": "30"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).respond_with_json(body)
    client = AmberClient(
        TOKEN, site_id="SITE1", base_url=httpserver.url_for("/v1"), policy=fast_policy()
    )
    frames = by_channel(get_amber_prices("2025-01-01", "2025-01-02", resolution=30, client=client))
    data, meta = frames["general"]
    assert data.height == 96 and meta.site == "SITE1"
    assert set(frames) == {"general", "feed_in"}
    assert TOKEN not in repr(client)


def test_token_site_and_base_url_from_environment(httpserver, amber_env):
    amber_env.setenv("AMBER_TOKEN", TOKEN)
    amber_env.setenv("AMBER_BASE_URL", httpserver.url_for("/v1"))
    httpserver.expect_request(
        "/v1/sites", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json(json.loads((FIX / "sites.json").read_text()))
    sites = get_amber_sites()
    assert sites[0].interval_minutes == 5
    # no AMBER_SITE_ID: the account's only active site is used
    assert AmberClient().site_id == "01F5A5CRKMZ5BCX9P1S4V990AM"


def test_current_prices_with_next_and_previous(httpserver, amber_env):
    recs = [
        interval(T0 - timedelta(minutes=30), 30, "general", "ActualInterval"),
        interval(T0, 30, "general", "CurrentInterval"),
        interval(T0 + timedelta(minutes=30), 30, "general", "ForecastInterval"),
    ]
    httpserver.expect_request(
        "/v1/sites/S/prices/current", query_string={"next": "1", "previous": "1"}
    ).respond_with_json(recs)
    client = AmberClient(
        TOKEN, site_id="S", base_url=httpserver.url_for("/v1"), policy=fast_policy()
    )
    ((data, meta),) = get_amber_current_prices(next=1, previous=1, client=client)
    assert meta.interval_minutes == 30
    assert data["is_forecast"].to_list() == [False, True, True]


def test_usage_fetch(httpserver, amber_env):
    httpserver.expect_request(
        "/v1/sites/S/usage", query_string={"startDate": "2025-01-15", "endDate": "2025-01-15"}
    ).respond_with_json(json.loads((FIX / "usage.json").read_text()))
    client = AmberClient(
        TOKEN, site_id="S", base_url=httpserver.url_for("/v1"), policy=fast_policy()
    )
    frames = by_channel(get_amber_usage(date(2025, 1, 15), date(2025, 1, 15), client=client))
    assert frames["general"][0]["energy_kwh"].sum() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="90 days"):
        get_amber_usage(date(2025, 1, 1), date(2025, 6, 1), client=client)


def test_401_says_token_rejected_and_which_variable(httpserver, amber_env):
    httpserver.expect_request("/v1/sites/S/prices").respond_with_data("Unauthorized", status=401)
    client = AmberClient(
        TOKEN, site_id="S", base_url=httpserver.url_for("/v1"), policy=fast_policy()
    )
    with pytest.raises(TokenRejected) as err:
        get_amber_prices("2025-01-01", "2025-01-01", client=client)
    assert "token rejected" in str(err.value) and "AMBER_TOKEN" in str(err.value)
    assert TOKEN not in str(err.value)


def test_no_token_configured_is_a_clear_error(amber_env):
    with pytest.raises(AmberConfigError, match="AMBER_TOKEN"):
        AmberClient()


def test_several_active_sites_need_a_site_id(httpserver, amber_env):
    sites = json.loads((FIX / "sites.json").read_text())
    sites[1]["status"] = "active"
    httpserver.expect_request("/v1/sites").respond_with_json(sites)
    client = AmberClient(TOKEN, base_url=httpserver.url_for("/v1"), policy=fast_policy())
    with pytest.raises(AmberConfigError, match="AMBER_SITE_ID"):
        _ = client.site_id


def test_frames_are_polars_with_utc_times():
    data, _ = read_amber_prices(FIX / "prices_5min.json")[0]
    assert isinstance(data, pl.DataFrame)
    assert data.schema[TIME] == pl.Datetime("us", "UTC")


def test_saved_body_with_a_wrongly_typed_field_names_item_and_field(tmp_path):
    recs = [interval(T0 + timedelta(minutes=5 * i), 5, "general") for i in range(4)]
    recs[2]["perKwh"] = "twenty"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(recs))
    with pytest.raises(
        MalformedResponse, match=r"window 7.*item 2.*unreadable \('twenty'\).*'perKwh'"
    ):
        read_amber_prices(path, where="window 7")


def test_undocumented_extra_fields_are_ignored(tmp_path):
    recs = [interval(T0, 5, "general", newField={"x": 1}, anotherOne="y")]
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(recs))
    ((data, _),) = read_amber_prices(path)
    assert data["price_per_kwh"][0] == pytest.approx(0.25)


def test_a_json_object_instead_of_an_array_is_a_malformed_response():
    from energylib.ingest.http import MalformedResponse

    with pytest.raises(MalformedResponse, match="expected a JSON array"):
        read_amber_prices({"error": "unexpected"}, where="window 2025-01-01..2025-01-08")
