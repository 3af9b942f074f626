"""MPC in the study: the params option, the plan's specs, the comparison's frames and chart."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from study_data import synthetic_year_start
from test_study import small_raw

from energylib import plots
from energylib.dispatch.mpc import MPCPolicy, Series
from energylib.scenario import run
from energylib.store import ParquetStore
from energylib.study import StudyError, load_inputs, params_from_dict, run_study
from energylib.study.frames import policy_frame, stability_frame
from energylib.study.plan import make_plan


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mpc_study")
    synthetic_year_start(ParquetStore(root))
    return root


def with_mpc(store_dir, **mpc) -> dict:
    """The shipped Sydney params on the synthetic fortnight, one battery scenario, and the
    policy comparison with MPC."""
    raw = small_raw(store_dir)
    raw["scenarios"] = raw["scenarios"][1:2]
    raw["sensitivity_scenario"] = raw["scenarios"][0]["name"]
    raw["batteries"] = raw["batteries"][:1]
    raw["pv"] = {**raw["pv"], "sizes_kw": [6.6]}
    raw["finance"] = {**raw["finance"], "method": "scaled"}
    raw["policy_comparison"] = {
        **raw["policy_comparison"],
        "policies": ["self_consumption", "forecast_persistence", "mpc"],
        "mpc": {"forecast": "persistence", "horizon_hours": 12, **mpc},
    }
    return raw


def test_the_mpc_option_becomes_the_policy_and_the_trade_off_specs(store_dir):
    params = params_from_dict(with_mpc(store_dir, switch_threshold=0.05, thresholds=[0, 0.5]))
    assert params.mpc.horizon_hours == 12 and params.mpc.thresholds == (0.0, 0.5)
    policies = make_plan(params).policies
    main = policies["MPC (persistence, prices now known)"]
    assert main.policy == MPCPolicy(
        forecast="persistence", horizon_hours=12, known_intervals=1, switch_threshold=0.05
    )
    curve = {k: s.policy.switch_threshold for k, s in policies.items() if "threshold" in k}
    assert curve == {
        "MPC (persistence, prices now known), threshold 0": 0.0,
        "MPC (persistence, prices now known), threshold 0.5": 0.5,
    }
    assert params.rule("mpc") == main.policy
    hourly = make_plan(params_from_dict(with_mpc(store_dir, replan_minutes=60))).policies
    assert hourly["MPC (persistence, prices now known, re-planned every 60 min)"].policy == (
        MPCPolicy(forecast="persistence", horizon_hours=12, known_intervals=1, replan_minutes=60)
    )


@pytest.mark.parametrize(
    "mpc, message",
    [
        ({"forecast": "oracle"}, r"policy_comparison.mpc: forecast 'oracle'; use one of"),
        ({"switch_threshold": -1}, r"policy_comparison.mpc: .*switch_threshold must be >= 0"),
        ({"horizon": 24}, r"policy_comparison.mpc has unknown keys \['horizon'\]"),
        (
            {"forecast": "scenarios", "scenarios": 0},
            r"policy_comparison.mpc: scenarios must be >= 1",
        ),
        (
            {"forecast": "lag_ridge", "history_days": 3},
            r"policy_comparison.mpc: history_days must be >= 10",
        ),
        (
            {"forecast": "lag_ridge", "load_pv_days": 0},
            r"policy_comparison.mpc: load_pv_days must be >= 1 \(days of load and PV",
        ),
    ],
)
def test_a_bad_mpc_option_names_the_key(store_dir, mpc, message):
    raw = small_raw(store_dir)
    raw["policy_comparison"] = {**raw["policy_comparison"], "mpc": mpc}
    with pytest.raises(StudyError, match=message):
        params_from_dict(raw)


def test_the_comparison_puts_mpc_beside_the_rules_and_shows_its_trade_off(store_dir):
    params = params_from_dict(with_mpc(store_dir, switch_threshold=0.05, thresholds=[0, 0.5]))
    year = load_inputs(params).year.head_days(4)
    pol = policy_frame({k: run(s, year) for k, s in make_plan(params).policies.items()})
    assert {"mode_changes_per_day", "battery_cycles", "switch_threshold", "stability_curve"} <= set(
        pol.columns
    )
    main = pol.filter(~pl.col("stability_curve"))
    assert main["policy"].to_list() == [
        "self-consumption",
        "forecast (yesterday)",
        "MPC (persistence, prices now known)",
        "optimum",
    ]
    optimum = main.filter(pl.col("policy") == "optimum").row(0, named=True)
    assert optimum["share_of_optimum_pct"] == pytest.approx(100.0)
    assert (pol["saving_amount"] <= optimum["saving_amount"] + 1e-6).all()
    assert main.filter(pl.col("policy") == "self-consumption")["mode_changes_per_day"][0] == 0.0
    curve = stability_frame(pol)
    assert curve["switch_threshold"].to_list() == [0.0, 0.05, 0.5]
    changes = curve["mode_changes_per_day"].to_list()
    assert changes[0] > changes[-1]  # a high threshold keeps the battery's mode longer
    chart = plots.stability_tradeoff_chart(curve, "AUD", title="t").to_dict()
    assert len(chart["hconcat"]) == 2


@pytest.fixture(scope="module")
def longer_store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mpc_study_longer")
    synthetic_year_start(ParquetStore(root), days=16)
    return root


def trained(store_dir, forecast: str, start: str, **mpc) -> dict:
    raw = with_mpc(store_dir, forecast=forecast, history_days=12, **mpc)
    raw["period"] = {"start": start, "end": "2025-01-16"}
    return raw


@pytest.mark.parametrize(
    "forecast, label",
    [
        ("lag_ridge", "MPC (lag ridge, prices now known)"),
        ("scenarios", "MPC (lag ridge, 3 scenarios, prices now known)"),
    ],
)
def test_a_study_plans_mpc_with_a_forecaster_fitted_before_its_period(
    longer_store_dir, forecast, label
):
    params = params_from_dict(trained(longer_store_dir, forecast, "2025-01-13", scenarios=3))
    with pytest.raises(StudyError, match=f"forecast: {forecast} is fitted on the prices stored"):
        make_plan(params)  # only run_study reads the history it is fitted on
    pol = run_study(params).policies.filter(~pl.col("stability_curve"))
    assert label in pol["policy"].to_list()
    row = pol.filter(pl.col("policy") == label).row(0, named=True)
    optimum = pol.filter(pl.col("policy") == "optimum").row(0, named=True)
    assert 0 < row["saving_amount"] <= optimum["saving_amount"] + 1e-6


def test_a_forecaster_without_enough_history_says_how_much_it_found(longer_store_dir):
    params = params_from_dict(trained(longer_store_dir, "lag_ridge", "2025-01-05"))
    with pytest.raises(StudyError, match=r"forecast: lag_ridge: .*at least 9 days.*found 192 "):
        run_study(params)


@pytest.mark.parametrize("forecast", ["lag_ridge", "scenarios"])
def test_a_trained_price_forecast_plans_load_and_pv_on_their_recent_mean(
    longer_store_dir, forecast
):
    from energylib.dispatch.mpc import RecentMeanForecast
    from energylib.study.pipeline import trained_forecasts

    raw = trained(longer_store_dir, forecast, "2025-01-13", scenarios=3, load_pv_days=2)
    params = params_from_dict(raw)
    year = load_inputs(params).year
    fc = trained_forecasts(params, None, year)
    assert fc.fallback == RecentMeanForecast(2)
    # the plan's load is the mean of the two days before, not yesterday's
    load = year.load_kwh + year.ev_load_kwh
    series = Series(load, np.zeros_like(load), dict(year.price_model(params.tariff)[1]), 48)
    t, n = 100, 48
    planned = fc.window(series, t, n).load_kwh
    latest = t + np.arange(n) - 48 * (np.arange(n) // 48 + 1)
    np.testing.assert_allclose(planned, (load[latest] + load[latest - 48]) / 2)
    assert np.abs(planned - load[latest]).max() > 1e-6
    default = params_from_dict(trained(longer_store_dir, forecast, "2025-01-13", scenarios=3))
    assert trained_forecasts(default, None, load_inputs(default).year).fallback.days == 3
