"""What a study dispatches: every scenario of its report as a :class:`~energylib.scenario.ScenarioSpec`.

The plan turns the params' scenarios, PV x battery grid, EV strategies and policy
comparison into specs, grouped by the part of the report each feeds.  A battery scenario
under ``policy: best_rule`` is a list of candidate specs, one per realistic rule policy;
the pipeline keeps the cheapest and the report says which it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from energylib.dispatch.mpc import Forecast, MPCPolicy
from energylib.dispatch.optimum import OptimumOptions
from energylib.dispatch.rules import SelfConsumption
from energylib.scenario import ScenarioSpec
from energylib.study.params import BEST_RULE, REALISTIC_RULES, StudyParams

BASELINE = "Baseline (as it was)"
POLICY_LABELS = {
    "self_consumption": "self-consumption",
    "price_threshold": "price threshold",
    "forecast": "forecast (perfect)",
    "forecast_persistence": "forecast (yesterday)",
    "mpc": "MPC",
    "optimum": "optimum",
}
STRATEGY_LABELS = {
    "immediate": "charged on arrival",
    "solar_only": "solar only",
    "cheapest": "cheapest hours",
    "solar_cheapest": "solar, then cheapest hours",
}


@dataclass(frozen=True)
class Choice:
    """One headline or grid entry: candidate specs (one per policy tried) for the full
    system, and the same without its battery and without its PV (for the finance split)."""

    name: str
    candidates: tuple[ScenarioSpec, ...]
    no_battery: ScenarioSpec
    no_pv: ScenarioSpec
    pv_kw: float
    battery: str | None


@dataclass(frozen=True)
class Plan:
    """Every spec a study runs, grouped by the part of the report it feeds."""

    baseline: ScenarioSpec
    scenarios: tuple[Choice, ...]
    grid: tuple[Choice, ...]
    ev: dict[str, ScenarioSpec]
    policies: dict[str, ScenarioSpec]

    def specs(self) -> list[ScenarioSpec]:
        """Every distinct spec, in the order the report needs them."""
        out = [self.baseline]
        for c in (*self.scenarios, *self.grid):
            out += [*c.candidates, c.no_battery, c.no_pv]
        out += [*self.ev.values(), *self.policies.values()]
        return list(dict.fromkeys(out))


def policy_label(spec: ScenarioSpec) -> str:
    """How a spec's battery is dispatched, in words (``-`` without a battery)."""
    if spec.battery is None:
        return "-"
    if isinstance(spec.policy, OptimumOptions):
        return POLICY_LABELS["optimum"]
    if isinstance(spec.policy, MPCPolicy):
        return mpc_label(spec.policy)
    return POLICY_LABELS.get(spec.policy.name, spec.policy.name)


def mpc_label(policy: MPCPolicy, *, threshold: bool = False) -> str:
    """``MPC (persistence)``, or ``MPC (persistence), threshold 0.05`` for the trade-off."""
    known = ", prices now known" if policy.known_intervals else ""
    every = f", re-planned every {policy.replan_minutes} min" if policy.replan_minutes else ""
    text = f"{POLICY_LABELS['mpc']} ({policy.forecast_name}{known}{every})"
    return f"{text}, threshold {policy.switch_threshold:g}" if threshold else text


def strategy_label(spec: ScenarioSpec) -> str:
    """How a spec's EV charges, in words (``no EV`` without one)."""
    if spec.ev is None:
        return "no EV"
    text = STRATEGY_LABELS.get(spec.ev_strategy, spec.ev_strategy)
    if spec.v2g:
        return f"{text} + V2H + V2G"
    return f"{text} + V2H" if spec.v2h else text


def make_plan(params: StudyParams, supplier: Forecast | None = None) -> Plan:
    """The specs of a study (see the module docstring); ``supplier``: the forecasts MPC plans
    with under ``policy_comparison.mpc.forecast: supplier`` (:func:`supplier_forecasts`), or
    ``lag_ridge`` / ``scenarios`` (:func:`~energylib.study.pipeline.trained_forecasts`)."""
    ev = params.ev
    base_strategy = ev.baseline_strategy if ev else "immediate"
    smart = ev.study_strategy if ev else "immediate"
    base = ScenarioSpec(
        name=BASELINE,
        ev=ev.ev if ev else None,
        ev_strategy=base_strategy,
        tariff=params.tariff,
        policy=SelfConsumption(),
    )
    rules = REALISTIC_RULES if params.policy == BEST_RULE else (params.policy,)

    def policy_of(name: str):
        return params.mpc.policy(forecast=supplier) if name == "mpc" else params.rule(name)

    def choice(
        name: str, pv_kw: float, battery: str | None, strategy: str, v2h=False, v2g=False
    ) -> Choice:
        option = params.battery(battery)
        spec = replace(
            base, name=name, pv=params.pv.system(pv_kw), ev_strategy=strategy,
            v2h=v2h and ev is not None, v2g=v2g and ev is not None,
        )  # fmt: skip
        if option is None:
            candidates = (spec,)
        else:
            spec = replace(spec, battery=option.battery)
            candidates = tuple(replace(spec, policy=policy_of(r)) for r in rules)
        return Choice(
            name,
            candidates,
            no_battery=replace(
                spec, name=f"{name} without battery", battery=None, policy=SelfConsumption()
            ),
            no_pv=replace(
                spec,
                name=f"{name} without PV or battery",
                pv=None,
                battery=None,
                policy=SelfConsumption(),
            ),
            pv_kw=pv_kw,
            battery=battery,
        )

    scenarios = tuple(
        choice(
            sc.name, float(sc.pv_kw), sc.battery, sc.ev_strategy or base_strategy, sc.v2h, sc.v2g
        )
        for sc in params.scenarios
    )
    batteries: list[str | None] = [None, *[b.name for b in params.batteries]]
    grid = tuple(
        choice(f"{pv:g} kW, {b or 'no battery'}", pv, b, base_strategy)
        for pv in params.pv.sizes_kw
        for b in batteries
    )
    pc = params.comparison
    compare_pv = pc.pv_kw if pc else (max(params.pv.sizes_kw) if params.pv.sizes_kw else 0.0)
    with_pv = replace(base, pv=params.pv.system(compare_pv))
    ev_specs: dict[str, ScenarioSpec] = {}
    if ev:
        for s in ev.strategies:
            ev_specs[STRATEGY_LABELS[s]] = replace(with_pv, name=s, ev_strategy=s)
        if ev.v2h:
            spec = replace(with_pv, ev_strategy=smart, v2h=True)
            ev_specs[strategy_label(spec)] = replace(spec, name=strategy_label(spec))
        if ev.v2g:
            spec = replace(with_pv, ev_strategy=smart, v2h=True, v2g=True)
            ev_specs[strategy_label(spec)] = replace(spec, name=strategy_label(spec))
    policies: dict[str, ScenarioSpec] = {}
    if pc is not None and pc.battery is not None:
        with_battery = replace(
            with_pv, battery=params.battery(pc.battery).battery, ev_strategy=smart
        )
        for p in pc.policies:
            policy = policy_of(p)
            label = mpc_label(policy) if p == "mpc" else POLICY_LABELS[p]
            policies[label] = replace(with_battery, name=p, policy=policy)
        if "mpc" in pc.policies:  # the stability trade-off: MPC again at each threshold
            for t in params.mpc.thresholds:
                policy = params.mpc.policy(t, forecast=supplier)
                policies[mpc_label(policy, threshold=True)] = replace(
                    with_battery, name=f"mpc, threshold {t:g}", policy=policy
                )
        if pc.optimum:
            window = pc.optimum_window_days
            options = OptimumOptions(
                window_days=window, step_days=max(window - 1.0, 1.0) if window else 1.0
            )
            policies[POLICY_LABELS["optimum"]] = replace(
                with_battery, name="optimum", policy=options
            )
    return Plan(base, scenarios, grid, ev_specs, policies)
