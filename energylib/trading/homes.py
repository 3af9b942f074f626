"""A community's inputs: the year it trades in, and its homes' load, PV, batteries and limits.

:class:`MarketYear`
    The shared inputs: the interval calendar, the grid's price signal (the retail import
    price and the feed-in credit of one tariff, built by :mod:`energylib.tariff` through
    :meth:`energylib.scenario.ScenarioYear.prices`), and the site's weather and PV per kWdc
    for modelled homes.  :func:`market_year` builds it from the generated default year
    (NEM or Dutch prices, offline) or from any price series in a store.
:class:`Community`
    ``N`` homes on that calendar: load and PV as ``(T, N)`` arrays (time-major, so an
    interval is one contiguous row), one :class:`~energylib.dispatch.assets.Battery` (or
    none) per home and the grid limits of every connection
    (:class:`~energylib.dispatch.assets.GridLimits`).

Homes
-----
:func:`citylearn_community`
    The 17 CityLearn 2022 homes: measured load and PV; each battery's size and power from
    the buildings' ``schema.json``, its efficiency and window from the trading design.
:func:`sgsc_community`
    The Smart Grid Smart City trial's households (load only) with PV modelled by
    :mod:`energylib.solar` on the year's weather and batteries, both by the seeded
    assignment :func:`assign_assets`.
:func:`generated_community`
    Homes from the simulator (:func:`energylib.simulate.load.generate_load`) with seeded
    heterogeneity (:class:`HomeMix`): consumption, PV or not and its size, battery or not,
    EV or not.  Home ``i`` depends only on ``(seed, i)``, so a community of any size is the
    same homes however it is split into feeders.

Real homes come from other years (CityLearn 2016-17, SGSC 2012-14): :func:`place_on_calendar`
gives every interval of the study year the home's reading at the same local date and
clock time (the most recent one where the data has several years), optionally shifted by
whole months (``shift_months=6`` puts a Californian summer into an Australian one).
Intervals the data lacks are filled from the same time on the nearest day before (then
after) with data, at most ``max_fill_days`` away (:func:`fill_from_nearby_days`), and
counted in ``Community.filled_share``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from energylib.align import resample
from energylib.dispatch.assets import Battery, GridLimits
from energylib.ingest.households import read_citylearn_buildings, read_sgsc_households
from energylib.scenario import ScenarioYear
from energylib.schema import TIME, FrameMeta
from energylib.site import Site, site_for_market
from energylib.store import Store
from energylib.tariff import AmberTariff, Calendar, DynamicEUTariff, Tariff, bill_from_prices

#: The trading design's battery: 13.5 kWh, 5 kW each way, 90 % round trip, SoC 10-80 %.
TRADING_BATTERY = Battery(
    capacity_kwh=13.5,
    charge_kw=5.0,
    discharge_kw=5.0,
    round_trip_efficiency=0.90,
    soc_min_fraction=0.10,
    soc_max_fraction=0.80,
    initial_soc_fraction=0.45,
)
#: The trading design's connection: import 10 kWh and export 4 kWh per 30-min interval.
TRADING_GRID = GridLimits(
    import_kwh_per_interval=10.0, export_kwh_per_interval=4.0, per_interval_minutes=30
)
MAX_FILL_DAYS = 7


class HomesError(ValueError):
    """Homes that cannot be placed on the study year; says which home and what to do."""


# --------------------------------------------------------------------------- the year
@dataclass(frozen=True, eq=False)
class MarketYear:
    """The interval calendar and grid price signal every home of a community shares.

    Attributes
    ----------
    cal : Calendar
        Interval starts (UTC and local); ``cal.interval_minutes`` [min].
    import_per_kwh : numpy.ndarray
        Retail price of an imported kWh per interval [currency/kWh].
    export_credit_per_kwh : numpy.ndarray
        What an exported kWh earns per interval [currency/kWh] (negative: exporting costs).
    site : Site
        Where the community is.
    currency : str
        Currency of the prices.
    tariff : Tariff
        The tariff the prices come from (its fixed charges go on every bill).
    weather : pandas.DataFrame or None
        pvlib weather (``ghi``, ``temp_air`` ...) indexed by local interval starts, for
        generated homes.
    pv_kwh_per_kwdc : numpy.ndarray or None
        Modelled AC output of 1 kWdc facing the equator [kWh per interval per kWdc].
    description : str
        Where the prices came from.
    """

    cal: Calendar
    import_per_kwh: np.ndarray
    export_credit_per_kwh: np.ndarray
    site: Site
    currency: str
    tariff: Tariff
    weather: pd.DataFrame | None = None
    pv_kwh_per_kwdc: np.ndarray | None = None
    description: str = ""

    def __post_init__(self) -> None:
        n = len(self.cal)
        for name in ("import_per_kwh", "export_credit_per_kwh", "pv_kwh_per_kwdc"):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.ascontiguousarray(arr, dtype=float)
            object.__setattr__(self, name, arr)
            if arr.shape != (n,) or not np.isfinite(arr).all():
                raise ValueError(
                    f"MarketYear.{name} needs {n} finite values (one per interval), got shape {arr.shape}"
                )

    def __len__(self) -> int:
        return len(self.cal)

    @property
    def interval_minutes(self) -> int:
        return self.cal.interval_minutes

    @classmethod
    def from_scenario_year(
        cls, year: ScenarioYear, tariff: Tariff, *, pv_tilt_deg: float = 20.0
    ) -> MarketYear:
        """From an :class:`energylib.scenario.ScenarioYear` and a tariff (the scenario
        engine's prices, PV per kWdc where the year has weather)."""
        from energylib.solar import PVSystem  # slow import (pvlib), only where PV is modelled

        imp, exp = year.prices(tariff)
        pv = year.pv_kwh(PVSystem(1.0, tilt_deg=pv_tilt_deg)) if year.weather is not None else None
        return cls(
            cal=year.cal,
            import_per_kwh=imp,
            export_credit_per_kwh=exp,
            site=year.site,
            currency=year.currency,
            tariff=tariff,
            weather=year.weather,
            pv_kwh_per_kwdc=pv,
            description=year.description,
        )

    def window(self, start_day: float = 0.0, days: float | None = None) -> MarketYear:
        """``days`` days from ``start_day`` days after the first interval (all when None)."""
        per_day = 1440 // self.interval_minutes
        a = int(round(start_day * per_day))
        b = len(self) if days is None else min(len(self), a + int(round(days * per_day)))
        if not 0 <= a < b:
            raise ValueError(
                f"window start_day={start_day}, days={days} is outside the year's {len(self) / per_day:.0f} days"
            )
        sl = slice(a, b)
        cal = Calendar(
            self.cal.interval_start[sl],
            self.cal.local[sl],
            self.interval_minutes,
            self.cal.timezone,
        )
        return replace(
            self,
            cal=cal,
            import_per_kwh=self.import_per_kwh[sl],
            export_credit_per_kwh=self.export_credit_per_kwh[sl],
            weather=None if self.weather is None else self.weather.iloc[sl],
            pv_kwh_per_kwdc=None if self.pv_kwh_per_kwdc is None else self.pv_kwh_per_kwdc[sl],
            description=f"{self.description}, days {start_day:g}-{start_day + (b - a) / per_day:g}",
        )

    def fixed_charges(self) -> float:
        """The tariff's supply charges and fees over the calendar, less its tax credit [currency]."""
        z = np.zeros(len(self))
        bill = bill_from_prices(
            z,
            z,
            self.import_per_kwh,
            self.export_credit_per_kwh,
            self.cal,
            daily_supply_per_day=self.tariff.daily_supply_per_day,
            monthly_fee=self.tariff.monthly_fee,
            annual_tax_credit=self.tariff.annual_tax_credit,
        )
        return float(bill["total_cost"].sum())


def market_year(
    market: str = "nem",
    tariff: Tariff | None = None,
    *,
    year: int = 2025,
    interval_minutes: int = 30,
    seed: int | None = None,
    store: Store | None = None,
    store_source: str = "simulated",
    store_site: str | None = None,
) -> MarketYear:
    """The year a community trades in.

    Parameters
    ----------
    market : {'nem', 'nl'}
        Site and market: Sydney (AUD) or Amsterdam (EUR).
    tariff : Tariff, optional
        Default: :class:`~energylib.tariff.AmberTariff` (nem) or
        :class:`~energylib.tariff.DynamicEUTariff` (nl).
    year : int
        Calendar year (the default year is 2025).
    interval_minutes : int
        5, 15, 30 or 60 [min].
    seed : int, optional
        Seed of the generated default year (default: its own).
    store : Store, optional
        Read prices (and weather where stored) from this store instead of generating the
        default year: ``store_source`` / ``store_site`` pick the series (kind ``prices``,
        channels ``general`` and, where present, ``feed_in``).
    """
    # slow import (pvlib, the price models), only where a year is built
    from energylib.simulate.default_year import DEFAULT_SEED, generate, year_bounds

    site = site_for_market(market)
    tariff = tariff or (AmberTariff() if market == "nem" else DynamicEUTariff())
    seed = DEFAULT_SEED if seed is None else seed
    if store is None:
        frames = generate(market, seed=seed, year=year, interval_minutes=interval_minutes)
        sy = ScenarioYear.from_frames(
            frames, site, interval_minutes, description=f"default year {year} ({market})"
        )
        return MarketYear.from_scenario_year(sy, tariff)
    start, end = year_bounds(site, year)
    name = store_site or site.name

    def read(kind: str, channel: str) -> pl.DataFrame | None:
        try:
            frame, _ = store.read(
                store_source,
                kind,
                start.to_pydatetime(),
                end.to_pydatetime(),
                site=name,
                channel=channel,
                resample_to=interval_minutes,
            )
        except LookupError:
            return None
        return frame

    general = read("prices", "general")
    if general is None or general.height == 0:
        raise HomesError(
            f"no prices in {store!r} for source {store_source!r}, site {name!r}, {year}; "
            "store them (energy backfill ...) or use the default year"
        )
    feed_in = read("prices", "feed_in")
    weather = read("weather", "general")
    if weather is None:
        # PV of modelled homes needs weather: the site's generated weather, named in the description
        gen = generate(market, seed=seed, year=year, interval_minutes=interval_minutes)
        weather = gen["weather"][0]
        wdesc = "default-year weather"
    else:
        wdesc = "stored weather"
    frame = general.select(
        TIME,
        pl.col("price_per_kwh").alias("general_per_kwh"),
        *([pl.col("spot_per_kwh")] if "spot_per_kwh" in general.columns else []),
    )
    if feed_in is not None:
        frame = frame.join(
            feed_in.select(TIME, pl.col("price_per_kwh").alias("feed_in_per_kwh")), on=TIME
        )
    frame = frame.join(weather, on=TIME, how="inner").sort(TIME)
    sy = ScenarioYear.from_arrays(
        frame[TIME],
        np.zeros(frame.height),
        site,
        interval_minutes,
        general_per_kwh=frame["general_per_kwh"].to_numpy(),
        feed_in_per_kwh=frame["feed_in_per_kwh"].to_numpy() if feed_in is not None else None,
        spot_per_kwh=frame["spot_per_kwh"].to_numpy() if "spot_per_kwh" in frame.columns else None,
        weather=frame.select(TIME, *[c for c in weather.columns if c != TIME]),
        currency="AUD" if market == "nem" else "EUR",
        description=f"store {store_source}/{name} prices {year}, {wdesc}",
    )
    try:
        return MarketYear.from_scenario_year(sy, tariff)
    except ValueError as err:
        raise HomesError(f"store {store_source}/{name}: {err}") from None


# --------------------------------------------------------------------------- the community
@dataclass(frozen=True, eq=False)
class Community:
    """``N`` homes trading over one :class:`MarketYear`.

    Attributes
    ----------
    year : MarketYear
        Calendar and grid prices.
    names : tuple of str
        One name per home.
    load_kwh, pv_kwh : numpy.ndarray
        Consumption and PV AC output, shape ``(T, N)`` [kWh per interval].
    batteries : tuple of (Battery or None)
        Each home's battery.
    grid : GridLimits
        Every connection's import and export limits.
    filled_share : numpy.ndarray
        Share of each home's intervals filled from nearby days (0 for generated homes).
    description : str
        Where the homes came from.
    """

    year: MarketYear
    names: tuple[str, ...]
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    batteries: tuple[Battery | None, ...]
    grid: GridLimits = TRADING_GRID
    filled_share: np.ndarray | None = None
    description: str = ""

    def __post_init__(self) -> None:
        t, n = len(self.year), len(self.names)
        for name in ("load_kwh", "pv_kwh"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=float)
            object.__setattr__(self, name, arr)
            if arr.shape != (t, n):
                raise HomesError(
                    f"Community.{name} has shape {arr.shape}; expected ({t} intervals, {n} homes)"
                )
            bad = ~np.isfinite(arr) | (arr < 0)
            if bad.any():
                i, h = np.argwhere(bad)[0]
                raise HomesError(
                    f"Community.{name}: {int(bad.sum())} NaN or negative values, first for home "
                    f"{self.names[h]!r} at local {self.year.cal.local[i]}; fill gaps first"
                )
        if len(self.batteries) != n:
            raise HomesError(f"Community has {n} homes but {len(self.batteries)} batteries")
        if self.filled_share is None:
            object.__setattr__(self, "filled_share", np.zeros(n))

    @property
    def n_homes(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.year)

    def subset(self, homes: list[int] | np.ndarray | slice, description: str = "") -> Community:
        """The community of some of the homes (a feeder)."""
        idx = np.arange(self.n_homes)[homes]
        return replace(
            self,
            names=tuple(self.names[i] for i in idx),
            load_kwh=self.load_kwh[:, idx],
            pv_kwh=self.pv_kwh[:, idx],
            batteries=tuple(self.batteries[i] for i in idx),
            filled_share=self.filled_share[idx],
            description=description or f"{self.description}, {idx.size} homes",
        )

    def window(self, start_day: float = 0.0, days: float | None = None) -> Community:
        """The same homes over ``days`` days from ``start_day`` (see :meth:`MarketYear.window`)."""
        per_day = 1440 // self.year.interval_minutes
        year = self.year.window(start_day, days)
        a = int(round(start_day * per_day))
        sl = slice(a, a + len(year))
        return replace(self, year=year, load_kwh=self.load_kwh[sl], pv_kwh=self.pv_kwh[sl])

    def homes_frame(self) -> pl.DataFrame:
        """One row per home: annual load and PV [kWh], battery size [kWh] and power [kW]."""
        return pl.DataFrame(
            {
                "household": list(self.names),
                "load_kwh": self.load_kwh.sum(axis=0),
                "pv_kwh": self.pv_kwh.sum(axis=0),
                "battery_kwh": [0.0 if b is None else b.capacity_kwh for b in self.batteries],
                "battery_kw": [0.0 if b is None else b.discharge_kw for b in self.batteries],
                "filled_share": self.filled_share,
            }
        )


# --------------------------------------------------------------------------- placement
def _calendar_keys(local: np.ndarray, shift_months: int = 0) -> np.ndarray:
    """``(month, day, minute of day)`` of naive local times as one integer, months shifted."""
    lt = np.asarray(local).astype("datetime64[m]")
    day = lt.astype("datetime64[D]")
    month0 = day.astype("datetime64[M]")
    dom = (day - month0).astype(np.int64) + 1
    month = (month0.astype(np.int64) % 12 + shift_months) % 12 + 1
    minute = (lt - day).astype(np.int64)
    return (month * 32 + dom) * 1440 + minute


def place_on_calendar(
    values: np.ndarray,
    source_local: np.ndarray,
    target_local: np.ndarray,
    *,
    shift_months: int = 0,
) -> np.ndarray:
    """Put a series from another year onto the study calendar by local date and clock time.

    Each target interval takes the value at the same (month, day, clock time) in the
    source, after moving the source ``shift_months`` later; where the source has that
    key in several years the most recent wins.  Keys the source lacks give NaN.

    Parameters
    ----------
    values : numpy.ndarray
        Source values (same resolution as the target) [any unit].
    source_local, target_local : numpy.ndarray of datetime64
        Naive local interval starts of source and target.
    shift_months : int
        Whole months to move the source forward (6: swap hemispheres' seasons).
    """
    src = _calendar_keys(source_local, shift_months)
    order = np.argsort(np.asarray(source_local).astype("datetime64[m]"), kind="stable")[::-1]
    keys, first = np.unique(src[order], return_index=True)  # the latest reading per key
    vals = np.asarray(values, dtype=float)[order][first]
    tgt = _calendar_keys(target_local)
    pos = np.clip(np.searchsorted(keys, tgt), 0, keys.size - 1)
    return np.where(keys[pos] == tgt, vals[pos], np.nan)


def fill_from_nearby_days(
    values: np.ndarray, steps_per_day: int, max_days: int = MAX_FILL_DAYS
) -> tuple[np.ndarray, int]:
    """Fill NaN from the same interval 1, 2 ... ``max_days`` days before, then after.

    Returns the filled series and how many intervals were filled; NaN stays where no
    such day has data.
    """
    x = np.asarray(values, dtype=float).copy()
    missing0 = int(np.isnan(x).sum())
    for k in range(1, max_days + 1):
        for sign in (-1, 1):
            gap = np.flatnonzero(np.isnan(x))
            if gap.size == 0:
                return x, missing0
            src = gap + sign * k * steps_per_day
            ok = (src >= 0) & (src < x.size)
            x[gap[ok]] = x[src[ok]]
    return x, missing0 - int(np.isnan(x).sum())


def _placed(
    frame: pl.DataFrame,
    meta: FrameMeta,
    column: str,
    year: MarketYear,
    shift_months: int,
    name: str,
) -> tuple[np.ndarray, float]:
    minutes = year.interval_minutes
    if meta.interval_minutes != minutes:
        frame, meta = resample(frame.select(TIME, column), meta, minutes, energy_method="uniform")
    local = frame[TIME].dt.convert_time_zone(meta.timezone).dt.replace_time_zone(None)
    placed = place_on_calendar(
        frame[column].to_numpy(), local.to_numpy(), year.cal.local, shift_months=shift_months
    )
    filled, n_filled = fill_from_nearby_days(placed, 1440 // minutes)
    if np.isnan(filled).any():
        at = year.cal.local[np.flatnonzero(np.isnan(filled))[0]]
        raise HomesError(
            f"home {name!r}: {int(np.isnan(filled).sum())} intervals of the study year have no "
            f"reading within {MAX_FILL_DAYS} days (first at local {at}); leave the home out "
            "(homes.count / a shorter window) or use a year its data covers"
        )
    return filled, n_filled / filled.size


# --------------------------------------------------------------------------- assignment
@dataclass(frozen=True)
class HomeMix:
    """Seeded heterogeneity of modelled homes (:func:`assign_assets`).

    Parameters
    ----------
    annual_kwh : float or None
        Median consumption per year [kWh] (None: the market's default household).
    annual_kwh_sigma : float
        Spread of consumption, the sigma of a lognormal [-].
    pv_share : float
        Share of homes with rooftop PV [0-1].
    pv_kwdc_min, pv_kwdc_max : float
        Range of PV sizes, drawn uniformly [kWdc].
    battery_share : float
        Share of homes with a battery [0-1].
    ev_share : float
        Share of generated homes with an EV charged on arrival [0-1] (generated homes only).
    """

    annual_kwh: float | None = None
    annual_kwh_sigma: float = 0.35
    pv_share: float = 0.7
    pv_kwdc_min: float = 3.0
    pv_kwdc_max: float = 10.0
    battery_share: float = 0.5
    ev_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("pv_share", "battery_share", "ev_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"HomeMix.{name} must be within [0, 1], got {v}")
        if not 0.0 <= self.pv_kwdc_min <= self.pv_kwdc_max:
            raise ValueError("HomeMix needs 0 <= pv_kwdc_min <= pv_kwdc_max")


@dataclass(frozen=True)
class Assets:
    """What :func:`assign_assets` gave one home."""

    annual_kwh_factor: float
    pv_kwdc: float
    battery: bool
    ev: bool


def assign_assets(n: int, mix: HomeMix, seed: int, first: int = 0) -> list[Assets]:
    """The seeded assignment ``seeded_mix``: home ``first + i`` draws its consumption factor,
    PV (and size), battery and EV from ``numpy.random.default_rng([seed, first + i])``, so a
    home's draw does not depend on how many homes there are."""
    out = []
    for i in range(first, first + n):
        rng = np.random.default_rng([seed, i])
        u = rng.random(5)
        out.append(
            Assets(
                annual_kwh_factor=float(np.exp(mix.annual_kwh_sigma * rng.standard_normal())),
                pv_kwdc=float(mix.pv_kwdc_min + u[1] * (mix.pv_kwdc_max - mix.pv_kwdc_min))
                if u[0] < mix.pv_share
                else 0.0,
                battery=bool(u[2] < mix.battery_share),
                ev=bool(u[3] < mix.ev_share),
            )
        )
    return out


def _need_pv(year: MarketYear) -> np.ndarray:
    if year.pv_kwh_per_kwdc is None:
        raise HomesError(
            f"{year.description}: modelled PV needs weather; build the year with market_year(...)"
        )
    return year.pv_kwh_per_kwdc


# --------------------------------------------------------------------------- builders
def citylearn_community(
    folder: str | Path,
    year: MarketYear,
    *,
    count: int | None = None,
    shift_months: int = 0,
    battery: Battery = TRADING_BATTERY,
    grid: GridLimits = TRADING_GRID,
) -> Community:
    """The CityLearn 2022 homes (measured load and PV) on the study year.

    Parameters
    ----------
    folder : path
        ``citylearn_2022`` with ``Building_<n>.csv`` and ``schema.json``.
    year : MarketYear
        The study year.
    count : int, optional
        The first ``count`` buildings (default: all 17).
    shift_months : int
        Months to move the homes' year forward (6 for a southern-hemisphere market).
    battery : Battery
        Efficiency, window and initial SoC of every battery; capacity and power come from
        each building's ``schema.json`` entry where it has one.
    grid : GridLimits
        Connection limits.
    """
    homes = read_citylearn_buildings(folder)[: count or None]
    names, loads, pvs, batts, filled = [], [], [], [], []
    for frame, meta in homes:
        load, f1 = _placed(frame, meta, "total_kwh", year, shift_months, meta.site)
        pv, f2 = _placed(frame, meta, "pv_kwh", year, shift_months, meta.site)
        spec = meta.extra
        b = battery
        if "battery_kwh" in spec:
            kw = float(spec.get("battery_kw", battery.charge_kw))
            b = replace(
                battery, capacity_kwh=float(spec["battery_kwh"]), charge_kw=kw, discharge_kw=kw
            )
        names.append(meta.site)
        loads.append(load)
        pvs.append(pv)
        batts.append(b)
        filled.append(max(f1, f2))
    return Community(
        year=year,
        names=tuple(names),
        load_kwh=np.column_stack(loads),
        pv_kwh=np.column_stack(pvs),
        batteries=tuple(batts),
        grid=grid,
        filled_share=np.array(filled),
        description=f"{len(names)} CityLearn 2022 homes (measured load and PV), shifted {shift_months} months",
    )


def sgsc_community(
    path: str | Path,
    year: MarketYear,
    *,
    count: int | None = None,
    mix: HomeMix = HomeMix(),
    seed: int = 0,
    shift_months: int = 0,
    battery: Battery = TRADING_BATTERY,
    grid: GridLimits = TRADING_GRID,
) -> Community:
    """Smart Grid Smart City households (measured load) with modelled PV and batteries.

    PV size and battery come from :func:`assign_assets` (``mix``, ``seed``); PV output is
    the year's modelled output per kWdc times the size.

    Parameters
    ----------
    path : path
        ``sgsc_40_households_30min.parquet`` or its folder.
    year : MarketYear
        The study year (with weather, for the PV).
    count : int, optional
        The first ``count`` households by customer id (default: all).
    mix : HomeMix
        Shares of PV and batteries, PV sizes.
    seed : int
        Seed of the assignment.
    shift_months : int
        Months to move the households' data forward.
    battery : Battery
        The battery a home gets when it gets one.
    grid : GridLimits
        Connection limits.
    """
    pv1 = _need_pv(year)
    homes = read_sgsc_households(path)[: count or None]
    assets = assign_assets(len(homes), mix, seed)
    names, loads, pvs, batts, filled = [], [], [], [], []
    for (frame, meta), a in zip(homes, assets, strict=True):
        load, f = _placed(frame, meta, "energy_kwh", year, shift_months, meta.site)
        names.append(meta.site)
        loads.append(load)
        pvs.append(pv1 * a.pv_kwdc)
        batts.append(battery if a.battery else None)
        filled.append(f)
    return Community(
        year=year,
        names=tuple(names),
        load_kwh=np.column_stack(loads),
        pv_kwh=np.column_stack(pvs),
        batteries=tuple(batts),
        grid=grid,
        filled_share=np.array(filled),
        description=(
            f"{len(names)} SGSC households (measured load) with modelled PV and batteries "
            f"(seeded_mix, seed {seed}: PV {mix.pv_share:.0%}, batteries {mix.battery_share:.0%})"
        ),
    )


def generated_community(
    n: int,
    year: MarketYear,
    *,
    mix: HomeMix = HomeMix(),
    seed: int = 0,
    first: int = 0,
    battery: Battery = TRADING_BATTERY,
    grid: GridLimits = TRADING_GRID,
) -> Community:
    """``n`` simulated homes (homes ``first .. first + n - 1`` of the seed's population).

    Each home's load comes from :func:`energylib.simulate.load.generate_load` on the year's
    weather with the market's household scaled by its drawn consumption factor, an EV
    where drawn; PV and battery as drawn by :func:`assign_assets`.
    """
    # slow import (scipy.signal through the weather model), only for generated homes
    from energylib.simulate.load import HOUSEHOLDS, generate_load

    if year.weather is None:
        raise HomesError(f"{year.description}: generated homes need the year's weather")
    pv1 = _need_pv(year)
    base = HOUSEHOLDS[year.site.market]
    median = mix.annual_kwh or base.annual_kwh
    w = year.weather
    temp = w["temp_air"].to_numpy()
    ghi = w["ghi"].to_numpy()
    loads, pvs, batts, names = [], [], [], []
    for i, a in enumerate(assign_assets(n, mix, seed, first)):
        hh = replace(
            base,
            annual_kwh=median * a.annual_kwh_factor,
            has_ev=a.ev,
            ev_in_annual=False,  # the EV comes on top of the drawn consumption
        )
        home = first + i
        load = generate_load(
            w.index, temp, ghi, year.interval_minutes, seed * 1_000_003 + home, hh
        )["total_kwh"]
        names.append(f"home-{home}")
        loads.append(load)
        pvs.append(pv1 * a.pv_kwdc)
        batts.append(battery if a.battery else None)
    return Community(
        year=year,
        names=tuple(names),
        load_kwh=np.column_stack(loads),
        pv_kwh=np.column_stack(pvs),
        batteries=tuple(batts),
        grid=grid,
        description=(
            f"{n} generated homes (seed {seed}, homes {first}-{first + n - 1}: PV {mix.pv_share:.0%}, "
            f"batteries {mix.battery_share:.0%}, EVs {mix.ev_share:.0%})"
        ),
    )
