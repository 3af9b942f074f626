"""A study's parameters: typed sections read from its YAML file, every key checked.

A params file says where the home is, which 12 months, where each input comes from,
what is on offer (PV sizes, batteries, an EV) and the finance assumptions; see
``params/my_household.yaml`` for a commented template and ``params/scenarios_2025.yaml``
for the default year.  :func:`load_params` returns a :class:`StudyParams`; every error is
a :class:`StudyError` naming the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, fields
from datetime import date, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from energylib import finance
from energylib.dispatch import policies
from energylib.dispatch.assets import EV, EV_STRATEGIES, Battery, DrivingProfile
from energylib.dispatch.mpc import FORECASTS, MPCPolicy
from energylib.dispatch.rules import ForecastPolicy, PriceThreshold, SelfConsumption
from energylib.params_file import read_params_file
from energylib.site import SITES, Site
from energylib.solar import PVSystem
from energylib.tariff import (
    REGION_NETWORKS,
    TARIFF_KINDS,
    Tariff,
    TouPeriod,
)


class StudyError(ValueError):
    """A study's parameters or data are unusable: says which key or series, and how to fix it."""


DEFAULT_YEAR = "default_year"
#: Rule policies a battery scenario can run with a real controller (no perfect foresight).
REALISTIC_RULES = ("self_consumption", "price_threshold", "forecast_persistence")
#: MPC's forecasts in a study: the named ones, and the supplier's issued forecasts.
SUPPLIER = "supplier"
#: Price forecasters a study fits on the prices before its period (energylib.forecast.intraday):
#: the lag ridge's point forecast, or scenario (stochastic) MPC on its errors.
LAG_RIDGE, SCENARIOS = "lag_ridge", "scenarios"
TRAINED_FORECASTS = (LAG_RIDGE, SCENARIOS)
STUDY_FORECASTS = (*FORECASTS, SUPPLIER, *TRAINED_FORECASTS)
#: Every dispatch policy a study can name (``mpc``: model-predictive control, see MPCOptions).
POLICIES = (*REALISTIC_RULES, "forecast", "mpc", "optimum")
BEST_RULE = "best_rule"
FILLS = ("same_weekday_last_year", "previous_day")
#: ``resimulated``: every year of the horizon dispatched and billed again; ``scaled``: year 1
#: scaled by degradation and fade (see energylib.finance).
FINANCE_METHODS = ("resimulated", "scaled")
UPSAMPLING = ("uniform",)
INTERVALS = (5, 15, 30, 60)


# --------------------------------------------------------------------------- helpers
def _where(source: Path | None) -> str:
    return str(source) if source else "study params"


def _mapping(value: Any, key: str, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StudyError(f"{where}: {key} must be a mapping of keys to values, got {value!r}")
    return dict(value)


def _check_keys(section: dict, allowed, key: str, where: str) -> None:
    unknown = set(section) - set(allowed)
    if unknown:
        raise StudyError(
            f"{where}: {key} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def _build(cls, values: dict, key: str, where: str):
    """``cls(**values)`` with a StudyError naming the section for a bad value."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise StudyError(f"{where}: {key}: {err}") from None


def _names(cls, exclude: tuple[str, ...] = ()) -> set[str]:
    return {f.name for f in fields(cls)} - set(exclude)


def _date(value: Any, key: str, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise StudyError(f"{where}: {key} is {value!r}; write a date like 2025-01-01") from None


def _clock(value: Any, key: str, where: str) -> dt_time:
    """``"07:30"`` (or a ``datetime.time``) -> ``datetime.time``."""
    if isinstance(value, dt_time):
        return value
    try:
        hours, minutes = str(value).split(":")
        return dt_time(int(hours), int(minutes))
    except ValueError:
        raise StudyError(
            f'{where}: {key} is {value!r}; write a quoted local time like "07:30"'
        ) from None


# --------------------------------------------------------------------------- where and when
SITE_KEYS = {"name", "latitude", "longitude", "altitude_m", "timezone", "market"}


def _site(value: Any, where: str) -> Site:
    """``site:`` is a market's default site (``nem``, ``nl``) or a mapping of a Site's fields."""
    if value is None or isinstance(value, str):
        market = value or "nem"
        if market not in SITES:
            raise StudyError(
                f"{where}: site {market!r} is not a default site ({sorted(SITES)}); "
                "write a mapping: site: {name: my-home, latitude: .., longitude: .., timezone: .., market: nem}"
            )
        return SITES[market]
    raw = _mapping(value, "site", where)
    _check_keys(raw, SITE_KEYS, "site", where)
    missing = {"latitude", "longitude", "timezone", "market"} - set(raw)
    if missing:
        raise StudyError(f"{where}: site lacks {sorted(missing)}; PV and local time need them")
    raw.setdefault("name", "home")
    raw.setdefault("altitude_m", 0.0)
    return _build(Site, raw, "site", where)


@dataclass(frozen=True)
class Period:
    """The twelve months (or any span) a study models, in the site's local dates.

    ``start`` is the first day, ``end`` the day after the last (exclusive).  With
    ``last_12_months`` the span is set from the data: the 12 whole months that end with the
    last whole month of the load.
    """

    start: date | None = None
    end: date | None = None
    last_12_months: bool = False

    @property
    def label(self) -> str:
        """``calendar 2025`` or ``2024-08-01 to 2025-07-31``."""
        if self.start is None or self.end is None:
            return "the last 12 months of data"
        if self.start.month == self.start.day == 1 and self.end == date(self.start.year + 1, 1, 1):
            return f"calendar {self.start.year}"
        last = date.fromordinal(self.end.toordinal() - 1)
        return f"{self.start.isoformat()} to {last.isoformat()}"


def _period(value: Any, where: str) -> Period:
    raw = _mapping(value, "period", where)
    _check_keys(raw, {"year", "start", "end", "last_12_months"}, "period", where)
    if raw.get("last_12_months"):
        if set(raw) - {"last_12_months"}:
            raise StudyError(f"{where}: period: last_12_months takes no start, end or year")
        return Period(last_12_months=True)
    if "year" in raw:
        if set(raw) & {"start", "end"}:
            raise StudyError(f"{where}: period: give year, or start and end, not both")
        y = int(raw["year"])
        return Period(date(y, 1, 1), date(y + 1, 1, 1))
    if raw:
        if not {"start", "end"} <= set(raw):
            raise StudyError(
                f"{where}: period needs both start and end (end is the day after the last)"
            )
        start, end = (
            _date(raw["start"], "period.start", where),
            _date(raw["end"], "period.end", where),
        )
        if not end > start:
            raise StudyError(f"{where}: period.end {end} is not after period.start {start}")
        return Period(start, end)
    return Period(date(2025, 1, 1), date(2026, 1, 1))


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class SeriesRef:
    """Where one input series is stored: a source and site in the store (channel and kind
    found from the store where not given), or the generated default year.

    ``replay_from`` (a local date) replays data recorded from that date on the study
    period, moved by whole weeks so weekdays stay weekdays: a trial household's 2013 load
    on 2024 prices.  :attr:`shift` is that move (set by the study's period).
    """

    source: str
    site: str | None = None
    channel: str | None = None
    kind: str | None = None
    replay_from: date | None = None
    shift: timedelta = timedelta(0)

    @property
    def default_year(self) -> bool:
        return self.source == DEFAULT_YEAR

    def replayed_on(self, period_start: date) -> SeriesRef:
        """This ref with :attr:`shift` set to move ``replay_from`` onto ``period_start``."""
        if self.replay_from is None:
            return self
        weeks = round((period_start - self.replay_from).days / 7)
        return dataclasses.replace(self, shift=timedelta(weeks=weeks))


@dataclass(frozen=True)
class WeatherRef:
    """Weather for PV: ``default`` (the default year's where the site is a default site,
    else generated for the site), a TMY/EPW/PVGIS ``file``, a stored ``source``/``site``,
    or ``open_meteo`` history (online)."""

    kind: str = "default"  # default | file | store | open_meteo
    file: str | None = None
    source: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class Inputs:
    """Where each input comes from, and the named choices that reshape them."""

    load: SeriesRef = SeriesRef(DEFAULT_YEAR)
    prices: SeriesRef = SeriesRef(DEFAULT_YEAR)
    pv_measured: SeriesRef | None = None
    weather: WeatherRef = WeatherRef()
    load_upsampling: str | None = None
    fill: str | None = None
    store_dir: str = ""
    max_days: float | None = None

    @property
    def all_default_year(self) -> bool:
        return self.load.default_year and self.prices.default_year


INPUT_KEYS = {f.name for f in fields(Inputs)}


def _series_ref(value: Any, key: str, where: str) -> SeriesRef:
    if isinstance(value, str):
        if value != DEFAULT_YEAR:
            raise StudyError(
                f"{where}: inputs.{key} is {value!r}; write {DEFAULT_YEAR} or a mapping "
                "{source: powerpal, site: my-home}"
            )
        return SeriesRef(DEFAULT_YEAR)
    raw = _mapping(value, f"inputs.{key}", where)
    if "retail" in raw:
        raise StudyError(
            f"{where}: inputs.{key}.retail: how retail prices are built is the tariff's job; "
            f"write tariff: {{kind: {raw['retail']}}} and drop retail here"
        )
    _check_keys(raw, _names(SeriesRef, ("shift",)), f"inputs.{key}", where)
    if "source" not in raw:
        raise StudyError(
            f"{where}: inputs.{key} needs a source (a store source such as powerpal, aemo)"
        )
    replay = raw.pop("replay_from", None)
    ref = SeriesRef(**{k: (None if v is None else str(v)) for k, v in raw.items()})
    if replay is not None:
        ref = dataclasses.replace(
            ref, replay_from=_date(replay, f"inputs.{key}.replay_from", where)
        )
    return ref


def _weather_ref(value: Any, where: str) -> WeatherRef:
    if value is None or value == "default":
        return WeatherRef()
    if value == "open_meteo":
        return WeatherRef("open_meteo")
    if isinstance(value, str):
        return WeatherRef("file", file=value)
    raw = _mapping(value, "inputs.weather", where)
    _check_keys(raw, {"file", "source", "site"}, "inputs.weather", where)
    if "file" in raw:
        return WeatherRef("file", file=str(raw["file"]))
    if "source" in raw:
        return WeatherRef("store", source=str(raw["source"]), site=raw.get("site"))
    raise StudyError(f"{where}: inputs.weather: give default, open_meteo, a file or a store source")


def _inputs(value: Any, where: str) -> Inputs:
    raw = _mapping(value, "inputs", where)
    _check_keys(raw, INPUT_KEYS, "inputs", where)
    out: dict[str, Any] = {}
    for key in ("load", "prices"):
        if key in raw and raw[key] is not None:
            out[key] = _series_ref(raw[key], key, where)
    if raw.get("pv_measured") is not None:
        out["pv_measured"] = _series_ref(raw["pv_measured"], "pv_measured", where)
    out["weather"] = _weather_ref(raw.get("weather"), where)
    for key, allowed in (("load_upsampling", UPSAMPLING), ("fill", FILLS)):
        v = raw.get(key)
        if v is not None and v not in allowed:
            raise StudyError(
                f"{where}: inputs.{key} is {v!r}; use one of {list(allowed)} or leave it out"
            )
        out[key] = v
    out["store_dir"] = str(raw.get("store_dir") or "")
    if raw.get("max_days") is not None:
        out["max_days"] = float(raw["max_days"])
    return Inputs(**out)


# --------------------------------------------------------------------------- what is on offer
@dataclass(frozen=True)
class PVOptions:
    """PV sizes to study and their prices.

    ``sizes_kw`` [kWdc], ``tilt_deg`` and ``azimuth_deg`` [degrees; None faces the equator],
    ``model`` (a :data:`energylib.solar.PRESETS` name: ``energylib_v1``, ``pvwatts_v8``),
    ``export_limit_kw`` [kW], ``cost_per_kw`` [currency/kWdc], ``installation``, ``rebate``
    [currency], ``om_per_kw_year`` [currency/kW/year], inverter life [years] and its
    replacement cost [currency].
    """

    sizes_kw: tuple[float, ...] = (0.0,)
    tilt_deg: float = 20.0
    azimuth_deg: float | None = None
    export_limit_kw: float | None = None
    cost_per_kw: float = 0.0
    installation: float = 0.0
    rebate: float = 0.0
    om_per_kw_year: float = 0.0
    inverter_life_years: int | None = None
    inverter_replacement_cost: float = 0.0
    model: str = "energylib_v1"

    def system(self, kw: float) -> PVSystem | None:
        """The PV system of ``kw`` kWdc (None for 0)."""
        if kw <= 0:
            return None
        return PVSystem(
            kwdc=float(kw),
            tilt_deg=float(self.tilt_deg),
            azimuth_deg=self.azimuth_deg,
            export_limit_kw=self.export_limit_kw,
            model=self.model,
        )


@dataclass(frozen=True)
class BatteryOption:
    """A battery on offer: a :class:`~energylib.dispatch.assets.Battery` and its price.

    ``battery`` is the installed whole (``units`` units); prices in the study's currency:
    ``cost_per_unit``, ``cost_per_kwh`` (of the whole capacity, for modular batteries),
    ``installation``.
    """

    name: str
    battery: Battery
    units: int = 1
    cost_per_unit: float = 0.0
    cost_per_kwh: float = 0.0
    installation: float = 0.0


BATTERY_PRICE_KEYS = {"name", "units", "cost_per_unit", "cost_per_kwh", "installation"}
BATTERY_SPEC_KEYS = _names(Battery, ("wear_cost_per_kwh",))


def _battery_option(item: Any, i: int, wear: float, where: str) -> BatteryOption:
    raw = _mapping(item, f"batteries[{i}]", where)
    _check_keys(raw, BATTERY_PRICE_KEYS | BATTERY_SPEC_KEYS, f"batteries[{i}]", where)
    if "name" not in raw or "capacity_kwh" not in raw:
        raise StudyError(f"{where}: batteries[{i}] needs a name and capacity_kwh")
    units = int(raw.get("units", 1))
    spec = {k: v for k, v in raw.items() if k in BATTERY_SPEC_KEYS}
    for k in ("capacity_kwh", "charge_kw", "discharge_kw"):  # per unit in the file
        if k in spec:
            spec[k] = float(spec[k]) * units
    battery = _build(
        Battery, {**spec, "wear_cost_per_kwh": wear}, f"batteries[{i}] ({raw['name']})", where
    )
    price = {k: raw[k] for k in ("cost_per_unit", "cost_per_kwh", "installation") if k in raw}
    return BatteryOption(
        str(raw["name"]), battery, units, **{k: float(v) for k, v in price.items()}
    )


@dataclass(frozen=True)
class EVOptions:
    """The household's EV, the charging strategies to study and the charger's price."""

    ev: EV
    model: str = "EV"
    strategies: tuple[str, ...] = EV_STRATEGIES
    baseline_strategy: str = "immediate"
    study_strategy: str = "solar_cheapest"
    v2h: bool = False
    v2g: bool = False
    bidirectional_charger_cost: float = 0.0


EV_OPTION_KEYS = {"model", "strategies", "baseline_strategy", "study_strategy", "v2h", "v2g",
                  "bidirectional_charger_cost", "wear_per_kwh"}  # fmt: skip
EV_KEYS = _names(EV, ("driving", "wear_cost_per_kwh"))
DRIVING_KEYS = _names(DrivingProfile)


def _ev_options(value: Any, where: str) -> EVOptions | None:
    """No ``ev:``, ``ev: null`` and ``ev: {}`` all mean: the home has no EV."""
    raw = _mapping(value, "ev", where)
    if not raw:
        return None
    _check_keys(raw, EV_OPTION_KEYS | EV_KEYS | DRIVING_KEYS, "ev", where)
    driving = {k: v for k, v in raw.items() if k in DRIVING_KEYS}
    for key in ("weekday_departure", "weekday_return", "weekend_departure", "weekend_return"):
        if key in driving:
            driving[key] = _clock(driving[key], f"ev.{key}", where)
    ev_kwargs = {k: v for k, v in raw.items() if k in EV_KEYS}
    if "wear_per_kwh" in raw:
        ev_kwargs["wear_cost_per_kwh"] = float(raw["wear_per_kwh"])
    ev = _build(
        EV, {**ev_kwargs, "driving": _build(DrivingProfile, driving, "ev", where)}, "ev", where
    )
    strategies = tuple(raw.get("strategies", EV_STRATEGIES))
    options = {
        "model": str(raw.get("model", "EV")),
        "strategies": strategies,
        "baseline_strategy": raw.get("baseline_strategy", "immediate"),
        "study_strategy": raw.get("study_strategy", "solar_cheapest"),
        "v2h": bool(raw.get("v2h", False)),
        "v2g": bool(raw.get("v2g", False)),
        "bidirectional_charger_cost": float(raw.get("bidirectional_charger_cost", 0.0)),
    }
    for s in [*strategies, options["baseline_strategy"], options["study_strategy"]]:
        if s not in EV_STRATEGIES:
            raise StudyError(f"{where}: EV strategy {s!r} is not one of {list(EV_STRATEGIES)}")
    return EVOptions(ev, **options)


@dataclass(frozen=True)
class ScenarioDef:
    """One headline scenario: what is installed and how the EV charges.

    ``ev_strategy`` None keeps the baseline's charging, so PV and batteries are isolated.
    """

    name: str
    pv_kw: float = 0.0
    battery: str | None = None
    ev_strategy: str | None = None
    v2h: bool = False
    v2g: bool = False


@dataclass(frozen=True)
class MPCOptions:
    """Model-predictive control in a study (``policy_comparison.mpc``): the options of
    :class:`energylib.dispatch.mpc.MPCPolicy`, and the stability trade-off the comparison
    shows.

    ``forecast``: ``persistence`` (yesterday's load, PV and prices: what a controller
    without a forecaster has), ``perfect``, or ``supplier``: the price forecasts the live
    agent stored as they were issued (Amber's forecast intervals, source ``supplier_source``
    and site ``supplier_site``, default the prices input's site), each decision seeing only
    those issued at or before it; ``lag_ridge``: the market price
    forecast by :class:`~energylib.forecast.intraday.LagRidge`, fitted on the
    ``history_days`` of prices before the period;
    ``scenarios``: ``scenarios`` price paths per decision, the lag ridge's forecast plus its
    errors at the most similar earlier decisions, and one stochastic plan over them
    (:class:`~energylib.dispatch.mpc.ScenarioForecast`).  With ``supplier``, ``lag_ridge`` and
    ``scenarios`` the load, the PV and the channels not forecast are the mean of the last
    ``load_pv_days`` days at the same time of day
    (:class:`~energylib.dispatch.mpc.RecentMeanForecast`; 1: yesterday's).  ``known_intervals``: intervals whose prices
    are known when deciding (1: the current one, as Amber publishes it); ``horizon_hours``
    [h]; ``replan_minutes``: minutes between decisions (None: every interval; the plan in
    force runs on in between); ``terminal_value`` [currency/kWh] or ``median`` / ``mean``;
    ``switch_threshold``
    [currency]: a plan that changes the battery's mode must beat carrying on by more than
    this; ``thresholds``: MPC again at each of these thresholds, for the trade-off of saving
    against mode changes.
    """

    forecast: str = "persistence"
    supplier_source: str = "amber"
    supplier_site: str | None = None
    known_intervals: int = 1
    horizon_hours: float = 24.0
    replan_minutes: int | None = None
    terminal_value: float | str = "median"
    switch_threshold: float = 0.0
    thresholds: tuple[float, ...] = ()
    scenarios: int = 10
    history_days: int = 365
    load_pv_days: int = 3

    def __post_init__(self) -> None:
        if self.forecast not in STUDY_FORECASTS:
            raise ValueError(f"forecast {self.forecast!r}; use one of {list(STUDY_FORECASTS)}")
        if self.scenarios < 1:
            raise ValueError(
                f"scenarios must be >= 1 (price paths per decision), got {self.scenarios}"
            )
        if self.load_pv_days < 1:
            raise ValueError(
                f"load_pv_days must be >= 1 (days of load and PV the forecast averages; 1: "
                f"yesterday's), got {self.load_pv_days}"
            )
        if self.history_days < 10:
            raise ValueError(
                f"history_days must be >= 10 (days of prices the forecaster is fitted on), "
                f"got {self.history_days}"
            )
        for t in (self.switch_threshold, *self.thresholds):
            self.policy(t, forecast="perfect")  # MPCPolicy says what is wrong

    def policy(self, switch_threshold: float | None = None, *, forecast=None) -> MPCPolicy:
        """The MPC policy (at ``switch_threshold`` instead of the options' own; with
        ``forecast``, a :class:`~energylib.dispatch.mpc.Forecast` such as the supplier's
        issued forecasts, instead of the named one)."""
        if forecast is None and self.forecast in (SUPPLIER, *TRAINED_FORECASTS):
            what = (
                "reads the issued forecasts from the store"
                if self.forecast == SUPPLIER
                else "is fitted on the prices stored before the period"
            )
            raise StudyError(
                f"policy_comparison.mpc.forecast: {self.forecast} {what}: run the study with "
                "run_study (or energy scenarios), which reads them"
            )
        t = self.switch_threshold if switch_threshold is None else switch_threshold
        return policies.resolve(
            "mpc",
            forecast=self.forecast if forecast is None else forecast,
            known_intervals=int(self.known_intervals),
            horizon_hours=float(self.horizon_hours),
            replan_minutes=None if self.replan_minutes is None else int(self.replan_minutes),
            terminal_value=self.terminal_value,
            switch_threshold=float(t),
        )


@dataclass(frozen=True)
class PolicyComparison:
    """The battery policies compared with the perfect-foresight optimum on one system.

    ``optimum_window_days``: the optimum over rolling windows of this many days with
    perfect foresight (committing all but a day of each); None solves the whole period as
    one LP (slow and memory-hungry at 5 min).
    """

    pv_kw: float = 0.0
    battery: str | None = None
    policies: tuple[str, ...] = (*REALISTIC_RULES, "forecast")
    optimum: bool = True
    optimum_window_days: float | None = 14.0


# --------------------------------------------------------------------------- tariffs


def _tariff(value: Any, site: Site, prices: SeriesRef, where: str) -> Tariff:
    raw = _mapping(value, "tariff", where) or {"kind": "amber"}
    kind = raw.pop("kind", None)
    if kind not in TARIFF_KINDS:
        raise StudyError(f"{where}: tariff.kind {kind!r}; use one of {sorted(TARIFF_KINDS)}")
    cls = TARIFF_KINDS[kind]
    _check_keys(raw, _names(cls, ("name",)), f"tariff ({kind})", where)
    if kind == "nem_retail":
        if "network_periods" in raw:
            raw["network_periods"] = tuple(
                _tou_period(p, i, where) for i, p in enumerate(raw["network_periods"])
            )
            raw.setdefault("network", "custom")
        elif "network" not in raw and prices.source == "aemo" and prices.site:
            region = prices.site.upper()
            if region not in REGION_NETWORKS:
                raise StudyError(
                    f"{where}: tariff (nem_retail): no default network for price region {region}; "
                    "name one under tariff.network or give network_periods"
                )
            raw["network"] = REGION_NETWORKS[region]
    return _build(cls, raw, f"tariff ({kind})", where)


def _tou_period(item: Any, i: int, where: str) -> TouPeriod:
    raw = _mapping(item, f"tariff.network_periods[{i}]", where)
    for key in ("start", "end"):
        if key in raw:
            raw[key] = _clock(raw[key], f"tariff.network_periods[{i}].{key}", where)
    if "months" in raw:
        raw["months"] = tuple(int(m) for m in raw["months"])
    return _build(TouPeriod, raw, f"tariff.network_periods[{i}]", where)


# --------------------------------------------------------------------------- the whole study
@dataclass(frozen=True)
class StudyParams:
    """A study, as read from its YAML file (see ``params/my_household.yaml``)."""

    title: str
    currency: str
    site: Site
    period: Period
    interval_minutes: int
    inputs: Inputs
    tariff: Tariff
    pv: PVOptions
    batteries: tuple[BatteryOption, ...]
    battery_rebate_per_kwh: float
    battery_rebate_max_kwh: float | None
    battery_life_years: int | None
    ev: EVOptions | None
    scenarios: tuple[ScenarioDef, ...]
    policy: str
    price_threshold: PriceThreshold
    comparison: PolicyComparison | None
    assumptions: finance.Assumptions
    other_om_per_year: float
    sensitivity_scenario: str | None
    soc_week_start: str | None = None
    source: Path | None = None
    tariff_changes: tuple[tuple[date, Tariff], ...] = ()
    finance_method: str = "resimulated"
    mpc: MPCOptions = MPCOptions()

    def tariff_on(self, day: date) -> Tariff:
        """The tariff in force on ``day``: the base tariff, or the latest change from before it."""
        current = self.tariff
        for start, tariff in self.tariff_changes:
            if start <= day:
                current = tariff
        return current

    @property
    def where(self) -> str:
        return _where(self.source)

    def battery(self, name: str | None) -> BatteryOption | None:
        """The battery option called ``name`` (None for none)."""
        if name is None:
            return None
        for b in self.batteries:
            if b.name == name:
                return b
        raise StudyError(
            f"{self.where}: battery {name!r} is not among batteries "
            f"{[b.name for b in self.batteries]}; add it under 'batteries:' or fix the name"
        )

    def rule(self, name: str):
        """The policy object of a policy name (``price_threshold`` with the study's thresholds)."""
        if name == "self_consumption":
            return SelfConsumption()
        if name == "price_threshold":
            return self.price_threshold
        if name == "forecast":
            return ForecastPolicy(forecast="perfect")
        if name == "forecast_persistence":
            return ForecastPolicy(forecast="persistence", name="forecast_persistence")
        if name == "mpc":
            return self.mpc.policy()
        raise StudyError(f"{self.where}: policy {name!r}; use one of {list(POLICIES)}")


TOP_KEYS = frozenset(
    {
        "title", "currency", "site", "period", "interval_minutes", "inputs", "tariff", "pv",
        "batteries", "battery_rebate", "battery_life_years", "battery_wear_per_kwh", "ev",
        "scenarios", "policy", "policy_comparison", "finance", "sensitivity_scenario",
        "soc_week_start", "tariff_changes",
    }
)  # fmt: skip


def load_params(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyParams:
    """Read a study's YAML file.

    Parameters
    ----------
    path : str or Path
        The params file (relative paths from the current directory, then the project root).
    overrides : dict, optional
        Top-level keys that replace the file's (nested mappings are merged one level deep).

    Raises
    ------
    StudyError
        Naming the file and the key that is missing or wrong.
    """
    p, raw = read_params_file(path, overrides, error=StudyError)
    return params_from_dict(raw, source=p)


def params_from_dict(raw: dict[str, Any], source: Path | None = None) -> StudyParams:
    """Build :class:`StudyParams` from the parsed YAML mapping (see :func:`load_params`)."""
    where = _where(source)
    _check_keys(raw, TOP_KEYS, "the file", where)
    site = _site(raw.get("site"), where)
    minutes = int(raw.get("interval_minutes", 30))
    if minutes not in INTERVALS:
        raise StudyError(
            f"{where}: interval_minutes must be one of {list(INTERVALS)}, got {minutes}"
        )
    inputs = _inputs(raw.get("inputs"), where)
    if inputs.all_default_year and site not in SITES.values():
        raise StudyError(
            f"{where}: the default year is generated for the default sites ({sorted(SITES)}); "
            "for your own site name your load and prices under inputs:"
        )
    wear = float(raw.get("battery_wear_per_kwh", 0.0))
    batteries = tuple(
        _battery_option(b, i, wear, where) for i, b in enumerate(raw.get("batteries") or [])
    )
    names = [b.name for b in batteries]
    if len(set(names)) != len(names):
        raise StudyError(f"{where}: battery names must be unique, got {names}")
    ev = _ev_options(raw.get("ev"), where)

    scenarios = []
    for i, item in enumerate(raw.get("scenarios") or []):
        sc = _build(ScenarioDef, _mapping(item, f"scenarios[{i}]", where), f"scenarios[{i}]", where)
        label = f"scenarios[{i}] ({sc.name})"
        if sc.battery is not None and sc.battery not in names:
            raise StudyError(f"{where}: {label} uses battery {sc.battery!r}, not among {names}")
        if sc.ev_strategy is not None and sc.ev_strategy not in EV_STRATEGIES:
            raise StudyError(
                f"{where}: {label} ev_strategy {sc.ev_strategy!r} not in {list(EV_STRATEGIES)}"
            )
        if ev is None and (sc.v2h or sc.v2g or sc.ev_strategy is not None):
            raise StudyError(
                f"{where}: {label} sets an EV strategy or V2H/V2G, but the home has no EV; "
                "add an ev: section or drop the scenario"
            )
        scenarios.append(sc)
    if not scenarios:
        raise StudyError(
            f"{where}: 'scenarios:' lists none; add at least one (name, pv_kw, battery ...)"
        )
    if len({s.name for s in scenarios}) != len(scenarios):
        raise StudyError(f"{where}: scenario names must be unique")

    fin = _mapping(raw.get("finance"), "finance", where)
    other_om = float(fin.pop("other_om_per_year", 0.0))
    method = fin.pop("method", "resimulated")
    if method not in FINANCE_METHODS:
        raise StudyError(f"{where}: finance.method {method!r}; use one of {list(FINANCE_METHODS)}")
    _check_keys(fin, _names(finance.Assumptions), "finance", where)
    assumptions = _build(finance.Assumptions, fin, "finance", where)

    policy = raw.get("policy", BEST_RULE)
    if policy not in (BEST_RULE, *POLICIES):
        raise StudyError(f"{where}: policy {policy!r}; use {BEST_RULE} or one of {list(POLICIES)}")
    pc = _mapping(raw.get("policy_comparison"), "policy_comparison", where)
    _check_keys(
        pc, _names(PolicyComparison) | {"price_threshold", "mpc"}, "policy_comparison", where
    )
    threshold = _build(
        PriceThreshold, _mapping(pc.pop("price_threshold", None), "price_threshold", where),
        "policy_comparison.price_threshold", where,
    )  # fmt: skip
    mpc_raw = _mapping(pc.pop("mpc", None), "policy_comparison.mpc", where)
    _check_keys(mpc_raw, _names(MPCOptions), "policy_comparison.mpc", where)
    if "thresholds" in mpc_raw:
        mpc_raw["thresholds"] = tuple(float(t) for t in mpc_raw["thresholds"])
    mpc = _build(MPCOptions, mpc_raw, "policy_comparison.mpc", where)
    comparison = None
    if pc:
        if "policies" in pc:
            pc["policies"] = tuple(pc["policies"])
            for name in pc["policies"]:
                if name not in POLICIES or name == "optimum":
                    raise StudyError(
                        f"{where}: policy_comparison.policies: {name!r} is not one of {list(POLICIES[:-1])}"
                    )
        comparison = _build(PolicyComparison, pc, "policy_comparison", where)
        if comparison.battery is not None and comparison.battery not in names:
            raise StudyError(
                f"{where}: policy_comparison.battery {comparison.battery!r} is not among {names}"
            )

    pv_raw = _mapping(raw.get("pv"), "pv", where)
    _check_keys(pv_raw, _names(PVOptions), "pv", where)
    if "sizes_kw" in pv_raw:
        pv_raw["sizes_kw"] = tuple(float(s) for s in pv_raw["sizes_kw"])
    pv = _build(PVOptions, pv_raw, "pv", where)
    rebate = _mapping(raw.get("battery_rebate"), "battery_rebate", where)
    _check_keys(rebate, {"name", "per_kwh", "max_kwh"}, "battery_rebate", where)
    sens = raw.get("sensitivity_scenario")
    if sens is not None and sens not in {s.name for s in scenarios}:
        raise StudyError(f"{where}: sensitivity_scenario {sens!r} is not a scenario name")
    period = _period(raw.get("period"), where)
    if period.start is not None:
        inputs = dataclasses.replace(
            inputs,
            load=inputs.load.replayed_on(period.start),
            prices=inputs.prices.replayed_on(period.start),
            pv_measured=inputs.pv_measured.replayed_on(period.start)
            if inputs.pv_measured
            else None,
        )
    elif any(
        r is not None and r.replay_from for r in (inputs.load, inputs.prices, inputs.pv_measured)
    ):
        raise StudyError(f"{where}: replay_from needs a period with a start, not last_12_months")
    tariff = _tariff(raw.get("tariff"), site, inputs.prices, where)
    changes = []
    for i, item in enumerate(raw.get("tariff_changes") or []):
        change = _mapping(item, f"tariff_changes[{i}]", where)
        if "from" not in change:
            raise StudyError(
                f"{where}: tariff_changes[{i}] needs from: (the first day the change applies)"
            )
        day = _date(change.pop("from"), f"tariff_changes[{i}].from", where)
        base = changes[-1][1] if changes else tariff
        _check_keys(change, _names(type(base), ("name",)), f"tariff_changes[{i}]", where)
        changes.append(
            (
                day,
                _build(
                    functools.partial(dataclasses.replace, base),
                    change,
                    f"tariff_changes[{i}]",
                    where,
                ),
            )
        )
    if [d for d, _ in changes] != sorted(d for d, _ in changes):
        raise StudyError(f"{where}: tariff_changes must be in date order")
    return StudyParams(
        title=str(raw.get("title", "Scenario study")),
        currency=str(raw.get("currency", "AUD")),
        site=site,
        period=period,
        interval_minutes=minutes,
        inputs=inputs,
        tariff=tariff,
        tariff_changes=tuple(changes),
        finance_method=method,
        pv=pv,
        batteries=batteries,
        battery_rebate_per_kwh=float(rebate.get("per_kwh", 0.0)),
        battery_rebate_max_kwh=rebate.get("max_kwh"),
        battery_life_years=raw.get("battery_life_years"),
        ev=ev,
        scenarios=tuple(scenarios),
        policy=policy,
        price_threshold=threshold,
        comparison=comparison,
        mpc=mpc,
        assumptions=assumptions,
        other_om_per_year=other_om,
        sensitivity_scenario=sens,
        soc_week_start=raw.get("soc_week_start"),
        source=source,
    )


def replace_params(params: StudyParams, **changes) -> StudyParams:
    """A copy of ``params`` with some sections replaced (typed values)."""
    return dataclasses.replace(params, **changes)


__all__ = [
    "BatteryOption",
    "EVOptions",
    "Inputs",
    "PVOptions",
    "Period",
    "MPCOptions",
    "PolicyComparison",
    "ScenarioDef",
    "SeriesRef",
    "StudyError",
    "StudyParams",
    "WeatherRef",
    "load_params",
    "params_from_dict",
]
