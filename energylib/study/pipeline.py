"""The study, as one pipeline: load inputs -> plan -> dispatch -> finance -> frames.

:func:`run_study` is the only orchestrator: it reads the inputs
(:mod:`energylib.study.inputs`), lists the specs (:mod:`energylib.study.plan`),
dispatches and bills each with :func:`energylib.scenario.run` (memoised there), turns
savings into cash flows with :mod:`energylib.finance` and returns tidy frames
(:mod:`energylib.study.frames`).

Savings and finance
-------------------
A scenario's saving is the baseline bill (no new PV, no battery, the EV charged on arrival,
or no EV at all where the home has none) less the scenario's bill.  Where the data covers
less than a year, the finance uses the savings scaled to 365 days
(``StudyResult.annualisation``).

With ``finance.method: resimulated`` (the default) every year of the horizon is dispatched
and billed again: the PV at ``(1 - degradation) ** (year - 1)`` of its output, the battery
at ``(1 - fade) ** age`` of its capacity (age restarting when it is replaced), under the
tariff in force when that year starts (``tariff_changes``: Dutch net metering ends in 2027),
against the same year's baseline; :mod:`energylib.finance` escalates those savings.  With
``scaled`` the year-1 saving is scaled instead: the share of it that degrades with the PV
is what the PV alone adds, the share that fades with the battery what the battery adds on
top (both measured by running the scenario without them); those shares also drive the
degradation sensitivity under either method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from energylib import finance
from energylib.dispatch.mpc import (
    Forecast,
    IssuedForecast,
    RecentMeanForecast,
    lag_ridge_forecast,
    supplier_forecast,
)
from energylib.scenario import ScenarioResult, ScenarioSpec, ScenarioYear, run
from energylib.schema import TIME, interval_index
from energylib.study import frames
from energylib.study.inputs import StudyInputs, load_inputs, read_prices, study_store
from energylib.study.params import (
    SCENARIOS,
    SUPPLIER,
    TRAINED_FORECASTS,
    StudyError,
    StudyParams,
)
from energylib.study.plan import Choice, Plan, make_plan
from energylib.tariff import Calendar


@dataclass(frozen=True)
class Money:
    """The finance of one choice: what it costs, what it saves, and the metrics."""

    capex: finance.Capex
    savings: finance.Savings
    result: finance.FinanceResult


def capex(
    params: StudyParams, pv_kw: float, battery: str | None, bidirectional: bool
) -> finance.Capex:
    """Upfront costs and rebates of a PV size, a battery option and a charger [currency]."""
    pv = params.pv
    option = params.battery(battery)
    rebate = 0.0
    if option is not None and params.battery_rebate_per_kwh:
        usable = option.battery.capacity_kwh
        cap = params.battery_rebate_max_kwh
        rebate = params.battery_rebate_per_kwh * (min(usable, cap) if cap else usable)
    has_pv = pv_kw > 0
    return finance.Capex(
        pv_kw=pv_kw,
        pv_cost_per_kw=pv.cost_per_kw,
        pv_installation=pv.installation if has_pv else 0.0,
        pv_rebate=pv.rebate if has_pv else 0.0,
        battery_units=option.units if option else 0,
        battery_cost_per_unit=option.cost_per_unit if option else 0.0,
        battery_kwh=option.battery.capacity_kwh if option else 0.0,
        battery_cost_per_kwh=option.cost_per_kwh if option else 0.0,
        battery_installation=option.installation if option else 0.0,
        battery_rebate=rebate,
        charger_cost=params.ev.bidirectional_charger_cost if (bidirectional and params.ev) else 0.0,
    )


def ongoing(params: StudyParams) -> finance.Ongoing:
    """Yearly costs and replacements of the study's equipment."""
    pv = params.pv
    return finance.Ongoing(
        om_per_year=params.other_om_per_year,
        pv_om_per_kw_year=pv.om_per_kw_year,
        inverter_life_years=pv.inverter_life_years,
        inverter_replacement_cost=pv.inverter_replacement_cost,
        battery_life_years=params.battery_life_years,
    )


class Dispatcher:
    """Runs specs on the study's year and keeps what the report needs of each."""

    def __init__(self, params: StudyParams, inputs: StudyInputs):
        self.params, self.year = params, inputs.year
        self.days = len(self.year) * self.year.interval_minutes / 1440.0
        self.annual = 365.0 / self.days
        self.ongoing = ongoing(params)
        self.horizon = int(params.assumptions.horizon_years)
        self.start = inputs.period.start or self.year.cal.local_date[0].astype(date)
        self._best: dict[Choice, ScenarioSpec] = {}
        self._years: dict[tuple[ScenarioSpec, ScenarioSpec], tuple[float, float, float]] = {}

    def run(self, spec: ScenarioSpec) -> ScenarioResult:
        return run(spec, self.year)

    def _split(self, base: ScenarioResult, run_: ScenarioResult) -> tuple[float, float, float]:
        """A year's saving split into imports and feed-in, and the new PV's generation,
        annualised [currency, currency, kWh]."""
        base_credit = float(base.bill["feed_in_credit"].sum())
        credit = float(run_.bill["feed_in_credit"].sum())
        f = run_.flows
        new_pv = np.clip(f.pv_kwh - f.curtailed_kwh - self.year.existing_pv_kwh, 0.0, None)
        return (
            ((base.bill_total + base_credit) - (run_.bill_total + credit)) * self.annual,
            (credit - base_credit) * self.annual,
            float(new_pv.sum()) * self.annual,
        )

    def _year(self, spec: ScenarioSpec, base: ScenarioSpec, y: int) -> tuple[float, float, float]:
        """Year ``y`` of a system, dispatched and billed again (see the module docstring)."""
        a = self.params.assumptions
        tariff = self.params.tariff_on(_add_years(self.start, y - 1))
        battery = spec.battery
        if battery is not None:
            life = self.params.battery_life_years
            age = (y - 1) % int(life) if life and int(life) < self.horizon else y - 1
            battery = replace(
                battery, capacity_kwh=battery.capacity_kwh * (1.0 - a.battery_fade) ** age
            )
        pv_factor = (1.0 - a.pv_degradation) ** (y - 1) if spec.pv is not None else 1.0
        later = replace(spec, tariff=tariff, battery=battery, pv_factor=pv_factor)
        key = (replace(base, tariff=tariff), later)
        if key not in self._years:  # a headline scenario is often a cell of the grid too
            self._years[key] = self._split(self.run(key[0]), self.run(later))
        return self._years[key]

    def best(self, choice: Choice) -> ScenarioResult:
        """The cheapest of a choice's candidates (one per rule policy tried)."""
        if choice not in self._best:
            costs = [(self.run(s).bill_total, i) for i, s in enumerate(choice.candidates)]
            self._best[choice] = choice.candidates[min(costs)[1]]
        return self.run(self._best[choice])

    def saving(self, spec: ScenarioSpec) -> float:
        r = self.run(spec)
        return r.baseline_total - r.bill_total

    def money(self, choice: Choice, base: ScenarioResult) -> Money:
        """Savings split by what degrades (PV) and fades (battery), then :func:`finance.evaluate`."""
        run_ = self.best(choice)
        saving = base.bill_total - run_.bill_total
        pv_fraction = battery_fraction = 0.0
        if saving > 0:
            no_battery = base.bill_total - self.run(choice.no_battery).bill_total
            no_pv = base.bill_total - self.run(choice.no_pv).bill_total
            if choice.battery is not None:
                battery_fraction = (saving - no_battery) / saving
            if choice.pv_kw > 0:
                pv_fraction = (no_battery - no_pv) / saving
        pv_fraction = min(max(pv_fraction, 0.0), 1.0)
        battery_fraction = min(max(battery_fraction, 0.0), 1.0 - pv_fraction)
        import_saving, export_credit, pv_kwh = self._split(base, run_)
        by_year = {}
        if self.params.finance_method == "resimulated":
            years = [self._year(run_.spec, base.spec, y) for y in range(1, self.horizon + 1)]
            by_year = {
                "import_by_year": tuple(y[0] for y in years),
                "export_by_year": tuple(y[1] for y in years),
                "pv_kwh_by_year": tuple(y[2] for y in years),
            }
        savings = finance.Savings(
            import_saving=import_saving,
            export_credit=export_credit,
            pv_fraction=pv_fraction,
            battery_fraction=battery_fraction,
            pv_generation_kwh=pv_kwh,
            **by_year,
        )
        spec = run_.spec
        c = capex(self.params, choice.pv_kw, choice.battery, spec.v2h or spec.v2g)
        result = finance.evaluate(c, savings, self.params.assumptions, self.ongoing)
        return Money(c, savings, result)


def _plans_with_mpc(params: StudyParams) -> bool:
    """Whether the study dispatches with MPC: its policy, or a policy comparison with a
    battery that names ``mpc``."""
    pc = params.comparison
    compared = pc is not None and pc.battery is not None and "mpc" in pc.policies
    return compared or params.policy == "mpc"


def supplier_forecasts(params: StudyParams, store, year: ScenarioYear) -> IssuedForecast | None:
    """The supplier's price forecasts as issued over the study's period, where the policy
    comparison's MPC plans with them (``policy_comparison.mpc.forecast: supplier``); else None.

    Read from ``store`` (default: the study's store), site ``supplier_site`` or the prices
    input's; a decision sees only the forecasts issued at or before it
    (:func:`energylib.dispatch.mpc.supplier_forecast`).
    """
    mpc = params.mpc
    if mpc.forecast != SUPPLIER or not _plans_with_mpc(params):
        return None
    site = mpc.supplier_site or params.inputs.prices.site
    try:
        return supplier_forecast(
            study_store(params, store), year.cal.interval_start[0], len(year),
            year.interval_minutes, source=mpc.supplier_source, site=site,
            fallback=RecentMeanForecast(mpc.load_pv_days),
        )  # fmt: skip
    except (LookupError, ValueError) as exc:
        raise StudyError(
            f"{params.where}: policy_comparison.mpc.forecast: supplier: {exc}; or use "
            "forecast: persistence"
        ) from None


def trained_forecasts(params: StudyParams, store, year: ScenarioYear) -> Forecast | None:
    """MPC's price forecast fitted on the prices stored before the study's period, where the
    policy comparison's MPC plans with one (``policy_comparison.mpc.forecast: lag_ridge`` or
    ``scenarios``); else None.

    The forecaster (:func:`energylib.dispatch.mpc.lag_ridge_forecast`) is fitted on the
    ``history_days`` before the period, read from the prices input at the study's interval
    (missing intervals stay missing); each decision then reads the prices up to its own
    interval and nothing later.  It forecasts the market channel the tariff's import price
    follows (``general_per_kwh``, else ``spot_per_kwh``); the other channels, load and PV
    are the mean of the last ``load_pv_days`` days at the same time of day.
    """
    mpc = params.mpc
    if mpc.forecast not in TRAINED_FORECASTS or not _plans_with_mpc(params):
        return None
    prices, market = year.price_model(params.tariff)
    followed = [c for c, coef in prices.import_coef.items() if np.any(coef != 0)]
    channel = next((c for c in ("general_per_kwh", "spot_per_kwh") if c in followed), None)
    key = f"{params.where}: policy_comparison.mpc.forecast: {mpc.forecast}"
    if channel is None:
        raise StudyError(
            f"{key}: tariff {params.tariff.name} does not follow a market price, so there is "
            "none to forecast; use forecast: persistence"
        )
    m = year.interval_minutes
    first = year.cal.interval_start[0].astype("datetime64[us]").astype(datetime).replace(tzinfo=UTC)
    since = first - timedelta(days=mpc.history_days)
    grid = pl.DataFrame({TIME: interval_index(since, first, m)})
    data = read_prices(params, store, since, first)
    if channel not in data.columns:
        data = data.with_columns(pl.lit(None, dtype=pl.Float64).alias(channel))
    past = grid.join(data.select(TIME, channel), on=TIME, how="left")[channel]
    past = past.cast(pl.Float64).fill_null(np.nan).to_numpy()
    price = np.concatenate((past, market[channel]))
    cal = Calendar.from_utc(
        np.concatenate((grid[TIME].dt.replace_time_zone(None).to_numpy(), year.cal.interval_start)),
        year.cal.timezone, m,
    )  # fmt: skip
    try:
        return lag_ridge_forecast(
            price, cal.minute_of_day // 60, past.size, len(year), channel=channel, steps_per_day=1440 // m,
            horizon=params.mpc.policy(forecast="perfect").steps(m),
            scenarios=mpc.scenarios if mpc.forecast == SCENARIOS else 0,
            fallback=RecentMeanForecast(mpc.load_pv_days),
        )  # fmt: skip
    except ValueError as exc:
        raise StudyError(
            f"{key}: {exc} (found {int(np.isfinite(past).sum())} intervals of {channel} in the "
            f"{mpc.history_days} days before the period); import older prices or use "
            "forecast: persistence"
        ) from None


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def run_study(
    params: StudyParams,
    store=None,
    *,
    year: ScenarioYear | None = None,
    progress: bool = False,
) -> frames.StudyResult:
    """Run the whole study.

    Parameters
    ----------
    params : StudyParams
        From :func:`energylib.study.load_params`.
    store : ParquetStore, optional
        Where the inputs are read from (default: ``inputs.store_dir``, else the configured
        data folder).
    year : ScenarioYear, optional
        The inputs as arrays, instead of reading ``params.inputs`` from the store.
    progress : bool
        Show a progress bar over the dispatch runs.

    Returns
    -------
    StudyResult
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if year is None:
        inputs = load_inputs(params, store, progress=progress)
    else:
        inputs = StudyInputs(year, params.period, year.description, weather="given with the arrays")
    seconds["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    forecast = supplier_forecasts(params, store, inputs.year) or trained_forecasts(
        params, store, inputs.year
    )
    plan: Plan = make_plan(params, forecast)
    d = Dispatcher(params, inputs)
    base = d.run(plan.baseline)
    bills, rows, cash, sens = {}, [frames.baseline_row(base)], [], []
    bar = tqdm(
        total=len(plan.scenarios) + len(plan.grid) + 2,
        desc="study",
        unit="step",
        disable=not progress,
    )
    for choice in plan.scenarios:
        m = d.money(choice, base)
        best = d.best(choice)
        bills[choice.name] = best.bill
        rows.append(frames.scenario_row(choice, best, base, m))
        cash.append(
            frames.with_scenario(
                finance.cash_flow_table(m.capex, d.ongoing, m.savings, params.assumptions),
                choice.name,
            )
        )
        sens.append(
            frames.with_scenario(
                finance.sensitivity(m.capex, m.savings, params.assumptions, d.ongoing), choice.name
            )
        )
        bar.update()
    grid_rows = []
    for choice in plan.grid:
        grid_rows.append(frames.grid_row(choice, d.best(choice), base, d.money(choice, base)))
        bar.update()
    ev = frames.ev_frame({label: d.run(s) for label, s in plan.ev.items()})
    bar.update()
    policies = frames.policy_frame({label: d.run(s) for label, s in plan.policies.items()})
    bar.update()
    bar.close()
    seconds["dispatch and finance"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    featured = params.sensitivity_scenario or next(
        (s.name for s in params.scenarios if s.battery), params.scenarios[0].name
    )
    featured_run = d.best(next(c for c in plan.scenarios if c.name == featured))
    base = d.run(plan.baseline)
    year = inputs.year
    result = frames.StudyResult(
        params=params,
        inputs=inputs,
        headline=frames.headline_frame(params, rows),
        monthly_bills=frames.monthly_frame(base.bill, bills),
        typical_days=frames.typical_days(
            [base, featured_run], year, params.site.southern, featured
        ),
        soc_week=frames.soc_week(featured, featured_run, year, params.ev, params.soc_week_start),
        cash_flows=frames.concat(cash),
        npv_grid=frames.grid_frame(grid_rows),
        ev_strategies=ev,
        policies=policies,
        sensitivity=frames.concat(sens),
        seconds=seconds,
        days=d.days,
        annualisation=d.annual,
        featured=featured,
    )
    seconds["frames"] = time.perf_counter() - t0
    return result


__all__ = [
    "Dispatcher",
    "Money",
    "capex",
    "ongoing",
    "run_study",
    "supplier_forecasts",
    "trained_forecasts",
]
