"""The rules' kernels interpreted (``compiled=False``, the live agent's path, no numba)
give the same flows as compiled, to the last bit."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
from dispatch_cases import Case, cases
from hypothesis import given, settings

from energylib.dispatch.flows import Flows
from energylib.dispatch.rules import (
    ForecastPolicy,
    PriceThreshold,
    SelfConsumption,
    dispatch_rules,
    policy_thresholds,
)
from energylib.jit import Kernel

RULES = (
    SelfConsumption(),
    PriceThreshold(0.15, 0.3, 1.0),
    ForecastPolicy(),
    ForecastPolicy(forecast="persistence", horizon_hours=6),
)


@settings(max_examples=40, deadline=None)
@given(cases(max_days=2))
def test_interpreted_dispatch_gives_the_compiled_flows_exactly(c: Case):
    for policy in RULES:
        flows = [
            dispatch_rules(
                c.load, c.pv, c.imp, c.exp, c.minutes, policy=policy, ev_strategy=c.strategy,
                compiled=compiled, **c.kwargs,
            )
            for compiled in (True, False)
        ]  # fmt: skip
        for f in dataclasses.fields(Flows):
            a, b = (getattr(x, f.name) for x in flows)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b, err_msg=f"{policy.name}: {f.name}")
            else:
                assert a == b
        thresholds = [
            policy_thresholds(
                policy, c.load.size, c.minutes, c.imp, c.load, c.pv, c.battery, compiled=compiled
            )
            for compiled in (True, False)
        ]
        for a, b in zip(*thresholds, strict=True):
            np.testing.assert_array_equal(a, b)


def test_importing_and_dispatching_interpreted_never_loads_numba():
    code = (
        "import sys, numpy as np\n"
        "from energylib.dispatch.assets import Battery\n"
        "from energylib.dispatch.rules import ForecastPolicy, dispatch_rules\n"
        "n = 288\n"
        "f = dispatch_rules(np.full(n, 0.1), np.zeros(n), np.linspace(0.1, 0.4, n),"
        " np.zeros(n), 5, policy=ForecastPolicy(), battery=Battery(), compiled=False)\n"
        "assert f.battery_discharge_kwh.sum() > 0\n"
        "print(sorted(m for m in ('numba', 'llvmlite', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_kernel_compiles_with_the_kernels_it_calls_compiled():
    from energylib.dispatch import rules

    assert isinstance(rules._dispatch_kernel, Kernel)
    compiled = rules._dispatch_kernel.compiled()
    assert compiled is rules._dispatch_kernel.compiled()  # built once
    assert compiled.py_func.__globals__["_plan_cheapest"] is rules._plan_cheapest.compiled()
