"""Scenario orchestration on the default year: PV yield, shares, savings, sweeps, the store."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from energylib.dispatch.assets import EV, Battery
from energylib.dispatch.rules import PriceThreshold
from energylib.scenario import ScenarioError, ScenarioSpec, ScenarioYear, run, sweep
from energylib.simulate import default_year
from energylib.site import AMSTERDAM, SYDNEY
from energylib.solar import PVSystem
from energylib.tariff import AmberTariff, DynamicEUTariff, sydney_tou


@pytest.fixture(scope="session")
def frames_30():
    """The default Sydney year, generated at 30 min (seconds, not minutes)."""
    return default_year.generate("nem", interval_minutes=30)


@pytest.fixture(scope="session")
def year(frames_30) -> ScenarioYear:
    return ScenarioYear.from_frames(frames_30, SYDNEY, description="default year 30-min")


def test_year_splits_recorded_ev_charging_from_the_household(year, frames_30):
    total = frames_30["load"][0]["total_kwh"].sum()
    assert len(year) == 17520
    assert year.load_kwh.sum() + year.ev_load_kwh.sum() == pytest.approx(total)
    assert year.ev_load_kwh.sum() > 0


def test_annual_pv_yield_per_kwdc_in_published_range_for_sydney(year):
    # Published for Sydney (33.9 S): ~1,300-1,550 kWh/kWdc a year for a tilted, north-facing
    # system (Clean Energy Council ~3.9 kWh/kW/day; PVWatts/PVGIS ~1,380-1,450).
    kwh = year.pv_kwh(PVSystem(6.6, tilt_deg=20.0)).sum()
    assert 1250 <= kwh / 6.6 <= 1600


def test_pv_scales_with_size_without_rerunning_pvlib(year):
    a = year.pv_kwh(PVSystem(3.0))
    b = year.pv_kwh(PVSystem(9.0))
    np.testing.assert_allclose(b, 3 * a)


def test_self_consumption_share_falls_as_pv_size_grows(year):
    shares = [
        run(ScenarioSpec(f"pv{k}", pv=PVSystem(k)), year).self_consumption_share
        for k in (2.0, 4.0, 6.6, 10.0, 15.0)
    ]
    assert all(a > b for a, b in zip(shares, shares[1:], strict=False)), shares
    assert 0 < shares[-1] < shares[0] <= 1


def test_baseline_scenario_saves_nothing_and_pv_battery_save_more(year):
    base = run(ScenarioSpec("base"), year)
    assert base.savings == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(base.self_consumption_share)
    pv = run(ScenarioSpec("pv", pv=PVSystem(6.6)), year)
    pvb = run(ScenarioSpec("pvb", pv=PVSystem(6.6), battery=Battery()), year)
    assert 0 < pv.savings < pvb.savings
    assert pvb.self_sufficiency_share > pv.self_sufficiency_share
    assert 100 < pvb.battery_cycles < 366


def test_result_monthly_and_annual_figures_agree(year):
    r = run(
        ScenarioSpec(
            "ev", pv=PVSystem(6.6), battery=Battery(), ev=EV(), ev_strategy="solar_cheapest"
        ),
        year,
    )
    r.flows.check_balance()
    assert r.monthly.height == 12
    assert r.monthly["import_kwh"].sum() == pytest.approx(r.annual_kwh["import_kwh"])
    assert r.monthly["total_cost"].sum() == pytest.approx(r.bill_total)
    assert r.bill_total == pytest.approx(r.bill["total_cost"].sum())
    frame = r.flows_frame
    assert frame.height == len(year) and "ev_departure_missed" in frame.columns
    assert frame["interval_start"].dtype == pl.Datetime("us", "UTC")
    assert r.ev_departures > 200 and r.ev_departures_missed == 0
    assert set(r.summary()) >= {
        "savings",
        "self_consumption_share",
        "battery_cycles",
        "ev_departures_missed",
    }


def test_spec_without_ev_keeps_the_recorded_ev_charging_as_load(year):
    r = run(ScenarioSpec("no-ev"), year)
    assert r.annual_kwh["load_kwh"] == pytest.approx(year.load_kwh.sum() + year.ev_load_kwh.sum())
    with_ev = run(ScenarioSpec("ev", ev=EV()), year)
    assert with_ev.annual_kwh["load_kwh"] == pytest.approx(year.load_kwh.sum())
    assert with_ev.annual_kwh["ev_charge_kwh"] > 1000


def test_optimum_bounds_the_rule_policies_on_a_month(year):
    month = year.head_days(31)
    kw = dict(
        pv=PVSystem(6.6),
        battery=Battery(),
        ev=EV(wear_cost_per_kwh=0.0),
        ev_strategy="solar_cheapest",
    )
    rules = [
        run(ScenarioSpec(p, policy=p, **kw), month)
        for p in ("self_consumption", "price_threshold", "forecast")
    ]
    best = run(ScenarioSpec("optimum", policy="optimum", **kw), month)
    for r in rules:
        assert best.bill_total <= r.bill_total + 1e-6, r.spec.name


def test_tou_tariff_runs_on_the_year(year):
    r = run(
        ScenarioSpec(
            "tou",
            pv=PVSystem(6.6),
            battery=Battery(),
            tariff=sydney_tou(),
            policy=PriceThreshold.for_tou(0.22, 0.55),
        ),
        year,
    )
    assert r.bill_total < r.baseline_total


def test_sweep_in_parallel_matches_single_runs(year):
    month = year.head_days(14)
    specs = [
        ScenarioSpec(f"pv{k}-b{b}", pv=PVSystem(k) if k else None, battery=Battery() if b else None)
        for k in (0.0, 6.6)
        for b in (False, True)
    ]
    table = sweep(specs, month, n_workers=2, progress=False)
    assert table["name"].to_list() == [s.name for s in specs]
    expected = [run(s, month).bill_total for s in specs]
    np.testing.assert_allclose(table["bill_total"].to_numpy(), expected)


def test_the_study_reads_the_default_year_from_the_store_as_generated(store, frames_30, year):
    from energylib.study import load_inputs, load_params

    for frame, meta in frames_30.values():
        store.upsert(frame, meta)
    stored = {"source": "simulated", "site": "default"}
    params = load_params(
        "params/scenarios_2025.yaml",
        {"inputs": {"load": stored, "prices": stored, "weather": stored}},
    )
    y = load_inputs(params, store).year
    assert len(y) == len(year)
    np.testing.assert_allclose(y.load_kwh, year.load_kwh)
    np.testing.assert_allclose(y.ev_load_kwh, year.ev_load_kwh)
    np.testing.assert_allclose(y.market.feed_in_per_kwh, year.market.feed_in_per_kwh)
    np.testing.assert_allclose(y.weather["ghi"].to_numpy(), year.weather["ghi"].to_numpy())


def test_runs_are_memoised_by_value_and_relabelled(year):
    month = year.head_days(7)
    a = run(ScenarioSpec("a", pv=PVSystem(6.6), battery=Battery()), month)
    b = run(ScenarioSpec("b", pv=PVSystem(6.6), battery=Battery()), month)
    assert b.flows is a.flows and b.spec.name == "b" and a.spec.name == "a"
    c = run(ScenarioSpec("c", pv=PVSystem(3.0), battery=Battery()), month)
    assert c.flows is not a.flows and c.bill_total != a.bill_total


def test_existing_pv_is_in_every_run_and_its_baseline(year):
    month = year.head_days(7)
    existing = month.pv_kwh(PVSystem(3.0))
    with_pv = ScenarioYear(month.cal, month.load_kwh, month.ev_load_kwh, month.market, SYDNEY,
                           month.weather, existing_pv_kwh=existing)  # fmt: skip
    r = run(ScenarioSpec("more pv", pv=PVSystem(3.0)), with_pv)
    assert r.annual_kwh["pv_kwh"] == pytest.approx(2 * existing.sum())
    base = run(ScenarioSpec("as it was"), with_pv)
    assert base.annual_kwh["pv_kwh"] == pytest.approx(existing.sum())
    assert base.bill_total == pytest.approx(base.baseline_total)


def test_dutch_year_reads_hourly_then_quarter_hour_prices():
    frames = default_year.generate("nl", interval_minutes=15)
    y = ScenarioYear.from_frames(frames, AMSTERDAM)
    assert len(y) == 35040 and y.market.feed_in_per_kwh is None
    r = run(ScenarioSpec("nl", pv=PVSystem(4.0, tilt_deg=35.0), tariff=DynamicEUTariff()), y)
    assert r.bill["tax_credit"].sum() == pytest.approx(635.19, rel=1e-3)
    assert r.savings > 0
    with pytest.raises(ValueError, match="feed_in_per_kwh"):
        run(ScenarioSpec("amber-on-nl", tariff=AmberTariff()), y)


def test_bad_specs_and_years_say_what_to_fix(year):
    with pytest.raises(ScenarioError, match="need an ev"):
        ScenarioSpec("x", v2h=True)
    with pytest.raises(ScenarioError, match="policy"):
        ScenarioSpec("x", policy="yolo")
    no_weather = ScenarioYear(year.cal, year.load_kwh, year.ev_load_kwh, year.market, SYDNEY)
    with pytest.raises(ScenarioError, match="PV needs weather"):
        run(ScenarioSpec("pv", pv=PVSystem(5)), no_weather)
