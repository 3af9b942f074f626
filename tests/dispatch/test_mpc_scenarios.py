"""Scenario (two-stage stochastic) MPC: the LP over K price scenarios sharing the first
step's set-points, checked by hand; identical scenarios are the deterministic LP; MPC on
scenarios that are all the actual prices is the optimum."""

from __future__ import annotations

import numpy as np
import pytest
from dispatch_cases import cases
from hypothesis import HealthCheck, assume, given, settings

from energylib.dispatch.assets import Battery
from energylib.dispatch.mpc import (
    MPCController,
    MPCPolicy,
    PerfectForecast,
    ScenarioForecast,
    Series,
    run_mpc,
)
from energylib.dispatch.optimum import DispatchLP, optimise

#: 1 kWh in and out per 30-min interval, no losses, empty at 0, full at the start.
ONE_KWH = Battery(
    capacity_kwh=1.0, charge_kw=2.0, discharge_kw=2.0, round_trip_efficiency=1.0,
    soc_min_fraction=0.0, initial_soc_fraction=1.0,
)  # fmt: skip
ZERO, DEAR = np.zeros(3), np.full(3, 5.0)  # no load, no PV; buying back is never worth it
# Selling now earns 1.2; then a spike of 2.0 comes either next interval (A) or the one after (B).
SPIKE_NEXT, SPIKE_LATER = np.array([1.2, 2.0, 0.1]), np.array([1.2, 0.1, 2.0])


def test_two_scenarios_hold_the_charge_for_the_spike_either_may_bring():
    lp = DispatchLP(3, 30, battery=ONE_KWH, scenarios=2)
    lp.update(ZERO, ZERO, DEAR, np.stack([SPIKE_NEXT, SPIKE_LATER]))
    sol = lp.solve()
    # By hand: selling y now earns 1.2 y + 2.0 (1 - y) in either scenario, at most 2.0 at
    # y = 0: hold now, sell at the spike of each scenario.
    np.testing.assert_allclose(sol["bd"].reshape(2, 3), [[0, 1, 0], [0, 0, 1]], atol=1e-9)
    assert sol.objective == pytest.approx(-2.0, abs=1e-6)
    # On the mean path (1.2, 1.05, 1.05) one plan sells now: 1.2.
    mean = DispatchLP(3, 30, battery=ONE_KWH)
    mean.update(ZERO, ZERO, DEAR, (SPIKE_NEXT + SPIKE_LATER) / 2)
    sol = mean.solve()
    assert sol["bd"][0] == pytest.approx(1.0) and sol.objective == pytest.approx(-1.2)


def test_deciding_two_intervals_at_once_loses_the_recourse():
    # Re-planned every 2 intervals, both are decided now: selling y0 then y1 earns
    # 1.2 y0 + 1.05 y1 + 1.05 (1 - y0 - y1) on average, most when all is sold now (1.2).
    lp = DispatchLP(3, 30, battery=ONE_KWH, scenarios=2, shared=2)
    lp.update(ZERO, ZERO, DEAR, np.stack([SPIKE_NEXT, SPIKE_LATER]))
    sol = lp.solve()
    np.testing.assert_allclose(sol["bd"].reshape(2, 3), [[1, 0, 0], [1, 0, 0]], atol=1e-9)
    assert sol.objective == pytest.approx(-1.2, abs=1e-6)


def test_the_first_step_is_one_decision_for_every_scenario():
    # Scenario A's spike is now (sell all now), B's later (hold): one shared decision,
    # whichever is worth more on average.
    lp = DispatchLP(3, 30, battery=ONE_KWH, scenarios=2)
    now, later = np.array([2.0, 0.1, 0.1]), np.array([1.0, 0.1, 1.1])
    lp.update(ZERO, ZERO, DEAR, np.stack([now, later]))
    sol = lp.solve()
    bd = sol["bd"].reshape(2, 3)
    assert bd[0, 0] == pytest.approx(bd[1, 0])  # non-anticipative
    # selling y now earns 2.0 y + 0.1 (1 - y) in A and 1.0 y + 1.1 (1 - y) in B: a mean
    # of 0.6 + 0.9 y, most at y = 1
    np.testing.assert_allclose(bd[:, 0], 1.0, atol=1e-9)
    assert sol.objective == pytest.approx(-1.5, abs=1e-6)


def test_the_controller_decides_once_for_all_scenarios_and_reports_their_mean_cost():
    ctl = MPCController(MPCPolicy(forecast=_paths(2), horizon_hours=1.5, terminal_value=0.0),
                        30, battery=ONE_KWH)  # fmt: skip
    step = ctl.decide(0, ZERO, ZERO, DEAR, np.stack([SPIKE_NEXT, SPIKE_LATER]), soc_kwh=1.0)
    assert step.plan.bd[0] == 0 and step.expected_cost == pytest.approx(-2.0, abs=1e-6)
    # the plan it keeps past the first step is the first scenario's
    np.testing.assert_allclose(step.plan.bd, [0, 1, 0], atol=1e-9)


def _paths(k: int, price=ZERO) -> ScenarioForecast:
    return ScenarioForecast(lambda t, n: {"import_per_kwh": np.tile(price[t : t + n], (k, 1))},
                            k, fallback=PerfectForecast())  # fmt: skip


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=cases(max_days=2, negative=False))
def test_mpc_on_scenarios_that_are_all_the_actual_prices_is_the_optimum(c):
    # as test_mpc's perfect-forecast case (the same exclusions): three copies of the truth
    assume(not (c.v2h and not c.v2g and c.battery is not None))
    c.imp = np.maximum(c.imp, 0.02)
    c.exp = np.clip(c.exp, 0.0, c.imp - 0.01)
    n = c.load.size
    penalty = 10.0 * float(np.abs(c.imp).max()) + 10.0
    fc = _paths(3, c.imp)
    policy = MPCPolicy(forecast=fc, horizon_hours=n * c.minutes / 60, terminal_value=0.0)
    assert policy.scenarios == 3
    mpc = run_mpc(c.load, c.pv, c.imp, c.exp, c.minutes, policy=policy, **c.kwargs).flows
    opt = optimise(c.load, c.pv, c.imp, c.exp, c.minutes, **c.kwargs)

    def cost(f) -> float:
        wear = c.battery.wear_cost_per_kwh if c.battery else 0.0
        ev_wear = c.ev.wear_cost_per_kwh if c.ev else 0.0
        return float(
            (c.imp * f.import_kwh - c.exp * f.export_kwh).sum()
            + wear * f.battery_discharge_kwh.sum() + ev_wear * f.ev_discharge_kwh.sum()
            + penalty * (f.ev_topup_kwh.sum() + f.ev_shortfall_kwh.sum())
        )  # fmt: skip

    assert cost(mpc) == pytest.approx(cost(opt), rel=1e-6, abs=1e-5)


def test_scenario_paths_fill_gaps_from_the_fallback_and_must_come_k_at_a_time():
    x = np.arange(10.0)
    series = Series(x, x, {"spot_per_kwh": x}, 4)
    paths = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    fc = ScenarioForecast(lambda t, n: {"spot_per_kwh": paths[:, :n]}, 2, PerfectForecast())
    w = fc.window(series, 5, 4)
    np.testing.assert_array_equal(w.market["spot_per_kwh"], [[1, 6, 3, 8], [4, 5, 6, 8]])
    np.testing.assert_array_equal(w.load_kwh, x[5:9])
    with pytest.raises(ValueError, match="2 paths of 'spot_per_kwh' at interval 5"):
        ScenarioForecast(fc.paths, 3, PerfectForecast()).window(series, 5, 4)
    with pytest.raises(ValueError, match="scenarios must be >= 1"):
        ScenarioForecast(fc.paths, 0)
    with pytest.raises(ValueError, match="scenarios >= 1"):
        DispatchLP(3, 30, scenarios=0)
