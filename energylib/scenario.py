"""Scenarios: a year of inputs, what is installed, how it is dispatched -> flows, bill, savings.

The one orchestrator on top of :mod:`energylib.solar`, :mod:`energylib.tariff` and
:mod:`energylib.dispatch`.

API (used by the studies and notebooks)
---------------------------------------
``ScenarioYear.from_frame(frame, site, interval_minutes, ...)``
    From one frame of every input on one grid (:data:`INPUT_COLUMNS`); the study reads the
    store into it (:mod:`energylib.study.inputs`).
``ScenarioYear.from_frames(frames, site, interval_minutes=None)``
    From ``energylib.simulate.default_year.generate(...)``'s dict of frames.
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
    Dispatch, bill, compare with the baseline; memoised per year (specs compare by value,
    their names aside), so a study or a sweep never dispatches the same thing twice.
``sweep(specs, year, n_workers=None, progress=True) -> polars.DataFrame``
    Many specs in parallel (Dask, processes); one row of :meth:`ScenarioResult.summary` per spec.

The household load, existing PV and the EV
------------------------------------------
A year's ``load_kwh`` is the household *without* the EV; ``ev_load_kwh`` is the EV charging
recorded in the data (the default year charges it on arrival).  A spec with an ``ev`` drops
the recorded EV charging and dispatches the modelled EV instead; a spec without one keeps
the recorded charging as a fixed load.  ``existing_pv_kwh`` is the measured generation of a
system the home already has: it is part of every scenario, the baseline included, and a
spec's ``pv`` is added on top of it.

The baseline of a spec is the same year and tariff with no new PV, no battery, and the spec's
EV charged immediately on arrival (or the recorded EV charging where the spec has no EV).
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
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl

from energylib.dispatch import policies
from energylib.dispatch.assets import EV, EV_STRATEGIES, Battery, EVArrays, GridLimits
from energylib.dispatch.flows import Flows
from energylib.dispatch.mpc import MPCPolicy, PriceModel, run_mpc
from energylib.dispatch.optimum import OptimumOptions, optimise
from energylib.dispatch.rules import SelfConsumption, dispatch_rules
from energylib.schema import TIME
from energylib.site import Site
from energylib.tariff import AmberTariff, Calendar, MarketPrices, Tariff

if TYPE_CHECKING:  # pvlib is imported only where PV is computed: sweep workers never need it
    from energylib.solar import PVSystem

#: How much of dispatched flows :func:`run` keeps memoised per year [bytes].
RUN_MEMO_BYTES = 256 * 2**20
POLICY_NAMES = ("self_consumption", "price_threshold", "forecast", "optimum", "mpc")
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


WEATHER_COLUMNS = ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_speed_m_s")
#: The columns of :meth:`ScenarioYear.from_frame` besides ``interval_start``.
INPUT_COLUMNS = (
    "load_kwh",
    "ev_load_kwh",
    "existing_pv_kwh",
    "general_per_kwh",
    "feed_in_per_kwh",
    "spot_per_kwh",
    *WEATHER_COLUMNS,
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
    existing_pv_kwh : numpy.ndarray
        Measured AC generation of PV the home already has [kWh per interval] (zeros if none).
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
    existing_pv_kwh: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.cal)
        self.load_kwh = np.ascontiguousarray(self.load_kwh, dtype=float)
        self.ev_load_kwh = np.ascontiguousarray(self.ev_load_kwh, dtype=float)
        self.existing_pv_kwh = np.ascontiguousarray(
            np.zeros(n) if self.existing_pv_kwh is None else self.existing_pv_kwh, dtype=float
        )
        for name in ("load_kwh", "ev_load_kwh", "existing_pv_kwh"):
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
    def from_frame(
        cls,
        frame: pl.DataFrame,
        site: Site,
        interval_minutes: int,
        *,
        currency: str = "AUD",
        description: str = "frame",
    ) -> ScenarioYear:
        """A year from one frame of every input on one grid.

        ``frame`` has ``interval_start`` (UTC) and the :data:`INPUT_COLUMNS` it has data
        for: ``load_kwh`` (required), ``ev_load_kwh``, ``existing_pv_kwh``,
        ``general_per_kwh`` / ``feed_in_per_kwh`` (Amber's sign) / ``spot_per_kwh``
        [currency/kWh] and the weather columns; no nulls.
        """
        unknown = set(frame.columns) - set(INPUT_COLUMNS) - {TIME}
        if unknown or "load_kwh" not in frame.columns:
            raise ScenarioError(
                f"{description}: from_frame needs load_kwh and takes only {INPUT_COLUMNS}; "
                f"got {frame.columns}"
            )
        frame = frame.sort(TIME)
        nulls = {c: k for c, k in zip(frame.columns, frame.null_count().row(0), strict=True) if k}
        if nulls:
            raise ScenarioError(
                f"{description}: {nulls} intervals have no value; store the inputs for the same span, "
                "or fill the gaps (energylib.align.fill_gaps)"
            )

        def col(name: str) -> np.ndarray | None:
            return frame[name].to_numpy() if name in frame.columns else None

        weather = None
        present = [c for c in WEATHER_COLUMNS if c in frame.columns]
        if present:
            from energylib.solar import to_pvlib_weather  # pvlib is slow to import

            weather = to_pvlib_weather(frame.select(TIME, *present), site.timezone)
        n = frame.height
        return cls(
            cal=Calendar.from_utc(frame[TIME], site.timezone, interval_minutes),
            load_kwh=col("load_kwh"),
            ev_load_kwh=col("ev_load_kwh") if "ev_load_kwh" in frame.columns else np.zeros(n),
            existing_pv_kwh=col("existing_pv_kwh"),
            market=MarketPrices(
                col("general_per_kwh"), col("feed_in_per_kwh"), col("spot_per_kwh")
            ),
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
            part, meta = frames[key]
            if meta.interval_minutes != minutes:
                part, meta = resample(part, meta, minutes, energy_method="uniform")
            parts[key] = part
        if "prices/general/15min" in parts:
            parts["prices/general"] = pl.concat(
                [parts.pop("prices/general"), parts.pop("prices/general/15min")],
                how="diagonal_relaxed",
            ).sort(TIME)
        if "prices/general" not in parts:
            raise ScenarioError(f"{description}: no general-channel prices (key 'prices/general')")
        load = parts["load"]
        ev = pl.col("ev_charging_kwh") if "ev_charging_kwh" in load.columns else pl.lit(0.0)
        frame = load.select(
            TIME,
            (pl.col("total_kwh") - ev).clip(lower_bound=0.0).alias("load_kwh"),
            ev.alias("ev_load_kwh"),
        )
        gen = parts["prices/general"]
        prices = [pl.col("price_per_kwh").alias("general_per_kwh")]
        if "spot_per_kwh" in gen.columns:
            prices.append(pl.col("spot_per_kwh"))
        frame = frame.join(gen.select(TIME, *prices), on=TIME, how="left")
        if "prices/feed_in" in parts:
            feed = parts["prices/feed_in"].select(
                TIME, pl.col("price_per_kwh").alias("feed_in_per_kwh")
            )
            frame = frame.join(feed, on=TIME, how="left")
        if "weather" in parts:
            w = parts["weather"]
            frame = frame.join(
                w.select(TIME, *[c for c in WEATHER_COLUMNS if c in w.columns]), on=TIME, how="left"
            )
        return cls.from_frame(
            frame, site, minutes, currency=lmeta.currency or "AUD", description=description
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
            existing_pv_kwh=self.existing_pv_kwh[sl],
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
            from energylib.solar import pv_ac_kwh

            # solar.solar_position caches the sun per site, period and the model's convention
            self._cache[key] = np.ascontiguousarray(
                pv_ac_kwh(self.weather, self.site, base, self.interval_minutes), dtype=float
            )
        return self._cache[key] * system.kwdc if scalable else self._cache[key]

    def for_workers(self) -> ScenarioYear:
        """A light copy to ship to worker processes: memoised PV, prices, EV arrays and
        baselines, without the weather (PV not yet memoised cannot be computed there)."""
        cache = _shippable(self._cache)
        return ScenarioYear(
            cal=self.cal,
            load_kwh=self.load_kwh,
            ev_load_kwh=self.ev_load_kwh,
            existing_pv_kwh=self.existing_pv_kwh,
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

    def price_model(self, tariff: Tariff) -> tuple[PriceModel, dict[str, np.ndarray]]:
        """The tariff's prices as affine functions of the market's price channels, and those
        channels (for MPC's forecasts of market prices), memoised."""
        key = ("price_model", tariff)
        if key not in self._cache:
            m = self.market
            channels = {
                c: np.asarray(getattr(m, c), dtype=float)
                for c in ("general_per_kwh", "feed_in_per_kwh", "spot_per_kwh")
                if getattr(m, c) is not None
            }
            self._cache[key] = (PriceModel.from_tariff(tariff, self.cal, m), channels)
        return self._cache[key]

    def ev_arrays(self, ev: EV) -> EVArrays:
        """The EV's driving per interval, memoised."""
        key = ("ev", ev)
        if key not in self._cache:
            self._cache[key] = ev.arrays(self.cal.local, self.interval_minutes)
        return self._cache[key]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = _shippable(self._cache)
        return state


def _shippable(cache: dict) -> dict:
    """Memoised arrays (PV, prices, EV arrays, baselines) worth shipping to a worker: not the
    solar-position frame, nor whole dispatched runs."""
    return {k: v for k, v in cache.items() if k not in ("solpos", "runs")}


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class ScenarioSpec:
    """What is installed and how it is run.

    Specs compare and hash by what they install and how they run (the name aside), so
    :func:`run` memoises them.

    Parameters
    ----------
    name : str
        Label in results (not part of the spec's identity).
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
    pv_factor : float
        Share of ``pv``'s output left after degradation [0-1] (a later year of the system).
    """

    name: str = field(default="", compare=False)
    pv: PVSystem | None = None
    battery: Battery | None = None
    ev: EV | None = None
    ev_strategy: str = "immediate"
    v2h: bool = False
    v2g: bool = False
    tariff: Tariff = field(default_factory=AmberTariff)
    policy: object = field(default_factory=SelfConsumption)
    grid: GridLimits = field(default_factory=GridLimits)
    pv_factor: float = 1.0

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
    """Dispatch with ``pv`` [kWh per interval] on top of the home's existing PV."""
    pv = pv + year.existing_pv_kwh
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
    if isinstance(policy, MPCPolicy):
        # forecasts are of the market's prices, priced through the tariff as the bill is
        prices, market = year.price_model(spec.tariff)
        return run_mpc(
            load, pv, imp, exp, year.interval_minutes, policy=policy, prices=prices, market=market,
            **common,
        ).flows  # fmt: skip
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

    Memoised in ``year``: a spec equal to one already run (names aside) returns that
    run's result, relabelled.  The memo keeps the most recent runs up to
    :data:`RUN_MEMO_BYTES` of flows (a few dozen 5-min years); an older one is dispatched
    again when asked for (milliseconds with rule policies).

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
    memo: OrderedDict = year._cache.setdefault("runs", OrderedDict())
    if spec in memo:
        memo.move_to_end(spec)
        result = memo[spec]
    else:
        result = memo[spec] = _run(spec, year)
        # Each run holds its flows (about 16 arrays a year): keep the most recent ones only.
        limit = max(4, RUN_MEMO_BYTES // max(len(year) * 8 * 16, 1))
        while len(memo) > limit:
            memo.popitem(last=False)
    return result if result.spec.name == spec.name else replace(result, spec=spec)


def _run(spec: ScenarioSpec, year: ScenarioYear) -> ScenarioResult:
    pv = year.pv_kwh(spec.pv) * spec.pv_factor
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
