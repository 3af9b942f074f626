"""A study's results as tidy polars frames, and the sentences the report leads with.

Money columns end in ``_amount`` (the study's currency); energy in ``_kwh``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from energylib import finance
from energylib.dispatch.mpc import MPCPolicy, mode_changes_per_day
from energylib.scenario import ScenarioResult, ScenarioYear
from energylib.study.inputs import StudyInputs
from energylib.study.params import EVOptions, StudyParams
from energylib.study.plan import BASELINE, Choice, mpc_label, policy_label, strategy_label


@dataclass(eq=False)
class StudyResult:
    """Everything the report shows, as tidy polars frames (money in ``currency``).

    Attributes
    ----------
    headline : polars.DataFrame
        One row per scenario, the baseline first: ``scenario``, ``pv_kw``, ``battery``,
        ``battery_policy`` and ``ev_strategy`` (in words), ``bill_amount``,
        ``saving_amount`` (over the data period), the finance metrics of
        :meth:`energylib.finance.FinanceResult.as_row`, ``payback_text``, ``irr_text``.
    monthly_bills : polars.DataFrame
        ``scenario``, ``month`` (``YYYY-MM``), ``bill_amount`` and the bill's items.
    typical_days : polars.DataFrame
        ``scenario``, ``season``, ``hour``, ``flow``, ``kw`` (mean power).
    soc_week : polars.DataFrame
        ``scenario``, ``local_time``, ``series``, ``soc_pct``.
    cash_flows : polars.DataFrame
        ``scenario`` plus :func:`energylib.finance.cash_flow_table` columns.
    npv_grid : polars.DataFrame
        ``pv_kw``, ``battery``, ``battery_policy``, ``npv_amount``, ``payback_years``,
        ``saving_amount``, ``net_capex_amount``.
    ev_strategies : polars.DataFrame
        ``strategy``, ``ev_grid_kwh``, ``ev_pv_kwh``, ``ev_discharge_kwh``, ``bill_amount``,
        ``saving_amount``, ``departures``, ``departures_missed`` (no rows without an EV).
    policies : polars.DataFrame
        ``policy``, ``bill_amount``, ``saving_amount``, ``share_of_optimum_pct``,
        ``mode_changes_per_day``, ``battery_cycles``, ``switch_threshold``,
        ``stability_curve`` (see :func:`policy_frame`).
    sensitivity : polars.DataFrame
        ``scenario`` plus :func:`energylib.finance.sensitivity` columns.
    seconds : dict
        Wall time per stage [s].
    """

    params: StudyParams
    inputs: StudyInputs
    headline: pl.DataFrame
    monthly_bills: pl.DataFrame
    typical_days: pl.DataFrame
    soc_week: pl.DataFrame
    cash_flows: pl.DataFrame
    npv_grid: pl.DataFrame
    ev_strategies: pl.DataFrame
    policies: pl.DataFrame
    sensitivity: pl.DataFrame
    seconds: dict[str, float]
    days: float
    annualisation: float
    featured: str

    @property
    def currency(self) -> str:
        return self.params.currency

    @property
    def data_description(self) -> str:
        """The data line: what each input is, over which dates, and what was filled."""
        return self.inputs.description

    def scenario(self, name: str) -> dict[str, Any]:
        """The headline row of one scenario as a dict."""
        rows = self.headline.filter(pl.col("scenario") == name)
        if rows.height == 0:
            raise KeyError(f"no scenario {name!r}; have {self.headline['scenario'].to_list()}")
        return rows.row(0, named=True)

    def sensitivity_swings(self, name: str) -> pl.DataFrame:
        """Per input, the NPV swing between the ends of its range for one scenario, widest first."""
        rows = self.sensitivity.filter(pl.col("scenario") == name)
        return (
            rows.group_by("parameter")
            .agg(
                (pl.col("delta_npv_amount").max() - pl.col("delta_npv_amount").min()).alias(
                    "swing_amount"
                )
            )
            .sort("swing_amount", descending=True)
        )

    @property
    def finance_method(self) -> str:
        """How the cash flows were made, in a sentence for the report."""
        p = self.params
        a = p.assumptions
        if p.finance_method == "scaled":
            text = (f"Each year's saving is year 1's, escalated and scaled down by PV degradation "
                    f"({a.pv_degradation:.1%} a year) and battery fade ({a.battery_fade:.1%} a year).")  # fmt: skip
        else:
            text = (f"Every year of the {a.horizon_years} is dispatched and billed again: the PV losing "
                    f"{a.pv_degradation:.1%} of its output a year, the battery {a.battery_fade:.1%} of its "
                    "capacity a year of its age")  # fmt: skip
            text += (
                f" (a new one after {p.battery_life_years} years)" if p.battery_life_years else ""
            )
            text += ", under the tariff in force that year, then escalated."
        for day, tariff in p.tariff_changes:
            changed = {
                k: v
                for k, v in vars(tariff).items()
                if vars(p.tariff_on(day - timedelta(days=1))).get(k) != v
            }
            text += f" From {day}: {', '.join(f'{k} {v}' for k, v in changed.items())}."
        return text

    @property
    def best(self) -> dict[str, Any] | None:
        """The scenario with the highest NPV, zero-capex ones included (None without any)."""
        return best_action(self.headline)

    @property
    def recommendation(self) -> str:
        """The answer of the study in a sentence or two (see :func:`recommendation`)."""
        return recommendation(self.headline, self.params.assumptions.horizon_years)


# --------------------------------------------------------------------------- the answer
def _money(value: float | None, currency: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{currency} {value:,.0f}"


def best_action(headline: pl.DataFrame) -> dict[str, Any] | None:
    """The scenario with the highest NPV over every scenario, free ones included."""
    rows = headline.filter((pl.col("scenario") != BASELINE) & pl.col("npv_amount").is_not_null())
    if rows.height == 0:
        return None
    return rows.sort("npv_amount", descending=True, maintain_order=True).row(0, named=True)


def recommendation(headline: pl.DataFrame, horizon_years: int) -> str:
    """What to do, in words: the best action by NPV, and whether any hardware beats it.

    * best is free (no capex) and worth something: "Switch on X ...; no hardware adds value
      beyond it" (naming the best hardware option and its NPV), or what hardware adds;
    * best costs money: "Install X: ...";
    * nothing is worth anything: "Keep things as they are ...".
    """
    best = best_action(headline)
    if best is None:
        return "No scenario could be valued."
    cur = best.get("currency") or ""
    rows = headline.filter((pl.col("scenario") != BASELINE) & pl.col("npv_amount").is_not_null())
    hardware = rows.filter(pl.col("net_capex_amount") > 0).sort(
        "npv_amount", descending=True, maintain_order=True
    )
    if best["npv_amount"] <= 0:
        return (
            f"Keep things as they are: no option studied pays for itself over {horizon_years} years "
            f"(the least costly, {best['scenario']}, is worth {_money(best['npv_amount'], cur)})."
        )
    if best["net_capex_amount"] <= 0:
        text = (
            f"Switch on {_lower_first(best['scenario'])}: it costs nothing to set up and is worth "
            f"{_money(best['npv_amount'], cur)} over {horizon_years} years "
            f"({_money(best['year_one_saving_amount'], cur)} in the first year)."
        )
        if hardware.height:
            top = hardware.row(0, named=True)
            text += (
                f" No hardware adds value beyond it: the best hardware option, {top['scenario']}, "
                f"is worth {_money(top['npv_amount'], cur)}."
            )
        return text
    return (
        f"Install {best['scenario']}: it costs {_money(best['net_capex_amount'], cur)} after rebates, "
        f"saves {_money(best['year_one_saving_amount'], cur)} in its first year, pays back in "
        f"{best['payback_text']} and is worth {_money(best['npv_amount'], cur)} over {horizon_years} years "
        f"(IRR {best['irr_text']})."
    )


def grid_sentence(grid: pl.DataFrame, currency: str) -> str:
    """The PV-size x battery grid's answer in words (what ``0 kW with none`` means)."""
    paid = grid.filter(pl.col("net_capex_amount") > 0).sort(
        "npv_amount", descending=True, maintain_order=True
    )
    if paid.height == 0:
        return "Nothing on offer costs anything."
    top = paid.row(0, named=True)
    what = " with ".join(
        p for p in ((f"{top['pv_kw']:g} kW of PV" if top["pv_kw"] > 0 else ""),
                    (top["battery"] if top["battery"] != "none" else "")) if p
    )  # fmt: skip
    if top["npv_amount"] <= 0:
        return (f"No PV size or battery on offer pays for itself on its own; the least costly is "
                f"{what} (NPV {_money(top['npv_amount'], currency)}).")  # fmt: skip
    return f"The best combination is {what}: NPV {_money(top['npv_amount'], currency)}."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


# --------------------------------------------------------------------------- rows
def baseline_row(base: ScenarioResult) -> dict[str, Any]:
    s = base.spec
    return {
        "scenario": BASELINE,
        "pv_kw": 0.0,
        "battery": "none",
        "battery_policy": "-",
        "ev_strategy": strategy_label(s),
        "bill_amount": base.bill_total,
        "saving_amount": 0.0,
    }


def scenario_row(
    choice: Choice, best: ScenarioResult, base: ScenarioResult, money
) -> dict[str, Any]:
    return {
        "scenario": choice.name,
        "pv_kw": choice.pv_kw,
        "battery": choice.battery or "none",
        "battery_policy": policy_label(best.spec),
        "ev_strategy": strategy_label(best.spec),
        "bill_amount": best.bill_total,
        "saving_amount": base.bill_total - best.bill_total,
    } | money.result.as_row()


def grid_row(choice: Choice, best: ScenarioResult, base: ScenarioResult, money) -> dict[str, Any]:
    return {
        "pv_kw": choice.pv_kw,
        "battery": choice.battery or "none",
        "battery_policy": policy_label(best.spec),
        "npv_amount": money.result.npv,
        "payback_years": money.result.payback_years,
        "saving_amount": base.bill_total - best.bill_total,
        "net_capex_amount": money.capex.net,
    }


def with_scenario(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.select(pl.lit(name).alias("scenario"), pl.all())


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames) if frames else pl.DataFrame()


# --------------------------------------------------------------------------- frames
def headline_frame(params: StudyParams, rows: list[dict]) -> pl.DataFrame:
    def payback(r: dict) -> str | None:
        if r["horizon_years"] is None:
            return None
        return finance.format_paybacks(
            r["payback_years"], r["final_payback_years"], r["horizon_years"]
        )

    def irr(r: dict) -> str | None:
        return (
            None if r["irr_note"] is None else finance.format_irr(r["irr_fraction"], r["irr_note"])
        )

    return pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.lit(params.currency).alias("currency"),
        pl.struct("payback_years", "final_payback_years", "horizon_years").map_elements(payback, return_dtype=pl.String).alias("payback_text"),
        pl.struct("irr_fraction", "irr_note").map_elements(irr, return_dtype=pl.String).alias("irr_text"),
    )  # fmt: skip


def grid_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"payback_years": pl.Float64})


def monthly_frame(base: pl.DataFrame, scenarios: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Each headline scenario's bill per local month (``YYYY-MM``), the baseline first."""
    items = (
        "energy_cost",
        "supply_cost",
        "fees_cost",
        "tax_credit",
        "feed_in_credit",
        "import_kwh",
        "export_kwh",
    )
    bills = [with_scenario(base, BASELINE)] + [with_scenario(b, n) for n, b in scenarios.items()]
    return pl.concat(bills).select(
        "scenario", "month", pl.col("total_cost").alias("bill_amount"), *items
    )


def ev_energy(run: ScenarioResult) -> tuple[float, float]:
    """EV charging split into grid and PV [kWh]: PV surplus over the house load goes to the EV first."""
    f = run.flows
    surplus = np.clip(f.pv_kwh - f.curtailed_kwh - f.load_kwh, 0.0, None)
    from_pv = np.minimum(f.ev_charge_kwh, surplus)
    return float(f.ev_charge_kwh.sum() - from_pv.sum()), float(from_pv.sum())


EV_SCHEMA = {
    "strategy": pl.String, "ev_grid_kwh": pl.Float64, "ev_pv_kwh": pl.Float64, "ev_discharge_kwh": pl.Float64,
    "bill_amount": pl.Float64, "saving_amount": pl.Float64, "departures": pl.Int64, "departures_missed": pl.Int64,
}  # fmt: skip


def ev_frame(runs: dict[str, ScenarioResult]) -> pl.DataFrame:
    rows = []
    for label, run in runs.items():
        grid_kwh, pv_kwh = ev_energy(run)
        rows.append(
            {
                "strategy": label,
                "ev_grid_kwh": grid_kwh,
                "ev_pv_kwh": pv_kwh,
                "ev_discharge_kwh": float(run.flows.ev_discharge_kwh.sum()),
                "bill_amount": run.bill_total,
                "saving_amount": run.savings,
                "departures": run.ev_departures,
                "departures_missed": run.ev_departures_missed,
            }
        )
    return pl.DataFrame(rows, schema=EV_SCHEMA)


POLICY_SCHEMA = {
    "policy": pl.String,
    "bill_amount": pl.Float64,
    "saving_amount": pl.Float64,
    "mode_changes_per_day": pl.Float64,
    "battery_cycles": pl.Float64,
    "switch_threshold": pl.Float64,
    "stability_curve": pl.Boolean,
}


def policy_frame(runs: dict[str, ScenarioResult]) -> pl.DataFrame:
    """The policy comparison: each policy's bill and saving, its share of the optimum's
    saving, how often the battery changes mode (:func:`energylib.dispatch.mpc.battery_modes`)
    and its full cycles.  MPC rows carry their ``switch_threshold`` [currency];
    ``stability_curve`` marks the rows run only for the trade-off (:func:`stability_frame`).
    """
    rows = []
    for k, r in runs.items():
        p = r.spec.policy
        mpc = isinstance(p, MPCPolicy)
        rows.append(
            {
                "policy": k,
                "bill_amount": r.bill_total,
                "saving_amount": r.savings,
                "mode_changes_per_day": mode_changes_per_day(r.flows, r.spec.battery),
                "battery_cycles": r.battery_cycles,
                "switch_threshold": p.switch_threshold if mpc else None,
                "stability_curve": mpc and k != mpc_label(p),
            }
        )
    frame = pl.DataFrame(rows, schema=POLICY_SCHEMA)
    optimum = frame.filter(pl.col("policy") == "optimum")["saving_amount"]
    opt = float(optimum[0]) if optimum.len() else math.nan
    share = pl.col("saving_amount") / opt * 100.0 if opt > 0 else pl.lit(None, pl.Float64)
    return frame.with_columns(share.alias("share_of_optimum_pct"))


def stability_frame(policies: pl.DataFrame) -> pl.DataFrame:
    """MPC's stability trade-off from :func:`policy_frame`: one row per switch threshold
    [currency], with the saving, its share of the optimum's, mode changes per day and
    cycles, by threshold (empty without MPC rows)."""
    cols = ["switch_threshold", "saving_amount", "share_of_optimum_pct", "mode_changes_per_day",
            "battery_cycles"]  # fmt: skip
    return (
        policies.filter(pl.col("switch_threshold").is_not_null())
        .select(cols)
        .unique("switch_threshold", keep="first")
        .sort("switch_threshold")
    )


def _seasons(months: np.ndarray, southern: bool) -> np.ndarray:
    north = np.array(["winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer",
                      "autumn", "autumn", "autumn", "winter"])  # fmt: skip
    flip = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
    names = np.array([flip[s] for s in north]) if southern else north
    return names[months - 1]


def typical_days(
    runs: list[ScenarioResult], year: ScenarioYear, southern: bool, featured: str
) -> pl.DataFrame:
    """Mean power of each flow by local half-hour and season, per run (the baseline and
    the featured scenario)."""
    out = []
    h = year.interval_minutes / 60.0
    local = year.cal.local
    hour = (local - local.astype("datetime64[D]")).astype("timedelta64[m]").astype(np.int64) / 60.0
    season = _seasons(year.cal.month_of_year, southern)
    for run in runs:
        f = run.flows
        flows = {
            "load": f.load_kwh, "PV": f.pv_kwh - f.curtailed_kwh, "grid import": f.import_kwh,
            "grid export": f.export_kwh, "battery charge": f.battery_charge_kwh,
            "battery discharge": f.battery_discharge_kwh, "EV charge": f.ev_charge_kwh,
            "EV discharge": f.ev_discharge_kwh,
        }  # fmt: skip
        keep = [k for k, v in flows.items() if np.abs(v).sum() > 0]
        frame = pl.DataFrame(
            {"season": season, "hour": np.floor(hour * 2) / 2, **{k: flows[k] / h for k in keep}}
        )
        name = BASELINE if run.spec.name == BASELINE else featured
        out.append(
            frame.group_by("season", "hour")
            .agg([pl.col(k).mean() for k in keep])
            .unpivot(index=["season", "hour"], variable_name="flow", value_name="kw")
            .with_columns(pl.lit(name).alias("scenario"))
            .select("scenario", "season", "hour", "flow", "kw")
            .sort("season", "flow", "hour")
        )
    return pl.concat(out)


SOC_SCHEMA = {
    "scenario": pl.String,
    "local_time": pl.Datetime("us"),
    "series": pl.String,
    "soc_pct": pl.Float64,
}


def soc_week(
    name: str, run: ScenarioResult, year: ScenarioYear, ev: EVOptions | None, start: str | None
) -> pl.DataFrame:
    """State of charge of the home battery and the EV over one week (a winter week by default)."""
    f = run.flows
    local = year.cal.local
    steps = int(7 * 1440 / year.interval_minutes)
    i0 = 0
    if start:
        i0 = int(np.searchsorted(local, np.datetime64(start, "m")))
    elif local.size > 3 * steps:
        # A winter week: the least sun and the hardest work for the battery.
        winter = "07-07" if year.site.southern else "01-13"
        first_year = local[0].astype("datetime64[Y]")
        i0 = int(np.searchsorted(local, np.datetime64(f"{first_year}-{winter}", "m")))
        if i0 >= local.size - steps:  # the period starts after this year's winter week
            i0 = int(np.searchsorted(local, np.datetime64(f"{first_year + 1}-{winter}", "m")))
    i0 = max(0, min(i0, max(local.size - steps, 0)))
    sl = slice(i0, i0 + steps)
    series = {}
    cap = f.battery_capacity_kwh[sl]
    if np.any(cap > 0):
        series["home battery"] = 100.0 * f.battery_soc_kwh[sl] / np.where(cap > 0, cap, 1.0)
    if ev is not None and run.spec.ev is not None:
        series["EV"] = 100.0 * f.ev_soc_kwh[sl] / ev.ev.capacity_kwh
    frames = [
        pl.DataFrame({"local_time": local[sl].astype("datetime64[us]"), "series": k, "soc_pct": v})
        for k, v in series.items()
    ]
    if not frames:
        return pl.DataFrame(schema=SOC_SCHEMA)
    return pl.concat(frames).with_columns(pl.lit(name).alias("scenario")).select(*SOC_SCHEMA)


# --------------------------------------------------------------------------- display
HEADLINE_COLUMNS = (
    "scenario",
    "battery policy",
    "EV charging",
    "bill",
    "saving",
    "net capex",
    "payback",
    "NPV",
    "IRR",
)


def headline_table(result: StudyResult | pl.DataFrame) -> pl.DataFrame:
    """The headline as text columns for display (one row per scenario, baseline first).

    Takes a :class:`StudyResult` or its ``headline`` frame (as saved by :func:`save_headline`).
    """
    h = result.headline if isinstance(result, StudyResult) else result
    cur = h["currency"][0] if "currency" in h.columns and h.height else ""
    return pl.DataFrame(
        {
            "scenario": h["scenario"],
            "battery policy": h["battery_policy"],
            "EV charging": h["ev_strategy"],
            "bill": [_money(v, cur) for v in h["bill_amount"]],
            "saving": [_money(v, cur) for v in h["saving_amount"]],
            "net capex": [_money(v, cur) for v in h["net_capex_amount"]],
            "payback": [v or "-" for v in h["payback_text"]],
            "NPV": [_money(v, cur) for v in h["npv_amount"]],
            "IRR": [
                "no IRR (no sign change)" if v and "never change sign" in v else (v or "-")
                for v in h["irr_text"]
            ],
        },
        schema=dict.fromkeys(HEADLINE_COLUMNS, pl.String),
    )


def save_headline(result: StudyResult, path: str | Path) -> Path:
    """Write the headline frame (with the title, data line and answer) to Parquet, for a
    terminal summary later."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.headline.with_columns(
        pl.lit(result.params.title).alias("title"),
        pl.lit(result.data_description).alias("data_description"),
        pl.lit(result.recommendation).alias("recommendation"),
    ).write_parquet(path)
    return path
