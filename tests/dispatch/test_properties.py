"""Invariants of every dispatch policy over small random years (hypothesis)."""

from __future__ import annotations

import numpy as np
from dispatch_cases import Case, assert_soc_follows_the_flows, cases
from hypothesis import given, settings

from energylib.dispatch.optimum import optimise
from energylib.dispatch.rules import ForecastPolicy, PriceThreshold, SelfConsumption, dispatch_rules

TOL = 1e-6
RULES = (
    SelfConsumption(),
    PriceThreshold(0.15, 0.3, 1.0),
    ForecastPolicy(),
    ForecastPolicy(forecast="persistence"),
)
SETTINGS = settings(max_examples=40, deadline=None)


def all_flows(c: Case, with_optimum: bool = True):
    out = [
        dispatch_rules(
            c.load, c.pv, c.imp, c.exp, c.minutes, policy=p, ev_strategy=c.strategy, **c.kwargs
        )
        for p in RULES
    ]
    if with_optimum:
        out.append(optimise(c.load, c.pv, c.imp, c.exp, c.minutes, **c.kwargs))
    return out


def cost(c: Case, f) -> float:
    return float((f.import_kwh * c.imp).sum() - (f.export_kwh * c.exp).sum())


@SETTINGS
@given(cases())
def test_energy_balance_closes_every_interval_for_every_policy(c: Case):
    for f in all_flows(c):
        f.check_balance(TOL)
        for name in (
            "import_kwh",
            "export_kwh",
            "curtailed_kwh",
            "battery_charge_kwh",
            "battery_discharge_kwh",
            "ev_charge_kwh",
            "ev_discharge_kwh",
        ):
            assert (getattr(f, name) >= -TOL).all(), (f.policy, name)
        np.testing.assert_allclose(
            f.pv_used_kwh + f.pv_exported_kwh + f.curtailed_kwh, f.pv_kwh, atol=TOL
        )


@SETTINGS
@given(cases())
def test_soc_never_leaves_window(c: Case):
    for f in all_flows(c):
        if c.battery is not None:
            cap = f.battery_capacity_kwh
            assert (f.battery_soc_kwh >= c.battery.soc_min_fraction * cap - TOL).all(), f.policy
            assert (f.battery_soc_kwh <= c.battery.soc_max_fraction * cap + TOL).all(), f.policy
        if c.ev is not None:
            assert (f.ev_soc_kwh >= -TOL).all(), f.policy
            assert (f.ev_soc_kwh <= c.ev.max_soc_fraction * c.ev.capacity_kwh + TOL).all(), f.policy
        # SoC follows the charge and discharge (no fade here); the EV's also its trips and
        # away-from-home top-ups
        assert_soc_follows_the_flows(f, c)
        if c.ev is not None and f.policy != "optimum":
            # the rules discharge the car only above its reserve
            d = f.ev_discharge_kwh > TOL
            assert (f.ev_soc_kwh[d] >= c.ev.reserve_soc_fraction * c.ev.capacity_kwh - TOL).all()


@SETTINGS
@given(cases())
def test_no_power_limit_is_exceeded(c: Case):
    h = c.minutes / 60
    imp_max, exp_max = c.grid.per_interval(c.minutes)
    for f in all_flows(c):
        assert (f.import_kwh <= np.maximum(imp_max, c.load - c.pv) + TOL).all(), f.policy
        assert (f.export_kwh <= exp_max + TOL).all(), f.policy
        assert (f.curtailed_kwh <= c.pv + TOL).all(), f.policy
        if c.battery is not None:
            assert (f.battery_charge_kwh <= c.battery.charge_kw * h + TOL).all(), f.policy
            assert (f.battery_discharge_kwh <= c.battery.discharge_kw * h + TOL).all(), f.policy
        else:
            assert not f.battery_charge_kwh.any() and not f.battery_discharge_kwh.any()
        if c.ev is not None:
            home = c.ev_arrays.home
            assert (f.ev_charge_kwh <= c.ev.charger_kw * h * home + TOL).all(), f.policy
            d_lim = c.ev.bidirectional_kw * h if (c.v2h or c.v2g) else 0.0
            assert (f.ev_discharge_kwh <= d_lim * home + TOL).all(), f.policy
        else:
            assert not f.ev_charge_kwh.any() and not f.ev_discharge_kwh.any(), f.policy


@SETTINGS
@given(cases())
def test_no_simultaneous_import_and_export_through_the_battery(c: Case):
    for f in all_flows(c):
        assert not ((f.battery_charge_kwh > TOL) & (f.battery_discharge_kwh > TOL)).any(), f.policy
        assert not ((f.ev_charge_kwh > TOL) & (f.ev_discharge_kwh > TOL)).any(), f.policy
        assert not ((f.import_kwh > TOL) & (f.export_kwh > TOL)).any(), f.policy


@SETTINGS
@given(cases(limited=False))
def test_ev_reaches_departure_soc_whenever_physically_possible(c: Case):
    if c.ev is None:
        return
    h = c.minutes / 60
    g = c.ev.charger_kw * h * c.ev.charge_efficiency
    room_max = c.ev.max_soc_fraction * c.ev.capacity_kwh
    home = c.ev_arrays.home
    for f in all_flows(c, with_optimum=False):
        req = c.ev_arrays.required_kwh
        dep = np.flatnonzero(req > 0)
        # the result says exactly where the requirement was missed, by how much
        np.testing.assert_allclose(
            f.ev_shortfall_kwh[dep], np.maximum(req[dep] - f.ev_soc_kwh[dep], 0), atol=1e-6
        )
        for j in f.departures_missed:
            # missed only if the car charged flat out from its arrival to the departure
            start = j
            while start > 0 and home[start - 1]:
                start -= 1
            block = slice(start, j + 1)
            flat_out = (f.ev_charge_kwh[block] * c.ev.charge_efficiency >= g - 1e-6) | (
                f.ev_soc_kwh[block] >= room_max - 1e-6
            )
            assert flat_out.all(), (f.policy, c.strategy, j)
        # and the per-day flag in the frame agrees
        frame = f.to_frame(c.local.astype("datetime64[us]"), c.local.astype("datetime64[D]"))
        missed_days = set(c.local.astype("datetime64[D]")[f.departures_missed].tolist())
        flagged = set(
            np.asarray(c.local.astype("datetime64[D]"))[
                frame["ev_departure_missed"].to_numpy()
            ].tolist()
        )
        assert flagged == missed_days


@SETTINGS
@given(cases())
def test_optimum_bill_is_never_above_any_rule_policy(c: Case):
    *rules, best = all_flows(c)
    for f in rules:
        # the optimum never misses a departure the rules made
        assert best.ev_shortfall_kwh.sum() <= f.ev_shortfall_kwh.sum() + 1e-6
        if f.ev_shortfall_kwh.sum() <= 1e-9 and f.ev_topup_kwh.sum() <= 1e-9:
            assert cost(c, best) <= cost(c, f) + 1e-6 * (1 + abs(cost(c, f))), f.policy
