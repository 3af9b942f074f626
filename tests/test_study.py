"""Tests for energylib.study, the scenario notebook and `energy scenarios` (small params)."""

from __future__ import annotations

import html as htmllib
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from study_data import DAYS, SOURCE, synthetic_year_start

from energylib.commands.scenarios import print_headline
from energylib.config import PROJECT_ROOT
from energylib.finance import net_present_value
from energylib.store import ParquetStore
from energylib.study import (
    BASELINE,
    StudyError,
    headline_table,
    load_params,
    params_from_dict,
    run_study,
)


def small_raw(store_dir: Path, **changes) -> dict:
    """The shipped Sydney params, cut down to a fast study on the synthetic fortnight."""
    raw = yaml.safe_load((PROJECT_ROOT / "params/scenarios_2025.yaml").read_text())
    stored = {"source": SOURCE, "site": "default"}
    raw["period"] = {"start": "2025-01-01", "end": f"2025-01-{1 + DAYS:02d}"}
    raw["inputs"] = {
        "load": stored,
        "prices": stored,
        "weather": stored,
        "store_dir": str(store_dir),
    }
    raw["pv"] = {**raw["pv"], "sizes_kw": [0.0, 6.6]}
    raw["batteries"] = raw["batteries"][:2]
    raw["scenarios"] = [
        {"name": "Solar 6.6 kW", "pv_kw": 6.6},
        {"name": "Solar 6.6 kW + Powerwall 3", "pv_kw": 6.6, "battery": "Tesla Powerwall 3"},
        {"name": "Smart EV charging only", "pv_kw": 0.0, "ev_strategy": "cheapest"},
        {
            "name": "Solar 6.6 kW + V2G",
            "pv_kw": 6.6,
            "ev_strategy": "solar_cheapest",
            "v2h": True,
            "v2g": True,
        },
    ]
    raw["sensitivity_scenario"] = "Solar 6.6 kW + Powerwall 3"
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study_store")
    synthetic_year_start(ParquetStore(root))
    return root


@pytest.fixture(scope="module")
def timed_result(store_dir):
    t0 = time.perf_counter()
    result = run_study(params_from_dict(small_raw(store_dir)))
    return result, time.perf_counter() - t0


@pytest.fixture(scope="module")
def result(timed_result):
    return timed_result[0]


# --------------------------------------------------------------------------- params


@pytest.mark.parametrize(
    "name", ["scenarios_2025.yaml", "scenarios_nl_2025.yaml", "my_household.yaml"]
)
def test_shipped_params_files_load(name):
    p = load_params(PROJECT_ROOT / "params" / name)
    assert p.scenarios and p.batteries
    assert any("Powerwall" in b.name for b in p.batteries)
    assert len([b for b in p.batteries if "Powerwall" not in b.name]) >= 2


def test_sydney_params_carry_the_battery_rebate_and_an_ev_as_inputs():
    p = load_params(PROJECT_ROOT / "params/scenarios_2025.yaml")
    assert p.battery_rebate_per_kwh > 0
    assert p.currency == "AUD" and p.site.timezone == "Australia/Sydney"
    assert p.ev is not None and p.ev.strategies and p.ev.ev.capacity_kwh == 75.0


def test_unknown_battery_in_a_scenario_names_it(tmp_path):
    raw = small_raw(tmp_path)
    raw["scenarios"] = [{"name": "x", "pv_kw": 5, "battery": "Tesla Powerwall 9"}]
    with pytest.raises(StudyError, match="Tesla Powerwall 9"):
        params_from_dict(raw)


def test_bad_input_source_and_finance_keys_say_what_to_fix(tmp_path):
    with pytest.raises(StudyError, match="inputs.load"):
        params_from_dict(small_raw(tmp_path, inputs={"load": "ftp"}))
    with pytest.raises(StudyError, match="tariff: {kind: nem_retail}"):
        params_from_dict(
            small_raw(tmp_path, inputs={"prices": {"source": "aemo", "retail": "nem_retail"}})
        )
    raw = small_raw(tmp_path)
    raw["finance"] = {**raw["finance"], "discount_rte": 0.05}
    with pytest.raises(StudyError, match="finance"):
        params_from_dict(raw)


def test_missing_params_file_is_named():
    with pytest.raises(StudyError, match="nope.yaml"):
        load_params("params/nope.yaml")


def test_a_yaml_mistake_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("title: x\npv:\n  sizes_kw: [0, 6.6\n")
    with pytest.raises(StudyError, match="bad.yaml, line"):
        load_params(path)


# --------------------------------------------------------------------------- data


def test_missing_weather_intervals_are_reported_not_dropped(tmp_path):
    synthetic_year_start(ParquetStore(tmp_path), days=DAYS, drop_weather_rows=1)
    with pytest.raises(StudyError, match=r"inputs.weather does not cover .*gaps in 2025-01"):
        run_study(params_from_dict(small_raw(tmp_path)))


def test_empty_store_says_where_it_looked_and_how_to_fill_it(tmp_path):
    with pytest.raises(StudyError, match=rf"holds no {SOURCE} load or usage; import it first"):
        run_study(params_from_dict(small_raw(tmp_path)))


# --------------------------------------------------------------------------- the study


def test_headline_has_baseline_first_and_every_scenario(result):
    names = result.headline["scenario"].to_list()
    assert names[0] == BASELINE
    assert names[1:] == [s.name for s in result.params.scenarios]


def test_saving_is_baseline_bill_less_scenario_bill(result):
    h = result.headline
    base = h["bill_amount"][0]
    assert np.allclose(h["saving_amount"].to_numpy(), base - h["bill_amount"].to_numpy())


def test_monthly_bills_add_up_to_the_headline_bill(result):
    sums = result.monthly_bills.group_by("scenario").agg(pl.col("bill_amount").sum())
    joined = result.headline.join(sums, on="scenario", suffix="_monthly")
    assert joined.height == result.headline.height
    assert np.allclose(joined["bill_amount"].to_numpy(), joined["bill_amount_monthly"].to_numpy())


def test_short_data_is_annualised_for_the_finance(result):
    assert result.days == pytest.approx(DAYS)
    assert result.annualisation == pytest.approx(365 / DAYS)
    row = result.scenario("Solar 6.6 kW")
    assert row["year_one_saving_amount"] == pytest.approx(row["saving_amount"] * 365 / DAYS)


def test_npv_payback_and_irr_agree_for_every_scenario(result):
    for row in result.headline.iter_rows(named=True):
        if row["scenario"] == BASELINE:
            continue
        cf = result.cash_flows.filter(pl.col("scenario") == row["scenario"]).sort("year")
        net = cf["net_amount"].to_numpy()
        assert row["npv_amount"] == pytest.approx(cf["cumulative_discounted_amount"][-1], abs=1e-6)
        if row["irr_fraction"] is not None:
            terms = np.abs(net / (1 + row["irr_fraction"]) ** np.arange(net.size)).sum()
            assert abs(net_present_value(net, row["irr_fraction"])) <= 1e-6 * terms
        else:
            assert row["irr_note"].startswith("no IRR")
        turns_positive = bool(np.any(np.cumsum(net) >= 0))
        assert (row["payback_years"] is not None) == turns_positive
        assert (row["discounted_payback_years"] is not None) == bool(
            np.any(cf["cumulative_discounted_amount"].to_numpy() >= 0)
        )


def test_zero_capex_scenario_has_no_irr(result):
    row = result.scenario("Smart EV charging only")
    assert row["net_capex_amount"] == 0
    assert row["irr_fraction"] is None and "never change sign" in row["irr_note"]


def test_battery_rebate_lowers_the_capex(result):
    pv = result.scenario("Solar 6.6 kW")["net_capex_amount"]
    with_battery = result.scenario("Solar 6.6 kW + Powerwall 3")["net_capex_amount"]
    option = result.params.battery("Tesla Powerwall 3")
    rebate = result.params.battery_rebate_per_kwh * option.battery.capacity_kwh
    assert with_battery - pv == pytest.approx(option.cost_per_unit + option.installation - rebate)


def test_optimum_is_never_beaten_by_a_rule_policy(result):
    pol = result.policies
    assert "optimum" in pol["policy"].to_list()
    optimum = pol.filter(pl.col("policy") == "optimum")["saving_amount"][0]
    assert (pol["saving_amount"] <= optimum + 1e-6).all()


def test_npv_grid_covers_every_pv_size_and_battery(result):
    grid = result.npv_grid
    assert grid.height == 2 * (1 + 2)
    assert set(grid["battery"]) == {"none", "Tesla Powerwall 3", "Tesla Powerwall 2"}


def test_ev_strategies_side_by_side_and_no_departure_missed(result):
    from energylib.study.plan import STRATEGY_LABELS

    ev = result.ev_strategies
    labels = {STRATEGY_LABELS[s] for s in result.params.ev.strategies}
    assert labels <= set(ev["strategy"])
    assert (ev["departures"] == DAYS).all()  # one trip a day, weekdays and weekends
    assert (ev["departures_missed"] == 0).all()


def test_ev_charging_splits_into_grid_and_pv_without_loss(result):
    """What each strategy's EV charged equals the grid part plus the PV part, from the flows."""
    from energylib.scenario import run
    from energylib.study.pipeline import Dispatcher
    from energylib.study.plan import make_plan

    plan = make_plan(result.params)
    d = Dispatcher(result.params, result.inputs)
    for label, spec in plan.ev.items():
        flows = run(spec, result.inputs.year).flows
        row = result.ev_strategies.filter(pl.col("strategy") == label).row(0, named=True)
        assert row["ev_grid_kwh"] + row["ev_pv_kwh"] == pytest.approx(flows.ev_charge_kwh.sum())
        assert row["ev_pv_kwh"] <= (flows.pv_kwh - flows.curtailed_kwh).sum() + 1e-9
        assert d.run(spec).bill_total == pytest.approx(row["bill_amount"])


def test_typical_days_are_summer_in_a_sydney_january(result):
    assert set(result.typical_days["season"]) == {"summer"}
    assert result.typical_days["hour"].min() >= 0 and result.typical_days["hour"].max() < 24


def test_soc_week_stays_within_zero_and_hundred_percent(result):
    soc = result.soc_week
    assert set(soc["series"]) == {"home battery", "EV"}
    assert soc["soc_pct"].min() >= -1e-6 and soc["soc_pct"].max() <= 100 + 1e-6
    assert soc.group_by("series").len()["len"].to_list() == [7 * 48, 7 * 48]


def test_sensitivity_rows_for_the_tornado(result):
    rows = result.sensitivity.filter(pl.col("scenario") == result.featured)
    assert set(rows["parameter"]) == {
        "tariff escalation",
        "capex",
        "discount rate",
        "degradation",
        "export price",
    }
    assert rows.height == 10
    assert result.sensitivity_swings(result.featured)["swing_amount"].is_sorted(descending=True)


def test_stages_are_timed_within_the_wall_time(timed_result):
    result, wall = timed_result
    assert set(result.seconds) == {"data", "dispatch and finance", "frames"}
    assert sum(result.seconds.values()) <= wall


def test_headline_prints_in_the_terminal(result):
    from rich.console import Console

    console = Console(record=True, width=200)
    print_headline(result, console=console)
    text = console.export_text()
    for name in result.headline["scenario"]:
        assert name in text


# --------------------------------------------------------------------------- the report


def _visible_text(page: str) -> str:
    page = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.slow
def test_scenarios_command_renders_reports_whose_headline_equals_run_study(
    store_dir, tmp_path, capsys
):
    from energylib.cli import main
    from energylib.report import external_references

    files = []
    for stem, rate in (("small_a", 0.05), ("small_b", 0.08)):
        raw = small_raw(store_dir)
        raw["finance"] = {**raw["finance"], "discount_rate": rate}
        raw["policy_comparison"] = {**raw["policy_comparison"], "optimum": False}
        path = tmp_path / f"{stem}.yaml"
        path.write_text(yaml.safe_dump(raw))
        files.append(path)
    out = tmp_path / "reports"
    code = main(
        ["scenarios", "--params", *map(str, files), "--output-dir", str(out), "--no-quarto"]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    for path in files:
        page = (out / f"{path.stem}.html").read_text()
        assert external_references(page) == []
        text = _visible_text(page)
        expected = headline_table(run_study(load_params(path)))
        for row in expected.iter_rows():
            for cell in row:
                assert cell in text, f"{cell!r} of {path.stem} not in the rendered report"
        assert (out / f"{path.stem}.ipynb").is_file()
    # The headline tables printed in the terminal, one per params file.
    assert printed.count("Sydney household, calendar year 2025") == 2
    assert "Baseline" in printed


def test_scenarios_command_names_a_missing_params_file(tmp_path, capsys):
    from energylib.cli import main

    code = main(
        ["scenarios", "--params", str(tmp_path / "absent.yaml"), "--output-dir", str(tmp_path)]
    )
    assert code == 2
    assert "absent.yaml" in capsys.readouterr().err


def test_scenarios_plan_names_outputs_after_the_params_files(tmp_path):
    from energylib.commands.scenarios import plan

    a, b = tmp_path / "sydney.yaml", tmp_path / "dutch.yaml"
    a.write_text("x: 1\n")
    b.write_text("x: 1\n")
    studies = plan([a, b], output_dir=tmp_path / "out")
    assert [s.output.name for s in studies] == ["sydney.ipynb", "dutch.ipynb"]
    assert studies[0].parameters["params_file"] == str(a.resolve())
    assert studies[1].parameters["headline_out"].endswith("dutch.headline.parquet")


def test_typo_in_a_section_is_named(tmp_path):
    raw = small_raw(tmp_path)
    raw["pv"] = {**raw["pv"], "cost_per_kwp": 900}
    with pytest.raises(StudyError, match="cost_per_kwp"):
        params_from_dict(raw)
    raw = small_raw(tmp_path)
    raw["ev"] = {**raw["ev"], "charger_kwh": 7}
    with pytest.raises(StudyError, match="charger_kwh"):
        params_from_dict(raw)


def test_ev_departure_times_read_as_local_clock_times(tmp_path):
    from datetime import time as clock

    raw = small_raw(tmp_path)
    raw["ev"] = {**raw["ev"], "weekday_departure": "07:15"}
    assert params_from_dict(raw).ev.ev.driving.weekday_departure == clock(7, 15)
    raw["ev"]["weekday_departure"] = "quarter past seven"
    with pytest.raises(StudyError, match="weekday_departure"):
        params_from_dict(raw)


@settings(max_examples=30, deadline=None)
@given(
    discount=st.floats(min_value=0.0, max_value=0.12),
    escalation=st.floats(min_value=-0.02, max_value=0.08),
    horizon=st.integers(min_value=5, max_value=25),
)
def test_every_scenario_stays_consistent_under_other_finance_assumptions(
    store_dir, discount, escalation, horizon
):
    """NPV at the IRR is zero and payback exists iff the cumulative flow turns positive, for any assumptions."""
    from dataclasses import replace

    from energylib.study.pipeline import Dispatcher
    from energylib.study.plan import make_plan

    params = _small_params(store_dir)
    params = replace(
        params,
        assumptions=replace(
            params.assumptions,
            discount_rate=discount,
            tariff_escalation=escalation,
            horizon_years=horizon,
        ),
    )
    d = Dispatcher(params, _inputs(store_dir))
    plan = make_plan(params)
    base = d.run(plan.baseline)
    for choice in plan.scenarios:
        r = d.money(choice, base).result
        flows = r.flows
        if r.irr is not None:
            terms = np.abs(flows / (1 + r.irr) ** np.arange(flows.size)).sum()
            assert abs(net_present_value(flows, r.irr)) <= 1e-6 * terms
        assert (r.payback_years is not None) == bool(np.any(np.cumsum(flows) >= 0))
        assert r.npv == pytest.approx(net_present_value(flows, discount))


_CACHE: dict = {}


def _small_params(store_dir):
    if "params" not in _CACHE:
        _CACHE["params"] = params_from_dict(small_raw(store_dir))
    return _CACHE["params"]


def _inputs(store_dir):
    from energylib.study import load_inputs

    if "inputs" not in _CACHE:
        _CACHE["inputs"] = load_inputs(_small_params(store_dir))
    return _CACHE["inputs"]


# --------------------------------------------------------------------------- re-simulated finance
def test_a_later_year_is_the_degraded_system_dispatched_and_billed_again(result):
    from dataclasses import replace

    from energylib.scenario import run
    from energylib.study.pipeline import Dispatcher
    from energylib.study.plan import make_plan

    params = result.params
    plan = make_plan(params)
    d = Dispatcher(params, result.inputs)
    choice = next(c for c in plan.scenarios if c.name == "Solar 6.6 kW + Powerwall 3")
    spec = d.best(choice).spec
    a = params.assumptions
    y = 5
    faded = replace(
        spec.battery, capacity_kwh=spec.battery.capacity_kwh * (1 - a.battery_fade) ** (y - 1)
    )
    later = run(
        replace(spec, battery=faded, pv_factor=(1 - a.pv_degradation) ** (y - 1)),
        result.inputs.year,
    )
    base = run(plan.baseline, result.inputs.year)
    expected = (later.baseline_total - later.bill_total) * result.annualisation
    imp, exp, _ = d._year(spec, plan.baseline, y)
    assert imp + exp == pytest.approx(expected)
    assert base.bill_total == pytest.approx(later.baseline_total)
    cash = result.cash_flows.filter(pl.col("scenario") == choice.name).sort("year")
    row = result.scenario(choice.name)
    assert cash["savings_amount"][1] == pytest.approx(row["year_one_saving_amount"])
    escalation = (1 + a.tariff_escalation) ** (y - 1), (1 + a.export_escalation) ** (y - 1)
    assert cash["savings_amount"][y] == pytest.approx(imp * escalation[0] + exp * escalation[1])


def test_a_replaced_battery_saves_as_much_as_a_new_one(store_dir):
    from energylib.study.pipeline import Dispatcher
    from energylib.study.plan import make_plan

    raw = small_raw(store_dir, battery_life_years=4)
    raw["finance"] = {
        **raw["finance"],
        "pv_degradation": 0.0,
        "battery_fade": 0.2,
        "horizon_years": 8,
    }
    params = params_from_dict(raw)
    d = Dispatcher(params, _inputs(store_dir))
    plan = make_plan(params)
    choice = next(c for c in plan.scenarios if c.battery)
    spec = d.best(choice).spec
    years = [sum(d._year(spec, plan.baseline, y)[:2]) for y in range(1, 9)]
    assert years[4] == pytest.approx(years[0])  # year 5: a new battery
    assert years[3] <= years[0] and years[7] == pytest.approx(years[3])


def test_a_tariff_change_inside_the_horizon_prices_the_years_after_it(store_dir):
    raw = small_raw(
        store_dir, tariff={"kind": "flat", "import_per_kwh": 0.30, "feed_in_credit_per_kwh": 0.10}
    )
    raw["tariff_changes"] = [{"from": "2027-01-01", "feed_in_credit_per_kwh": 0.0}]
    raw["finance"] = {
        **raw["finance"],
        "pv_degradation": 0.0,
        "tariff_escalation": 0.0,
        "export_price_escalation": 0.0,
    }
    result = run_study(params_from_dict(raw))
    cash = result.cash_flows.filter(pl.col("scenario") == "Solar 6.6 kW").sort("year")[
        "savings_amount"
    ]
    assert cash[1] == pytest.approx(cash[2])  # 2025 and 2026 with a feed-in tariff
    assert cash[3] < cash[2] and cash[3] == pytest.approx(cash[4])  # none from 2027
    assert "From 2027-01-01: feed_in_credit_per_kwh 0.0" in result.finance_method


def test_the_scaled_method_is_an_option_and_the_report_says_which(store_dir):
    raw = small_raw(store_dir)
    raw["finance"] = {**raw["finance"], "method": "scaled"}
    scaled = run_study(params_from_dict(raw))
    assert "scaled down by PV degradation" in scaled.finance_method
    resimulated = run_study(params_from_dict(small_raw(store_dir)))
    assert "dispatched and billed again" in resimulated.finance_method
    a, b = (r.scenario("Solar 6.6 kW + Powerwall 3") for r in (scaled, resimulated))
    assert a["year_one_saving_amount"] == pytest.approx(b["year_one_saving_amount"])
    assert a["npv_amount"] != pytest.approx(b["npv_amount"], rel=1e-6)
