"""The community simulation over random small communities (hypothesis): energy, money,
limits, individual rationality, determinism; and the no-market run against the rule kernels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from trading.cases import communities, trading_pair

from energylib.dispatch.rules import SelfConsumption, dispatch_rules
from energylib.trading.community import (
    DEFAULT_MECHANISMS,
    NO_MARKET,
    TradingOptions,
    gini,
    run_community,
    simulate,
)
from energylib.trading.market import MarketRules
from energylib.trading.node import BatteryArrays

TOL = 1e-7
SETTINGS = settings(max_examples=10, deadline=None)
OPTIONS = TradingOptions(forecast="perfect", score_threshold=60.0, seed=7)


def runs(c, options=OPTIONS):
    return [simulate(c, m, options, record=True) for m in (NO_MARKET, *DEFAULT_MECHANISMS)]


@SETTINGS
@given(communities())
def test_every_homes_energy_balances_every_interval(c):
    for r in runs(c):
        f = r.flows
        sources = (
            c.pv_kwh
            - f["curtailed_kwh"]
            + f["grid_import_kwh"]
            + f["bought_kwh"]
            + f["battery_discharge_kwh"]
        )
        sinks = c.load_kwh + f["battery_charge_kwh"] + f["grid_export_kwh"] + f["sold_kwh"]
        np.testing.assert_allclose(sources, sinks, atol=TOL, err_msg=r.mechanism)
        for key in (
            "grid_import_kwh",
            "grid_export_kwh",
            "curtailed_kwh",
            "bought_kwh",
            "sold_kwh",
        ):
            assert (f[key] >= -TOL).all(), (r.mechanism, key)
        assert (f["curtailed_kwh"] <= c.pv_kwh + TOL).all()


@SETTINGS
@given(communities())
def test_traded_energy_sold_equals_bought_over_one_minus_loss_and_losses_close_it(c):
    loss = OPTIONS.rules.loss_fraction
    for r in runs(c)[1:]:
        f, per_t = r.flows, r.intervals
        sold, bought = f["sold_kwh"].sum(axis=1), f["bought_kwh"].sum(axis=1)
        np.testing.assert_allclose(sold, bought / (1 - loss), atol=TOL)
        np.testing.assert_allclose(sold, bought + per_t["loss_kwh"], atol=TOL)
        np.testing.assert_allclose(per_t["traded_kwh"], bought, atol=TOL)
        # the community's balance: PV and imports meet load, storage, exports and losses
        stored = (f["battery_charge_kwh"] - f["battery_discharge_kwh"]).sum(axis=1)
        inflow = (c.pv_kwh - f["curtailed_kwh"]).sum(axis=1) + f["grid_import_kwh"].sum(axis=1)
        outflow = (
            c.load_kwh.sum(axis=1) + stored + f["grid_export_kwh"].sum(axis=1) + per_t["loss_kwh"]
        )
        np.testing.assert_allclose(inflow, outflow, atol=1e-6)


@SETTINGS
@given(communities())
def test_money_payments_equal_receipts_and_bills_are_grid_charges(c):
    for r in runs(c):
        t = r.totals
        assert t["peer_paid"].sum() == pytest.approx(t["peer_received"].sum(), abs=1e-9)
        grid = (r.flows["grid_import_kwh"] * c.year.import_per_kwh[:, None]).sum() - (
            r.flows["grid_export_kwh"] * c.year.export_credit_per_kwh[:, None]
        ).sum()
        assert r.bill.sum() == pytest.approx(grid + c.n_homes * r.fixed_charges, abs=1e-6)


@SETTINGS
@given(communities())
def test_no_home_breaks_its_grid_limits_or_battery_window(c):
    b = BatteryArrays.of(c.batteries, c.year.interval_minutes)
    imp_max, exp_max = c.grid.per_interval(c.year.interval_minutes)
    own = c.load_kwh - c.pv_kwh
    for r in runs(c):
        f = r.flows
        meter_in = f["grid_import_kwh"] + f["bought_kwh"]
        meter_out = f["grid_export_kwh"] + f["sold_kwh"]
        assert (meter_in <= np.maximum(imp_max, own) + TOL).all(), r.mechanism
        assert (meter_out <= exp_max + TOL).all(), r.mechanism
        soc = f["battery_soc_kwh"]
        assert (soc >= b.lo - TOL).all() and (soc <= b.hi + TOL).all(), r.mechanism
        assert (f["battery_charge_kwh"] <= b.charge_max + TOL).all()
        assert (f["battery_discharge_kwh"] <= b.discharge_max + TOL).all()
        # SoC follows the flows
        prev = np.vstack([b.soc0, soc[:-1]])
        np.testing.assert_allclose(
            soc,
            prev + b.eta * f["battery_charge_kwh"] - f["battery_discharge_kwh"] / b.eta,
            atol=1e-6,
        )


@SETTINGS
@given(communities())
def test_individual_rationality_no_home_pays_more_for_joining(c):
    """With the grid as fallback and batteries running as they would alone, trading the
    surplus and deficit never raises a home's bill."""
    options = TradingOptions(battery_trading=False, seed=3)
    alone = simulate(c, None, options)
    for m in DEFAULT_MECHANISMS:
        market = simulate(c, m, options)
        assert (market.bill <= alone.bill + 1e-9).all(), m
        assert (market.totals["battery_sold_kwh"] == 0).all()


@settings(max_examples=5, deadline=None)
@given(communities(max_homes=4, max_days=1))
def test_same_seeds_give_the_same_result(c):
    a = run_community(c, options=TradingOptions(seed=11))
    b = run_community(c, options=TradingOptions(seed=11))
    assert a.households.equals(b.households)
    assert a.intervals.equals(b.intervals)
    assert a.summary.equals(b.summary)


@settings(max_examples=8, deadline=None)
@given(communities(minutes=(30,)))
def test_the_no_market_run_is_the_rule_kernels_self_consumption(c):
    """Every home alone runs its battery exactly as energylib.dispatch's self-consumption."""
    r = simulate(c, None, record=True)
    m = c.year.interval_minutes
    for h, battery in enumerate(c.batteries):
        ref = dispatch_rules(
            c.load_kwh[:, h], c.pv_kwh[:, h], c.year.import_per_kwh, c.year.export_credit_per_kwh, m,
            policy=SelfConsumption(), battery=battery, grid=c.grid,
        )  # fmt: skip
        np.testing.assert_allclose(r.flows["grid_import_kwh"][:, h], ref.import_kwh, atol=1e-9)
        np.testing.assert_allclose(r.flows["grid_export_kwh"][:, h], ref.export_kwh, atol=1e-9)
        np.testing.assert_allclose(r.flows["curtailed_kwh"][:, h], ref.curtailed_kwh, atol=1e-9)
        if battery is not None:
            np.testing.assert_allclose(
                r.flows["battery_soc_kwh"][:, h], ref.battery_soc_kwh, atol=1e-9
            )


def test_a_full_battery_sells_to_an_empty_one_that_needs_energy():
    c = trading_pair()
    for m in DEFAULT_MECHANISMS:
        r = simulate(c, m, TradingOptions(forecast="perfect"), record=True)
        sold, bought = r.totals["battery_sold_kwh"], r.totals["battery_bought_kwh"]
        assert sold[0] > 1.0 and bought[1] > 1.0, m  # sunny sells stored energy, evening stores it
        assert (r.flows["decision"][:, 0] == 2).any() and (r.flows["decision"][:, 1] == 1).any()
        alone = simulate(c, None)
        assert r.bill.sum() < alone.bill.sum(), m


def test_run_community_summary_adds_up_and_the_optimum_bounds_every_mechanism():
    c = trading_pair()
    res = run_community(c, optimum=True, options=TradingOptions(rules=MarketRules(0.05, 0.05)))
    s = res.summary
    assert s["mechanism"].to_list() == [NO_MARKET, *DEFAULT_MECHANISMS, "cooperative_optimum"]
    hh = res.households.group_by("mechanism").agg(pl.col("saving").sum())
    for row in hh.iter_rows(named=True):
        assert s.filter(pl.col("mechanism") == row["mechanism"])["saving"][0] == pytest.approx(
            row["saving"]
        )
    best = s.filter(pl.col("mechanism") == "cooperative_optimum").row(0, named=True)
    for row in s.iter_rows(named=True):
        assert row["saving"] <= best["saving"] + 1e-6, row["mechanism"]
    load = c.load_kwh.sum()
    alone = res.runs[NO_MARKET]
    assert s["self_sufficiency"][0] == pytest.approx(
        1 - alone.totals["grid_import_kwh"].sum() / load
    )


def test_gini_of_savings():
    assert gini(np.array([5.0, 5.0, 5.0])) == pytest.approx(0.0)
    assert gini(np.array([0.0, 0.0, 9.0])) == pytest.approx(2 / 3)
    assert np.isnan(gini(np.array([])))


def test_persistence_forecasts_never_look_ahead():
    """Under persistence forecasts what happens up to interval k (after the first day, which
    has no yesterday) does not depend on any load, PV or price after it."""
    c = trading_pair(days=3)
    k = 80
    later = slice(k + 1, None)
    load, pv = c.load_kwh.copy(), c.pv_kwh.copy()
    load[later] *= 3.0
    pv[later] *= 0.2
    imp = c.year.import_per_kwh.copy()
    imp[later] += 0.4
    changed = replace(c, load_kwh=load, pv_kwh=pv, year=replace(c.year, import_per_kwh=imp))
    options = TradingOptions(forecast="persistence")
    for m in DEFAULT_MECHANISMS:
        a = simulate(c, m, options, record=True)
        b = simulate(changed, m, options, record=True)
        for key, value in a.flows.items():
            np.testing.assert_array_equal(
                value[: k + 1], b.flows[key][: k + 1], err_msg=f"{m} {key}"
            )
    with pytest.raises(ValueError, match="24 h ahead"):
        TradingOptions(forecast="persistence", horizon_hours=48)
