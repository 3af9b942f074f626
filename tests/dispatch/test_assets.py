"""Asset specs: driving arrays, grid limits, validation messages."""

from __future__ import annotations

from datetime import time

import numpy as np
import pytest

from energylib.dispatch.assets import (
    EV,
    MODEL_Y,
    POWERWALL_2,
    TRADING_SYSTEM_LIMITS,
    Battery,
    DrivingProfile,
    GridLimits,
)


def test_powerwall_and_model_y_defaults():
    assert (POWERWALL_2.capacity_kwh, POWERWALL_2.charge_kw, POWERWALL_2.round_trip_efficiency) == (
        13.5,
        5.0,
        0.9,
    )
    assert POWERWALL_2.eta_one_way == pytest.approx(0.9**0.5)
    assert MODEL_Y.charger_kw == 7.0 and MODEL_Y.capacity_kwh == 75.0


def test_ev_arrays_follow_weekday_and_weekend_trips():
    ev = EV(
        consumption_kwh_per_km=0.2,
        departure_soc_fraction=0.8,
        driving=DrivingProfile(
            weekday_km=50, weekend_km=0, weekday_departure=time(8), weekday_return=time(17, 30)
        ),
    )
    local = np.datetime64("2025-03-07T00:00") + np.arange(3 * 48) * np.timedelta64(
        30, "m"
    )  # Fri, Sat, Sun
    a = ev.arrays(local, 30)
    fri = slice(0, 48)
    assert not a.home[fri][16:35].any() and a.home[fri][:16].all() and a.home[fri][35:].all()
    assert a.home[48:].all()  # no weekend trips at 0 km
    assert a.trip_kwh.sum() == pytest.approx(50 * 0.2) and a.trip_kwh[16] == pytest.approx(10.0)
    assert np.flatnonzero(a.required_kwh).tolist() == [15]
    assert a.required_kwh[15] == pytest.approx(0.8 * 75)
    assert a.next_departure[0] == 15 and a.next_departure[16] == a.home.size


def test_trading_system_grid_limits_scale_to_the_interval():
    imp, exp = TRADING_SYSTEM_LIMITS.per_interval(5)
    assert imp == pytest.approx(10 / 6) and exp == pytest.approx(4 / 6)
    assert GridLimits(import_kw=12).per_interval(15) == (3.0, np.inf)
    assert GridLimits().per_interval(30, extra_export_kw=5.0) == (np.inf, 2.5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Battery(soc_min_fraction=0.8, soc_max_fraction=0.5), "window"),
        (lambda: Battery(round_trip_efficiency=1.2), "round_trip_efficiency"),
        (lambda: EV(departure_soc_fraction=0.95, max_soc_fraction=0.9), "charge limit"),
        (lambda: GridLimits(import_kw=5, import_kwh_per_interval=2), "not both"),
    ],
)
def test_bad_specs_say_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_initial_soc_is_clipped_into_the_window_and_both_dispatchers_start_there():
    from energylib.dispatch.optimum import optimise
    from energylib.dispatch.rules import dispatch_rules

    b = Battery(
        capacity_kwh=10, soc_min_fraction=0.2, soc_max_fraction=0.8, initial_soc_fraction=0.95
    )
    assert b.initial_soc_kwh == pytest.approx(8.0)
    assert Battery(
        capacity_kwh=10, soc_min_fraction=0.2, initial_soc_fraction=0.0
    ).initial_soc_kwh == (pytest.approx(2.0))
    # no load, no pv, exporting costs: the battery rests at its initial SoC
    z, fee = np.zeros(3), np.full(3, -0.1)
    for f in (
        dispatch_rules(z, z, np.full(3, 0.3), fee, 60, battery=b),
        optimise(z, z, np.full(3, 0.3), fee, 60, battery=b),
    ):
        np.testing.assert_allclose(f.battery_soc_kwh, 8.0, atol=1e-7)
