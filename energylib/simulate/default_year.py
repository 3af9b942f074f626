"""The default year: a generated calendar year behind every study when no token is set.

:func:`generate` builds, for one market's default household, canonical frames
(``interval_start`` UTC + value columns) with their :class:`FrameMeta`; keys:

=====================  ===============================================================
key                    contents
=====================  ===============================================================
``load``               ``total_kwh`` + 11 ``<channel>_kwh`` (EV charged on arrival)
``weather``            ``ghi_w_m2, dni_w_m2, dhi_w_m2, temp_air_c, wind_speed_m_s``
``pv``                 ``pv_kwh`` of the reference system (not installed: what it would make)
``prices/general``     ``price_per_kwh`` (all-in), ``spot_per_kwh``, (nem) ``descriptor``,
                       ``spike_status``; nl: the hourly part, to 2025-09-30 22:00Z
``prices/general/15min``  nl only: the 15-min part, from 2025-10-01 local
``prices/feed_in``     nem only: ``price_per_kwh`` (negative when paid), ``spot_per_kwh``
``battery``            nem only: gateway battery state ``soc_pct, soh_pct, cycles_count,
                       voltage_v, temp_c`` (a reference 13.5 kWh battery, not installed)
``carbon``             nem only: ``intensity_kg_per_kwh``
=====================  ===============================================================

All with ``source="simulated"``; site ``default`` (Sydney, AUD) or ``nl-default``
(Amsterdam, EUR).  Same seed, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from tqdm.auto import tqdm

from energylib.schema import TIME, FrameMeta
from energylib.simulate.battery import GatewayBattery
from energylib.simulate.carbon import carbon_intensity
from energylib.simulate.load import HOUSEHOLDS, Household, generate_load
from energylib.simulate.prices import NL_QUARTER_HOUR_FROM, nem_retail, nem_spot, nl_retail, nl_spot
from energylib.simulate.weather import generate_weather, interval_starts
from energylib.site import Site, site_for_market
from energylib.solar import PVSystem, pv_ac_kwh, solar_position
from energylib.store import Store

SOURCE = "simulated"
DEFAULT_SEED = 2025
#: Reference PV system per market: what the household would have produced.
REFERENCE_PV = {"nem": PVSystem(6.6, tilt_deg=20.0), "nl": PVSystem(4.0, tilt_deg=35.0)}
REFERENCE_BATTERY = GatewayBattery()
CURRENCY = {"nem": "AUD", "nl": "EUR"}
WEATHER_COLUMNS = {
    "ghi": "ghi_w_m2",
    "dni": "dni_w_m2",
    "dhi": "dhi_w_m2",
    "temp_air": "temp_air_c",
    "wind_speed": "wind_speed_m_s",
}


@dataclass(frozen=True)
class RangeData:
    """Everything generated for one site over one range, as numpy/pandas (before framing)."""

    site: Site
    index: pd.DatetimeIndex  # interval starts, site time zone
    interval_minutes: int
    weather: pd.DataFrame  # pvlib names + clearness
    load: dict[str, np.ndarray]
    pv_kwh: np.ndarray


def year_bounds(site: Site, year: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC bounds of a calendar year in the site's local time."""
    start = pd.Timestamp(f"{year}-01-01", tz=site.timezone).tz_convert("UTC")
    end = pd.Timestamp(f"{year + 1}-01-01", tz=site.timezone).tz_convert("UTC")
    return start, end


def generate_range(
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    interval_minutes: int = 5,
    seed: int = DEFAULT_SEED,
    *,
    household: Household | None = None,
    pv_system: PVSystem | None = None,
) -> RangeData:
    """Weather, household load and PV for ``site`` over ``[start, end)``.

    Parameters
    ----------
    site : Site
        Location and market.
    start, end : pandas.Timestamp
        Range [tz-aware or UTC].
    interval_minutes : int
        Interval length [min].
    seed : int
        Random seed.
    household : Household, optional
        Default: the market's household.
    pv_system : PVSystem, optional
        Default: the market's reference system.
    """
    index = interval_starts(start, end, interval_minutes, site.timezone)
    if len(index) == 0:
        raise ValueError(f"empty range: start {start} is not before end {end}")
    solpos = solar_position(index, site, interval_minutes)
    weather = generate_weather(site, start, end, interval_minutes, seed, solpos=solpos)
    hh = household or HOUSEHOLDS[site.market]
    load = generate_load(
        index, weather["temp_air"].to_numpy(), weather["ghi"].to_numpy(), interval_minutes, seed, hh
    )
    pv = pv_ac_kwh(
        weather, site, pv_system or REFERENCE_PV[site.market], interval_minutes, solpos=solpos
    )
    return RangeData(site, index, interval_minutes, weather, load, pv)


def _time_column(index: pd.DatetimeIndex) -> pl.Series:
    return pl.Series(TIME, index.tz_convert("UTC")).cast(pl.Datetime("us", "UTC"))


def _frame(index: pd.DatetimeIndex, columns: dict[str, Any]) -> pl.DataFrame:
    data = {TIME: _time_column(index)}
    for name, values in columns.items():
        arr = np.asarray(values)
        data[name] = pl.Series(
            name, arr.astype(str) if arr.dtype.kind in "OUS" else arr.astype(np.float64)
        )
    return pl.DataFrame(data)


def generate(
    market: str = "nem",
    seed: int = DEFAULT_SEED,
    year: int = 2025,
    interval_minutes: int = 5,
    annual_kwh: float | None = None,
) -> dict[str, tuple[pl.DataFrame, FrameMeta]]:
    """Generate the default year of one market's default household.

    Parameters
    ----------
    market : str
        ``nem`` (Sydney, AUD) or ``nl`` (Amsterdam, EUR).
    seed : int
        Random seed: the same seed gives the same frames, byte for byte.
    year : int
        Calendar year in the site's local time.
    interval_minutes : int
        Interval length of load, weather, PV, battery, carbon and (nem) prices [min];
        nl prices are hourly then 15-min whatever this is.
    annual_kwh : float, optional
        Household consumption per year [kWh] (default 5,500 nem, 2,800 nl).

    Returns
    -------
    dict
        Key (see the module docstring) -> ``(frame, meta)``.
    """
    site = site_for_market(market)
    start, end = year_bounds(site, year)
    hh = HOUSEHOLDS[market].with_annual_kwh(annual_kwh)
    rd = generate_range(site, start, end, interval_minutes, seed, household=hh)
    return frames_from_range(rd, seed)


def frames_from_range(
    rd: RangeData, seed: int, *, site_name: str | None = None
) -> dict[str, tuple[pl.DataFrame, FrameMeta]]:
    """Canonical frames (and their metadata) from generated range data, prices included."""
    site = rd.site
    market = site.market
    m = rd.interval_minutes
    name = site_name or site.name
    cur = CURRENCY[market]

    def meta(
        kind: str, channel: str = "general", minutes: int = m, currency: str | None = cur
    ) -> FrameMeta:
        return FrameMeta(SOURCE, kind, minutes, name, channel, currency, site.timezone)

    out: dict[str, tuple[pl.DataFrame, FrameMeta]] = {}
    out["load"] = (
        _frame(
            rd.index,
            {
                "total_kwh": rd.load["total_kwh"],
                **{k: v for k, v in rd.load.items() if k != "total_kwh"},
            },
        ),
        meta("load"),
    )
    out["weather"] = (
        _frame(rd.index, {v: rd.weather[k].to_numpy() for k, v in WEATHER_COLUMNS.items()}),
        meta("weather", currency=None),
    )
    out["pv"] = (_frame(rd.index, {"pv_kwh": rd.pv_kwh}), meta("pv", currency=None))
    clearness = rd.weather["clearness"].to_numpy()
    if market == "nem":
        spot = nem_spot(rd.index, m, seed, clearness=clearness)
        retail = nem_retail(spot, rd.index)
        out["prices/general"] = (
            _frame(
                rd.index,
                {
                    "price_per_kwh": retail["general_price_per_kwh"],
                    "spot_per_kwh": retail["spot_per_kwh"],
                    "descriptor": retail["descriptor"],
                    "spike_status": retail["spike_status"],
                },
            ),
            meta("prices"),
        )
        out["prices/feed_in"] = (
            _frame(
                rd.index,
                {
                    "price_per_kwh": retail["feed_in_price_per_kwh"],
                    "spot_per_kwh": retail["spot_per_kwh"],
                },
            ),
            meta("prices", "feed_in"),
        )
        bat = REFERENCE_BATTERY.simulate(
            rd.pv_kwh, rd.load["total_kwh"], rd.weather["temp_air"].to_numpy(), m
        )
        out["battery"] = (
            _frame(
                rd.index,
                {k: bat[k] for k in ("soc_pct", "soh_pct", "cycles_count", "voltage_v", "temp_c")},
            ),
            meta("battery", currency=None),
        )
        out["carbon"] = (
            _frame(
                rd.index,
                {
                    "intensity_kg_per_kwh": carbon_intensity(
                        "nem", rd.weather["ghi"].to_numpy(), spot, m, seed
                    )
                },
            ),
            meta("carbon", currency=None),
        )
    else:
        out.update(
            nl_price_frames(rd.index[0], rd.index[-1] + pd.Timedelta(minutes=m), seed, name, rd)
        )
    return out


def nl_price_frames(
    start: pd.Timestamp, end: pd.Timestamp, seed: int, site_name: str, rd: RangeData | None = None
) -> dict[str, tuple[pl.DataFrame, FrameMeta]]:
    """Dutch prices over ``[start, end)``: hourly before 2025-10-01 local, 15-min from then.

    The model runs on a 15-min grid; the hourly product is the mean of its four quarters.
    """
    q_index = interval_starts(start, end, 15, "Europe/Amsterdam")
    kc = None
    if rd is not None:
        w = rd.weather["clearness"]
        kc = w.reindex(q_index, method="ffill").bfill().to_numpy()
    spot = nl_spot(q_index, seed, clearness=kc)
    out = {}
    hourly = q_index < NL_QUARTER_HOUR_FROM
    if hourly.any():
        h_idx = q_index[hourly]
        # whole hours only: the grid starts on the hour in the default year
        k = (len(h_idx) // 4) * 4
        h_spot = spot[hourly][:k].reshape(-1, 4).mean(axis=1)
        h_index = h_idx[:k:4]
        out["prices/general"] = (
            _frame(h_index, {"price_per_kwh": nl_retail(h_spot), "spot_per_kwh": h_spot / 1000.0}),
            FrameMeta(SOURCE, "prices", 60, site_name, "general", "EUR", "Europe/Amsterdam"),
        )
    if (~hourly).any():
        q = ~hourly
        key = "prices/general/15min" if hourly.any() else "prices/general"
        out[key] = (
            _frame(
                q_index[q], {"price_per_kwh": nl_retail(spot[q]), "spot_per_kwh": spot[q] / 1000.0}
            ),
            FrameMeta(SOURCE, "prices", 15, site_name, "general", "EUR", "Europe/Amsterdam"),
        )
    return out


def write_default_year(
    store: Store,
    markets: tuple[str, ...] = ("nem", "nl"),
    seed: int = DEFAULT_SEED,
    *,
    year: int = 2025,
    progress: bool = False,
) -> dict[str, int]:
    """Generate and upsert the default year of each market into ``store``.

    Parameters
    ----------
    store : Store
        Where to write.
    markets : tuple of str
        ``nem`` and/or ``nl``.
    seed : int
        Random seed.
    year : int
        Calendar year.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``"<market>:<key>"`` -> rows written (inserted + updated).
    """
    summary: dict[str, int] = {}
    bar = tqdm(total=len(markets) * 2, desc="default year", unit="step", disable=not progress)
    for market in markets:
        bar.set_postfix_str(f"{market}: generating")
        frames = generate(market, seed=seed, year=year)
        bar.update(1)
        bar.set_postfix_str(f"{market}: writing")
        for key, (frame, meta) in frames.items():
            res = store.upsert(frame, meta)
            summary[f"{market}:{key}"] = res.inserted + res.updated
        bar.update(1)
    bar.close()
    return summary


def has_default_year(store: Store, market: str, year: int = 2025) -> bool:
    """Whether ``store`` already holds the market's default-year load and prices."""
    site = site_for_market(market)
    start, end = year_bounds(site, year)
    expected = int((end - start) / pd.Timedelta(minutes=5))
    for kind, channel in (
        ("load", "general"),
        ("prices", "general"),
        ("pv", "general"),
        ("weather", "general"),
    ):
        series = store.series(
            SOURCE,
            kind,
            start.to_pydatetime(),
            end.to_pydatetime(),
            site=site.name,
            channel=channel,
        )
        rows = int(series["rows"].sum())
        if kind == "load" and rows < expected:
            return False
        if rows == 0:
            return False
    return True


def ensure_default_year(
    store: Store,
    markets: tuple[str, ...] = ("nem", "nl"),
    seed: int = DEFAULT_SEED,
    *,
    progress: bool = False,
) -> bool:
    """Generate the default year where ``store`` lacks it; True if anything was written."""
    missing = tuple(m for m in markets if not has_default_year(store, m))
    if not missing:
        return False
    write_default_year(store, missing, seed, progress=progress)
    return True
