"""Synthetic weather and the PV it gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from energylib.simulate.weather import generate_weather
from energylib.site import AMSTERDAM, SYDNEY
from energylib.solar import PVSystem, annual_yield_kwh_per_kwdc, to_pvlib_weather


@pytest.fixture(scope="module")
def sydney(nem_year):
    frame, meta = nem_year["weather"]
    return to_pvlib_weather(frame, meta.timezone)


def test_irradiance_never_negative_and_dark_at_night(sydney):
    assert (sydney[["ghi", "dni", "dhi"]] >= 0).all().all()
    midnight = sydney.index.hour == 0
    assert (sydney.loc[midnight, "ghi"] == 0).all()


def test_ghi_never_far_above_clear_sky():
    w = generate_weather(
        SYDNEY, pd.Timestamp("2025-01-01T00:00Z"), pd.Timestamp("2025-02-01T00:00Z"), 5, 3
    )
    assert (w["ghi"] <= 1.081 * w["ghi_clear"] + 1e-9).all()
    assert (w["dhi"] <= w["ghi"] + 1e-9).all()


def test_annual_ghi_is_sydney_like(sydney):
    kwh_m2 = sydney["ghi"].sum() * 5 / 60 / 1000
    assert 1_550 < kwh_m2 < 1_800  # Sydney: ~1,650-1,700 kWh/m2/yr


def test_pv_yield_per_kwdc_in_published_sydney_range(sydney):
    y = annual_yield_kwh_per_kwdc(sydney, SYDNEY, PVSystem(6.6, tilt_deg=20), 5)
    assert 1_300 <= y <= 1_550, y


def test_reference_pv_frame_is_the_same_model(nem_year, sydney):
    pv, meta = nem_year["pv"]
    assert meta.kind == "pv"
    y = pv["pv_kwh"].sum() / 6.6
    assert y == pytest.approx(annual_yield_kwh_per_kwdc(sydney, SYDNEY, PVSystem(6.6), 5), rel=1e-9)


def test_cloudy_and_clear_spells_persist(sydney):
    noon = sydney.between_time("11:00", "13:00")
    daily = (noon["ghi"].groupby(noon.index.date).mean()).to_numpy()
    lag1 = np.corrcoef(daily[:-1], daily[1:])[0, 1]
    assert lag1 > 0.25  # tomorrow tends to look like today


def test_seasons_have_the_right_sign():
    syd = generate_weather(
        SYDNEY, pd.Timestamp("2025-01-01T00:00Z"), pd.Timestamp("2026-01-01T00:00Z"), 60, 5
    )
    ams = generate_weather(
        AMSTERDAM, pd.Timestamp("2025-01-01T00:00Z"), pd.Timestamp("2026-01-01T00:00Z"), 60, 5
    )
    by_month = lambda w, c: w[c].groupby(w.index.month).mean()  # noqa: E731
    assert by_month(syd, "temp_air")[1] > by_month(syd, "temp_air")[7] + 6
    assert by_month(ams, "temp_air")[7] > by_month(ams, "temp_air")[1] + 10
    assert by_month(ams, "ghi")[6] > 4 * by_month(ams, "ghi")[12]


def test_temperature_peaks_in_the_afternoon(sydney):
    by_hour = sydney["temp_air"].groupby(sydney.index.hour).mean()
    assert 13 <= by_hour.idxmax() <= 16
    assert 3 <= by_hour.idxmin() <= 7 or by_hour.idxmin() in (0, 1, 2)


def test_same_seed_same_weather_other_seed_differs():
    a = generate_weather(
        SYDNEY, pd.Timestamp("2025-03-01T00:00Z"), pd.Timestamp("2025-03-08T00:00Z"), 5, 11
    )
    b = generate_weather(
        SYDNEY, pd.Timestamp("2025-03-01T00:00Z"), pd.Timestamp("2025-03-08T00:00Z"), 5, 11
    )
    c = generate_weather(
        SYDNEY, pd.Timestamp("2025-03-01T00:00Z"), pd.Timestamp("2025-03-08T00:00Z"), 5, 12
    )
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ghi"], c["ghi"])
