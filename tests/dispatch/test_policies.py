"""Policy names: one resolver for scenarios, studies and the agent."""

from __future__ import annotations

import numpy as np
import pytest

from energylib.dispatch.optimum import OptimumOptions
from energylib.dispatch.policies import NAMES, options_of, resolve
from energylib.dispatch.rules import ForecastPolicy, PriceThreshold, SelfConsumption


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("self_consumption", SelfConsumption()),
        ("price_threshold", PriceThreshold()),
        ("optimum", OptimumOptions()),
    ],
)
def test_a_name_without_options_is_the_policy_with_its_defaults(name, expected):
    assert resolve(name) == expected


@pytest.mark.parametrize(
    ("name", "forecast"), [("forecast", "perfect"), ("forecast_persistence", "persistence")]
)
def test_forecast_names_fix_what_stands_in_for_a_missing_forecast(name, forecast):
    price = np.linspace(0.1, 0.3, 12)
    policy = resolve(name, price_forecast_per_kwh=price, horizon_hours=6.0)
    assert isinstance(policy, ForecastPolicy) and policy.forecast == forecast
    assert policy.horizon_hours == 6.0 and policy.price_forecast_per_kwh is price


def test_options_are_the_policys_own_parameters():
    p = resolve("price_threshold", charge_below_per_kwh=0.05, discharge_above_per_kwh=0.4)
    assert (p.charge_below_per_kwh, p.discharge_above_per_kwh) == (0.05, 0.4)
    assert resolve("optimum", window_days=2.0).window_days == 2.0
    assert "forecast" not in options_of("forecast")  # the name fixes it
    assert options_of("self_consumption") == ()


def test_an_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="unknown dispatch policy 'yolo'; use one of") as err:
        resolve("yolo")
    assert all(n in str(err.value) for n in NAMES)


def test_an_option_the_policy_does_not_take_lists_those_it_does():
    with pytest.raises(
        ValueError, match="takes no option horizon_hours; its options are charge_below_per_kwh"
    ):
        resolve("price_threshold", horizon_hours=24)
    with pytest.raises(ValueError, match="options are none"):
        resolve("self_consumption", charge_below_per_kwh=0.1)


def test_mpc_is_named_as_studies_and_the_agent_name_it():
    from energylib.dispatch.mpc import MPCPolicy

    p = resolve("mpc", forecast="persistence", horizon_hours=24.0, switch_threshold=0.05)
    assert p == MPCPolicy(forecast="persistence", horizon_hours=24.0, switch_threshold=0.05)
    assert {"forecast", "horizon_hours", "terminal_value", "switch_threshold"} <= set(
        options_of("mpc")
    )
    with pytest.raises(ValueError, match="switch_threshold must be >= 0"):
        resolve("mpc", switch_threshold=-1.0)
