"""The optimum's LP built once and re-solved (lp.Model updates, DispatchLP, rolling windows)."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_cases import Case, assert_soc_follows_the_flows, cases
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.dispatch.assets import EVArrays
from energylib.dispatch.lp import Model
from energylib.dispatch.optimum import DispatchLP, OptimumOptions, optimise
from energylib.dispatch.rules import _plan_cheapest

TOL = 1e-6


def test_a_solved_model_takes_new_bounds_costs_and_right_hand_sides():
    # minimise sum(c x) with x[t] - x[t-1] == r[t], x[-1] = 0 on the right-hand side
    m = Model(3)
    x = m.variable("x", upper=10)
    m.constrain("steps", x - x.shift(1) == np.array([1.0, 1.0, 1.0]))
    m.minimise(np.ones(3) * x)
    np.testing.assert_allclose(m.solve()["x"], [1, 2, 3])
    m.set_rhs("steps", np.array([2.0, 0.0, 1.0]))
    np.testing.assert_allclose(m.solve()["x"], [2, 2, 3])
    m.set_bounds("x", upper=np.array([10, 10, 2.5]))
    with pytest.raises(Exception, match="HiGHS"):  # x[2] = 3 no longer fits
        m.solve()
    m.set_bounds("x", upper=10)
    m.minimise(np.array([1.0, -1.0, 1.0]) * x)
    sol = m.solve()
    assert sol.objective == pytest.approx(2 - 2 + 3)


def test_set_rhs_can_switch_a_row_off():
    m = Model(2)
    x = m.variable("x", upper=5)
    m.constrain("at least", x >= 0.0)
    m.minimise(np.ones(2) * x)
    m.set_rhs("at least", np.array([3.0, 4.0]))
    np.testing.assert_allclose(m.solve()["x"], [3, 4])
    m.set_rhs("at least", 0.0, lower=np.array([3.0, -np.inf]))
    np.testing.assert_allclose(m.solve()["x"], [3, 0])
    with pytest.raises(KeyError, match="no constraint"):
        m.set_rhs("at most", 1.0)


def test_a_model_refuses_new_rows_after_solving():
    m = Model(1)
    x = m.variable("x", upper=1)
    m.minimise(np.ones(1) * x)
    m.solve()
    with pytest.raises(RuntimeError, match="new Model"):
        m.constrain("late", x >= 0.5)


def window_arrays(c: Case, s: int, e: int) -> EVArrays | None:
    if c.ev is None:
        return None
    a = c.ev_arrays
    return EVArrays(
        a.home[s:e],
        a.trip_kwh[s:e],
        a.required_kwh[s:e],
        np.minimum(a.next_departure[s:e] - s, e - s),
    )


def lp_for(c: Case, n: int) -> DispatchLP:
    return DispatchLP(
        n, c.minutes, battery=c.battery, ev=c.ev, v2h=c.v2h, v2g=c.v2g, penalty_per_kwh=50.0
    )


def update(lp: DispatchLP, c: Case, s: int, e: int) -> None:
    imp_max, exp_max = c.grid.per_interval(c.minutes)
    lp.update(
        c.load[s:e],
        c.pv[s:e],
        c.imp[s:e],
        c.exp[s:e],
        import_max_kwh=imp_max,
        export_max_kwh=exp_max,
        ev_arrays=window_arrays(c, s, e),
        start=s,
    )


@settings(max_examples=25, deadline=None)
@given(cases(max_days=2), cases(max_days=2))
def test_a_reused_lp_solves_new_data_as_a_fresh_one_does(a: Case, b: Case):
    # the same assets and length, the numbers of another case: reuse must not remember them
    b = Case(
        **{
            **b.__dict__,
            "minutes": a.minutes,
            "battery": a.battery,
            "ev": a.ev,
            "v2h": a.v2h,
            "v2g": a.v2g,
        }
    )
    n = min(a.load.size, b.load.size)
    if a.ev is not None:
        b = Case(**{**b.__dict__, "ev_arrays": a.ev_arrays, "local": a.local})
    reused = lp_for(a, n)
    update(reused, a, 0, n)
    reused.solve()  # may also switch simultaneous flows off: update() must restore them
    update(reused, b, 0, n)
    warm = reused.model.solve()
    fresh = lp_for(a, n)
    update(fresh, b, 0, n)
    cold = fresh.model.solve()
    # the LP's optimal value is unique (the flows need not be: alternative optima)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(cases(max_days=4), st.sampled_from([(1.0, 1.0), (2.0, 1.0), (1.5, 0.5)]))
def test_rolling_windows_keep_every_invariant(c: Case, window_step):
    window, step = window_step
    f = optimise(
        c.load,
        c.pv,
        c.imp,
        c.exp,
        c.minutes,
        options=OptimumOptions(window_days=window, step_days=step),
        **c.kwargs,
    )
    f.check_balance(TOL)
    h = c.minutes / 60
    imp_max, exp_max = c.grid.per_interval(c.minutes)
    assert (f.import_kwh <= np.maximum(imp_max, c.load - c.pv) + TOL).all()
    assert (f.export_kwh <= exp_max + TOL).all()
    if c.battery is not None:
        b = c.battery
        cap = f.battery_capacity_kwh
        assert (f.battery_soc_kwh >= b.soc_min_fraction * cap - TOL).all()
        assert (f.battery_soc_kwh <= b.soc_max_fraction * cap + TOL).all()
        assert (f.battery_charge_kwh <= b.charge_kw * h + TOL).all()
        assert (f.battery_discharge_kwh <= b.discharge_kw * h + TOL).all()
        assert not ((f.battery_charge_kwh > TOL) & (f.battery_discharge_kwh > TOL)).any()
    # the states of charge carry across every window boundary
    assert_soc_follows_the_flows(f, c)
    if c.ev is not None:
        ev = c.ev
        assert (f.ev_charge_kwh <= ev.charger_kw * h * c.ev_arrays.home + TOL).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0.1, 0.2, 0.25, 0.3, -0.05, 1.5]), min_size=1, max_size=40),
    st.integers(1, 45),
    st.integers(0, 5),
)
def test_cheapest_plan_is_a_stable_sorts_first_k(prices, k, start):
    price = np.array([9.9] * start + prices)
    order = np.argsort(price[start:], kind="mergesort")[:k] + start
    expected = np.zeros(price.size, dtype=bool)
    expected[order] = True
    for plan_cheapest in (_plan_cheapest.compiled(), _plan_cheapest):  # compiled, interpreted
        plan = np.zeros(price.size, dtype=bool)
        plan_cheapest(price, start, price.size, k, plan)
        np.testing.assert_array_equal(plan, expected)
