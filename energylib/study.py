"""The 2025 scenario study: what a year cost, and what solar, a battery, smart EV charging,
V2H and V2G would have saved and whether each pays off.

:func:`load_params` reads a study's YAML file (``params/scenarios_2025.yaml``) into
:class:`StudyParams`; :func:`run_study` reads the year from the store (or generates the
default year), dispatches every scenario with the rule kernels of
:mod:`energylib.dispatch.rules` (and the perfect-foresight optimum of
:mod:`energylib.dispatch.optimum` as the bound), bills it with :mod:`energylib.tariff`,
and turns the savings into cash flows with :mod:`energylib.finance`.  Everything it
returns is a tidy polars frame in :class:`StudyResult`; :func:`headline_table` and
:func:`print_headline` show the headline.

Savings and finance
-------------------
A scenario's saving is the baseline bill (no PV, no battery, the EV charged on arrival)
less the scenario's bill, split into the import side and the feed-in credit.  Where the
data covers less than a year, the bills are for the period covered and the finance
uses the savings scaled to 365 days (``StudyResult.annualisation``).  The share of the
saving that degrades with the PV (``pv_fraction``) is what the PV alone adds; the share
that fades with the battery is what the battery adds on top (both measured by re-running
the scenario without it).

Timing per stage (``data``, ``sweep``, ``finance``) is in ``StudyResult.seconds``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import time as dt_time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from energylib import finance
from energylib.dispatch.assets import EV, EV_STRATEGIES, Battery, DrivingProfile
from energylib.dispatch.flows import Flows
from energylib.dispatch.rules import ForecastPolicy, PriceThreshold
from energylib.scenario import ScenarioError, ScenarioSpec, ScenarioYear, load_year
from energylib.scenario import run as scenario_run
from energylib.site import Site, site_for_market
from energylib.solar import PVSystem
from energylib.tariff import AmberTariff, DynamicEUTariff, FlatTariff

__all__ = [
    "BatteryOption",
    "ScenarioDef",
    "StudyError",
    "StudyParams",
    "StudyResult",
    "headline_table",
    "load_inputs",
    "load_params",
    "print_headline",
    "run_study",
    "save_headline",
]

BASELINE = "Baseline (2025 as it was)"


class StudyError(ValueError):
    """A study's parameters or data are unusable: says which key or series, and how to fix it."""


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class BatteryOption:
    """A battery on offer: its spec for the dispatch and its installed price.

    Parameters
    ----------
    name : str
        Shown in tables and charts.
    capacity_kwh : float
        Usable capacity [kWh].
    charge_kw, discharge_kw : float
        AC power limits [kW].
    round_trip_efficiency : float
        AC round trip [0-1].
    units : int
        Number of units bought [-].
    cost_per_unit : float
        Price per unit [currency].
    cost_per_kwh : float
        Price per kWh of ``capacity_kwh`` (modular batteries) [currency/kWh].
    installation : float
        Installation [currency].
    """

    name: str
    capacity_kwh: float
    charge_kw: float = 5.0
    discharge_kw: float = 5.0
    round_trip_efficiency: float = 0.90
    units: int = 1
    cost_per_unit: float = 0.0
    cost_per_kwh: float = 0.0
    installation: float = 0.0


@dataclass(frozen=True)
class ScenarioDef:
    """One headline scenario: what is installed and how the EV charges."""

    name: str
    pv_kw: float = 0.0
    battery: str | None = None
    ev_strategy: str | None = (
        None  # None: the baseline's strategy (so PV and batteries are isolated)
    )
    v2h: bool = False
    v2g: bool = False


@dataclass(frozen=True)
class StudyParams:
    """A study, as read from its YAML file (see ``params/scenarios_2025.yaml``)."""

    title: str
    currency: str
    site: Site
    year: int
    data: dict[str, Any]
    tariff: dict[str, Any]
    pv: dict[str, Any]
    batteries: tuple[BatteryOption, ...]
    battery_rebate: dict[str, Any]
    battery_life_years: int | None
    battery_wear_per_kwh: float
    ev: dict[str, Any]
    scenarios: tuple[ScenarioDef, ...]
    policy: str
    policy_comparison: dict[str, Any]
    assumptions: finance.Assumptions
    other_om_per_year: float
    sensitivity_scenario: str | None
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def battery(self, name: str | None) -> BatteryOption | None:
        """The battery option called ``name`` (None for none)."""
        if name is None:
            return None
        for b in self.batteries:
            if b.name == name:
                return b
        raise StudyError(
            f"{self._where()}: battery {name!r} is not among batteries "
            f"{[b.name for b in self.batteries]}; add it under 'batteries:' or fix the name"
        )

    def _where(self) -> str:
        return str(self.source) if self.source else "study params"


_DEFAULT_DATA = {
    "source": "default_year",  # or "store"
    "store_dir": "",  # empty: the configured data folder
    "store_source": "simulated",
    "site": None,  # store site; None: the market's default site
    "interval_minutes": 30,
    "max_days": None,  # study only the first days of the year (quick runs)
}


def _need(d: dict, key: str, where: str) -> Any:
    if key not in d:
        raise StudyError(
            f"{where}: missing key {key!r}; see params/scenarios_2025.yaml for an example"
        )
    return d[key]


def _battery_option(item: dict, where: str, i: int) -> BatteryOption:
    known = {f for f in BatteryOption.__dataclass_fields__}
    unknown = set(item) - known
    if unknown:
        raise StudyError(
            f"{where}: batteries[{i}] has unknown keys {sorted(unknown)}; use {sorted(known)}"
        )
    try:
        option = BatteryOption(**item)
    except TypeError as err:
        raise StudyError(f"{where}: batteries[{i}]: {err}") from None
    if not option.capacity_kwh > 0:
        raise StudyError(f"{where}: batteries[{i}] ({option.name}) capacity_kwh must be > 0 kWh")
    return option


def load_params(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyParams:
    """Read a study's YAML file.

    Parameters
    ----------
    path : str or Path
        The params file (relative paths from the current directory, then the project root).
    overrides : dict, optional
        Top-level keys that replace the file's (nested dicts are merged one level deep).

    Returns
    -------
    StudyParams

    Raises
    ------
    StudyError
        Naming the file and the key that is missing or wrong.
    """
    from energylib.config import PROJECT_ROOT

    p = Path(path)
    if not p.is_file() and not p.is_absolute() and (PROJECT_ROOT / p).is_file():
        p = PROJECT_ROOT / p
    if not p.is_file():
        raise StudyError(
            f"params file {path} not found (looked in {Path.cwd()} and {PROJECT_ROOT})"
        )
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise StudyError(f"{p}: expected a mapping of keys to values at the top level")
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return params_from_dict(raw, source=p)


TOP_KEYS = frozenset(
    {
        "title", "currency", "market", "year", "data", "tariff", "pv", "batteries", "battery_rebate",
        "battery_life_years", "battery_wear_per_kwh", "ev", "scenarios", "policy", "policy_comparison",
        "finance", "sensitivity_scenario", "soc_week_start", "params_file",
    }
)  # fmt: skip
PV_KEYS = frozenset(
    {
        "sizes_kw", "tilt_deg", "export_limit_kw", "cost_per_kw", "installation", "rebate",
        "om_per_kw_year", "inverter_life_years", "inverter_replacement_cost",
    }
)  # fmt: skip
EV_STUDY_KEYS = frozenset(
    {
        "model", "strategies", "baseline_strategy", "study_strategy", "v2h", "v2g", "wear_per_kwh",
        "bidirectional_charger_cost",
    }
)  # fmt: skip
_TIME_KEYS = ("weekday_departure", "weekday_return", "weekend_departure", "weekend_return")


def _unknown(section: dict, allowed, name: str, where: str) -> None:
    unknown = set(section) - set(allowed)
    if unknown:
        raise StudyError(
            f"{where}: {name} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def _clock(value: Any, key: str, where: str) -> dt_time:
    """``"07:30"`` (or a ``datetime.time``) -> ``datetime.time``."""
    if isinstance(value, dt_time):
        return value
    try:
        hours, minutes = str(value).split(":")
        return dt_time(int(hours), int(minutes))
    except ValueError:
        raise StudyError(
            f'{where}: ev.{key} is {value!r}; write a quoted local time like "07:30"'
        ) from None


def params_from_dict(raw: dict[str, Any], source: Path | None = None) -> StudyParams:
    """Build :class:`StudyParams` from the parsed YAML mapping (see :func:`load_params`)."""
    where = str(source) if source else "study params"
    _unknown(raw, TOP_KEYS, "the file", where)
    market = raw.get("market", "nem")
    try:
        site = site_for_market(market)
    except ValueError as err:
        raise StudyError(f"{where}: market: {err}") from None
    data = {**_DEFAULT_DATA, **(raw.get("data") or {})}
    unknown = set(data) - set(_DEFAULT_DATA)
    if unknown:
        raise StudyError(
            f"{where}: data has unknown keys {sorted(unknown)}; use {sorted(_DEFAULT_DATA)}"
        )
    if data["site"] is None:
        data["site"] = site.name
    if data["source"] not in ("default_year", "store"):
        raise StudyError(
            f"{where}: data.source is {data['source']!r}; use 'default_year' or 'store'"
        )
    if int(data["interval_minutes"]) not in (5, 15, 30, 60):
        raise StudyError(
            f"{where}: data.interval_minutes must be 5, 15, 30 or 60, got {data['interval_minutes']}"
        )
    batteries = tuple(
        _battery_option(b, where, i) for i, b in enumerate(raw.get("batteries") or [])
    )
    names = [b.name for b in batteries]
    if len(set(names)) != len(names):
        raise StudyError(f"{where}: battery names must be unique, got {names}")
    ev = dict(raw.get("ev") or {})
    ev_fields = (set(EV.__dataclass_fields__) - {"driving", "wear_cost_per_kwh"}) | set(
        DrivingProfile.__dataclass_fields__
    )
    _unknown(ev, EV_STUDY_KEYS | ev_fields, "ev", where)
    for key in _TIME_KEYS:
        if key in ev:
            ev[key] = _clock(ev[key], key, where)
    strategies = ev.get("strategies", list(EV_STRATEGIES))
    for key in ("baseline_strategy", "study_strategy"):
        ev.setdefault(key, "immediate" if key == "baseline_strategy" else "solar_cheapest")
    for s in [*strategies, ev["baseline_strategy"], ev["study_strategy"]]:
        if s not in EV_STRATEGIES:
            raise StudyError(f"{where}: EV strategy {s!r} is not one of {EV_STRATEGIES}")
    ev["strategies"] = list(strategies)
    scenarios = []
    for i, item in enumerate(raw.get("scenarios") or []):
        try:
            sc = ScenarioDef(**item)
        except TypeError as err:
            raise StudyError(
                f"{where}: scenarios[{i}]: {err}; keys are {list(ScenarioDef.__dataclass_fields__)}"
            ) from None
        if sc.battery is not None and sc.battery not in names:
            raise StudyError(
                f"{where}: scenarios[{i}] ({sc.name}) uses battery {sc.battery!r}, not among {names}"
            )
        if sc.ev_strategy is not None and sc.ev_strategy not in EV_STRATEGIES:
            raise StudyError(
                f"{where}: scenarios[{i}] ({sc.name}) ev_strategy {sc.ev_strategy!r} not in {EV_STRATEGIES}"
            )
        if (sc.v2h or sc.v2g) and not ev:
            raise StudyError(
                f"{where}: scenarios[{i}] ({sc.name}) needs an 'ev:' section for V2H/V2G"
            )
        scenarios.append(sc)
    if not scenarios:
        raise StudyError(
            f"{where}: 'scenarios:' lists none; add at least one (name, pv_kw, battery ...)"
        )
    if len({s.name for s in scenarios}) != len(scenarios):
        raise StudyError(f"{where}: scenario names must be unique")
    fin = dict(raw.get("finance") or {})
    other_om = float(fin.pop("other_om_per_year", 0.0))
    try:
        assumptions = finance.Assumptions(**fin)
    except (TypeError, ValueError) as err:
        raise StudyError(f"{where}: finance: {err}") from None
    policy = raw.get("policy", "self_consumption")
    if policy not in ("self_consumption", "price_threshold", "forecast"):
        raise StudyError(
            f"{where}: policy {policy!r}; use self_consumption, price_threshold or forecast"
        )
    pv = {
        "sizes_kw": [0.0],
        "tilt_deg": 20.0,
        "export_limit_kw": None,
        "cost_per_kw": 0.0,
        **(raw.get("pv") or {}),
    }
    _unknown(pv, PV_KEYS, "pv", where)
    sens = raw.get("sensitivity_scenario")
    if sens is not None and sens not in {s.name for s in scenarios}:
        raise StudyError(f"{where}: sensitivity_scenario {sens!r} is not a scenario name")
    tariff = dict(raw.get("tariff") or {"kind": "amber"})
    if tariff.get("kind") not in ("amber", "eu_dynamic", "flat"):
        raise StudyError(
            f"{where}: tariff.kind {tariff.get('kind')!r}; use amber, eu_dynamic or flat"
        )
    return StudyParams(
        title=str(raw.get("title", "Scenario study")),
        currency=str(raw.get("currency", "AUD")),
        site=site,
        year=int(raw.get("year", 2025)),
        data=data,
        tariff=tariff,
        pv=pv,
        batteries=batteries,
        battery_rebate=dict(raw.get("battery_rebate") or {}),
        battery_life_years=raw.get("battery_life_years"),
        battery_wear_per_kwh=float(raw.get("battery_wear_per_kwh", 0.0)),
        ev=ev,
        scenarios=tuple(scenarios),
        policy=policy,
        policy_comparison=dict(raw.get("policy_comparison") or {}),
        assumptions=assumptions,
        other_om_per_year=other_om,
        sensitivity_scenario=sens,
        source=source,
        raw=raw,
    )


# --------------------------------------------------------------------------- inputs


def make_tariff(params: StudyParams):
    """The tariff of a study's ``tariff:`` section."""
    t = dict(params.tariff)
    kind = t.pop("kind")
    cls = {"amber": AmberTariff, "eu_dynamic": DynamicEUTariff, "flat": FlatTariff}[kind]
    try:
        return cls(**t)
    except TypeError as err:
        raise StudyError(f"{params._where()}: tariff ({kind}): {err}") from None


def _store_for(params: StudyParams, store):
    if store is not None:
        return store
    from energylib.config import load_settings
    from energylib.store import ParquetStore

    root = params.data.get("store_dir") or load_settings().processed_dir
    return ParquetStore(root)


def load_inputs(params: StudyParams, store=None) -> ScenarioYear:
    """Read the study year from the store through :func:`energylib.scenario.load_year`.

    With ``data.source: default_year`` the default year is generated into the store
    first where it is missing (``energylib.simulate.default_year``).  The year must be
    one unbroken run of intervals: a hole raises :class:`StudyError` rather than being
    dispatched across.
    """
    d = params.data
    store = _store_for(params, store)
    if d["source"] == "default_year":
        from energylib.simulate.default_year import ensure_default_year

        ensure_default_year(store, markets=(params.site.market,))
    minutes = int(d["interval_minutes"])
    try:
        year = load_year(
            store, d["store_source"], d["site"], params.year, minutes, site_spec=params.site
        )
    except ScenarioError as err:
        raise StudyError(f"{params._where()}: data: {err}") from None
    if d.get("max_days"):
        year = year.head_days(float(d["max_days"]))
    starts = year.cal.interval_start
    holes = np.flatnonzero(np.diff(starts) > np.timedelta64(minutes, "m"))
    if holes.size:
        raise StudyError(
            f"{params._where()}: {holes.size} gap(s) in the study year {year.description}, the first after "
            f"{starts[holes[0]]} UTC; fill them (energylib.align.fill_gaps) first"
        )
    try:
        year.prices(make_tariff(params))
    except ValueError as err:
        raise StudyError(f"{params._where()}: tariff {params.tariff['kind']}: {err}") from None
    return year


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Case:
    """One dispatch: what is installed, how the EV charges, which battery policy."""

    pv_kw: float = 0.0
    battery: str | None = None
    ev_strategy: str = "immediate"
    v2h: bool = False
    v2g: bool = False
    policy: str = "self_consumption"


@dataclass(eq=False)
class CaseRun:
    """A dispatched case, its bill per month and annual totals [currency]."""

    case: Case
    flows: Flows
    bill: pl.DataFrame

    @cached_property
    def total(self) -> float:
        return float(self.bill["total_cost"].sum())

    @cached_property
    def feed_in_credit(self) -> float:
        return float(self.bill["feed_in_credit"].sum())


class Engine:
    """Turns study cases into :class:`energylib.scenario.ScenarioSpec` runs, memoised."""

    def __init__(self, params: StudyParams, year: ScenarioYear):
        self.params = params
        self.year = year
        self.tariff = make_tariff(params)
        self._runs: dict[Case, CaseRun] = {}
        self.ev = self._ev()

    def _ev(self) -> EV | None:
        e = self.params.ev
        if not e:
            return None
        driving_keys = set(DrivingProfile.__dataclass_fields__)
        ev_keys = set(EV.__dataclass_fields__) - {"driving"}
        driving = DrivingProfile(**{k: v for k, v in e.items() if k in driving_keys})
        kwargs = {k: v for k, v in e.items() if k in ev_keys}
        if "wear_per_kwh" in e:
            kwargs["wear_cost_per_kwh"] = e["wear_per_kwh"]
        try:
            return EV(driving=driving, **kwargs)
        except (TypeError, ValueError) as err:
            raise StudyError(f"{self.params._where()}: ev: {err}") from None

    def pv_system(self, kw: float) -> PVSystem | None:
        if kw <= 0:
            return None
        pv = self.params.pv
        return PVSystem(
            kwdc=float(kw),
            tilt_deg=float(pv.get("tilt_deg", 20.0)),
            export_limit_kw=pv.get("export_limit_kw"),
        )

    def battery(self, name: str | None) -> Battery | None:
        option = self.params.battery(name)
        if option is None:
            return None
        return Battery(
            capacity_kwh=option.capacity_kwh * option.units,
            charge_kw=option.charge_kw * option.units,
            discharge_kw=option.discharge_kw * option.units,
            round_trip_efficiency=option.round_trip_efficiency,
            wear_cost_per_kwh=self.params.battery_wear_per_kwh,
        )

    def _policy(self, name: str):
        if name == "price_threshold":
            return PriceThreshold(**(self.params.policy_comparison.get("price_threshold") or {}))
        if name == "forecast":
            return ForecastPolicy(forecast="perfect")
        if name == "forecast_persistence":
            return ForecastPolicy(forecast="persistence")
        if name in ("self_consumption", "optimum"):
            return name
        raise StudyError(f"unknown dispatch policy {name!r}")

    def run(self, case: Case) -> CaseRun:
        """Dispatch and bill one case with :func:`energylib.scenario.run` (memoised)."""
        if case not in self._runs:
            has_ev = self.ev is not None
            spec = ScenarioSpec(
                name=str(case),
                pv=self.pv_system(case.pv_kw),
                battery=self.battery(case.battery),
                ev=self.ev,
                ev_strategy=case.ev_strategy,
                v2h=case.v2h and has_ev,
                v2g=case.v2g and has_ev,
                tariff=self.tariff,
                policy=self._policy(case.policy),
            )
            result = scenario_run(spec, self.year)
            self._runs[case] = CaseRun(case, result.flows, result.bill)
        return self._runs[case]


# --------------------------------------------------------------------------- money


def _capex(
    params: StudyParams, pv_kw: float, battery: str | None, bidirectional: bool
) -> finance.Capex:
    pv = params.pv
    option = params.battery(battery)
    rebate = 0.0
    if option is not None and params.battery_rebate:
        usable = option.capacity_kwh * option.units
        cap = params.battery_rebate.get("max_kwh")
        rebate = float(params.battery_rebate.get("per_kwh", 0.0)) * (
            min(usable, cap) if cap else usable
        )
    has_pv = pv_kw > 0
    return finance.Capex(
        pv_kw=pv_kw,
        pv_cost_per_kw=float(pv.get("cost_per_kw", 0.0)),
        pv_installation=float(pv.get("installation", 0.0)) if has_pv else 0.0,
        pv_rebate=float(pv.get("rebate", 0.0)) if has_pv else 0.0,
        battery_units=option.units if option else 0,
        battery_cost_per_unit=option.cost_per_unit if option else 0.0,
        battery_kwh=option.capacity_kwh * option.units if option else 0.0,
        battery_cost_per_kwh=option.cost_per_kwh if option else 0.0,
        battery_installation=option.installation if option else 0.0,
        battery_rebate=rebate,
        charger_cost=float(params.ev.get("bidirectional_charger_cost", 0.0))
        if bidirectional
        else 0.0,
    )


def _ongoing(params: StudyParams) -> finance.Ongoing:
    pv = params.pv
    return finance.Ongoing(
        om_per_year=params.other_om_per_year,
        pv_om_per_kw_year=float(pv.get("om_per_kw_year", 0.0)),
        inverter_life_years=pv.get("inverter_life_years"),
        inverter_replacement_cost=float(pv.get("inverter_replacement_cost", 0.0)),
        battery_life_years=params.battery_life_years,
    )


def _saving(base: CaseRun, run: CaseRun) -> float:
    return base.total - run.total


# --------------------------------------------------------------------------- result


@dataclass(eq=False)
class StudyResult:
    """Everything the report shows, as tidy polars frames (money in ``currency``).

    Attributes
    ----------
    headline : polars.DataFrame
        One row per scenario, the baseline first: ``scenario``, ``bill_amount``,
        ``saving_amount`` (over the data period), then the finance metrics of
        :meth:`energylib.finance.FinanceResult.as_row`, ``payback_text``, ``irr_text``.
    monthly_bills : polars.DataFrame
        ``scenario``, ``month`` (1-12), ``bill_amount`` and the bill's items.
    typical_days : polars.DataFrame
        ``scenario``, ``season``, ``hour``, ``flow``, ``kw`` (mean power).
    soc_week : polars.DataFrame
        ``scenario``, ``local_time``, ``series``, ``soc_pct``.
    cash_flows : polars.DataFrame
        ``scenario`` plus :func:`energylib.finance.cash_flow_table` columns.
    npv_grid : polars.DataFrame
        ``pv_kw``, ``battery``, ``npv_amount``, ``simple_payback_years``, ``saving_amount``.
    ev_strategies : polars.DataFrame
        ``strategy``, ``ev_grid_kwh``, ``ev_pv_kwh``, ``bill_amount``, ``saving_amount``,
        ``departures``, ``departures_missed``.
    policies : polars.DataFrame
        ``policy``, ``bill_amount``, ``saving_amount``, ``share_of_optimum_pct``.
    sensitivity : polars.DataFrame
        ``scenario`` plus :func:`energylib.finance.sensitivity` columns.
    seconds : dict
        Wall time per stage [s]: ``data``, ``sweep``, ``finance``.
    """

    params: StudyParams
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
    data_description: str

    @property
    def currency(self) -> str:
        return self.params.currency

    def scenario(self, name: str) -> dict[str, Any]:
        """The headline row of one scenario as a dict."""
        rows = self.headline.filter(pl.col("scenario") == name)
        if rows.height == 0:
            raise KeyError(f"no scenario {name!r}; have {self.headline['scenario'].to_list()}")
        return rows.row(0, named=True)

    def sensitivity_swings(self, name: str) -> pl.DataFrame:
        """Per input, the NPV swing between the ends of its range for one scenario, widest first.

        Columns ``parameter``, ``swing_amount`` [currency].
        """
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
    def best(self) -> dict[str, Any] | None:
        """The investment (net capex > 0) with the highest NPV; any scenario when none costs anything."""
        rows = self.headline.filter(pl.col("npv_amount").is_not_null())
        invested = rows.filter(pl.col("net_capex_amount") > 0)
        rows = (invested if invested.height else rows).sort("npv_amount", descending=True)
        return rows.row(0, named=True) if rows.height else None


def _seasons(months: np.ndarray, southern: bool) -> np.ndarray:
    north = np.array(["winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer",
                      "autumn", "autumn", "autumn", "winter"])  # fmt: skip
    flip = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
    names = np.array([flip[s] for s in north]) if southern else north
    return names[months - 1]


def _typical_days(name: str, run: CaseRun, inputs: ScenarioYear, southern: bool) -> pl.DataFrame:
    f = run.flows
    h = inputs.interval_minutes / 60.0
    local = inputs.cal.local
    hour = (local - local.astype("datetime64[D]")).astype("timedelta64[m]").astype(np.int64) / 60.0
    months = inputs.cal.local_month.astype(np.int64) % 12 + 1
    flows = {
        "load": f.load_kwh,
        "PV": f.pv_kwh - f.curtailed_kwh,
        "grid import": f.import_kwh,
        "grid export": f.export_kwh,
        "battery charge": f.battery_charge_kwh,
        "battery discharge": f.battery_discharge_kwh,
        "EV charge": f.ev_charge_kwh,
        "EV discharge": f.ev_discharge_kwh,
    }
    frame = pl.DataFrame(
        {
            "season": _seasons(months, southern),
            "hour": np.floor(hour * 2) / 2,
            **{k: v / h for k, v in flows.items()},
        }
    )
    keep = [k for k, v in flows.items() if np.abs(v).sum() > 0]
    return (
        frame.group_by("season", "hour")
        .agg([pl.col(k).mean() for k in keep])
        .unpivot(index=["season", "hour"], variable_name="flow", value_name="kw")
        .with_columns(pl.lit(name).alias("scenario"))
        .select("scenario", "season", "hour", "flow", "kw")
        .sort("season", "flow", "hour")
    )


def _soc_week(
    name: str, run: CaseRun, inputs: ScenarioYear, ev_capacity_kwh: float | None, start: str | None
) -> pl.DataFrame:
    f = run.flows
    local = inputs.cal.local
    steps = int(7 * 1440 / inputs.interval_minutes)
    i0 = 0
    if start:
        i0 = int(np.searchsorted(local, np.datetime64(start, "m")))
    elif local.size > 3 * steps:
        # A winter week: the least sun and the hardest work for the battery.
        winter = "07-07" if inputs.cal.timezone.startswith("Australia") else "01-13"
        i0 = int(
            np.searchsorted(
                local, np.datetime64(f"{local[0].astype('datetime64[Y]')}-{winter}", "m")
            )
        )
    i0 = max(0, min(i0, max(local.size - steps, 0)))
    sl = slice(i0, i0 + steps)
    series = {}
    cap = f.battery_capacity_kwh[sl]
    if np.any(cap > 0):
        series["home battery"] = 100.0 * f.battery_soc_kwh[sl] / np.where(cap > 0, cap, 1.0)
    if ev_capacity_kwh:
        series["EV"] = 100.0 * f.ev_soc_kwh[sl] / ev_capacity_kwh
    frames = [
        pl.DataFrame({"local_time": local[sl].astype("datetime64[us]"), "series": k, "soc_pct": v})
        for k, v in series.items()
    ]
    if not frames:
        return pl.DataFrame(
            schema={
                "scenario": pl.String,
                "local_time": pl.Datetime("us"),
                "series": pl.String,
                "soc_pct": pl.Float64,
            }
        )
    return (
        pl.concat(frames)
        .with_columns(pl.lit(name).alias("scenario"))
        .select("scenario", "local_time", "series", "soc_pct")
    )


def _ev_energy(run: CaseRun) -> tuple[float, float]:
    """EV charging split into PV and grid [kWh]: PV surplus over the house load goes to the EV first."""
    f = run.flows
    surplus = np.clip(f.pv_kwh - f.curtailed_kwh - f.load_kwh, 0.0, None)
    from_pv = np.minimum(f.ev_charge_kwh, surplus)
    return float(f.ev_charge_kwh.sum() - from_pv.sum()), float(from_pv.sum())


def _month_number(month: pl.Expr) -> pl.Expr:
    return month.str.slice(5, 2).cast(pl.Int64)


POLICY_LABELS = {
    "self_consumption": "self-consumption",
    "price_threshold": "price threshold",
    "forecast": "forecast (perfect)",
    "forecast_persistence": "forecast (yesterday)",
    "optimum": "optimum",
}


@dataclass
class _Plan:
    """Every case a study dispatches, grouped by the part of the report it feeds."""

    baseline: Case
    scenarios: dict[str, tuple[Case, Case, Case]]  # name -> (full, without battery, without PV)
    grid: dict[tuple[float, str | None], Case]
    ev: dict[str, Case]
    policies: dict[str, Case]

    def unique(self) -> list[Case]:
        cases = [self.baseline]
        for triple in self.scenarios.values():
            cases += triple
        cases += [*self.grid.values(), *self.ev.values(), *self.policies.values()]
        return list(dict.fromkeys(cases))


def _plan(params: StudyParams) -> _Plan:
    ev = params.ev
    base_strategy = ev.get("baseline_strategy", "immediate") if ev else "immediate"
    smart = ev.get("study_strategy", "solar_cheapest") if ev else "immediate"
    policy = params.policy
    scenarios = {}
    for sc in params.scenarios:
        strategy = sc.ev_strategy or base_strategy
        scenarios[sc.name] = (
            Case(float(sc.pv_kw), sc.battery, strategy, sc.v2h, sc.v2g, policy),
            Case(float(sc.pv_kw), None, strategy, sc.v2h, sc.v2g, policy),
            Case(0.0, None, strategy, sc.v2h, sc.v2g, policy),
        )
    sizes = [float(s) for s in params.pv.get("sizes_kw", [0.0])]
    batteries: list[str | None] = [None, *[b.name for b in params.batteries]]
    grid = {
        (pv, b): Case(pv, b, base_strategy, False, False, policy) for pv in sizes for b in batteries
    }
    pc = params.policy_comparison
    compare_pv = float(pc.get("pv_kw", sizes[-1] if sizes else 0.0))
    ev_cases: dict[str, Case] = {}
    if ev:
        for s in ev["strategies"]:
            ev_cases[s] = Case(compare_pv, None, s, False, False, policy)
        if ev.get("v2h"):
            ev_cases[f"{smart} + V2H"] = Case(compare_pv, None, smart, True, False, policy)
        if ev.get("v2g"):
            ev_cases[f"{smart} + V2H + V2G"] = Case(compare_pv, None, smart, True, True, policy)
    policies: dict[str, Case] = {}
    if pc:
        params.battery(pc.get("battery"))  # a clear error for an unknown name
        names = pc.get(
            "policies", ["self_consumption", "price_threshold", "forecast", "forecast_persistence"]
        )
        if pc.get("optimum", True):
            names = [*names, "optimum"]
        for p in names:
            policies[POLICY_LABELS.get(p, p)] = Case(
                compare_pv, pc.get("battery"), smart, False, False, p
            )
    return _Plan(Case(0.0, None, base_strategy), scenarios, grid, ev_cases, policies)


@dataclass(frozen=True)
class _Money:
    capex: finance.Capex
    savings: finance.Savings
    result: finance.FinanceResult


class _Finance:
    """Turns dispatched cases into year-1 savings and finance metrics."""

    def __init__(self, params: StudyParams, engine: Engine, base: CaseRun, annual: float):
        self.params, self.engine, self.base, self.annual = params, engine, base, annual
        self.ongoing = _ongoing(params)

    def saving(self, case: Case) -> float:
        return _saving(self.base, self.engine.run(case))

    def money(self, full: Case, no_battery: Case, no_pv: Case) -> _Money:
        """Savings split by what degrades (PV) and fades (battery), then :func:`finance.evaluate`."""
        base, run = self.base, self.engine.run(full)
        saving = _saving(base, run)
        pv_fraction = battery_fraction = 0.0
        if saving > 0:
            if full.battery is not None:
                battery_fraction = (saving - self.saving(no_battery)) / saving
            if full.pv_kw > 0:
                pv_fraction = (self.saving(no_battery) - self.saving(no_pv)) / saving
        pv_fraction = min(max(pv_fraction, 0.0), 1.0)
        battery_fraction = min(max(battery_fraction, 0.0), 1.0 - pv_fraction)
        f = run.flows
        savings = finance.Savings(
            import_saving=((base.total + base.feed_in_credit) - (run.total + run.feed_in_credit))
            * self.annual,
            export_credit=(run.feed_in_credit - base.feed_in_credit) * self.annual,
            pv_fraction=pv_fraction,
            battery_fraction=battery_fraction,
            pv_generation_kwh=float((f.pv_kwh - f.curtailed_kwh).sum()) * self.annual,
        )
        capex = _capex(self.params, full.pv_kw, full.battery, full.v2h or full.v2g)
        result = finance.evaluate(capex, savings, self.params.assumptions, self.ongoing)
        return _Money(capex, savings, result)


def _with_scenario(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.select(pl.lit(name).alias("scenario"), pl.all())


def _headline_frame(params: StudyParams, rows: list[dict]) -> pl.DataFrame:
    def payback(r: dict) -> str | None:
        if r["horizon_years"] is None:
            return None
        return finance.format_payback(r["simple_payback_years"], r["horizon_years"])

    def irr(r: dict) -> str | None:
        return (
            None if r["irr_note"] is None else finance.format_irr(r["irr_fraction"], r["irr_note"])
        )

    return pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.lit(params.currency).alias("currency"),
        pl.struct("simple_payback_years", "horizon_years")
        .map_elements(payback, return_dtype=pl.String)
        .alias("payback_text"),
        pl.struct("irr_fraction", "irr_note")
        .map_elements(irr, return_dtype=pl.String)
        .alias("irr_text"),
    )


def _ev_frame(plan: _Plan, fin: _Finance) -> pl.DataFrame:
    rows = []
    for label, case in plan.ev.items():
        run = fin.engine.run(case)
        grid_kwh, pv_kwh = _ev_energy(run)
        rows.append(
            {
                "strategy": label,
                "ev_grid_kwh": grid_kwh,
                "ev_pv_kwh": pv_kwh,
                "ev_discharge_kwh": float(run.flows.ev_discharge_kwh.sum()),
                "bill_amount": run.total,
                "saving_amount": fin.saving(case),
                "departures": int(run.flows.departures.size),
                "departures_missed": int(run.flows.departures_missed.size),
            }
        )
    schema = {
        "strategy": pl.String, "ev_grid_kwh": pl.Float64, "ev_pv_kwh": pl.Float64, "ev_discharge_kwh": pl.Float64,
        "bill_amount": pl.Float64, "saving_amount": pl.Float64, "departures": pl.Int64, "departures_missed": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def _policy_frame(plan: _Plan, fin: _Finance) -> pl.DataFrame:
    rows = [
        {
            "policy": label,
            "bill_amount": fin.engine.run(case).total,
            "saving_amount": fin.saving(case),
        }
        for label, case in plan.policies.items()
    ]
    frame = pl.DataFrame(
        rows, schema={"policy": pl.String, "bill_amount": pl.Float64, "saving_amount": pl.Float64}
    )
    optimum = frame.filter(pl.col("policy") == "optimum")["saving_amount"]
    opt = float(optimum[0]) if optimum.len() else math.nan
    share = pl.col("saving_amount") / opt * 100.0 if opt > 0 else pl.lit(None, pl.Float64)
    return frame.with_columns(share.alias("share_of_optimum_pct"))


def _grid_frame(plan: _Plan, fin: _Finance) -> pl.DataFrame:
    rows = []
    for (pv, b), case in plan.grid.items():
        no_battery = Case(pv, None, case.ev_strategy, False, False, case.policy)
        no_pv = Case(0.0, None, case.ev_strategy, False, False, case.policy)
        m = fin.money(case, no_battery, no_pv)
        rows.append(
            {
                "pv_kw": pv,
                "battery": b or "none",
                "npv_amount": m.result.npv,
                "simple_payback_years": m.result.simple_payback_years,
                "saving_amount": fin.saving(case),
                "net_capex_amount": m.capex.net,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"simple_payback_years": pl.Float64})


def _monthly_frame(plan: _Plan, fin: _Finance) -> pl.DataFrame:
    bills = [_with_scenario(fin.base.bill, BASELINE)]
    bills += [
        _with_scenario(fin.engine.run(cases[0]).bill, name)
        for name, cases in plan.scenarios.items()
    ]
    items = (
        "energy_cost",
        "supply_cost",
        "fees_cost",
        "tax_credit",
        "feed_in_credit",
        "import_kwh",
        "export_kwh",
    )
    return pl.concat(bills).select(
        "scenario",
        _month_number(pl.col("month")).alias("month"),
        pl.col("total_cost").alias("bill_amount"),
        *items,
    )


def run_study(params: StudyParams, store=None, *, progress: bool = False) -> StudyResult:
    """Run the whole study.

    Parameters
    ----------
    params : StudyParams
        From :func:`load_params`.
    store : ParquetStore, optional
        Where the year is read from (default: the configured data folder, or
        ``data.store_dir``).
    progress : bool
        Show a progress bar over the dispatch runs.

    Returns
    -------
    StudyResult
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    year = load_inputs(params, store)
    engine = Engine(params, year)
    seconds["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = _plan(params)
    cases = plan.unique()
    if progress:
        from tqdm.auto import tqdm

        cases = tqdm(cases, desc="scenarios", unit="run")
    for case in cases:
        engine.run(case)
    seconds["sweep"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    days = len(year) * year.interval_minutes / 1440.0
    base = engine.run(plan.baseline)
    fin = _Finance(params, engine, base, 365.0 / days)
    rows: list[dict] = [{"scenario": BASELINE, "bill_amount": base.total, "saving_amount": 0.0}]
    cash, sens = [], []
    for name, (full, no_battery, no_pv) in plan.scenarios.items():
        m = fin.money(full, no_battery, no_pv)
        rows.append(
            {
                "scenario": name,
                "bill_amount": engine.run(full).total,
                "saving_amount": fin.saving(full),
            }
            | m.result.as_row()
        )
        cash.append(
            _with_scenario(
                finance.cash_flow_table(m.capex, fin.ongoing, m.savings, params.assumptions), name
            )
        )
        sens.append(
            _with_scenario(
                finance.sensitivity(m.capex, m.savings, params.assumptions, fin.ongoing), name
            )
        )

    featured = params.sensitivity_scenario or next(
        (s.name for s in params.scenarios if s.battery), params.scenarios[0].name
    )
    featured_run = engine.run(plan.scenarios[featured][0])
    southern = params.site.southern
    typical = pl.concat(
        [
            _typical_days(BASELINE, base, year, southern),
            _typical_days(featured, featured_run, year, southern),
        ]
    )
    ev_capacity = engine.ev.capacity_kwh if engine.ev else None
    soc_week = _soc_week(
        featured, featured_run, year, ev_capacity, params.raw.get("soc_week_start")
    )
    result = StudyResult(
        params=params,
        headline=_headline_frame(params, rows),
        monthly_bills=_monthly_frame(plan, fin),
        typical_days=typical,
        soc_week=soc_week,
        cash_flows=pl.concat(cash),
        npv_grid=_grid_frame(plan, fin),
        ev_strategies=_ev_frame(plan, fin),
        policies=_policy_frame(plan, fin),
        sensitivity=pl.concat(sens),
        seconds=seconds,
        days=days,
        annualisation=fin.annual,
        featured=featured,
        data_description=year.description,
    )
    seconds["finance"] = time.perf_counter() - t0
    return result


# --------------------------------------------------------------------------- display


def _money_text(value: float | None, currency: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{currency} {value:,.0f}"


def headline_table(result: StudyResult | pl.DataFrame) -> pl.DataFrame:
    """The headline as text columns for display (one row per scenario, baseline first).

    Takes a :class:`StudyResult` or its ``headline`` frame (as saved by :func:`save_headline`).
    """
    h = result.headline if isinstance(result, StudyResult) else result
    cur = h["currency"][0] if "currency" in h.columns and h.height else ""
    return pl.DataFrame(
        {
            "scenario": h["scenario"],
            "2025 bill": [_money_text(v, cur) for v in h["bill_amount"]],
            "saving": [_money_text(v, cur) for v in h["saving_amount"]],
            "net capex": [_money_text(v, cur) for v in h["net_capex_amount"]],
            "payback": [v or "-" for v in h["payback_text"]],
            "NPV": [_money_text(v, cur) for v in h["npv_amount"]],
            "IRR": [
                "no IRR (no sign change)" if v and "never change sign" in v else (v or "-")
                for v in h["irr_text"]
            ],
        },
        schema={
            c: pl.String
            for c in ("scenario", "2025 bill", "saving", "net capex", "payback", "NPV", "IRR")
        },
    )


def save_headline(result: StudyResult, path: str | Path) -> Path:
    """Write the headline frame (with its title) to Parquet, for a terminal summary later."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.headline.with_columns(pl.lit(result.params.title).alias("title")).write_parquet(path)
    return path


def print_headline(result: StudyResult | pl.DataFrame, console=None) -> None:
    """Print the headline table in the terminal (rich).

    Takes a :class:`StudyResult` or a headline frame read back from :func:`save_headline`.
    """
    from rich.console import Console
    from rich.table import Table

    table_frame = headline_table(result)
    if isinstance(result, StudyResult):
        p = result.params
        title = f"{p.title}: {p.assumptions.horizon_years}-year finance at {p.assumptions.discount_rate:.0%} discount"
        caption = f"data: {result.data_description} ({result.days:.0f} days)"
    else:
        title = (
            result["title"][0] if "title" in result.columns and result.height else "Scenario study"
        )
        caption = None
    table = Table(title=title, caption=caption)
    for i, col in enumerate(table_frame.columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in table_frame.iter_rows():
        table.add_row(*[str(v) for v in row])
    (console or Console()).print(table)
