"""The perfect-foresight optimum on cases small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_cases import assert_soc_follows_the_flows, make_case

from energylib.dispatch.assets import EV, Battery, DrivingProfile
from energylib.dispatch.lp import Model
from energylib.dispatch.optimum import OptimumOptions, optimise
from energylib.dispatch.rules import dispatch_rules


def test_lp_layer_reads_like_the_maths():
    # minimise sum(c * x) with x[t] - x[t-1] == 1, x[0] == 1 -> x = 1, 2, 3
    m = Model(3)
    x = m.variable("x", upper=10)
    first = np.array([1.0, 0, 0])
    m.constrain("steps", x - x.shift(1) == 1.0 * (1 - first) + first)
    m.minimise(np.array([1.0, 1.0, 1.0]) * x)
    sol = m.solve()
    np.testing.assert_allclose(sol["x"], [1, 2, 3])
    assert sol.objective == pytest.approx(6)


def test_battery_charges_cheap_and_discharges_at_the_peak():
    b = Battery(
        capacity_kwh=4,
        charge_kw=2,
        discharge_kw=2,
        round_trip_efficiency=0.81,
        soc_min_fraction=0.0,
        initial_soc_fraction=0.0,
    )
    price = np.array([0.10, 0.10, 0.50, 0.50])
    f = optimise(np.ones(4), np.zeros(4), price, np.zeros(4), 60, battery=b)
    # charge 2+2 kWh AC (stores 3.6), discharge 3.6 * 0.9 = 3.24 AC over the peak, capped by load 1+1
    np.testing.assert_allclose(f.battery_discharge_kwh[2:], [1, 1], atol=1e-7)
    bill = (f.import_kwh * price).sum()
    # the cheapest plan: store exactly what the peak needs (2 kWh AC out = 2 / 0.81 AC in)
    assert bill == pytest.approx(0.1 * (2 + 2 / 0.81), rel=1e-6)


@pytest.fixture(scope="module")
def mixed_case():
    """Four hourly days with a battery, an EV on the cheapest slots, V2H, V2G, negative prices."""
    return make_case(
        7,
        days=4,
        minutes=60,
        with_battery=True,
        with_ev=True,
        strategy="cheapest",
        v2h=True,
        v2g=True,
        limited_grid=False,
        negative_prices=True,
    )


def _rolling(c, window_days: float, step_days: float):
    options = OptimumOptions(window_days=window_days, step_days=step_days)
    return optimise(c.load, c.pv, c.imp, c.exp, c.minutes, options=options, **c.kwargs)


def test_rolling_windows_cost_no_less_than_the_whole_year(mixed_case):
    c = mixed_case
    whole = optimise(c.load, c.pv, c.imp, c.exp, c.minutes, **c.kwargs)
    rolling = _rolling(c, 2, 1)
    rolling.check_balance()
    cost = lambda f: (f.import_kwh * c.imp - f.export_kwh * c.exp).sum()  # noqa: E731
    assert cost(whole) <= cost(rolling) + 1e-6


@pytest.mark.parametrize(("window_days", "step_days"), [(2.0, 1.0), (1.5, 0.5), (1.0, 1.0)])
def test_rolling_windows_carry_the_state_of_charge_at_every_interval(
    mixed_case, window_days, step_days
):
    """Each window starts where the kept part of the one before ended: the SoC follows its
    dynamics at every interval, window boundaries included (a window starting from the end
    of the previous window instead jumps there)."""
    f = _rolling(mixed_case, window_days, step_days)
    assert_soc_follows_the_flows(f, mixed_case, atol=1e-6)
    # the battery and the car both move across the boundaries (so the check has bite)
    assert f.battery_charge_kwh.sum() > 1.0 and f.ev_charge_kwh.sum() > 1.0


def test_v2h_without_v2g_never_exports_the_car():
    ev = EV(
        capacity_kwh=50,
        initial_soc_fraction=0.9,
        max_soc_fraction=0.9,
        departure_soc_fraction=0.5,
        reserve_soc_fraction=0.2,
        wear_cost_per_kwh=0.0,
        driving=DrivingProfile(weekday_km=0, weekend_km=0),
    )
    local = np.datetime64("2025-03-03T00:00") + np.arange(6) * np.timedelta64(60, "m")
    a = ev.arrays(local, 60)
    credit = np.full(6, 2.0)  # exporting would pay handsomely
    f = optimise(
        np.full(6, 0.5), np.zeros(6), np.full(6, 2.5), credit, 60, ev=ev, ev_arrays=a, v2h=True
    )
    assert f.export_kwh.sum() == pytest.approx(0, abs=1e-7)
    assert f.ev_discharge_kwh.sum() == pytest.approx(3.0, rel=1e-6)  # the whole home load
    g = optimise(
        np.full(6, 0.5),
        np.zeros(6),
        np.full(6, 2.5),
        credit,
        60,
        ev=ev,
        ev_arrays=a,
        v2h=True,
        v2g=True,
    )
    assert g.export_kwh.sum() > 1.0


def test_optimum_beats_the_rules_on_a_random_week():
    c = make_case(
        11,
        days=7,
        minutes=60,
        with_battery=True,
        with_ev=True,
        strategy="solar_cheapest",
        v2h=False,
        v2g=False,
        limited_grid=True,
        negative_prices=True,
    )
    best = optimise(c.load, c.pv, c.imp, c.exp, c.minutes, **c.kwargs)
    rule = dispatch_rules(c.load, c.pv, c.imp, c.exp, c.minutes, ev_strategy=c.strategy, **c.kwargs)
    cost = lambda f: (f.import_kwh * c.imp - f.export_kwh * c.exp).sum()  # noqa: E731
    assert cost(best) < cost(rule)
    assert best.departures_missed.size == 0
