"""PV generation for a system spec, through pvlib (PVWatts DC, losses, inverter).

One code path for the simulator's solar and the scenario engine's solar: both call
:func:`pv_ac_kwh` with a weather frame indexed by interval *start* times.  Sun
position and irradiance transposition are evaluated at the interval *midpoint*
(a 5-min interval starting 12:00 sees the sun of 12:02:30), so energy is not
shifted by half an interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
import pvlib

from energylib.schema import TIME
from energylib.site import Site

#: Canonical weather column -> pvlib column.
PVLIB_WEATHER_COLUMNS = {
    "ghi_w_m2": "ghi",
    "dni_w_m2": "dni",
    "dhi_w_m2": "dhi",
    "temp_air_c": "temp_air",
    "wind_speed_m_s": "wind_speed",
}

#: DC/AC ratio used when no inverter size is given: the usual Australian
#: 6.6 kWdc on a 5 kWac inverter (the CEC allows up to 133 % oversizing).
DEFAULT_DC_AC_RATIO = 1.32
INVERTER_NOMINAL_EFFICIENCY = 0.96
ALBEDO = 0.2
# Roof-mounted modules run hotter than open-rack ones.
TEMPERATURE_MODEL = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][
    "close_mount_glass_glass"
]


@dataclass(frozen=True)
class PVSystem:
    """A rooftop PV system.

    Parameters
    ----------
    kwdc : float
        Module nameplate (DC at STC) [kWdc].
    tilt_deg : float
        Panel tilt from horizontal [degrees].
    azimuth_deg : float or None
        Panel azimuth, clockwise from north [degrees].  ``None`` (default) faces the
        equator: 0 (north) for a southern-hemisphere site, 180 (south) for a northern one
        (resolved by :meth:`azimuth_for`).
    losses_pct : float
        System losses before the inverter (soiling, wiring, mismatch, ...) [%], PVWatts' 14 %.
    inverter_kwac : float or None
        Inverter AC rating [kWac]; ``None`` means ``kwdc / 1.32`` (6.6 kWdc -> 5.0 kWac).
    temp_coefficient : float
        Power temperature coefficient [1/degC].
    export_limit_kw : float or None
        Grid export limit [kW].  Not applied here: it clips *exports*, which the dispatch does.
    """

    kwdc: float
    tilt_deg: float = 20.0
    azimuth_deg: float | None = None
    losses_pct: float = 14.0
    inverter_kwac: float | None = None
    temp_coefficient: float = -0.0037
    export_limit_kw: float | None = None

    def __post_init__(self) -> None:
        if not self.kwdc >= 0:
            raise ValueError(f"PVSystem.kwdc must be >= 0 kWdc, got {self.kwdc}")
        if not 0 <= self.tilt_deg <= 90:
            raise ValueError(
                f"PVSystem.tilt_deg must be within [0, 90] degrees, got {self.tilt_deg}"
            )
        if self.azimuth_deg is not None and not 0 <= self.azimuth_deg < 360:
            raise ValueError(
                f"PVSystem.azimuth_deg must be within [0, 360) degrees, got {self.azimuth_deg}"
            )
        if not 0 <= self.losses_pct < 100:
            raise ValueError(
                f"PVSystem.losses_pct must be within [0, 100) %, got {self.losses_pct}"
            )
        if self.inverter_kwac is not None and not self.inverter_kwac > 0:
            raise ValueError(f"PVSystem.inverter_kwac must be > 0 kWac, got {self.inverter_kwac}")
        if self.export_limit_kw is not None and self.export_limit_kw < 0:
            raise ValueError(
                f"PVSystem.export_limit_kw must be >= 0 kW, got {self.export_limit_kw}"
            )

    @property
    def kwac(self) -> float:
        """Inverter AC rating [kWac] (the default ratio when none was given)."""
        return (
            self.inverter_kwac
            if self.inverter_kwac is not None
            else self.kwdc / DEFAULT_DC_AC_RATIO
        )

    def azimuth_for(self, site: Site) -> float:
        """Panel azimuth [degrees from north] at ``site``: equator-facing unless set."""
        if self.azimuth_deg is not None:
            return float(self.azimuth_deg)
        return 0.0 if site.latitude < 0 else 180.0


def midpoints(index: pd.DatetimeIndex, interval_minutes: int) -> pd.DatetimeIndex:
    """Interval midpoints for interval-start times."""
    return index + pd.Timedelta(minutes=interval_minutes / 2)


def solar_position(index: pd.DatetimeIndex, site: Site, interval_minutes: int) -> pd.DataFrame:
    """Sun position at the interval midpoints, indexed by the interval *starts*.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Tz-aware interval start times.
    site : Site
        Where.
    interval_minutes : int
        Interval length [min].

    Returns
    -------
    pandas.DataFrame
        pvlib's columns (``apparent_zenith``, ``zenith``, ``azimuth`` ... [degrees]).
    """
    if index.tz is None:
        raise ValueError("solar_position needs tz-aware interval starts; localize the index first")
    mid = midpoints(index, interval_minutes)
    pos = pvlib.solarposition.get_solarposition(
        mid, site.latitude, site.longitude, altitude=site.altitude_m
    )
    pos.index = index
    return pos


def to_pvlib_weather(weather: pl.DataFrame | pd.DataFrame, timezone: str = "UTC") -> pd.DataFrame:
    """Canonical weather frame (``ghi_w_m2`` ...) -> pvlib weather (``ghi``, ``dni`` ...).

    Parameters
    ----------
    weather : polars.DataFrame or pandas.DataFrame
        Canonical columns ``interval_start`` (UTC) plus ``ghi_w_m2, dni_w_m2, dhi_w_m2``
        [W/m2], ``temp_air_c`` [degC], ``wind_speed_m_s`` [m/s] (the last two optional:
        20 degC and 1 m/s are assumed when absent).
    timezone : str
        Time zone for the returned index.

    Returns
    -------
    pandas.DataFrame
        Indexed by tz-aware interval starts, columns ``ghi, dni, dhi, temp_air, wind_speed``.
    """
    pdf = weather.to_pandas() if isinstance(weather, pl.DataFrame) else weather.copy()
    if TIME in pdf.columns:
        pdf = pdf.set_index(TIME)
    missing = [c for c in ("ghi_w_m2", "dni_w_m2", "dhi_w_m2") if c not in pdf.columns]
    if missing:
        raise ValueError(
            f"weather frame lacks {missing}; it needs ghi_w_m2, dni_w_m2, dhi_w_m2 [W/m2]"
        )
    out = pdf.rename(columns=PVLIB_WEATHER_COLUMNS)[
        [v for k, v in PVLIB_WEATHER_COLUMNS.items() if k in pdf.columns]
    ]
    if "temp_air" not in out:
        out["temp_air"] = 20.0
    if "wind_speed" not in out:
        out["wind_speed"] = 1.0
    idx = pd.DatetimeIndex(out.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx
    out.index = idx.tz_convert(timezone)
    return out.astype(float)


def pv_ac_kwh(
    weather: pd.DataFrame,
    site: Site,
    system: PVSystem,
    interval_minutes: int,
    *,
    solpos: pd.DataFrame | None = None,
) -> np.ndarray:
    """AC energy of ``system`` per interval [kWh], clipped by the inverter.

    Parameters
    ----------
    weather : pandas.DataFrame
        Indexed by tz-aware interval starts; columns ``ghi, dni, dhi`` [W/m2, interval
        means], ``temp_air`` [degC], ``wind_speed`` [m/s] (see :func:`to_pvlib_weather`).
    site : Site
        Location.
    system : PVSystem
        The PV system.
    interval_minutes : int
        Interval length [min].
    solpos : pandas.DataFrame, optional
        Precomputed :func:`solar_position` for the same index (saves time when the
        caller already has it).

    Returns
    -------
    numpy.ndarray
        AC energy per interval [kWh], >= 0.  Export limits are *not* applied.
    """
    if not isinstance(weather.index, pd.DatetimeIndex) or weather.index.tz is None:
        raise ValueError("pv_ac_kwh needs a weather frame indexed by tz-aware interval starts")
    missing = [c for c in ("ghi", "dni", "dhi") if c not in weather.columns]
    if missing:
        raise ValueError(
            f"weather lacks {missing}; convert canonical frames with to_pvlib_weather()"
        )
    n = len(weather)
    if system.kwdc == 0 or n == 0:
        return np.zeros(n)
    if solpos is None:
        solpos = solar_position(weather.index, site, interval_minutes)
    zen = solpos["apparent_zenith"].to_numpy()
    azi = solpos["azimuth"].to_numpy()
    ghi = np.clip(weather["ghi"].to_numpy(dtype=float), 0, None)
    dni = np.clip(weather["dni"].to_numpy(dtype=float), 0, None)
    dhi = np.clip(weather["dhi"].to_numpy(dtype=float), 0, None)
    surface_azimuth = system.azimuth_for(site)
    aoi = pvlib.irradiance.aoi(system.tilt_deg, surface_azimuth, zen, azi)
    dni_extra = pvlib.irradiance.get_extra_radiation(weather.index).to_numpy()
    poa = pvlib.irradiance.get_total_irradiance(
        system.tilt_deg,
        surface_azimuth,
        zen,
        azi,
        dni,
        ghi,
        dhi,
        dni_extra=dni_extra,
        albedo=ALBEDO,
        model="haydavies",
    )
    poa_direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float))
    poa_diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
    iam = np.nan_to_num(pvlib.iam.physical(aoi))
    effective = np.clip(poa_direct * iam + poa_diffuse, 0, None)
    temp_air = (
        weather["temp_air"].to_numpy(dtype=float) if "temp_air" in weather else np.full(n, 20.0)
    )
    wind = (
        weather["wind_speed"].to_numpy(dtype=float) if "wind_speed" in weather else np.full(n, 1.0)
    )
    poa_global = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float))
    temp_cell = pvlib.temperature.sapm_cell(poa_global, temp_air, wind, **TEMPERATURE_MODEL)
    pdc_w = pvlib.pvsystem.pvwatts_dc(
        effective, temp_cell, system.kwdc * 1000.0, system.temp_coefficient
    )
    pdc_w = np.clip(np.asarray(pdc_w, dtype=float), 0, None) * (1.0 - system.losses_pct / 100.0)
    pdc0_inverter = system.kwac * 1000.0 / INVERTER_NOMINAL_EFFICIENCY
    pac_w = pvlib.inverter.pvwatts(pdc_w, pdc0_inverter, eta_inv_nom=INVERTER_NOMINAL_EFFICIENCY)
    pac_w = np.clip(np.nan_to_num(np.asarray(pac_w, dtype=float)), 0, system.kwac * 1000.0)
    return pac_w / 1000.0 * interval_minutes / 60.0


def annual_yield_kwh_per_kwdc(
    weather: pd.DataFrame, site: Site, system: PVSystem, interval_minutes: int
) -> float:
    """Specific yield [kWh/kWdc per year]: AC energy over the frame, scaled to 365 days."""
    kwh = pv_ac_kwh(weather, site, system, interval_minutes)
    days = len(weather) * interval_minutes / 1440.0
    return float(kwh.sum() / system.kwdc * 365.0 / days)
