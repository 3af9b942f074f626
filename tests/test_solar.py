"""PV model (energylib.solar): pvlib PVWatts chain on interval-start weather frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.site import AMSTERDAM, SYDNEY, Site
from energylib.solar import (
    PVSystem,
    annual_yield_kwh_per_kwdc,
    pv_ac_kwh,
    solar_position,
    to_pvlib_weather,
)


def clear_weather(site: Site, start: str, days: int, minutes: int) -> pd.DataFrame:
    idx = pd.date_range(
        start, periods=days * 1440 // minutes, freq=f"{minutes}min", tz=site.timezone
    )
    loc = pvlib.location.Location(site.latitude, site.longitude, site.timezone, site.altitude_m)
    cs = loc.get_clearsky(idx + pd.Timedelta(minutes=minutes / 2))
    cs.index = idx
    return cs.assign(temp_air=20.0, wind_speed=1.0)


def test_default_azimuth_faces_the_equator():
    assert PVSystem(5).azimuth_for(SYDNEY) == 0.0
    assert PVSystem(5).azimuth_for(AMSTERDAM) == 180.0
    assert PVSystem(5, azimuth_deg=90).azimuth_for(SYDNEY) == 90.0


def test_default_inverter_is_dc_over_1_32():
    assert PVSystem(6.6).kwac == pytest.approx(5.0)
    assert PVSystem(6.6, inverter_kwac=6.0).kwac == 6.0


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"kwdc": -1}, "kwdc"),
        ({"kwdc": 5, "tilt_deg": 95}, "tilt_deg"),
        ({"kwdc": 5, "losses_pct": 120}, "losses_pct"),
        ({"kwdc": 5, "inverter_kwac": 0}, "inverter_kwac"),
        ({"kwdc": 5, "azimuth_deg": 400}, "azimuth_deg"),
    ],
)
def test_bad_system_spec_names_the_field(kwargs, word):
    with pytest.raises(ValueError, match=word):
        PVSystem(**kwargs)


def test_sun_position_is_taken_at_interval_midpoint():
    idx = pd.date_range("2025-01-15", periods=24, freq="60min", tz="Australia/Sydney")
    pos = solar_position(idx, SYDNEY, 60)
    ref = pvlib.solarposition.get_solarposition(
        idx + pd.Timedelta(minutes=30),
        SYDNEY.latitude,
        SYDNEY.longitude,
        altitude=SYDNEY.altitude_m,
    )
    assert (pos.index == idx).all()
    np.testing.assert_allclose(pos["zenith"].to_numpy(), ref["zenith"].to_numpy())


@pytest.mark.parametrize("minutes", [5, 60])
def test_clear_day_energy_centres_on_solar_noon(minutes):
    w = clear_weather(SYDNEY, "2025-03-20", 1, minutes)
    e = pv_ac_kwh(w, SYDNEY, PVSystem(6.6, inverter_kwac=10), minutes)
    mid_h = (np.arange(len(e)) + 0.5) * minutes / 60.0  # local hours of interval midpoints
    centroid_h = float((e * mid_h).sum() / e.sum())
    transit = pvlib.solarposition.sun_rise_set_transit_spa(
        pd.DatetimeIndex([pd.Timestamp("2025-03-20", tz=SYDNEY.timezone)]),
        SYDNEY.latitude,
        SYDNEY.longitude,
    )["transit"].iloc[0]
    noon_h = transit.hour + transit.minute / 60 + transit.second / 3600
    assert abs(centroid_h - noon_h) < 5 / 60  # within 5 minutes, at either resolution


def test_inverter_clips_ac_output():
    w = clear_weather(SYDNEY, "2025-01-10", 2, 5)
    e = pv_ac_kwh(w, SYDNEY, PVSystem(10.0, inverter_kwac=4.0), 5)
    assert e.max() * 12 <= 4.0 + 1e-9
    assert (e * 12 >= 4.0 - 1e-6).sum() > 12  # it does clip around noon on a clear summer day


def test_no_output_at_night_and_never_negative():
    w = clear_weather(AMSTERDAM, "2025-06-01", 2, 15)
    e = pv_ac_kwh(w, AMSTERDAM, PVSystem(4.0), 15)
    assert (e >= 0).all()
    night = (w["ghi"] <= 0).to_numpy()
    assert night.any() and (e[night] == 0).all()


def test_export_limit_does_not_clip_generation():
    w = clear_weather(SYDNEY, "2025-01-10", 1, 5)
    a = pv_ac_kwh(w, SYDNEY, PVSystem(6.6), 5)
    b = pv_ac_kwh(w, SYDNEY, PVSystem(6.6, export_limit_kw=1.0), 5)
    np.testing.assert_array_equal(a, b)


def test_hotter_cells_produce_less():
    w = clear_weather(SYDNEY, "2025-01-10", 1, 5)
    cool = pv_ac_kwh(w.assign(temp_air=10.0), SYDNEY, PVSystem(5, inverter_kwac=10), 5).sum()
    hot = pv_ac_kwh(w.assign(temp_air=40.0), SYDNEY, PVSystem(5, inverter_kwac=10), 5).sum()
    assert hot < cool * 0.93


def test_clear_sky_yield_bounds_a_real_year():
    # Clear sky all year is an upper bound: Sydney's measured specific yield is
    # ~1,300-1,550 kWh/kWp; a clear-sky year must sit above it but not absurdly.
    w = clear_weather(SYDNEY, "2025-01-01", 365, 60)
    y = annual_yield_kwh_per_kwdc(w, SYDNEY, PVSystem(6.6), 60)
    assert 1_600 < y < 2_000


def test_to_pvlib_weather_renames_and_localises():
    t = pl.datetime_range(
        pd.Timestamp("2025-01-01T00:00Z"),
        pd.Timestamp("2025-01-01T01:00Z"),
        "30m",
        closed="left",
        time_zone="UTC",
        eager=True,
    )
    frame = pl.DataFrame(
        {
            "interval_start": t,
            "ghi_w_m2": [100.0, 200.0],
            "dni_w_m2": [1.0, 2.0],
            "dhi_w_m2": [3.0, 4.0],
            "temp_air_c": [20.0, 21.0],
            "wind_speed_m_s": [1.0, 2.0],
        }
    )
    out = to_pvlib_weather(frame, "Australia/Sydney")
    assert list(out.columns) == ["ghi", "dni", "dhi", "temp_air", "wind_speed"]
    assert str(out.index.tz) == "Australia/Sydney"
    assert out.index[0] == pd.Timestamp("2025-01-01T00:00Z")
    assert out["ghi"].tolist() == [100.0, 200.0]


def test_to_pvlib_weather_names_missing_columns():
    frame = pl.DataFrame({"interval_start": [pd.Timestamp("2025-01-01T00:00Z")], "ghi_w_m2": [1.0]})
    with pytest.raises(ValueError, match="dni_w_m2"):
        to_pvlib_weather(frame)


def test_naive_index_is_rejected():
    w = clear_weather(SYDNEY, "2025-01-10", 1, 60)
    w.index = w.index.tz_localize(None)
    with pytest.raises(ValueError, match="tz-aware"):
        pv_ac_kwh(w, SYDNEY, PVSystem(5), 60)


@settings(max_examples=30, deadline=None)
@given(kwdc=st.floats(0.5, 20), ratio=st.floats(0.8, 1.6), tilt=st.floats(0, 60))
def test_output_scales_within_inverter_and_nameplate(kwdc, ratio, tilt):
    w = clear_weather(SYDNEY, "2025-12-21", 1, 30)
    system = PVSystem(kwdc, tilt_deg=tilt, inverter_kwac=kwdc / ratio)
    e = pv_ac_kwh(w, SYDNEY, system, 30)
    assert (e >= 0).all()
    assert e.max() * 2 <= min(system.kwac, kwdc * 1.2) + 1e-9
