"""Open-Meteo: one parser for the archive and forecast APIs, with the API's time stamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.ingest.http import RetryPolicy
from energylib.ingest.open_meteo import (
    OpenMeteoError,
    get_open_meteo_forecast,
    get_open_meteo_history,
    read_open_meteo,
)


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


def open_meteo_body(
    start: date, days: int, *, wind_unit: str = "m/s", null_at: tuple[int, ...] = ()
) -> dict:
    """The archive API's real response shape (hourly block, GMT)."""
    n = 24 * days
    stamps = [
        (datetime(start.year, start.month, start.day) + timedelta(hours=h)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        for h in range(n)
    ]
    hour = np.arange(n) % 24
    ghi = np.clip(600 * np.sin((hour - 6) / 12 * np.pi), 0, None).round(1)
    series = {
        "shortwave_radiation": ghi.tolist(),
        "direct_normal_irradiance": (ghi * 1.2).round(1).tolist(),
        "diffuse_radiation": (ghi * 0.3).round(1).tolist(),
        "temperature_2m": (10 + hour * 0.25).round(1).tolist(),
        "wind_speed_10m": [3.6 * 2] * n if wind_unit == "km/h" else [2.0] * n,
    }
    for i in null_at:
        for v in series.values():
            v[i] = None
    units = {
        "time": "iso8601",
        "shortwave_radiation": "W/m²",
        "direct_normal_irradiance": "W/m²",
        "diffuse_radiation": "W/m²",
        "temperature_2m": "°C",
        "wind_speed_10m": wind_unit,
    }
    return {
        "latitude": 52.1,
        "longitude": 5.18,
        "generationtime_ms": 1.2,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 3.0,
        "hourly_units": units,
        "hourly": {"time": stamps, **series},
    }


def test_radiation_is_the_hour_before_its_stamp_and_temperature_the_value_at_its_stamp():
    """Open-Meteo's documented meanings: ``shortwave_radiation`` at T is the mean of
    [T - 1 h, T); ``temperature_2m`` at T is the air temperature at the instant T."""
    body = {
        "utc_offset_seconds": 3600,  # stamps in UTC+1
        "hourly": {
            "time": ["2025-06-01T12:00", "2025-06-01T13:00", "2025-06-01T14:00"],
            "shortwave_radiation": [500.0, 700.0, 650.0],
            "temperature_2m": [20.0, 21.0, 23.0],
        },
    }
    data, meta = read_open_meteo(body)
    # 13:00 local = 12:00 UTC: the hour 12:00-13:00 UTC has the radiation stamped 14:00 local
    # (mean of the hour before it) and the temperature stamped 13:00 local (its start).
    row = data.filter(pl.col("interval_start") == utc(2025, 6, 1, 12)).row(0, named=True)
    assert (row["ghi_w_m2"], row["temp_air_c"]) == (650.0, 21.0)
    assert data["interval_start"].to_list() == [utc(2025, 6, 1, 11), utc(2025, 6, 1, 12)]
    # The hour before the first stamp has no temperature, the hour of the last stamp no
    # radiation: both are gaps, counted.
    assert meta.extra["missing_hours"] == 2 and meta.interval_minutes == 60


def test_open_meteo_history_from_a_local_server(httpserver):
    httpserver.expect_request("/v1/archive").respond_with_json(
        open_meteo_body(date(2025, 6, 1), 3, null_at=(30,))
    )
    data, meta = get_open_meteo_history(
        52.1,
        5.18,
        utc(2025, 6, 1),
        date(2025, 6, 3),
        base_url=httpserver.url_for("/v1/archive"),
        timezone="Europe/Amsterdam",
    )
    (req, _), *_ = httpserver.log
    assert (
        req.args["hourly"]
        == "shortwave_radiation,direct_normal_irradiance,diffuse_radiation,temperature_2m,wind_speed_10m"
    )
    assert req.args["wind_speed_unit"] == "ms" and req.args["timezone"] == "GMT"
    assert (meta.source, meta.kind, meta.channel, meta.timezone) == (
        "open_meteo",
        "weather",
        "history",
        "Europe/Amsterdam",
    )
    # radiation stamped at the end of its hour: the 12:00 stamp is the 11:00-12:00 interval,
    # whose temperature is the one stamped 11:00
    assert data["interval_start"][0] == utc(2025, 6, 1)
    noon = data.filter(pl.col("interval_start") == utc(2025, 6, 1, 11)).row(0, named=True)
    assert noon["ghi_w_m2"] == pytest.approx(600.0)
    assert noon["temp_air_c"] == round(10 + 11 * 0.25, 1)  # stamp 11:00, not 12:00 (13.0)
    # stamp 30 (2025-06-02 06:00) had no values: the hour before it lacks radiation, the hour
    # from it its temperature; with the answer's first and last hours, 4 gaps, counted
    assert meta.extra["missing_hours"] == 4
    assert data.height == 46 and data["interval_start"][-1] == utc(2025, 6, 2, 23)
    gone = {utc(2025, 6, 2, 5), utc(2025, 6, 2, 6)}
    assert not gone & set(data["interval_start"].to_list())


def test_open_meteo_forecast_from_a_local_server(httpserver):
    body = open_meteo_body(date(2025, 6, 1), 4)
    keep = ("time", "temperature_2m", "shortwave_radiation")
    body["hourly"] = {k: v for k, v in body["hourly"].items() if k in keep}
    httpserver.expect_request("/v1/forecast").respond_with_json(body)
    data, meta = get_open_meteo_forecast(
        52.1, 5.18, base_url=httpserver.url_for("/v1"), site="home", timezone="Europe/Amsterdam"
    )
    (req, _), *_ = httpserver.log
    assert req.args["hourly"] == "temperature_2m,shortwave_radiation"
    assert (req.args["past_days"], req.args["forecast_days"], req.args["timezone"]) == (
        "2",
        "2",
        "UTC",
    )
    assert data.columns == ["interval_start", "ghi_w_m2", "temp_air_c"]
    assert (meta.site, meta.channel, meta.extra["missing_hours"]) == ("home", "general", 2)
    assert data.height == 4 * 24 - 1


def test_open_meteo_wind_in_km_per_h_is_converted():
    data, _ = read_open_meteo(open_meteo_body(date(2025, 1, 1), 1, wind_unit="km/h"))
    assert data["wind_speed_m_s"].to_list() == pytest.approx([2.0] * 23)


def test_open_meteo_error_reason_is_reported(httpserver):
    httpserver.expect_request("/v1/archive").respond_with_json(
        {"error": True, "reason": "Parameter 'start_date' is out of allowed range"}, status=400
    )
    with pytest.raises(OpenMeteoError, match="out of allowed range"):
        get_open_meteo_history(
            0,
            0,
            "2025-01-01",
            "2025-01-02",
            base_url=httpserver.url_for("/v1/archive"),
            policy=RetryPolicy(max_retries=0),
        )


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"latitude": 1}, "missing 'hourly'"),
        ({"hourly": {"time": ["2025-01-01T00:00"]}}, "none of the hourly variables"),
        (
            {"hourly": {"time": ["2025-01-01T00:00"], "temperature_2m": [1.0, 2.0]}},
            "arrays differ in length",
        ),
        ({"hourly": {"time": ["yesterday"], "temperature_2m": [1.0]}}, "malformed response"),
    ],
)
def test_open_meteo_malformed_body_names_the_request_and_the_fault(body, what):
    with pytest.raises(OpenMeteoError, match=f"Open-Meteo history 1,2: .*{what}"):
        read_open_meteo(body, where="Open-Meteo history 1,2")


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=1, max_value=5),
    st.sets(st.integers(min_value=0, max_value=119), max_size=10),
)
def test_open_meteo_rows_plus_missing_hours_account_for_every_hour(days, nulls):
    n = 24 * days
    nulls = {i for i in nulls if i < n}
    data, meta = read_open_meteo(open_meteo_body(date(2024, 2, 27), days, null_at=tuple(nulls)))
    # Hour i starts at stamp i (its temperature) and ends at stamp i + 1 (its radiation);
    # the answer spans hours -1 .. n - 1.
    complete = [i for i in range(-1, n) if i >= 0 and i + 1 < n and not {i, i + 1} & nulls]
    assert data.height == len(complete) and data.height + meta.extra["missing_hours"] == n + 1
    assert data["interval_start"].is_sorted() and data["interval_start"].n_unique() == data.height
