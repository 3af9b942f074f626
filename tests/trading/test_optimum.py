"""The cooperative optimum: an LP over every home's battery with free exchange (HiGHS)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from trading.cases import communities

from energylib.trading.community import (
    DEFAULT_MECHANISMS,
    pooling_saving,
    run_community,
    simulate,
)
from energylib.trading.homes import Community
from energylib.trading.node import BatteryArrays
from energylib.trading.optimum import cooperative_optimum


@settings(max_examples=6, deadline=None)
@given(communities(max_homes=4, minutes=(30,)))
def test_the_optimum_costs_no_more_than_any_mechanism_or_homes_alone(c):
    opt = cooperative_optimum(c)
    fixed = c.year.fixed_charges() * c.n_homes
    for m in (None, *DEFAULT_MECHANISMS):
        assert opt.energy_cost + fixed <= simulate(c, m).bill.sum() + 1e-6, m


@settings(max_examples=6, deadline=None)
@given(communities(max_homes=4, minutes=(30,)))
def test_the_optimum_balances_the_feeder_and_keeps_every_battery_in_its_window(c):
    opt = cooperative_optimum(c)
    b = BatteryArrays.of(c.batteries, c.year.interval_minutes)
    assert (opt.soc_kwh >= b.lo - 1e-6).all() and (opt.soc_kwh <= b.hi + 1e-6).all()
    # feeder: imports - exports = load - PV + curtailment + net charging of all homes
    net = (
        (c.load_kwh - c.pv_kwh).sum(axis=1)
        + opt.curtailed_kwh
        + opt.battery_charge_kwh
        - opt.battery_discharge_kwh
    )
    np.testing.assert_allclose(opt.import_kwh - opt.export_kwh, net, atol=1e-6)
    cost = (
        c.year.import_per_kwh * opt.import_kwh - c.year.export_credit_per_kwh * opt.export_kwh
    ).sum()
    assert opt.energy_cost == pytest.approx(cost, abs=1e-6)


def test_without_batteries_the_optimum_is_pooling_surplus_against_deficit():
    from trading.cases import market_year_from

    # home a exports 1 kWh while b imports 1 kWh: pooled, nothing crosses the feeder
    year = market_year_from(np.array([0.3, 0.3]), np.array([0.05, 0.05]), 30)
    c = Community(
        year,
        ("a", "b"),
        np.array([[0.0, 1.0], [0.0, 2.0]]),
        np.array([[1.0, 0.0], [0.0, 0.0]]),
        (None, None),
    )
    opt = cooperative_optimum(c)
    np.testing.assert_allclose(opt.import_kwh, [0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(opt.exchanged_kwh, [1.0, 0.0], atol=1e-9)
    assert opt.energy_cost == pytest.approx(0.6)


def test_rolling_windows_stay_close_to_the_single_lp():
    from trading.cases import trading_pair

    c = trading_pair(days=4)
    whole = cooperative_optimum(c)
    daily = cooperative_optimum(c, window_days=1)
    assert whole.energy_cost <= daily.energy_cost + 1e-6
    assert daily.energy_cost == pytest.approx(whole.energy_cost, rel=0.1, abs=0.5)


@settings(max_examples=5, deadline=None)
@given(communities(max_homes=4, minutes=(30,)))
def test_without_batteries_the_optimum_saves_exactly_the_pooling_saving(c):
    """With no battery to move and no negative price to curtail for, the cooperative optimum
    can only net the homes' flows: the summary's pooling reference."""
    imp = np.abs(c.year.import_per_kwh)
    exp = np.minimum(np.abs(c.year.export_credit_per_kwh), imp)
    c = replace(
        c,
        batteries=(None,) * c.n_homes,
        year=replace(c.year, import_per_kwh=imp, export_credit_per_kwh=exp),
    )
    res = run_community(c, ("uniform_auction",), optimum=True)
    s = res.summary
    best = s.filter(pl.col("mechanism") == "cooperative_optimum")["saving"][0]
    assert pooling_saving(res.intervals) == pytest.approx(best, abs=1e-6)
