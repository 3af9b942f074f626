"""Scenarios: a year of inputs, what is installed, how it is dispatched -> flows, bill, savings.

The one orchestrator on top of :mod:`energylib.solar`, :mod:`energylib.tariff` and
:mod:`energylib.dispatch`.

API (used by the studies and notebooks)
---------------------------------------
``load_year(store, source="simulated", site="default", year=2025, interval_minutes=5) -> ScenarioYear``
    Load, prices and weather of one site and calendar year from the store, aligned on one grid.
``ScenarioYear.from_frames(frames, site, interval_minutes=None)``
    The same from ``energylib.simulate.default_year.generate(...)``'s dict of frames.
``ScenarioYear.from_arrays(interval_start, load_kwh, site, interval_minutes, ...)``
    From plain arrays.
``ScenarioSpec(name, pv, battery, ev, ev_strategy, v2h, v2g, tariff, policy, grid)``
    What is installed and how it runs; ``policy`` is a rule policy
    (:class:`~energylib.dispatch.rules.SelfConsumption`,
    :class:`~energylib.dispatch.rules.PriceThreshold`,
    :class:`~energylib.dispatch.rules.ForecastPolicy`), an
    :class:`~energylib.dispatch.optimum.OptimumOptions` for the perfect-foresight optimum, or
    one of the names ``self_consumption``, ``price_threshold``, ``forecast``, ``optimum``.
``run(spec, year) -> ScenarioResult``
    Dispatch, bill, compare with the baseline.
``sweep(specs, year, n_workers=None, progress=True) -> polars.DataFrame``
    Many specs in parallel (Dask, processes); one row of :meth:`ScenarioResult.summary` per spec.

The household load and the EV
-----------------------------
A year's ``load_kwh`` is the household *without* the EV; ``ev_load_kwh`` is the EV charging
recorded in the data (the default year charges it on arrival).  A spec with an ``ev`` drops
the recorded EV charging and dispatches the modelled EV instead; a spec without one keeps
the recorded charging as a fixed load.

The baseline of a spec is the same year and tariff with no PV, no battery, and the spec's EV
charged immediately on arrival (or the recorded EV charging where the spec has no EV).
``savings = baseline bill - bill`` [currency per year].

ScenarioResult fields
---------------------
``spec``, ``flows`` (:class:`~energylib.dispatch.flows.Flows`), ``bill`` (monthly bill frame,
:data:`energylib.tariff.BILL_COLUMNS`), ``baseline_bill``, ``bill_total``,
``baseline_total``, ``savings``, ``annual_kwh`` (dict of flow totals), ``monthly`` (polars: month
x kWh flows x bill items), ``self_consumption_share`` (PV used on site / PV generated, NaN
without PV), ``self_sufficiency_share`` (1 - import / (load + EV charging)),
``battery_cycles`` (stored kWh discharged / nameplate kWh), ``ev_departures``,
``ev_departures_missed``, ``flows_frame`` (tidy per-interval polars frame, with
``ev_departure_missed`` per local day), ``summary()`` (one flat dict).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl

from energylib.dispatch import policies
from energylib.dispatch.assets import EV, EV_STRATEGIES, Battery, EVArrays, GridLimits
from energylib.dispatch.flows import Flows
from energylib.dispatch.optimum import OptimumOptions, optimise
from energylib.dispatch.rules import SelfConsumption, dispatch_rules
from energylib.schema import TIME
from energylib.site import SITES, Site
from energylib.tariff import AmberTariff, Calendar, MarketPrices, Tariff

if TYPE_CHECKING:  # pvlib is imported only where PV is computed: sweep workers never need it
    from energylib.solar import PVSystem

POLICY_NAMES = ("self_consumption", "price_threshold", "forecast", "optimum")
FLOW_COLUMNS = (
    "load_kwh",
    "pv_kwh",
    "pv_used_kwh",
    "pv_exported_kwh",
    "curtailed_kwh",
    "import_kwh",
    "export_kwh",
    "battery_charge_kwh",
    "battery_discharge_kwh",
    "ev_charge_kwh",
    "ev_discharge_kwh",
)


class ScenarioError(ValueError):
    """A scenario's inputs do not fit together; the message says what and how to fix it."""


# --------------------------------------------------------------------------- the year
@dataclass(eq=False)
class ScenarioYear:
    """A year (or any span) of inputs on one interval grid.

    Attributes
    ----------
    cal : Calendar
        Interval starts in UTC and local time; ``cal.interval_minutes`` [min].
    load_kwh : numpy.ndarray
        Household load without the EV [kWh per interval].
    ev_load_kwh : numpy.ndarray
        EV charging recorded in the data [kWh per interval] (zeros if none).
    market : MarketPrices
        ``general_per_kwh``, ``feed_in_per_kwh`` (Amber sign), ``spot_per_kwh`` [currency/kWh].
    site : Site
        Location and market.
    weather : pandas.DataFrame or None
        pvlib weather (``ghi, dni, dhi`` [W/m2], ``temp_air`` [degC], ``wind_speed`` [m/s]),
        indexed by interval starts; needed for any PV.
    currency : str
        Currency of the prices.
    description : str
        Where it came from.
    """

    cal: Calendar
    load_kwh: np.ndarray
    ev_load_kwh: np.ndarray
    market: MarketPrices
    site: Site
    weather: pd.DataFrame | None = None
    currency: str = "AUD"
    description: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.cal)
        self.load_kwh = np.ascontiguousarray(self.load_kwh, dtype=float)
        self.ev_load_kwh = np.ascontiguousarray(self.ev_load_kwh, dtype=float)
        for name in ("load_kwh", "ev_load_kwh"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ScenarioError(
                    f"ScenarioYear.{name} has {arr.shape} values; the calendar has {n} intervals"
                )
            if not np.isfinite(arr).all() or (arr < 0).any():
                bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
                raise ScenarioError(
                    f"ScenarioYear.{name}: {bad.size} NaN or negative values (first at local "
                    f"{self.cal.local[bad[0]]}); fill gaps with energylib.align.fill_gaps first"
                )
        if self.weather is not None and len(self.weather) != n:
            raise ScenarioError(
                f"ScenarioYear.weather has {len(self.weather)} rows; the calendar has {n}"
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        interval_start: np.ndarray | pl.Series,
        load_kwh: np.ndarray,
        site: Site,
        interval_minutes: int,
        *,
        general_per_kwh: np.ndarray | None = None,
        feed_in_per_kwh: np.ndarray | None = None,
        spot_per_kwh: np.ndarray | None = None,
        weather: pd.DataFrame | pl.DataFrame | None = None,
        ev_load_kwh: np.ndarray | None = None,
        currency: str = "AUD",
        description: str = "arrays",
    ) -> ScenarioYear:
        """A year from arrays (UTC interval starts, kWh, currency/kWh; canonical or pvlib weather)."""
        cal = Calendar.from_utc(interval_start, site.timezone, interval_minutes)
        if isinstance(weather, pl.DataFrame):
            from energylib.solar import to_pvlib_weather

            weather = to_pvlib_weather(weather, site.timezone)
        n = len(cal)
        return cls(
            cal=cal,
            load_kwh=load_kwh,
            ev_load_kwh=np.zeros(n) if ev_load_kwh is None else ev_load_kwh,
            market=MarketPrices(general_per_kwh, feed_in_per_kwh, spot_per_kwh),
            site=site,
            weather=weather,
            currency=currency,
            description=description,
        )

    @classmethod
    def from_frames(
        cls,
        frames: dict[str, tuple[pl.DataFrame, object]],
        site: Site,
        interval_minutes: int | None = None,
        *,
        description: str = "frames",
    ) -> ScenarioYear:
        """A year from ``{key: (frame, meta)}`` as ``default_year.generate`` returns.

        Keys used: ``load``, ``weather``, ``prices/general`` (plus ``prices/general/15min``
        where a series changes resolution), ``prices/feed_in`` (optional).  Prices are
        resampled to the load's interval length.
        """
        from energylib.align import resample

        if "load" not in frames:
            raise ScenarioError(f"frames lack 'load' (keys: {sorted(frames)})")
        load, lmeta = frames["load"]
        minutes = interval_minutes or lmeta.interval_minutes
        parts = {}
        for key in ("load", "weather", "prices/general", "prices/general/15min", "prices/feed_in"):
            if key not in frames:
                continue
            frame, meta = frames[key]
            if meta.interval_minutes != minutes:
                frame, meta = resample(frame, meta, minutes, energy_method="uniform")
            parts[key] = frame
        if "prices/general/15min" in parts:
            parts["prices/general"] = pl.concat(
                [parts.pop("prices/general"), parts.pop("prices/general/15min")],
                how="diagonal_relaxed",
            ).sort(TIME)
        return cls._assemble(parts, site, minutes, lmeta.currency or "AUD", description)

    @classmethod
    def _assemble(
        cls,
        parts: dict[str, pl.DataFrame],
        site: Site,
        minutes: int,
        currency: str,
        description: str,
    ):
        if "prices/general" not in parts:
            raise ScenarioError(
                f"{description}: no general-channel prices; store kind 'prices' channel 'general'"
            )
        load = parts["load"]
        cols = [pl.col("total_kwh")]
        if "ev_charging_kwh" in load.columns:
            cols = [
                (pl.col("total_kwh") - pl.col("ev_charging_kwh"))
                .clip(lower_bound=0.0)
                .alias("load_kwh"),
                pl.col("ev_charging_kwh").alias("ev_load_kwh"),
            ]
        else:
            cols = [pl.col("total_kwh").alias("load_kwh"), pl.lit(0.0).alias("ev_load_kwh")]
        frame = load.select(TIME, *cols)
        gen = parts["prices/general"]
        frame = frame.join(
            gen.select(
                TIME,
                pl.col("price_per_kwh").alias("general_per_kwh"),
                *([pl.col("spot_per_kwh")] if "spot_per_kwh" in gen.columns else []),
            ),
            on=TIME,
            how="left",
        )
        if "prices/feed_in" in parts:
            frame = frame.join(
                parts["prices/feed_in"].select(
                    TIME, pl.col("price_per_kwh").alias("feed_in_per_kwh")
                ),
                on=TIME,
                how="left",
            )
        wcols = ["ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_speed_m_s"]
        if "weather" in parts:
            w = parts["weather"]
            frame = frame.join(
                w.select(TIME, *[c for c in wcols if c in w.columns]), on=TIME, how="left"
            )
        frame = frame.sort(TIME)
        nulls = {c: k for c, k in zip(frame.columns, frame.null_count().row(0), strict=True) if k}
        if nulls:
            raise ScenarioError(
                f"{description}: {nulls} intervals of the load have no matching prices/weather; "
                "store them for the same span, or fill gaps (energylib.align.fill_gaps)"
            )
        weather = None
        if "weather" in parts:
            from energylib.solar import to_pvlib_weather

            weather = to_pvlib_weather(
                frame.select(TIME, *[c for c in wcols if c in frame.columns]), site.timezone
            )
        return cls(
            cal=Calendar.from_utc(frame[TIME], site.timezone, minutes),
            load_kwh=frame["load_kwh"].to_numpy(),
            ev_load_kwh=frame["ev_load_kwh"].to_numpy(),
            market=MarketPrices(
                frame["general_per_kwh"].to_numpy(),
                frame["feed_in_per_kwh"].to_numpy() if "feed_in_per_kwh" in frame.columns else None,
                frame["spot_per_kwh"].to_numpy() if "spot_per_kwh" in frame.columns else None,
            ),
            site=site,
            weather=weather,
            currency=currency,
            description=description,
        )

    # ------------------------------------------------------------------ views
    @property
    def interval_minutes(self) -> int:
        return self.cal.interval_minutes

    @property
    def local_times(self) -> np.ndarray:
        """Naive local interval starts (datetime64[m])."""
        return self.cal.local

    def __len__(self) -> int:
        return len(self.cal)

    def head_days(self, days: float) -> ScenarioYear:
        """The first ``days`` days (for quick tests)."""
        k = int(round(days * 1440 / self.interval_minutes))
        sl = slice(0, k)
        m = self.market
        return ScenarioYear(
            cal=Calendar(
                self.cal.interval_start[sl],
                self.cal.local[sl],
                self.interval_minutes,
                self.cal.timezone,
            ),
            load_kwh=self.load_kwh[sl],
            ev_load_kwh=self.ev_load_kwh[sl],
            market=MarketPrices(
                *(
                    None if a is None else a[sl]
                    for a in (m.general_per_kwh, m.feed_in_per_kwh, m.spot_per_kwh)
                )
            ),
            site=self.site,
            weather=None if self.weather is None else self.weather.iloc[sl],
            currency=self.currency,
            description=f"{self.description}, first {days} days",
        )

    def pv_kwh(self, system: PVSystem | None) -> np.ndarray:
        """AC energy of ``system`` per interval [kWh] (zeros for none), memoised.

        With no explicit inverter size, PVWatts output scales exactly with kWdc (the inverter
        scales with it), so one 1-kWdc run per orientation serves every size.
        """
        n = len(self)
        if system is None or system.kwdc == 0:
            return np.zeros(n)
        scalable = system.inverter_kwac is None
        base = (
            replace(system, kwdc=1.0, export_limit_kw=None)
            if scalable
            else replace(system, export_limit_kw=None)
        )
        key = ("pv", base)
        if key not in self._cache:
            if self.weather is None:
                raise ScenarioError(f"{self.description}: PV needs weather; this year has none")
            from energylib.solar import pv_ac_kwh, solar_position

            if "solpos" not in self._cache:
                self._cache["solpos"] = solar_position(
                    self.weather.index, self.site, self.interval_minutes
                )
            self._cache[key] = np.ascontiguousarray(
                pv_ac_kwh(
                    self.weather,
                    self.site,
                    base,
                    self.interval_minutes,
                    solpos=self._cache["solpos"],
                ),
                dtype=float,
            )
        return self._cache[key] * system.kwdc if scalable else self._cache[key]

    def for_workers(self) -> ScenarioYear:
        """A light copy to ship to worker processes: memoised PV, prices, EV arrays and
        baselines, without the weather (PV not yet memoised cannot be computed there)."""
        cache = {k: v for k, v in self._cache.items() if k != "solpos"}
        return ScenarioYear(
            cal=self.cal,
            load_kwh=self.load_kwh,
            ev_load_kwh=self.ev_load_kwh,
            market=self.market,
            site=self.site,
            weather=None,
            currency=self.currency,
            description=self.description,
            _cache=cache,
        )

    def prices(self, tariff: Tariff) -> tuple[np.ndarray, np.ndarray]:
        """The tariff's ``(import_per_kwh, export_credit_per_kwh)`` [currency/kWh], memoised."""
        key = ("prices", tariff)
        if key not in self._cache:
            imp, exp = tariff.interval_prices(self.cal, self.market)
            self._cache[key] = (
                np.ascontiguousarray(imp, dtype=float),
                np.ascontiguousarray(exp, dtype=float),
            )
        return self._cache[key]

    def ev_arrays(self, ev: EV) -> EVArrays:
        """The EV's driving per interval, memoised."""
        key = ("ev", ev)
        if key not in self._cache:
            self._cache[key] = ev.arrays(self.cal.local, self.interval_minutes)
        return self._cache[key]

    def __getstate__(self):
        # Pickle memoised arrays (PV, prices, baselines), not the solar-position frame.
        state = self.__dict__.copy()
        state["_cache"] = {k: v for k, v in self._cache.items() if k != "solpos"}
        return state


def _site_named(name: str, site: Site | None) -> Site:
    if site is not None:
        return site
    for s in SITES.values():
        if s.name == name:
            return s
    raise ScenarioError(
        f"unknown site {name!r}: pass site=Site(...) (known: {[s.name for s in SITES.values()]})"
    )


def load_year(
    store,
    source: str = "simulated",
    site: str = "default",
    year: int = 2025,
    interval_minutes: int = 5,
    *,
    site_spec: Site | None = None,
) -> ScenarioYear:
    """Read one site's calendar year from a store, on one interval grid.

    Parameters
    ----------
    store : ParquetStore (or anything with the same ``read``)
        Where the year is.
    source : str
        Store source (``simulated`` for the default year, ``amber`` ...).
    site : str
        Store site (``default`` = Sydney, ``nl-default`` = Amsterdam).
    year : int
        Calendar year in the site's local time.
    interval_minutes : int
        Interval length to read everything at [min] (prices and weather are resampled).
    site_spec : Site, optional
        Location for PV; looked up by name for the default sites.
    """
    s = _site_named(site, site_spec)
    start = pd.Timestamp(f"{year}-01-01", tz=s.timezone).tz_convert("UTC").to_pydatetime()
    end = pd.Timestamp(f"{year + 1}-01-01", tz=s.timezone).tz_convert("UTC").to_pydatetime()

    def read(kind: str, channel: str | None, required: bool = True):
        try:
            frame, meta = store.read(
                source, kind, start, end, site=site, channel=channel, resample_to=interval_minutes
            )
        except LookupError as err:
            if required:
                raise ScenarioError(f"load_year: {err}") from None
            return None, None
        return frame, meta

    load, lmeta = read("load", None)
    parts = {"load": load}
    gen, gmeta = read("prices", "general")
    parts["prices/general"] = gen
    feed, _ = read("prices", "feed_in", required=False)
    if feed is not None:
        parts["prices/feed_in"] = feed
    weather, _ = read("weather", None, required=False)
    if weather is not None:
        parts["weather"] = weather
    return ScenarioYear._assemble(
        parts,
        s,
        interval_minutes,
        gmeta.currency or "AUD",
        f"{source}/{site} {year} at {interval_minutes} min",
    )


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True, eq=False)
class ScenarioSpec:
    """What is installed and how it is run.

    Parameters
    ----------
    name : str
        Label in results.
    pv : PVSystem or None
        Rooftop PV (its ``export_limit_kw`` clips exports).
    battery : Battery or None
        Home battery.
    ev : EV or None
        Modelled EV (replaces the EV charging recorded in the year's load).
    ev_strategy : str
        ``immediate``, ``solar_only``, ``cheapest``, ``solar_cheapest``.
    v2h, v2g : bool
        Vehicle-to-home / vehicle-to-grid (need an EV).
    tariff : Tariff
        Retail tariff.
    policy : rule policy, OptimumOptions or str
        How the battery (and, for the optimum, the EV) is dispatched.
    grid : GridLimits
        Grid connection limits.
    """

    name: str = ""
    pv: PVSystem | None = None
    battery: Battery | None = None
    ev: EV | None = None
    ev_strategy: str = "immediate"
    v2h: bool = False
    v2g: bool = False
    tariff: Tariff = field(default_factory=AmberTariff)
    policy: object = field(default_factory=SelfConsumption)
    grid: GridLimits = field(default_factory=GridLimits)

    def __post_init__(self) -> None:
        if self.ev_strategy not in EV_STRATEGIES:
            raise ScenarioError(
                f"ScenarioSpec {self.name!r}: ev_strategy {self.ev_strategy!r}; use one of {EV_STRATEGIES}"
            )
        if (self.v2h or self.v2g) and self.ev is None:
            raise ScenarioError(f"ScenarioSpec {self.name!r}: V2H/V2G need an ev=EV(...)")
        if isinstance(self.policy, str) and self.policy not in POLICY_NAMES:
            raise ScenarioError(
                f"ScenarioSpec {self.name!r}: policy {self.policy!r}; use one of {POLICY_NAMES}"
            )

    @property
    def policy_object(self):
        """The policy as an object (names resolved with default settings)."""
        p = self.policy
        return policies.resolve(p) if isinstance(p, str) else p

    @property
    def policy_name(self) -> str:
        p = self.policy_object
        return "optimum" if isinstance(p, OptimumOptions) else getattr(p, "name", type(p).__name__)


# --------------------------------------------------------------------------- results
@dataclass(eq=False)
class ScenarioResult:
    """A scenario run: flows, bill, baseline, shares (see the module docstring)."""

    spec: ScenarioSpec
    flows: Flows
    bill: pl.DataFrame
    baseline_bill: pl.DataFrame
    cal: Calendar
    battery_capacity_kwh: float = 0.0
    battery_discharge_efficiency: float = 1.0

    @property
    def bill_total(self) -> float:
        """Annual bill [currency]."""
        return float(self.bill["total_cost"].sum())

    @property
    def baseline_total(self) -> float:
        """Baseline's annual bill [currency]."""
        return float(self.baseline_bill["total_cost"].sum())

    @property
    def savings(self) -> float:
        """Baseline bill minus this bill [currency]."""
        return self.baseline_total - self.bill_total

    @cached_property
    def annual_kwh(self) -> dict[str, float]:
        """Totals of every flow [kWh]."""
        return self.flows.totals_kwh()

    @property
    def self_consumption_share(self) -> float:
        """PV used on site / PV generated [0-1]; NaN without PV."""
        pv = self.annual_kwh["pv_kwh"]
        return self.annual_kwh["pv_used_kwh"] / pv if pv > 0 else math.nan

    @property
    def self_sufficiency_share(self) -> float:
        """Share of the home's consumption (load + EV charging) not imported [0-1]."""
        a = self.annual_kwh
        use = a["load_kwh"] + a["ev_charge_kwh"]
        return min(max(1.0 - a["import_kwh"] / use, 0.0), 1.0) if use > 0 else math.nan

    @property
    def battery_cycles(self) -> float:
        """Full cycle-equivalents: stored kWh discharged / nameplate kWh."""
        if self.battery_capacity_kwh <= 0:
            return 0.0
        return (
            self.annual_kwh["battery_discharge_kwh"]
            / self.battery_discharge_efficiency
            / self.battery_capacity_kwh
        )

    @property
    def ev_departures(self) -> int:
        return int(self.flows.departures.size)

    @property
    def ev_departures_missed(self) -> int:
        return int(self.flows.departures_missed.size)

    @cached_property
    def flows_frame(self) -> pl.DataFrame:
        """Per-interval flows, tidy, with ``ev_departure_missed`` per local day."""
        return self.flows.to_frame(self.cal.interval_start, self.cal.local_date)

    @cached_property
    def monthly(self) -> pl.DataFrame:
        """Per local month: kWh flows and the bill's items."""
        f = self.flows
        month = pl.Series("month", self.cal.local_month.astype(str))
        kwh = (
            pl.DataFrame({"month": month, **{c: getattr(f, c) for c in FLOW_COLUMNS}})
            .group_by("month", maintain_order=True)
            .sum()
        )
        return kwh.join(self.bill.drop("import_kwh", "export_kwh"), on="month", how="left")

    def summary(self) -> dict:
        """One flat row: the spec's labels and the headline numbers."""
        s = self.spec
        a = self.annual_kwh
        return {
            "name": s.name,
            "pv_kwdc": s.pv.kwdc if s.pv else 0.0,
            "battery_kwh": s.battery.capacity_kwh if s.battery else 0.0,
            "ev": s.ev is not None,
            "ev_strategy": s.ev_strategy if s.ev else "recorded",
            "v2h": s.v2h,
            "v2g": s.v2g,
            "tariff": s.tariff.name,
            "policy": s.policy_name,
            "bill_total": self.bill_total,
            "baseline_total": self.baseline_total,
            "savings": self.savings,
            "load_kwh": a["load_kwh"],
            "pv_kwh": a["pv_kwh"],
            "pv_used_kwh": a["pv_used_kwh"],
            "curtailed_kwh": a["curtailed_kwh"],
            "import_kwh": a["import_kwh"],
            "export_kwh": a["export_kwh"],
            "ev_charge_kwh": a["ev_charge_kwh"],
            "ev_discharge_kwh": a["ev_discharge_kwh"],
            "self_consumption_share": self.self_consumption_share,
            "self_sufficiency_share": self.self_sufficiency_share,
            "battery_cycles": self.battery_cycles,
            "ev_departures": self.ev_departures,
            "ev_departures_missed": self.ev_departures_missed,
        }


# --------------------------------------------------------------------------- running
def _dispatch(
    spec: ScenarioSpec, year: ScenarioYear, pv: np.ndarray, battery, ev_strategy: str, policy
) -> Flows:
    imp, exp = year.prices(spec.tariff)
    load = year.load_kwh if spec.ev is not None else year.load_kwh + year.ev_load_kwh
    common = dict(
        battery=battery,
        ev=spec.ev,
        ev_arrays=year.ev_arrays(spec.ev) if spec.ev is not None else None,
        v2h=spec.v2h,
        v2g=spec.v2g,
        grid=spec.grid,
        export_limit_kw=spec.pv.export_limit_kw if spec.pv is not None else None,
    )
    if isinstance(policy, OptimumOptions):
        return optimise(load, pv, imp, exp, year.interval_minutes, options=policy, **common)
    return dispatch_rules(
        load, pv, imp, exp, year.interval_minutes, policy=policy, ev_strategy=ev_strategy, **common
    )


def baseline_bill(spec: ScenarioSpec, year: ScenarioYear) -> pl.DataFrame:
    """The bill with no PV and no battery, the EV charged on arrival (memoised per year)."""
    key = ("baseline", spec.tariff, spec.ev, spec.grid)
    if key not in year._cache:
        base = replace(spec, pv=None, battery=None, ev_strategy="immediate", v2h=False, v2g=False)
        flows = _dispatch(base, year, np.zeros(len(year)), None, "immediate", SelfConsumption())
        year._cache[key] = spec.tariff.bill(
            flows.import_kwh, flows.export_kwh, year.cal, prices=year.prices(spec.tariff)
        )
    return year._cache[key]


def run(spec: ScenarioSpec, year: ScenarioYear) -> ScenarioResult:
    """Dispatch one scenario over a year, bill it and compare it with its baseline.

    Parameters
    ----------
    spec : ScenarioSpec
        What is installed, the tariff and the policy.
    year : ScenarioYear
        The inputs.

    Returns
    -------
    ScenarioResult
    """
    pv = year.pv_kwh(spec.pv)
    flows = _dispatch(spec, year, pv, spec.battery, spec.ev_strategy, spec.policy_object)
    bill = spec.tariff.bill(
        flows.import_kwh, flows.export_kwh, year.cal, prices=year.prices(spec.tariff)
    )
    b = spec.battery
    return ScenarioResult(
        spec=spec,
        flows=flows,
        bill=bill,
        baseline_bill=baseline_bill(spec, year),
        cal=year.cal,
        battery_capacity_kwh=b.capacity_kwh if b else 0.0,
        battery_discharge_efficiency=b.eta_one_way if b else 1.0,
    )


def _run_partition(items: list[tuple[int, ScenarioSpec]], year: ScenarioYear) -> list[dict]:
    return [{"index": i, **run(spec, year).summary()} for i, spec in items]


def sweep(
    specs: list[ScenarioSpec],
    year: ScenarioYear,
    *,
    n_workers: int | None = None,
    progress: bool = True,
    partitions_per_worker: int = 2,
) -> pl.DataFrame:
    """Run many scenarios in parallel with Dask (process scheduler) and tabulate them.

    PV per orientation, tariff prices, EV arrays and baselines are computed once here and
    shipped with the year, so each worker only dispatches and bills.

    Parameters
    ----------
    specs : list of ScenarioSpec
        The combinations (PV sizes x batteries x EV strategies x tariffs ...).
    year : ScenarioYear
        The inputs.
    n_workers : int, optional
        Processes (default: the machine's cores); 1 runs in this process.
    progress : bool
        Show Dask's progress bar.
    partitions_per_worker : int
        Chunks per worker (more: smoother progress, more shipping of the year).

    Returns
    -------
    polars.DataFrame
        One :meth:`ScenarioResult.summary` row per spec, in the order given.
    """
    import dask
    import dask.bag as db
    from dask.diagnostics import ProgressBar

    specs = list(specs)
    if not specs:
        return pl.DataFrame()
    for s in specs:  # warm the shared caches once, in this process
        year.pv_kwh(s.pv)
        year.prices(s.tariff)
        if s.ev is not None:
            year.ev_arrays(s.ev)
        baseline_bill(s, year)
    n_workers = n_workers or os.cpu_count() or 1
    items = list(enumerate(specs))
    year = year.for_workers()
    if n_workers == 1:
        rows = _run_partition(items, year)
    else:
        nparts = min(len(items), n_workers * partitions_per_worker)
        bag = db.from_sequence(items, npartitions=nparts).map_partitions(_run_partition, year)
        with dask.config.set(scheduler="processes", num_workers=n_workers):
            if progress:
                with ProgressBar():
                    rows = bag.compute()
            else:
                rows = bag.compute()
    return pl.DataFrame(sorted(rows, key=lambda r: r["index"])).drop("index")
