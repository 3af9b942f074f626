"""Rule policies and EV strategies behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from energylib.dispatch.assets import EV, Battery, DrivingProfile, GridLimits
from energylib.dispatch.rules import (
    ForecastPolicy,
    PriceThreshold,
    SelfConsumption,
    dispatch_rules,
    persistence,
)

H = 1.0  # 60-min intervals


def day(values):
    return np.asarray(values, dtype=float)


def test_self_consumption_stores_surplus_and_covers_the_evening():
    load = day([1, 1, 1, 1])
    pv = day([0, 4, 0, 0])
    price = day([0.3] * 4)
    b = Battery(
        capacity_kwh=10,
        charge_kw=5,
        discharge_kw=5,
        round_trip_efficiency=1.0,
        soc_min_fraction=0.0,
        initial_soc_fraction=0.0,
    )
    f = dispatch_rules(load, pv, price, day([0.05] * 4), 60, policy=SelfConsumption(), battery=b)
    np.testing.assert_allclose(f.battery_charge_kwh, [0, 3, 0, 0])
    np.testing.assert_allclose(f.battery_discharge_kwh, [0, 0, 1, 1])
    np.testing.assert_allclose(f.import_kwh, [1, 0, 0, 0])
    assert f.export_kwh.sum() == 0


def test_self_consumption_never_charges_from_the_grid():
    load = day([0.5] * 24)
    price = np.where(np.arange(24) < 6, -0.1, 0.4)
    f = dispatch_rules(
        load, np.zeros(24), price, np.zeros(24), 60, policy=SelfConsumption(), battery=Battery()
    )
    assert f.battery_charge_kwh.sum() == 0


def test_price_threshold_charges_cheap_and_holds_for_the_peak():
    price = day([0.05, 0.05, 0.3, 0.3, 0.6, 0.6])
    load = day([1] * 6)
    b = Battery(
        capacity_kwh=4,
        charge_kw=2,
        discharge_kw=2,
        round_trip_efficiency=1.0,
        soc_min_fraction=0.0,
        initial_soc_fraction=0.0,
    )
    f = dispatch_rules(
        load,
        np.zeros(6),
        price,
        np.zeros(6),
        60,
        policy=PriceThreshold(charge_below_per_kwh=0.1, discharge_above_per_kwh=0.5),
        battery=b,
    )
    np.testing.assert_allclose(f.battery_charge_kwh, [2, 2, 0, 0, 0, 0])
    np.testing.assert_allclose(f.battery_discharge_kwh, [0, 0, 0, 0, 1, 1])


def test_forecast_policy_uses_the_given_forecast():
    price = day([0.1, 0.5] * 12)
    load = day([1.0] * 24)
    b = Battery(
        capacity_kwh=2,
        charge_kw=2,
        discharge_kw=2,
        round_trip_efficiency=1.0,
        soc_min_fraction=0.0,
        initial_soc_fraction=0.0,
    )
    # a forecast that (wrongly) says every price is the same: no arbitrage
    flat = ForecastPolicy(price_forecast_per_kwh=np.full(24, 0.3), load_forecast_kwh=load)
    f_flat = dispatch_rules(load, np.zeros(24), price, np.zeros(24), 60, policy=flat, battery=b)
    assert f_flat.battery_charge_kwh.sum() == 0
    f_true = dispatch_rules(
        load, np.zeros(24), price, np.zeros(24), 60, policy=ForecastPolicy(), battery=b
    )
    assert f_true.battery_charge_kwh.sum() > 0
    cost = lambda f: (f.import_kwh * price).sum()  # noqa: E731
    assert cost(f_true) < cost(f_flat)


def test_persistence_forecast_is_yesterday():
    x = np.arange(6.0)
    np.testing.assert_allclose(persistence(x, 2), [0, 1, 0, 1, 2, 3])


def test_export_limit_curtails_pv_not_generation():
    pv = day([5.0])
    f = dispatch_rules(day([1.0]), pv, day([0.3]), day([0.05]), 60, grid=GridLimits(export_kw=2.0))
    assert f.export_kwh[0] == pytest.approx(2.0) and f.curtailed_kwh[0] == pytest.approx(2.0)
    assert f.pv_kwh[0] == 5.0


def test_negative_feed_in_curtails_instead_of_paying_to_export():
    f = dispatch_rules(day([1.0]), day([3.0]), day([0.3]), day([-0.05]), 60)
    assert f.export_kwh[0] == 0 and f.curtailed_kwh[0] == pytest.approx(2.0)


def test_capacity_fades_with_cycles():
    n = 24 * 60
    load = np.tile(day([0] * 12 + [2] * 12), 60)
    pv = np.tile(day([0] * 6 + [4] * 6 + [0] * 12), 60)
    b = Battery(capacity_kwh=10, fade_per_cycle_fraction=0.001)
    f = dispatch_rules(load, pv, np.full(n, 0.3), np.zeros(n), 60, battery=b)
    assert f.battery_capacity_kwh[0] == 10 and f.battery_capacity_kwh[-1] < 10 * (1 - 0.001 * 30)
    assert (np.diff(f.battery_capacity_kwh) <= 1e-12).all()


def _ev(**kw) -> EV:
    return EV(
        capacity_kwh=60,
        charger_kw=7,
        charge_efficiency=1.0,
        discharge_efficiency=1.0,
        departure_soc_fraction=0.8,
        max_soc_fraction=0.9,
        initial_soc_fraction=0.5,
        reserve_soc_fraction=0.3,
        wear_cost_per_kwh=0.05,
        driving=DrivingProfile(weekday_km=0, weekend_km=0),
        **kw,
    )


def _overnight(ev: EV, hours: int = 24):
    # the car is home all day, leaving at hours (departure requirement at the last interval)
    local = np.datetime64("2025-03-03T00:00") + np.arange(hours) * np.timedelta64(60, "m")
    a = ev.arrays(local, 60)
    req = np.zeros(hours)
    req[-1] = ev.departure_soc_fraction * ev.capacity_kwh
    nxt = np.full(hours, hours - 1)
    return type(a)(
        home=np.ones(hours, bool), trip_kwh=np.zeros(hours), required_kwh=req, next_departure=nxt
    )


def test_immediate_charges_at_the_charger_limit_on_arrival():
    ev = _ev()
    a = _overnight(ev)
    f = dispatch_rules(
        np.zeros(24),
        np.zeros(24),
        np.full(24, 0.3),
        np.zeros(24),
        60,
        ev=ev,
        ev_arrays=a,
        ev_strategy="immediate",
    )
    np.testing.assert_allclose(f.ev_charge_kwh[:3], [7, 7, 7])
    assert f.ev_soc_kwh[-1] == pytest.approx(0.9 * 60)


def test_cheapest_charges_in_the_cheapest_intervals_before_departure():
    ev = _ev()
    a = _overnight(ev)
    price = np.full(24, 0.4)
    price[[3, 10, 20]] = 0.1  # need 18 kWh: three 7 kWh slots (the last one partly)
    f = dispatch_rules(
        np.zeros(24),
        np.zeros(24),
        price,
        np.zeros(24),
        60,
        ev=ev,
        ev_arrays=a,
        ev_strategy="cheapest",
    )
    assert set(np.flatnonzero(f.ev_charge_kwh > 1e-9)) == {3, 10, 20}
    assert f.ev_soc_kwh[-1] == pytest.approx(0.8 * 60)
    assert f.departures_missed.size == 0


def test_solar_only_charges_from_surplus_and_the_guard_meets_departure():
    ev = _ev()
    a = _overnight(ev)
    pv = np.zeros(24)
    pv[10:14] = 3.0
    f = dispatch_rules(
        np.full(24, 0.5),
        pv,
        np.full(24, 0.3),
        np.zeros(24),
        60,
        ev=ev,
        ev_arrays=a,
        ev_strategy="solar_only",
    )
    np.testing.assert_allclose(f.ev_charge_kwh[10:14], 2.5)
    assert f.ev_soc_kwh[-1] == pytest.approx(48.0)  # the guard tops up the last hours
    assert f.ev_charge_kwh[14:20].sum() == 0


def test_missed_departure_is_flagged_when_the_charger_cannot_make_it():
    ev = _ev()
    a = _overnight(ev, hours=2)  # 2 h at 7 kW cannot lift 30 -> 48 kWh
    f = dispatch_rules(
        np.zeros(2), np.zeros(2), np.full(2, 0.3), np.zeros(2), 60, ev=ev, ev_arrays=a
    )
    assert f.departures_missed.tolist() == [1]
    assert f.ev_shortfall_kwh[1] == pytest.approx(48 - 44)


def test_v2g_exports_only_when_the_credit_pays_for_wear_and_recharge():
    ev = _ev(bidirectional_kw=5)
    a = _overnight(ev, hours=6)
    a.required_kwh[-1] = 0.0  # no departure requirement in this window
    a.next_departure[:] = 6
    price = np.full(6, 0.2)
    credit = np.array([0.0, 0.24, 0.30, 0.0, 0.0, 0.0])  # threshold: 0.05 + 0.2 / 1 = 0.25
    f = dispatch_rules(
        np.zeros(6),
        np.zeros(6),
        price,
        credit,
        60,
        ev=ev,
        ev_arrays=a,
        ev_strategy="solar_only",
        v2g=True,
    )
    assert f.ev_discharge_kwh[1] == 0 and f.ev_discharge_kwh[2] == pytest.approx(5.0)
    assert f.export_kwh[2] == pytest.approx(5.0)


def test_v2h_serves_the_home_above_the_reserve_only():
    ev = _ev(bidirectional_kw=5)
    a = _overnight(ev, hours=4)
    a.required_kwh[-1] = 0.0
    a.next_departure[:] = 4
    f = dispatch_rules(
        np.full(4, 4.0),
        np.zeros(4),
        np.full(4, 0.4),
        np.zeros(4),
        60,
        ev=ev,
        ev_arrays=a,
        ev_strategy="solar_only",
        v2h=True,
    )
    # 30 kWh on board, reserve 18: 12 kWh to give
    assert f.ev_discharge_kwh.sum() == pytest.approx(12.0)
    assert f.ev_soc_kwh.min() == pytest.approx(18.0)
    assert f.export_kwh.sum() == 0


def test_inputs_of_the_wrong_shape_or_with_nan_are_rejected():
    from energylib.dispatch.optimum import optimise

    # the rules and the optimum share one input check: both refuse the same series
    for dispatch in (dispatch_rules, optimise):
        with pytest.raises(ValueError, match="pv_kwh has shape"):
            dispatch(np.ones(3), np.ones(2), np.ones(3), np.ones(3), 60)
        with pytest.raises(ValueError, match="NaN"):
            dispatch(np.ones(2), np.ones(2), np.array([0.1, np.nan]), np.ones(2), 60)
        with pytest.raises(ValueError, match="load_kwh holds NaN"):
            dispatch(np.array([1.0, np.nan]), np.ones(2), np.ones(2), np.ones(2), 60)
        with pytest.raises(ValueError, match=">= 0 kWh"):
            dispatch(np.ones(2), np.array([1.0, -0.5]), np.ones(2), np.ones(2), 60)
    with pytest.raises(ValueError, match="ev_strategy"):
        dispatch_rules(np.ones(2), np.ones(2), np.ones(2), np.ones(2), 60, ev_strategy="whenever")


def test_capacity_fades_with_calendar_years_in_rules_and_optimum():
    from energylib.dispatch.optimum import optimise

    n = 24 * 365 * 2  # two years at 60 min
    b = Battery(capacity_kwh=10, fade_per_year_fraction=0.02)
    zeros = np.zeros(n)
    f = dispatch_rules(zeros, zeros, np.full(n, 0.3), zeros, 60, battery=b)
    assert f.battery_capacity_kwh[0] == pytest.approx(10.0)
    assert f.battery_capacity_kwh[-1] == pytest.approx(10.0 * (1 - 0.02 * (n - 1) / 8760), rel=1e-6)
    short = 24 * 30
    g = optimise(
        np.zeros(short), np.zeros(short), np.full(short, 0.3), np.zeros(short), 60, battery=b
    )
    assert (g.battery_soc_kwh <= b.soc_max_fraction * g.battery_capacity_kwh + 1e-6).all()
    assert g.battery_capacity_kwh[-1] < 10.0
    # both fade the same calendar capacity, the one Battery.calendar_capacity_kwh gives
    np.testing.assert_allclose(g.battery_capacity_kwh, f.battery_capacity_kwh[:short], rtol=1e-12)
    np.testing.assert_allclose(g.battery_capacity_kwh, b.calendar_capacity_kwh(short, 60))
