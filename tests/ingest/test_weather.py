"""Weather: pvlib's bundled TMY3 files, PVGIS TMY (file and a loopback server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import polars as pl
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.ingest.weather import (
    WEATHER_COLUMNS,
    WeatherDataError,
    bundled_tmy_files,
    get_pvgis_tmy,
    pvgis_tmy_json,
    read_tmy,
)

GREENSBORO = next(p for p in bundled_tmy_files() if p.name.startswith("723170"))


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


# --------------------------------------------------------------------------- TMY3
def test_pvlib_bundles_two_tmy3_files():
    names = sorted(p.name for p in bundled_tmy_files())
    assert names == ["703165TY.csv", "723170TYA.CSV"]


def test_tmy3_is_a_continuous_calendar_year_in_utc():
    data, meta = read_tmy(GREENSBORO, year=2025)
    assert data.columns == ["interval_start", *WEATHER_COLUMNS]
    assert (meta.source, meta.kind, meta.interval_minutes, meta.channel) == (
        "tmy3",
        "weather",
        60,
        "tmy",
    )
    assert meta.timezone == "Etc/GMT+5" and "723170" in meta.site
    assert data.height == 8760
    # local standard time UTC-5: the year runs from 05:00 UTC on Jan 1 to 05:00 UTC a year later
    assert data["interval_start"][0] == utc(2025, 1, 1, 5)
    assert data["interval_start"][-1] == utc(2026, 1, 1, 4)
    assert data["interval_start"].diff().drop_nulls().unique().to_list() == [timedelta(hours=1)]


def test_tmy3_hour_end_stamps_become_interval_starts():
    raw, _ = pvlib.iotools.read_tmy3(GREENSBORO, map_variables=True)
    data, _ = read_tmy(GREENSBORO, year=1990)
    # pvlib's row stamped 13:00 (local, hour ending) is the 12:00-13:00 local hour = 17:00 UTC
    row = raw.iloc[12]
    assert raw.index[12].hour == 13
    got = data.filter(pl.col("interval_start") == utc(1990, 1, 1, 17)).row(0, named=True)
    assert (
        got["ghi_w_m2"] == row["ghi"]
        and got["dni_w_m2"] == row["dni"]
        and got["dhi_w_m2"] == row["dhi"]
    )
    assert got["temp_air_c"] == row["temp_air"] and got["wind_speed_m_s"] == row["wind_speed"]


def test_tmy3_irradiance_peaks_around_local_solar_noon():
    data, _ = read_tmy(GREENSBORO)
    by_hour = (
        data.with_columns(local_hour=(pl.col("interval_start").dt.hour().cast(pl.Int32) - 5) % 24)
        .group_by("local_hour")
        .agg(pl.col("ghi_w_m2").mean())
        .sort("ghi_w_m2")
    )
    # Greensboro (79.95 W) is 5 degrees west of the UTC-5 meridian: solar noon ~12:20 standard time,
    # so the brightest hour starts at 11 or 12; the night hours have none
    assert by_hour["local_hour"][-1] in (11, 12)
    night = data.filter(
        ((pl.col("interval_start").dt.hour().cast(pl.Int32) - 5) % 24).is_in([0, 1, 2, 3])
    )
    assert night["ghi_w_m2"].max() == 0


def test_tmy_year_none_keeps_the_mixed_source_years():
    data, meta = read_tmy(GREENSBORO, year=None)
    years = meta.extra["source_years"]
    assert len({y for ys in years.values() for y in ys}) > 3  # months from many years
    assert data.height == 8760 and data["interval_start"].is_sorted()
    assert data["interval_start"].dt.year().min() < 1990


def test_tmy_onto_a_leap_year_leaves_feb_29_as_a_gap():
    data, _ = read_tmy(GREENSBORO, year=2024)
    local = data["interval_start"] - timedelta(hours=5)
    assert data.height == 8760
    assert not ((local.dt.month() == 2) & (local.dt.day() == 29)).any()


def test_both_bundled_files_read_with_plausible_values():
    for path in bundled_tmy_files():
        data, meta = read_tmy(path)
        assert data.height == 8760
        assert data["ghi_w_m2"].min() >= 0 and data["ghi_w_m2"].max() < 1400
        assert data["temp_air_c"].min() > -60 and data["temp_air_c"].max() < 50
        assert data["wind_speed_m_s"].min() >= 0


def test_missing_file_names_the_bundled_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="723170TYA"):
        read_tmy(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- PVGIS
def pvgis_like() -> pd.DataFrame:
    """A year of hourly pvlib-named weather stamped in UTC with months from different years."""
    raw, _ = pvlib.iotools.read_tmy3(GREENSBORO, map_variables=True, coerce_year=2010)
    df = raw[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].copy()
    idx = pd.date_range("2010-01-01", periods=8760, freq="h", tz="UTC")
    years = {m: 2005 + (m * 7) % 13 for m in range(1, 13)}  # e.g. Jan 2012, Feb 2006 ...
    df.index = pd.DatetimeIndex([t.replace(year=years[t.month]) for t in idx])
    return df


def test_pvgis_tmy_json_file_maps_months_onto_one_year(tmp_path):
    df = pvgis_like()
    path = tmp_path / "tmy_45.000_8.000.json"
    path.write_text(pvgis_tmy_json(df, 45.0, 8.0, 250.0))
    data, meta = read_tmy(path, year=2025)
    assert (meta.source, meta.site, meta.timezone) == ("pvgis", "45.000,8.000", "UTC")
    assert meta.extra["months_selected"][0] == {"month": 1, "year": 2012}
    assert data.height == 8760
    assert data["interval_start"][0] == utc(2025, 1, 1) and data["interval_start"][-1] == utc(
        2025, 12, 31, 23
    )
    assert data["ghi_w_m2"].to_list() == df["ghi"].astype(float).tolist()


def pvgis_csv(df: pd.DataFrame, lat: float, lon: float, elevation: float) -> bytes:
    """PVGIS's TMY csv layout: location lines, months selected, the hourly table, a legend."""
    lines = [
        f"Latitude (decimal degrees): {lat:.3f}",
        f"Longitude (decimal degrees): {lon:.3f}",
        f"Elevation (m): {elevation:.1f}",
        "Irradiance Time Offset (h): 0.1761",
        "month,year",
    ]
    years = {t.month: t.year for t in df.index}
    lines += [f"{m},{years[m]}" for m in range(1, 13)]
    lines.append("time(UTC),T2m,RH,G(h),Gb(n),Gd(h),IR(h),WS10m,WD10m,SP")
    for t, r in df.iterrows():
        lines.append(
            f"{t:%Y%m%d:%H%M},{r.temp_air},70.0,{r.ghi},{r.dni},{r.dhi},300.0,{r.wind_speed},180.0,101325.0"
        )
    lines += [
        "T2m: 2-m air temperature (degree Celsius)",
        "G(h): Global irradiance on the horizontal plane (W/m2)",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_pvgis_tmy_csv_file_reads_like_the_json(tmp_path):
    df = pvgis_like()
    path = tmp_path / "tmy_45.000_8.000_2005_2023.csv"
    path.write_bytes(pvgis_csv(df, 45.0, 8.0, 250.0))
    data, meta = read_tmy(path, year=2025)
    assert meta.source == "pvgis" and meta.extra["latitude"] == 45.0
    assert meta.extra["months_selected"][1] == {"month": 2, "year": 2006}
    assert data.height == 8760 and data["interval_start"][0] == utc(2025, 1, 1)
    assert data["dni_w_m2"].to_list() == df["dni"].astype(float).tolist()


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=1950, max_value=2100))
def test_tmy_onto_any_year_is_one_sorted_year_without_duplicates(year):
    data, _ = read_tmy(GREENSBORO, year=year)
    t = data["interval_start"]
    assert t.is_sorted() and t.n_unique() == data.height == 8760
    assert t[0] == utc(year, 1, 1, 5)
    local = t - timedelta(hours=5)
    assert (local.dt.year() == year).all()


def test_get_pvgis_tmy_from_a_local_server(httpserver):
    df = pvgis_like()
    httpserver.expect_request(
        "/api/tmy", query_string={"lat": "52.1", "lon": "5.18", "outputformat": "json"}
    ).respond_with_data(pvgis_tmy_json(df, 52.1, 5.18), content_type="application/json")
    data, meta = get_pvgis_tmy(
        52.1, 5.18, url=httpserver.url_for("/api/"), year=2025, timezone="Europe/Amsterdam"
    )
    assert meta.timezone == "Europe/Amsterdam" and meta.extra["latitude"] == 52.1
    assert data.height == 8760
    assert data["temp_air_c"].to_list() == df["temp_air"].astype(float).tolist()


def test_pvgis_error_message_is_passed_on(httpserver):
    httpserver.expect_request("/api/tmy").respond_with_json(
        {"message": "Location over the sea. Please, check your input.", "status": 400}, status=400
    )
    with pytest.raises(WeatherDataError, match="Location over the sea"):
        get_pvgis_tmy(40.0, -30.0, url=httpserver.url_for("/api/"))
