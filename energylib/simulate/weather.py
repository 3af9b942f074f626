"""Synthetic weather: pvlib clear-sky irradiance times a stochastic cloudiness process.

Cloudiness follows a day-level Markov chain of three regimes (clear, broken cloud,
overcast) whose persistence makes clear and cloudy *spells*, with season-dependent
regime shares; within a day an AR(1) process adds passing clouds.  GHI is the
clear-sky GHI times the clearness, split into DNI and DHI with the Erbs model.
Air temperature has a seasonal and a daily cycle (wider on clear days) plus
persistent day-to-day anomalies; wind a daily AR(1) level and an afternoon peak.

All functions are deterministic for a given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib
from numba import njit

from energylib.site import Site
from energylib.solar import solar_position

REGIMES = ("clear", "broken", "overcast")
# Daily mean clearness (GHI / clear-sky GHI) per regime: mean, sd.
REGIME_CLEARNESS = ((0.96, 0.025), (0.70, 0.09), (0.32, 0.10))
# Intra-day passing-cloud amplitude per regime (sd of the AR(1) clearness noise).
REGIME_VARIABILITY = (0.025, 0.17, 0.07)
CLOUD_TIME_CONSTANT_MIN = 25.0


@dataclass(frozen=True)
class Climate:
    """Climate parameters of a site.

    ``p_clear``/``p_overcast`` are (annual mean, seasonal amplitude) of the regime shares,
    largest at ``wet_doy`` for overcast and opposite for clear; temperatures in degC,
    wind in m/s.
    """

    p_clear: tuple[float, float]
    p_overcast: tuple[float, float]
    wet_doy: int
    persistence: float  # probability that tomorrow keeps today's regime (before mixing)
    temp_mean_c: float
    temp_seasonal_amp_c: float
    warm_doy: int
    temp_daily_amp_c: float
    temp_anomaly_sd_c: float
    wind_mean_m_s: float


CLIMATES = {
    # Sydney: ~1,650-1,700 kWh/m2/yr GHI; humid summers, drier sunnier late winter.
    "nem": Climate((0.53, 0.10), (0.15, 0.06), 45, 0.55, 18.3, 4.6, 28, 3.8, 2.6, 3.6),
    # Amsterdam: ~1,000-1,100 kWh/m2/yr GHI; grey winters.
    "nl": Climate((0.22, 0.10), (0.45, 0.15), 350, 0.55, 10.6, 7.0, 200, 3.5, 2.4, 4.8),
}


def interval_starts(
    start: pd.Timestamp, end: pd.Timestamp, interval_minutes: int, timezone: str
) -> pd.DatetimeIndex:
    """Interval starts in ``[start, end)`` on the grid, in ``timezone``."""
    start = pd.Timestamp(start)
    end = pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    idx = pd.date_range(
        start.tz_convert("UTC"),
        end.tz_convert("UTC"),
        freq=f"{interval_minutes}min",
        inclusive="left",
    )
    return idx.tz_convert(timezone)


def rng_stream(seed: int, stream: int) -> np.random.Generator:
    """An independent random stream per model component, so changing one model leaves the others' draws alone."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream]))


def day_codes(index: pd.DatetimeIndex) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Local-day number of each interval and the local days covered."""
    local_days = index.normalize()
    days = local_days.unique()
    return days.get_indexer(local_days).astype(np.int64), days


def ar1(rng: np.random.Generator, n: int, rho: float, sd: float = 1.0) -> np.ndarray:
    """Stationary AR(1) noise with lag-1 correlation ``rho`` and marginal sd ``sd``."""
    e = rng.standard_normal(n) * np.sqrt(1 - rho**2)
    if n:
        e[0] = rng.standard_normal()  # start in the stationary distribution
    return _recursive_filter(e, rho) * sd


@njit(cache=True)
def _recursive_filter(e: np.ndarray, rho: float) -> np.ndarray:
    """``y[t] = e[t] + rho * y[t-1]`` (scipy's lfilter([1], [1, -rho]) to the bit, without
    importing scipy.signal, which costs a second)."""
    y = np.empty_like(e)
    prev = 0.0
    for t in range(e.size):
        prev = e[t] + rho * prev
        y[t] = prev
    return y


def daily_regimes(doy: np.ndarray, climate: Climate, rng: np.random.Generator) -> np.ndarray:
    """Regime (0 clear, 1 broken, 2 overcast) of each day: a persistent Markov chain
    whose stationary shares follow the season."""
    phase = np.cos(2 * np.pi * (doy - climate.wet_doy) / 365.25)
    p_over = np.clip(climate.p_overcast[0] + climate.p_overcast[1] * phase, 0.02, 0.9)
    p_clear = np.clip(climate.p_clear[0] - climate.p_clear[1] * phase, 0.02, 0.95)
    p_broken = np.clip(1 - p_over - p_clear, 0.02, None)
    probs = np.stack([p_clear, p_broken, p_over], axis=1)
    probs /= probs.sum(axis=1, keepdims=True)
    u = rng.random((len(doy), 2))
    out = np.empty(len(doy), dtype=np.int64)
    state = int(np.searchsorted(np.cumsum(probs[0]), u[0, 1]))
    for d in range(len(doy)):  # one step per day, not per interval
        if d and u[d, 0] >= climate.persistence:
            state = int(np.searchsorted(np.cumsum(probs[d]), u[d, 1]))
        out[d] = min(state, 2)
    return out


def generate_weather(
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    interval_minutes: int = 5,
    seed: int = 0,
    *,
    climate: Climate | None = None,
    solpos: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Weather for ``site`` over ``[start, end)`` in pvlib's column names.

    Parameters
    ----------
    site : Site
        Location; its market selects the default climate.
    start, end : pandas.Timestamp
        Range [UTC or tz-aware]; intervals start on the grid.
    interval_minutes : int
        Interval length [min].
    seed : int
        Random seed; the same seed gives the same weather.
    climate : Climate, optional
        Overrides the site's default climate.
    solpos : pandas.DataFrame, optional
        Precomputed :func:`energylib.solar.solar_position` for the same index.

    Returns
    -------
    pandas.DataFrame
        Indexed by interval starts (site time zone): ``ghi, dni, dhi`` [W/m2, interval
        means], ``temp_air`` [degC], ``wind_speed`` [m/s], ``clearness`` [0-1.1],
        ``ghi_clear`` [W/m2].
    """
    climate = climate or CLIMATES[site.market]
    index = interval_starts(start, end, interval_minutes, site.timezone)
    n = len(index)
    if solpos is None:
        solpos = solar_position(index, site, interval_minutes)
    loc = pvlib.location.Location(site.latitude, site.longitude, site.timezone, site.altitude_m)
    mid = index + pd.Timedelta(minutes=interval_minutes / 2)
    sp_mid = solpos.set_axis(mid)
    cs = loc.get_clearsky(mid, model="ineichen", solar_position=sp_mid)
    cs_ghi = np.clip(cs["ghi"].to_numpy(), 0, None)

    codes, days = day_codes(index)
    doy = days.day_of_year.to_numpy()
    rng_cloud = rng_stream(seed, 1)
    regime = daily_regimes(doy, climate, rng_cloud)
    mean_sd = np.array(REGIME_CLEARNESS)
    day_kc = mean_sd[regime, 0] + mean_sd[regime, 1] * rng_cloud.standard_normal(len(days))
    rho = float(np.exp(-interval_minutes / CLOUD_TIME_CONSTANT_MIN))
    passing = ar1(rng_cloud, n, rho) * np.array(REGIME_VARIABILITY)[regime][codes]
    clearness = np.clip(day_kc[codes] + passing, 0.05, 1.08)
    ghi = clearness * cs_ghi

    zenith = solpos["zenith"].to_numpy()
    split = pvlib.irradiance.erbs(ghi, zenith, index.day_of_year.to_numpy())
    dni = np.nan_to_num(np.asarray(split["dni"], dtype=float))
    dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=float))
    dni = np.where(cs_ghi > 0, np.clip(dni, 0, None), 0.0)
    dhi = np.where(cs_ghi > 0, np.clip(dhi, 0, ghi), 0.0)

    rng_temp = rng_stream(seed, 2)
    seasonal = climate.temp_mean_c + climate.temp_seasonal_amp_c * np.cos(
        2 * np.pi * (doy - climate.warm_doy) / 365.25
    )
    anomaly = ar1(rng_temp, len(days), 0.75, climate.temp_anomaly_sd_c)
    day_clear = np.array([0.96, 0.7, 0.32])[regime]
    amp = climate.temp_daily_amp_c * (0.45 + 0.6 * day_clear)
    local_h = (index.hour + index.minute / 60.0).to_numpy() + interval_minutes / 120.0
    diurnal = np.cos(2 * np.pi * (local_h - 15.0) / 24.0)
    temp = seasonal[codes] + anomaly[codes] - 0.8 * (regime[codes] == 2) + amp[codes] * diurnal
    temp = temp + ar1(rng_temp, n, float(np.exp(-interval_minutes / 60.0)), 0.4)

    rng_wind = rng_stream(seed, 3)
    wind_day = climate.wind_mean_m_s * np.exp(ar1(rng_wind, len(days), 0.6, 0.35) - 0.06)
    wind = wind_day[codes] * (1 + 0.3 * np.cos(2 * np.pi * (local_h - 15.0) / 24.0))
    wind = np.clip(
        wind * np.exp(ar1(rng_wind, n, float(np.exp(-interval_minutes / 30.0)), 0.2)), 0.0, None
    )

    return pd.DataFrame(
        {
            "ghi": ghi,
            "dni": dni,
            "dhi": dhi,
            "temp_air": temp,
            "wind_speed": wind,
            "clearness": clearness,
            "ghi_clear": cs_ghi,
        },
        index=index,
    )
