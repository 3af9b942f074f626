"""EPW files (energylib.ingest.weather.read_tmy): PVGIS's UTC rows, EnergyPlus's local rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from energylib.ingest.weather import WeatherDataError, read_tmy

LAT, LON, ELEV = 45.0, 8.0, 250.0  # Piedmont, UTC+1: the site of pvlib's PVGIS EPW sample
# A TMY's months come from different years; March 2016 follows a leap February and
# January 2012 starts a leap year, where a one-hour shift lands on Feb 29 or Dec 31.
MONTH_YEARS = {
    1: 2012,
    2: 2015,
    3: 2016,
    4: 2007,
    5: 2019,
    6: 2010,
    7: 2020,
    8: 2008,
    9: 2013,
    10: 2021,
    11: 2005,
    12: 2016,
}


def epw_rows(wall_starts: pd.DatetimeIndex, weather: pd.DataFrame) -> list[str]:
    """EPW data lines (hour 1 = the interval 00:00-01:00 on the file's clock)."""
    lines = []
    for t, r in zip(wall_starts, weather.itertuples(), strict=True):
        end_hour = t.hour + 1
        fields = [
            t.year,
            t.month,
            t.day,
            end_hour,
            0,
            "B8B8E8B8?1A1A1A1?0?0?0?0B8B8?0?0?0?0?0?0?0?0",
        ]
        fields += [f"{r.temp_air:.2f}", "1.00", "80.00", "99000.00", 9999, 9999, "300.00"]
        fields += [f"{r.ghi:.2f}", f"{r.dni:.2f}", f"{r.dhi:.2f}", 999999, 999999, 999999, 9999]
        fields += [
            180,
            f"{r.wind_speed:.1f}",
            99,
            99,
            9999,
            99999,
            9,
            999999999,
            999,
            0.999,
            999,
            99,
            0.2,
            999,
            99,
        ]
        lines.append(",".join(str(f) for f in fields))
    return lines


def clear_sky_tmy(clock_zone: str) -> tuple[pd.DatetimeIndex, pd.DataFrame]:
    """A clear-sky typical year whose rows run Jan 1 00:00 .. Dec 31 23:00 on ``clock_zone``."""
    walls = []
    for month, year in MONTH_YEARS.items():
        start = pd.Timestamp(year=year, month=month, day=1)
        end = start + pd.offsets.MonthBegin(1)
        hours = pd.date_range(start, end, freq="h", inclusive="left")
        walls.append(hours[~((hours.month == 2) & (hours.day == 29))])
    wall = walls[0].append(walls[1:])
    starts = wall.tz_localize(clock_zone)
    loc = pvlib.location.Location(LAT, LON, altitude=ELEV)
    cs = loc.get_clearsky(starts + pd.Timedelta(minutes=30))
    weather = cs.assign(temp_air=15.0, wind_speed=2.0)
    return wall, weather


def write_epw(path: Path, header_location: str, comments: str, lines: list[str]) -> Path:
    head = [
        header_location,
        "DESIGN CONDITIONS,0",
        "TYPICAL/EXTREME PERIODS,0",
        "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVING,No,0,0,0",
        f"COMMENTS 1,{comments}",
        "COMMENTS 2,",
        "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    path.write_text("\n".join(head + lines) + "\n")
    return path


@pytest.fixture
def pvgis_epw(tmp_path) -> Path:
    # PVGIS writes UTC rows under a header that gives the site's offset (UTC+1 here).
    wall, weather = clear_sky_tmy("UTC")
    return write_epw(
        tmp_path / "tmy_45.000_8.000_2005_2023.epw",
        f"LOCATION,unknown,-,unknown,ECMWF/ERA,unknown,{LAT:.6f},{LON:.6f},1,{ELEV:.0f}",
        "Weather Analytics - Sensor Point System data - based on the ECMWF-ERA",
        epw_rows(wall, weather),
    )


def irradiance_centroid_utc_h(data) -> float:
    """Mean of GHI-weighted interval midpoints over a day [h UTC], all days pooled."""
    t = data["interval_start"].to_numpy()
    hours = (t - t.astype("datetime64[D]")) / np.timedelta64(1, "h") + 0.5
    ghi = data["ghi_w_m2"].to_numpy()
    return float((ghi * hours).sum() / ghi.sum())


def test_pvgis_epw_rows_are_utc_whatever_the_header_says(pvgis_epw):
    data, meta = read_tmy(pvgis_epw)
    assert (meta.source, meta.extra["rows_clock"], meta.extra["utc_offset_h"]) == (
        "pvgis",
        "UTC",
        1.0,
    )
    assert meta.site == "45.000,8.000" and meta.timezone == "Etc/GMT-1"
    # Solar noon at 8 E is about 11:28 UTC (plus the equation of time, which averages out):
    # the header's UTC+1 would have put the day's light an hour early.
    assert abs(irradiance_centroid_utc_h(data) - (12 - LON / 15)) < 0.1


def test_pvgis_epw_maps_onto_1990_without_a_leap_day_error(pvgis_epw):
    data, meta = read_tmy(pvgis_epw)  # default year=1990
    t = data["interval_start"]
    assert data.height == 8760
    assert t[0].isoformat() == "1990-01-01T00:00:00+00:00"
    assert t[-1].isoformat() == "1990-12-31T23:00:00+00:00"
    assert meta.extra["source_years"][3] == [2016]


def test_pvgis_epw_values_stay_on_their_utc_hour(pvgis_epw):
    wall, weather = clear_sky_tmy("UTC")
    data, _ = read_tmy(pvgis_epw, year=None)
    row = wall.get_loc(pd.Timestamp("2016-03-01 11:00"))
    got = data.filter(data["interval_start"] == pd.Timestamp("2016-03-01 11:00", tz="UTC"))
    assert got["ghi_w_m2"][0] == pytest.approx(weather["ghi"].iloc[row], abs=0.01)


def test_the_header_clock_can_be_forced(pvgis_epw):
    utc, _ = read_tmy(pvgis_epw)
    trusted, meta = read_tmy(pvgis_epw, epw_clock="header")
    assert meta.extra["rows_clock"] == "Etc/GMT-1"
    # the same wall times read as UTC+1 are an hour earlier in UTC
    assert np.array_equal(
        trusted["interval_start"].to_numpy(),
        utc["interval_start"].to_numpy() - np.timedelta64(1, "h"),
    )
    with pytest.raises(ValueError, match="epw_clock"):
        read_tmy(pvgis_epw, epw_clock="local")


def test_an_energyplus_epw_runs_on_local_standard_time(tmp_path):
    wall, weather = clear_sky_tmy("Etc/GMT-1")  # rows on the header's UTC+1
    path = write_epw(
        tmp_path / "ITA_Torino.epw",
        f"LOCATION,Torino,PIE,ITA,IGDG,160590,{LAT},{LON},1.0,{ELEV}",
        "IGDG data",
        epw_rows(wall, weather),
    )
    data, meta = read_tmy(path, year=2025)
    assert (meta.source, meta.site, meta.extra["rows_clock"]) == ("epw", "Torino,ITA", "Etc/GMT-1")
    assert data["interval_start"][0].isoformat() == "2024-12-31T23:00:00+00:00"
    assert abs(irradiance_centroid_utc_h(data) - (12 - LON / 15)) < 0.1


def test_a_broken_epw_is_named(tmp_path):
    path = tmp_path / "broken.epw"
    path.write_text("LOCATION,x\nnot an epw\n")
    with pytest.raises(WeatherDataError, match="broken.epw"):
        read_tmy(path)
