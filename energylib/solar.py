"""PV generation for a system spec, through pvlib, with named model presets.

One code path for the simulator's solar and the scenario engine's solar: both call
:func:`pv_ac_kwh` with a weather frame indexed by interval *start* times.  Which published
sub-model does each physical step is a :class:`PVModel` (the system's ``model``), chosen by
preset name or field by field:

============================ ==================================== ==========================
step                         ``energylib_v1`` (the default)       ``pvwatts_v8``
============================ ==================================== ==========================
sun position                 interval midpoint, standard          interval midpoint, the
                             atmosphere (pressure from altitude,  weather's pressure and
                             12 C)                                temperature where present
transposition                Hay-Davies                           Perez (1990 coefficients)
albedo                       0.2                                  the weather's ``albedo``
                                                                  where valid, else 0.2
reflection (IAM)             pvlib ``physical`` on the beam       SAM's De Soto cover with an
                                                                  anti-reflective coating, on
                                                                  beam, sky and ground diffuse
spectrum                     none                                 De Soto air-mass modifier
cell temperature             SAPM ``close_mount_glass_glass``     NOCT-SAM, NOCT 49 C (roof)
DC                           PVWatts, -0.37 %/C                   CEC single diode of PVWatts
                                                                  v8's standard module
system losses                14 %                                 14.0757 % (PVWatts default)
inverter                     PVWatts, 96 % nominal                Sandia equation as PVWatts
                                                                  v8 sets it (96 %, Pso 0.49 %)
============================ ==================================== ==========================

``pvwatts_v8`` reproduces SAM's ``pvwattsv8`` module (SSC) for a fixed roof mount; with
``mount='open_rack'`` it takes NOCT 45 C (PVWatts' open rack also has row-to-row
self-shading, which is not modelled here).  Options a user can set on :class:`PVModel`:

* ``transposition``: ``perez``, ``haydavies``, ``isotropic``;
* ``cell_temperature`` and its ``mount``: ``sapm`` (``open_rack_glass_glass``,
  ``close_mount_glass_glass``, ``open_rack_glass_polymer``,
  ``insulated_back_glass_polymer``), ``noct_sam`` (``roof`` 49 C, ``open_rack`` 45 C),
  ``fuentes`` (``roof`` / ``open_rack``, installed NOCT 49 / 45 C; pvlib's Fuentes is a
  Python loop, ~1 s per hourly year, ~10 s per 5-min year), ``pvsyst`` (``freestanding``,
  ``insulated``);
* ``sun_position``: ``midpoint`` (weather values are means over the interval: hourly TMY3,
  SAM CSVs without a minute column, Open-Meteo, the default year) or ``label`` (values
  instantaneous at the stamp: PVGIS TMY, SAM CSVs with a minute column);
* ``weather_pressure_temperature``: refraction from the weather's ``pressure`` [Pa] and
  ``temp_air`` [C] columns instead of the standard atmosphere;
* ``albedo`` (a number, or ``None`` for the weather's ``albedo`` column), ``iam``
  (``physical``, ``ashrae``, ``martin_ruiz``, ``pvwatts_v8``, ``none``), ``spectral``
  (``none``, ``pvwatts_v8``), ``dc`` (``pvwatts``, ``pvwatts_v8``), ``inverter``
  (``pvwatts``, ``pvwatts_v8``) and ``inverter_efficiency`` (nominal, 0-1).

With the same sub-models, :func:`pv_ac_kwh` equals pvlib's ``ModelChain`` (tested to 0.1 %
annually on pvlib's bundled TMY3 files).

Sun position
------------
:func:`solar_position` is NREL's SPA as pvlib implements it, computed once per site,
period and convention and kept in a small in-process cache, so PV sizes, tilts and scenarios
on the same weather share it.  The slowly varying terms of SPA (the sun's right ascension and
declination, nutation, Earth-Sun distance) are evaluated by ``pvlib.spa`` every 6 hours and
interpolated; the fast ones (sidereal time, hour angle, parallax, refraction) per interval in
one kernel, compiled by numba above :data:`COMPILE_ABOVE` intervals (interpreted below it,
so the live agent's PV forecast never loads numba).  A 5-min year takes ~30 ms instead of
~1.2 s and agrees with ``pvlib.solarposition.get_solarposition`` to ~1e-4 degrees.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from functools import cache

import numpy as np
import pandas as pd
import polars as pl
import pvlib
from pvlib import spa

from energylib.jit import kernel
from energylib.schema import TIME
from energylib.site import Site

#: Canonical weather column -> pvlib column.
PVLIB_WEATHER_COLUMNS = {
    "ghi_w_m2": "ghi",
    "dni_w_m2": "dni",
    "dhi_w_m2": "dhi",
    "temp_air_c": "temp_air",
    "wind_speed_m_s": "wind_speed",
    "albedo_fraction": "albedo",
}

#: DC/AC ratio used when no inverter size is given: the usual Australian
#: 6.6 kWdc on a 5 kWac inverter (the CEC allows up to 133 % oversizing).
DEFAULT_DC_AC_RATIO = 1.32
DEFAULT_ALBEDO = 0.2
# pvlib's defaults where the weather has no temperature, wind or (for refraction) pressure.
DEFAULT_TEMP_AIR_C = 20.0
DEFAULT_WIND_SPEED_M_S = 1.0
REFRACTION_TEMP_C = 12.0

#: Above this many intervals the kernels run compiled (numba, :mod:`energylib.jit`); a day of
#: 5-min steps (the live agent's PV forecast) runs them interpreted and never loads numba.
COMPILE_ABOVE = 2000

TRANSPOSITIONS = ("perez", "haydavies", "isotropic")
#: Cell temperature model -> its mounts (the first is the model's default).
CELL_TEMPERATURE_MOUNTS = {
    "sapm": (
        "close_mount_glass_glass",
        "open_rack_glass_glass",
        "open_rack_glass_polymer",
        "insulated_back_glass_polymer",
    ),
    "noct_sam": ("roof", "open_rack"),
    "fuentes": ("roof", "open_rack"),
    "pvsyst": ("insulated", "freestanding"),
}
# NOCT [C] of a roof mount and an open rack, as PVWatts sets them (v5 Fuentes, v8 NOCT-SAM).
NOCT_C = {"roof": 49.0, "open_rack": 45.0}
SUN_POSITIONS = ("midpoint", "label")
IAM_MODELS = ("physical", "ashrae", "martin_ruiz", "pvwatts_v8", "none")
SPECTRAL_MODELS = ("none", "pvwatts_v8")
DC_MODELS = ("pvwatts", "pvwatts_v8")
INVERTER_MODELS = ("pvwatts", "pvwatts_v8")

# PVWatts v8's "standard" module (SSC cmod_pvwattsv8): CEC single-diode parameters of a
# Canadian Solar CS1H-320MS, scaled to the system's nameplate.
PVWATTS_V8_MODULE = {
    "alpha_sc": 0.004755,
    "a_ref": 1.65916,
    "I_L_ref": 9.51393,
    "I_o_ref": 4.37813e-11,
    "R_sh_ref": 654.059,
    "R_s": 0.269953,
    "Adjust": 5.79586,
}
PVWATTS_V8_MODULE_STC_W = 35.8 * 9.01  # Vmp * Imp
PVWATTS_V8_MODULE_AREA_M2 = 1.6864
PVWATTS_V8_MODULE_EFFICIENCY = PVWATTS_V8_MODULE_STC_W / (1000.0 * PVWATTS_V8_MODULE_AREA_M2)
PVWATTS_V8_LOSSES_PCT = 14.0757
# De Soto's air-mass modifier polynomial (a0..a4), as SAM applies it.
DESOTO_AIR_MASS = (0.918093, 0.086257, -0.024459, 0.002816, -0.000126)
# SAM's inverter "Pso" (DC power to start) as a share of the AC rating.  SAM picks the share
# by system size but compares watts with kW thresholds, so every system of 1 kWdc or more
# gets the utility-scale 0.4931 %; this reproduces what PVWatts v8 computes.
PVWATTS_V8_PSO_FRACTION = 0.004931


@dataclass(frozen=True)
class PVModel:
    """Which published sub-model computes each step of the PV chain.

    Parameters
    ----------
    name : str
        Label (a preset's name, or ``custom``).
    transposition : str
        Sky diffuse on the plane of array: ``perez``, ``haydavies`` or ``isotropic``.
    cell_temperature : str
        ``sapm``, ``noct_sam``, ``fuentes`` or ``pvsyst``.
    mount : str or None
        The temperature model's mounting (see :data:`CELL_TEMPERATURE_MOUNTS`); ``None``
        takes the model's first, a roof mount (``close_mount_glass_glass``, ``roof``,
        ``insulated``).
    sun_position : str
        ``midpoint`` (values are interval means) or ``label`` (instantaneous at the stamp).
    weather_pressure_temperature : bool
        Refraction from the weather's ``pressure`` [Pa] and ``temp_air`` [C] where present.
    albedo : float or None
        Ground reflectance [0-1]; ``None`` takes the weather's ``albedo`` column where it is
        in (0, 1), else 0.2.
    iam : str
        Reflection losses: ``physical``, ``ashrae``, ``martin_ruiz`` (pvlib, on the beam),
        ``pvwatts_v8`` (SAM's De Soto cover on beam and diffuse), ``none``.
    spectral : str
        ``none`` or ``pvwatts_v8`` (De Soto's air-mass modifier).
    dc : str
        ``pvwatts`` (linear in irradiance, the system's ``temp_coefficient``) or
        ``pvwatts_v8`` (CEC single diode of PVWatts v8's standard module).
    inverter : str
        ``pvwatts`` (pvlib's PVWatts curve) or ``pvwatts_v8`` (the Sandia equation with
        PVWatts v8's parameters).
    inverter_efficiency : float
        Nominal inverter efficiency [0-1].
    losses_pct : float
        System losses a :class:`PVSystem` takes unless it sets its own [%].
    module_efficiency : float
        Module efficiency at STC [0-1], used by the ``noct_sam`` and ``pvsyst`` temperature
        models.
    """

    name: str = "custom"
    transposition: str = "haydavies"
    cell_temperature: str = "sapm"
    mount: str | None = None
    sun_position: str = "midpoint"
    weather_pressure_temperature: bool = False
    albedo: float | None = DEFAULT_ALBEDO
    iam: str = "physical"
    spectral: str = "none"
    dc: str = "pvwatts"
    inverter: str = "pvwatts"
    inverter_efficiency: float = 0.96
    losses_pct: float = 14.0
    module_efficiency: float = 0.19

    def __post_init__(self) -> None:
        choices = {
            "transposition": TRANSPOSITIONS,
            "cell_temperature": tuple(CELL_TEMPERATURE_MOUNTS),
            "sun_position": SUN_POSITIONS,
            "iam": IAM_MODELS,
            "spectral": SPECTRAL_MODELS,
            "dc": DC_MODELS,
            "inverter": INVERTER_MODELS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"PVModel.{key}={getattr(self, key)!r} is not one of {allowed}")
        mounts = CELL_TEMPERATURE_MOUNTS[self.cell_temperature]
        if self.mount is None:
            object.__setattr__(self, "mount", mounts[0])
        elif self.mount not in mounts:
            raise ValueError(
                f"PVModel.mount={self.mount!r} is not a mount of the {self.cell_temperature!r} "
                f"cell temperature model; use one of {mounts}"
            )
        if self.albedo is not None and not 0 <= self.albedo <= 1:
            raise ValueError(f"PVModel.albedo must be within [0, 1] or None, got {self.albedo}")
        if not 0 < self.inverter_efficiency <= 1:
            raise ValueError(
                f"PVModel.inverter_efficiency must be within (0, 1], got {self.inverter_efficiency}"
            )
        if not 0 <= self.losses_pct < 100:
            raise ValueError(f"PVModel.losses_pct must be within [0, 100) %, got {self.losses_pct}")
        if not 0 < self.module_efficiency < 1:
            raise ValueError(
                f"PVModel.module_efficiency must be within (0, 1), got {self.module_efficiency}"
            )

    def with_options(self, **options) -> PVModel:
        """This model with some options changed (its name becomes ``<name>+custom``)."""
        unknown = set(options) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(
                f"unknown PVModel option(s) {sorted(unknown)}; options: "
                f"{[f.name for f in fields(self) if f.name != 'name']}"
            )
        if "cell_temperature" in options and "mount" not in options:
            options["mount"] = None
        if "name" not in options:
            options["name"] = self.name if self.name.endswith("+custom") else f"{self.name}+custom"
        return replace(self, **options)


#: Named PV model presets.
PRESETS: dict[str, PVModel] = {
    # energylib's model until issue 19, kept under its own name: its numbers do not move.
    "energylib_v1": PVModel(name="energylib_v1"),
    "pvwatts_v8": PVModel(
        name="pvwatts_v8",
        transposition="perez",
        cell_temperature="noct_sam",
        mount="roof",
        sun_position="midpoint",
        weather_pressure_temperature=True,
        albedo=None,
        iam="pvwatts_v8",
        spectral="pvwatts_v8",
        dc="pvwatts_v8",
        inverter="pvwatts_v8",
        inverter_efficiency=0.96,
        losses_pct=PVWATTS_V8_LOSSES_PCT,
        module_efficiency=PVWATTS_V8_MODULE_EFFICIENCY,
    ),
}
DEFAULT_MODEL = "energylib_v1"


def pv_model(model: PVModel | str = DEFAULT_MODEL, **options) -> PVModel:
    """A :class:`PVModel` from a preset name (or a model), with ``options`` changed.

    >>> pv_model("pvwatts_v8", mount="open_rack").cell_temperature
    'noct_sam'
    """
    if isinstance(model, str):
        try:
            model = PRESETS[model]
        except KeyError:
            raise ValueError(
                f"unknown PV model preset {model!r}; use one of {sorted(PRESETS)} or a PVModel(...)"
            ) from None
    elif not isinstance(model, PVModel):
        raise TypeError(f"a PV model is a preset name or a PVModel, not {type(model).__name__}")
    return model.with_options(**options) if options else model


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
    losses_pct : float or None
        System losses before the inverter (soiling, wiring, mismatch, ...) [%]; ``None``
        takes the model's (14 %, PVWatts v8's 14.0757 %).
    inverter_kwac : float or None
        Inverter AC rating [kWac]; ``None`` means ``kwdc / 1.32`` (6.6 kWdc -> 5.0 kWac).
    temp_coefficient : float
        Power temperature coefficient [1/degC] of the ``pvwatts`` DC model (the
        ``pvwatts_v8`` module carries its own).
    export_limit_kw : float or None
        Grid export limit [kW].  Not applied here: it clips *exports*, which the dispatch does.
    model : PVModel or str
        The PV model or a preset name (:data:`PRESETS`): ``energylib_v1`` (default) or
        ``pvwatts_v8``.
    """

    kwdc: float
    tilt_deg: float = 20.0
    azimuth_deg: float | None = None
    losses_pct: float | None = None
    inverter_kwac: float | None = None
    temp_coefficient: float = -0.0037
    export_limit_kw: float | None = None
    model: PVModel | str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", pv_model(self.model))
        if self.losses_pct is None:
            object.__setattr__(self, "losses_pct", self.model.losses_pct)
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


# --------------------------------------------------------------------------- sun position
def midpoints(index: pd.DatetimeIndex, interval_minutes: int) -> pd.DatetimeIndex:
    """Interval midpoints for interval-start times."""
    return index + pd.Timedelta(minutes=interval_minutes / 2)


# SPA's slowly varying terms are sampled this often and interpolated linearly: the error
# (~1e-4 degrees) is below what SPA itself claims (3e-4 degrees).
_SPA_GRID_S = 6 * 3600.0
_ATMOS_REFRACT = 0.5667  # SPA's refraction at sunrise/sunset [degrees], pvlib's default


@kernel
def _topocentric(v, alpha, delta, xi, lat, lon, elev, pressure_mbar, temp_c):
    """SPA steps 3.9-3.15 (Reda & Andreas 2004, as in pvlib.spa) per instant.

    ``v`` apparent sidereal time, ``alpha`` and ``delta`` the sun's geocentric right ascension
    and declination, ``xi`` its equatorial horizontal parallax [degrees].  Returns apparent
    zenith, zenith, apparent elevation, elevation and azimuth [degrees].
    """
    n = v.size
    app_zen = np.empty(n)
    zen = np.empty(n)
    app_elev = np.empty(n)
    elev0 = np.empty(n)
    azim = np.empty(n)
    lat_r = math.radians(lat)
    u = math.atan(0.99664719 * math.tan(lat_r))
    x = math.cos(u) + elev / 6378140.0 * math.cos(lat_r)
    y = 0.99664719 * math.sin(u) + elev / 6378140.0 * math.sin(lat_r)
    for i in range(n):
        h = (v[i] + lon - alpha[i]) % 360.0
        h_r = math.radians(h)
        xi_r = math.radians(xi[i])
        d_r = math.radians(delta[i])
        denom = math.cos(d_r) - x * math.sin(xi_r) * math.cos(h_r)
        d_alpha = math.degrees(math.atan2(-x * math.sin(xi_r) * math.sin(h_r), denom))
        d_prime = math.degrees(
            math.atan2(
                (math.sin(d_r) - y * math.sin(xi_r)) * math.cos(math.radians(d_alpha)), denom
            )
        )
        hp_r = math.radians(h - d_alpha)
        dp_r = math.radians(d_prime)
        e0 = math.degrees(
            math.asin(
                math.sin(lat_r) * math.sin(dp_r) + math.cos(lat_r) * math.cos(dp_r) * math.cos(hp_r)
            )
        )
        de = 0.0
        if e0 >= -1.0 * (0.26667 + _ATMOS_REFRACT):
            de = (
                (pressure_mbar[i] / 1010.0)
                * (283.0 / (273.0 + temp_c[i]))
                * 1.02
                / (60.0 * math.tan(math.radians(e0 + 10.3 / (e0 + 5.11))))
            )
        e = e0 + de
        gamma = (
            math.degrees(
                math.atan2(
                    math.sin(hp_r),
                    math.cos(hp_r) * math.sin(lat_r) - math.tan(dp_r) * math.cos(lat_r),
                )
            )
            % 360.0
        )
        app_elev[i] = e
        elev0[i] = e0
        app_zen[i] = 90.0 - e
        zen[i] = 90.0 - e0
        azim[i] = (gamma + 180.0) % 360.0
    return app_zen, zen, app_elev, elev0, azim


def _spa(unixtime_s: np.ndarray, site: Site, pressure_pa: np.ndarray, temp_c: np.ndarray):
    """pvlib's SPA with its slow terms on a 6-hour grid (see the module docstring)."""
    g = _SPA_GRID_S
    grid = np.arange(
        math.floor(unixtime_s.min() / g) * g - g, math.ceil(unixtime_s.max() / g) * g + 1.5 * g, g
    )
    stamps = grid.astype("datetime64[s]")
    year = stamps.astype("datetime64[Y]").astype(int) + 1970
    month = stamps.astype("datetime64[M]").astype(int) % 12 + 1
    delta_t = spa.calculate_deltat(year, month)
    lat, lon, elev = site.latitude, site.longitude, site.altitude_m
    # pvlib.spa's own split: sst=True stops after sidereal time and the sun's RA/declination,
    # esd=True after the Earth-Sun distance (the pressure and temperature are not used there).
    v, alpha, delta = spa.solar_position_numpy(
        grid, lat, lon, elev, 1013.25, 12.0, delta_t, _ATMOS_REFRACT, 1, sst=True
    )
    (radius,) = spa.solar_position_numpy(
        grid, lat, lon, elev, 1013.25, 12.0, delta_t, _ATMOS_REFRACT, 1, esd=True
    )
    jd = spa.julian_day(grid)
    nutation = (v - spa.mean_sidereal_time(jd, spa.julian_century(jd)) + 180.0) % 360.0 - 180.0
    jd_t = spa.julian_day(unixtime_s)
    v_t = spa.mean_sidereal_time(jd_t, spa.julian_century(jd_t)) + np.interp(
        unixtime_s, grid, nutation
    )
    topocentric = _topocentric.compiled() if unixtime_s.size > COMPILE_ABOVE else _topocentric
    return topocentric(
        v_t,
        np.interp(unixtime_s, grid, np.unwrap(alpha, period=360.0)),
        np.interp(unixtime_s, grid, delta),
        8.794 / (3600.0 * np.interp(unixtime_s, grid, radius)),
        float(lat),
        float(lon),
        float(elev),
        np.ascontiguousarray(pressure_pa, dtype=float) / 100.0,
        np.ascontiguousarray(temp_c, dtype=float),
    )


_SOLPOS_CACHE: OrderedDict = OrderedDict()
_SOLPOS_CACHE_SIZE = 8
_solpos_stats = {"hits": 0, "misses": 0}
SOLPOS_COLUMNS = (
    "apparent_zenith",
    "zenith",
    "apparent_elevation",
    "elevation",
    "azimuth",
    "dni_extra",
    "cos_zenith",
    "sin_zenith",
    "cos_azimuth",
    "sin_azimuth",
    "airmass_relative",
)


def _unit_vectors(apparent_zenith, azimuth):
    """Cosines and sines of the apparent zenith and the azimuth (any panel's projection is
    then products and sums: no trigonometry per orientation)."""
    z, a = np.radians(apparent_zenith), np.radians(azimuth)
    return np.cos(z), np.sin(z), np.cos(a), np.sin(a)


def _digest(arr: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(arr).view(np.uint8), digest_size=16).hexdigest()


def _times_key(ns: np.ndarray) -> tuple:
    """A regular grid by its first stamp, step and length; anything else by a digest."""
    if ns.size > 1:
        step = ns[1] - ns[0]
        if step > 0 and ns[-1] - ns[0] == step * (ns.size - 1) and (np.diff(ns) == step).all():
            return ("grid", int(ns[0]), int(step), ns.size)
    return ("digest", _digest(ns))


def solar_position_cache_info() -> dict[str, int]:
    """Hits, misses and entries of :func:`solar_position`'s in-process cache."""
    return {**_solpos_stats, "entries": len(_SOLPOS_CACHE), "max_entries": _SOLPOS_CACHE_SIZE}


def clear_solar_position_cache() -> None:
    """Empty :func:`solar_position`'s cache (and reset its counters)."""
    _SOLPOS_CACHE.clear()
    _solpos_stats.update(hits=0, misses=0)


def solar_position(
    index: pd.DatetimeIndex,
    site: Site,
    interval_minutes: int,
    *,
    sun_position: str = "midpoint",
    pressure_pa: np.ndarray | float | None = None,
    temp_air_c: np.ndarray | float | None = None,
) -> pd.DataFrame:
    """Sun position for interval starts, at the midpoints (or the labels), cached.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Tz-aware interval start times.
    site : Site
        Where (latitude, longitude, altitude).
    interval_minutes : int
        Interval length [min].
    sun_position : {'midpoint', 'label'}
        Evaluate at the interval midpoints (values are interval means) or at the stamps
        themselves (values instantaneous at the stamp).
    pressure_pa : array or float, optional
        Air pressure for refraction [Pa]; default: the standard atmosphere at the site's
        altitude (pvlib's ``alt2pres``).
    temp_air_c : array or float, optional
        Air temperature for refraction [C]; default 12 C.

    Returns
    -------
    pandas.DataFrame
        Indexed by the interval *starts*; ``apparent_zenith``, ``zenith``,
        ``apparent_elevation``, ``elevation``, ``azimuth`` [degrees], ``dni_extra``
        (extraterrestrial irradiance on the local day of year [W/m2]) and the cosines and sines
        of apparent zenith and azimuth (``cos_zenith`` ...), and the relative air mass
        (Kasten-Young on the apparent zenith, NaN below the horizon).  ``attrs`` records the
        convention.  The same site, index, convention and atmosphere are computed once per
        process (:func:`solar_position_cache_info`).
    """
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("solar_position needs tz-aware interval starts; localize the index first")
    if sun_position not in SUN_POSITIONS:
        raise ValueError(f"sun_position={sun_position!r}; use one of {SUN_POSITIONS}")
    n = len(index)
    ns = np.asarray(index.as_unit("ns").asi8)  # UTC epoch [ns]
    if sun_position == "midpoint":
        ns = ns + int(interval_minutes * 30 * 1_000_000_000)
    pressure = np.broadcast_to(
        np.asarray(
            pvlib.atmosphere.alt2pres(site.altitude_m) if pressure_pa is None else pressure_pa,
            dtype=float,
        ),
        (n,),
    )
    temp = np.broadcast_to(
        np.asarray(REFRACTION_TEMP_C if temp_air_c is None else temp_air_c, dtype=float), (n,)
    )
    key = (
        site.latitude,
        site.longitude,
        site.altitude_m,
        str(index.tz),
        _times_key(ns),
        _digest(pressure) if pressure_pa is not None else float(pressure[0]) if n else 0.0,
        _digest(temp) if temp_air_c is not None else float(temp[0]) if n else 0.0,
    )
    arrays = _SOLPOS_CACHE.get(key)
    if arrays is None:
        _solpos_stats["misses"] += 1
        if n:
            # Extraterrestrial irradiance on the local day of year of the sun's times, as
            # pvlib's get_extra_radiation(index) gives it (Spencer), once per day of year.
            times = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
            doy = np.asarray(times.tz_convert(index.tz).day_of_year)
            per_day = pvlib.irradiance.get_extra_radiation(np.arange(1, 367))
            app_zen, zen, app_elev, elev, azim = _spa(ns / 1e9, site, pressure, temp)
            arrays = (
                app_zen,
                zen,
                app_elev,
                elev,
                azim,
                per_day[doy - 1],
                *_unit_vectors(app_zen, azim),
                # as ModelChain takes it: Kasten-Young on the apparent zenith (NaN below it)
                np.asarray(
                    pvlib.atmosphere.get_relative_airmass(app_zen, "kastenyoung1989"), dtype=float
                ),
            )
        else:
            arrays = tuple(np.empty(0) for _ in SOLPOS_COLUMNS)
        for a in arrays:
            a.setflags(write=False)
        _SOLPOS_CACHE[key] = arrays
        while len(_SOLPOS_CACHE) > _SOLPOS_CACHE_SIZE:
            _SOLPOS_CACHE.popitem(last=False)
    else:
        _solpos_stats["hits"] += 1
        _SOLPOS_CACHE.move_to_end(key)
    pos = pd.DataFrame(dict(zip(SOLPOS_COLUMNS, arrays, strict=True)), index=index, copy=False)
    pos.attrs = {
        "sun_position": sun_position,
        "weather_atmosphere": pressure_pa is not None or temp_air_c is not None,
    }
    return pos


# --------------------------------------------------------------------------- weather
def to_pvlib_weather(weather: pl.DataFrame | pd.DataFrame, timezone: str = "UTC") -> pd.DataFrame:
    """Canonical weather frame (``ghi_w_m2`` ...) -> pvlib weather (``ghi``, ``dni`` ...).

    Parameters
    ----------
    weather : polars.DataFrame or pandas.DataFrame
        Canonical columns ``interval_start`` (UTC) plus ``ghi_w_m2, dni_w_m2, dhi_w_m2``
        [W/m2], ``temp_air_c`` [degC], ``wind_speed_m_s`` [m/s] (the last two optional:
        20 degC and 1 m/s are assumed when absent) and optionally ``albedo_fraction`` [0-1].
    timezone : str
        Time zone for the returned index.

    Returns
    -------
    pandas.DataFrame
        Indexed by tz-aware interval starts, columns ``ghi, dni, dhi, temp_air, wind_speed``
        (and ``albedo`` where given).
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
        out["temp_air"] = DEFAULT_TEMP_AIR_C
    if "wind_speed" not in out:
        out["wind_speed"] = DEFAULT_WIND_SPEED_M_S
    idx = pd.DatetimeIndex(out.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx
    out.index = idx.tz_convert(timezone)
    return out.astype(float)


def _column(weather: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name in weather:
        return weather[name].to_numpy(dtype=float)
    return np.full(len(weather), default)


def _refraction_atmosphere(weather: pd.DataFrame, model: PVModel) -> dict:
    """The weather's pressure [Pa] and air temperature [C] where the model uses them."""
    if not model.weather_pressure_temperature:
        return {}
    out = {}
    if "pressure" in weather:
        out["pressure_pa"] = weather["pressure"].to_numpy(dtype=float)
    if "temp_air" in weather:
        out["temp_air_c"] = weather["temp_air"].to_numpy(dtype=float)
    return out


# --------------------------------------------------------------------------- the PV chain
def _cover_transmittance(theta_deg, n_cover, n_incoming, k=4.0, thickness_m=0.002):
    """Duffie & Beckman's transmittance of a cover (Fresnel + Bouguer), as SAM writes it.

    Returns the transmittance and the angle of refraction [degrees].
    """
    t1 = np.radians(theta_deg)
    t2 = np.arcsin(n_incoming / n_cover * np.sin(t1))
    reflect = 0.5 * (
        np.sin(t2 - t1) ** 2 / np.sin(t2 + t1) ** 2 + np.tan(t2 - t1) ** 2 / np.tan(t2 + t1) ** 2
    )
    return (1.0 - reflect) * np.exp(-k * thickness_m / np.cos(t2)), np.degrees(t2)


def pvwatts_v8_cover(aoi_deg, tilt_deg, beam, sky, ground):
    """Irradiance through the module cover as PVWatts v8 computes it [W/m2].

    SAM's ``calculateIrradianceThroughCoverDeSoto`` with an anti-reflective coating
    (n = 1.3 on glass of n = 1.526, 2 mm): the beam at its angle of incidence (clipped to
    1-89 degrees), sky and ground diffuse at Brandemuehl & Beckman's equivalent angles,
    each relative to normal incidence and at most 1.

    Parameters
    ----------
    aoi_deg : array
        Angle of incidence of the beam [degrees].
    tilt_deg : float
        Panel tilt [degrees].
    beam, sky, ground : array
        Plane-of-array beam, sky diffuse and ground-reflected irradiance [W/m2].
    """
    grid, k_beam = _pvwatts_v8_beam_table()
    tau_normal = _pvwatts_v8_tau_normal()
    theta_sky = 59.7 - 0.1388 * tilt_deg + 0.001497 * tilt_deg**2
    theta_ground = 90.0 - 0.5788 * tilt_deg + 0.002693 * tilt_deg**2
    k_sky = min(_cover_transmittance(theta_sky, 1.526, 1.0)[0] / tau_normal, 1.0)
    k_ground = min(_cover_transmittance(theta_ground, 1.526, 1.0)[0] / tau_normal, 1.0)
    through = beam * np.interp(aoi_deg, grid, k_beam) + sky * k_sky + ground * k_ground
    return np.maximum(through, 0.0)


def _pvwatts_v8_tau_normal() -> float:
    """Transmittance of the coated cover at normal incidence (SAM takes 1 degree)."""
    coat, theta = _cover_transmittance(1.0, 1.3, 1.0, 4.0, 2e-5)
    return float(coat * _cover_transmittance(theta, 1.526, 1.0)[0])


@cache
def _pvwatts_v8_beam_table() -> tuple[np.ndarray, np.ndarray]:
    """The beam's cover factor on a 0.01-degree grid of incidence angles (it is smooth:
    linear interpolation is exact to ~1e-8)."""
    grid = np.linspace(0.0, 90.0, 9001)
    theta = np.clip(grid, 1.0, 89.0)
    coat, theta_in = _cover_transmittance(theta, 1.3, 1.0, 4.0, 2e-5)
    tau_beam = coat * _cover_transmittance(theta_in, 1.526, 1.3)[0]
    return grid, np.minimum(tau_beam / _pvwatts_v8_tau_normal(), 1.0)


def desoto_air_mass_modifier(zenith_deg, altitude_m: float):
    """De Soto's spectral (air-mass) modifier as SAM applies it [0-1].

    Kasten-Young relative air mass at the (unrefracted) zenith, capped at 86 degrees, scaled
    to the site by ``exp(-0.0001184 altitude)``; then De Soto's quartic.
    """
    am = pvlib.atmosphere.get_relative_airmass(np.clip(zenith_deg, 0.0, 86.0), "kastenyoung1989")
    am = am * math.exp(-0.0001184 * altitude_m)
    return np.clip(np.polyval(DESOTO_AIR_MASS[::-1], am), 0.0, None)


@cache
def _pvwatts_v8_module_table():
    """Max power of PVWatts v8's module on a (sqrt irradiance, cell temperature) grid [W].

    pvlib's CEC single diode and max power point, once per process; bilinear interpolation
    on this grid is within 0.03 % of the direct solution above 20 W/m2 (0.3 % below).
    """
    s = np.arange(0.0, 40.0 + 1e-9, 0.125)  # sqrt(W/m2): dense at low irradiance
    t = np.arange(-60.0, 120.0 + 1e-9, 2.5)  # C
    ss, tt = np.meshgrid(s, t, indexing="ij")
    p = _pvwatts_v8_module_w(ss.ravel() ** 2, tt.ravel()).reshape(ss.shape)
    return s, t, p


def _pvwatts_v8_module_w(effective_irradiance, temp_cell):
    """Max power of one PVWatts v8 module [W] (pvlib's CEC model; 0 below 1 W/m2)."""
    g = np.asarray(effective_irradiance, dtype=float)
    params = pvlib.pvsystem.calcparams_cec(
        np.maximum(g, 1.0), np.asarray(temp_cell, dtype=float), EgRef=1.12, **PVWATTS_V8_MODULE
    )
    with np.errstate(all="ignore"):
        p = np.asarray(pvlib.pvsystem.max_power_point(*params, method="newton")["p_mp"])
    return np.where(g >= 1.0, np.nan_to_num(p), 0.0)


def pvwatts_v8_dc_w(effective_irradiance, temp_cell, kwdc: float, *, exact: bool = False):
    """DC power of ``kwdc`` of PVWatts v8's standard module [W], before system losses.

    Parameters
    ----------
    effective_irradiance : array
        Irradiance reaching the cells, after cover and spectrum [W/m2].
    temp_cell : array
        Cell temperature [C].
    kwdc : float
        Nameplate [kWdc].
    exact : bool
        Solve the single diode at every point instead of interpolating the module's table.
    """
    g = np.asarray(effective_irradiance, dtype=float)
    tc = np.asarray(temp_cell, dtype=float)
    scale = kwdc * 1000.0 / PVWATTS_V8_MODULE_STC_W
    if exact:
        return _pvwatts_v8_module_w(g, tc) * scale
    s_axis, t_axis, table = _pvwatts_v8_module_table()
    bilinear = _bilinear.compiled() if g.size > COMPILE_ABOVE else _bilinear
    p, outside = bilinear(
        table, s_axis[1] - s_axis[0], t_axis[0], t_axis[1] - t_axis[0], np.sqrt(g), tc
    )
    if outside.any():
        p[outside] = _pvwatts_v8_module_w(g[outside], tc[outside])
    return p * scale


@kernel
def _bilinear(table, ds, t0, dt, s, t):
    """Bilinear interpolation on a regular (s from 0, t from t0) grid; flags points outside.
    Irradiance below 1 W/m2 (s < 1) gives 0, as SAM's module model does."""
    n = s.size
    out = np.zeros(n)
    outside = np.zeros(n, dtype=np.bool_)
    ns, nt = table.shape
    for k in range(n):
        if not s[k] >= 1.0:
            continue
        fs = s[k] / ds
        ft = (t[k] - t0) / dt
        i = int(fs)
        j = int(math.floor(ft))
        if i > ns - 2 or j < 0 or j > nt - 2:
            outside[k] = True
            continue
        ws = fs - i
        wt = ft - j
        out[k] = (table[i, j] * (1 - ws) + table[i + 1, j] * ws) * (1 - wt) + (
            table[i, j + 1] * (1 - ws) + table[i + 1, j + 1] * ws
        ) * wt
    return out, outside


def _albedo(weather: pd.DataFrame, model: PVModel, rows: np.ndarray):
    if model.albedo is not None:
        return model.albedo
    if "albedo" not in weather:
        return DEFAULT_ALBEDO
    a = weather["albedo"].to_numpy(dtype=float)[rows]
    return np.where((a > 0) & (a < 1), a, DEFAULT_ALBEDO)


def _cell_temperature(model, poa_global, effective, temp_air, wind, tilt, full_index, rows):
    """Cell temperature [C] on the sunlit rows (Fuentes runs over the whole series)."""
    kind, mount = model.cell_temperature, model.mount
    if kind == "sapm":
        p = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][mount]
        return pvlib.temperature.sapm_cell(poa_global, temp_air[rows], wind[rows], **p)
    if kind == "pvsyst":
        p = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["pvsyst"][mount]
        return pvlib.temperature.pvsyst_cell(
            poa_global, temp_air[rows], wind[rows], module_efficiency=model.module_efficiency, **p
        )
    if kind == "noct_sam":
        with np.errstate(invalid="ignore", divide="ignore"):
            t = pvlib.temperature.noct_sam(
                poa_global,
                temp_air[rows],
                wind[rows],
                NOCT_C[mount],
                model.module_efficiency,
                effective_irradiance=effective,
            )
        return np.where(poa_global > 0, t, temp_air[rows])
    # Fuentes is transient: it needs every interval, the dark ones included.
    poa_all = np.zeros(full_index.size)
    poa_all[rows] = poa_global
    t = pvlib.temperature.fuentes(
        pd.Series(poa_all, full_index),
        pd.Series(temp_air, full_index),
        pd.Series(wind, full_index),
        NOCT_C[mount],
        surface_tilt=tilt,
    )
    return np.asarray(t, dtype=float)[rows]


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
        Indexed by tz-aware interval starts; columns ``ghi, dni, dhi`` [W/m2], ``temp_air``
        [degC], ``wind_speed`` [m/s], optionally ``albedo`` [0-1] and ``pressure`` [Pa] (see
        :func:`to_pvlib_weather`).
    site : Site
        Location.
    system : PVSystem
        The PV system; its ``model`` says how each step is computed.
    interval_minutes : int
        Interval length [min].
    solpos : pandas.DataFrame, optional
        A :func:`solar_position` for the same index and the model's convention.  Not needed:
        :func:`solar_position` caches per site and period.

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
    model = system.model
    n = len(weather)
    if system.kwdc == 0 or n == 0:
        return np.zeros(n)
    if solpos is None:
        solpos = solar_position(
            weather.index,
            site,
            interval_minutes,
            sun_position=model.sun_position,
            **_refraction_atmosphere(weather, model),
        )
    elif missing := [c for c in SOLPOS_COLUMNS if c not in solpos.columns]:
        raise ValueError(
            f"solpos lacks {missing}: pass a frame from energylib.solar.solar_position, or none"
        )
    elif solpos.attrs.get("sun_position", model.sun_position) != model.sun_position:
        raise ValueError(
            f"solpos was computed at the interval {solpos.attrs['sun_position']}s but the PV "
            f"model {model.name!r} takes the sun at the {model.sun_position}; drop solpos= "
            "(solar_position caches it) or compute it with the model's sun_position"
        )
    ghi = np.clip(weather["ghi"].to_numpy(dtype=float), 0, None)
    dni = np.clip(weather["dni"].to_numpy(dtype=float), 0, None)
    dhi = np.clip(weather["dhi"].to_numpy(dtype=float), 0, None)
    # Only intervals with light produce anything; the rest stay 0 (as every model gives).
    rows = np.flatnonzero((ghi > 0) | (dni > 0) | (dhi > 0))
    kw_ac = np.zeros(n)
    if rows.size:
        kw_ac[rows] = (
            _ac_w(weather, site, system, interval_minutes, solpos, rows, ghi, dni, dhi) / 1000.0
        )
    return kw_ac * interval_minutes / 60.0


def _ac_w(weather, site, system, interval_minutes, solpos, rows, ghi, dni, dhi) -> np.ndarray:
    """AC power [W] on the lit rows: the model's chain, one pvlib call per physical step."""
    model = system.model

    def sun(column: str) -> np.ndarray:
        return solpos[column].to_numpy()[rows]

    tilt, surface_azimuth = system.tilt_deg, system.azimuth_for(site)
    dni, ghi, dhi = dni[rows], ghi[rows], dhi[rows]

    # Plane of array, as pvlib's get_total_irradiance composes it.  The projection of the sun
    # on the panel (pvlib's aoi_projection) from the cached unit vectors: products, no trig.
    t, a = math.radians(tilt), math.radians(surface_azimuth)
    cos_zenith = sun("cos_zenith")
    projection = np.clip(
        math.cos(t) * cos_zenith
        + math.sin(t)
        * sun("sin_zenith")
        * (sun("cos_azimuth") * math.cos(a) + sun("sin_azimuth") * math.sin(a)),
        -1.0,
        1.0,
    )
    aoi = np.degrees(np.arccos(projection))  # pvlib.irradiance.aoi
    if model.transposition == "perez":
        sky = pvlib.irradiance.perez(
            tilt,
            surface_azimuth,
            dhi,
            dni,
            sun("dni_extra"),
            sun("apparent_zenith"),
            sun("azimuth"),
            sun("airmass_relative"),
        )
    elif model.transposition == "haydavies":
        # pvlib's beam ratio: cos(aoi) over cos(zenith), the sun held 1 degree up (GH 432)
        ratio = np.maximum(projection, 0.0) / np.maximum(cos_zenith, 0.01745)
        sky = pvlib.irradiance.haydavies(
            tilt, surface_azimuth, dhi, dni, sun("dni_extra"), projection_ratio=ratio
        )
    else:
        sky = pvlib.irradiance.isotropic(tilt, dhi)
    ground = pvlib.irradiance.get_ground_diffuse(tilt, ghi, _albedo(weather, model, rows))
    beam = np.maximum(dni * projection, 0.0)  # pvlib.irradiance.poa_components
    sky = np.nan_to_num(np.asarray(sky, dtype=float))
    ground = np.asarray(ground, dtype=float) * np.ones_like(beam)
    poa_global = beam + sky + ground

    # Reflection and spectrum: irradiance that reaches the cells.
    if model.iam == "pvwatts_v8":
        effective = pvwatts_v8_cover(aoi, tilt, beam, sky, ground)
    else:
        iam = 1.0 if model.iam == "none" else np.nan_to_num(getattr(pvlib.iam, model.iam)(aoi))
        effective = beam * iam + sky + ground
    if model.spectral == "pvwatts_v8":
        effective = effective * desoto_air_mass_modifier(sun("zenith"), site.altitude_m)
    effective = np.clip(effective, 0.0, None)

    temp_air = _column(weather, "temp_air", DEFAULT_TEMP_AIR_C)
    wind = _column(weather, "wind_speed", DEFAULT_WIND_SPEED_M_S)
    temp_cell = _cell_temperature(
        model, poa_global, effective, temp_air, wind, tilt, weather.index, rows
    )

    if model.dc == "pvwatts_v8":
        pdc = pvwatts_v8_dc_w(effective, temp_cell, system.kwdc)
    else:
        pdc = pvlib.pvsystem.pvwatts_dc(
            effective, temp_cell, system.kwdc * 1000.0, system.temp_coefficient
        )
    pdc = np.clip(np.nan_to_num(np.asarray(pdc, dtype=float)), 0.0, None)
    pdc = pdc * (1.0 - system.losses_pct / 100.0)

    pac0 = system.kwac * 1000.0
    eta = model.inverter_efficiency
    if model.inverter == "pvwatts_v8":
        sandia = {
            "Paco": pac0,
            "Pdco": pac0 / eta,
            "Vdco": 0.0,
            "Pso": PVWATTS_V8_PSO_FRACTION * pac0,
            "C0": 0.0,
            "C1": 0.0,
            "C2": 0.0,
            "C3": 0.0,
            "Pnt": 0.0,
        }
        pac = pvlib.inverter.sandia(np.zeros_like(pdc), pdc, sandia)
    else:
        pac = pvlib.inverter.pvwatts(pdc, pac0 / eta, eta_inv_nom=eta)
    return np.clip(np.nan_to_num(np.asarray(pac, dtype=float)), 0.0, pac0)


# --------------------------------------------------------------------------- irradiance
def clear_sky(
    site: Site, starts: pd.DatetimeIndex, interval_minutes: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Sun position (:func:`solar_position`) and clear-sky global irradiance [W/m2]
    (Ineichen, Linke turbidity climatology) at the interval midpoints."""
    loc = pvlib.location.Location(site.latitude, site.longitude, site.timezone, site.altitude_m)
    solpos = solar_position(starts, site, interval_minutes)
    mid = starts + pd.Timedelta(minutes=interval_minutes / 2)
    cs = loc.get_clearsky(mid, model="ineichen", solar_position=solpos.set_axis(mid))
    return solpos, np.clip(cs["ghi"].to_numpy(), 0, None)


def ghi_weather(
    starts: pd.DatetimeIndex,
    ghi_w_m2: np.ndarray,
    solpos: pd.DataFrame,
    temp_air_c: np.ndarray | float = DEFAULT_TEMP_AIR_C,
) -> pd.DataFrame:
    """A weather frame in pvlib's columns from global irradiance alone: the Erbs model
    splits it into beam and diffuse; 1 m/s wind.

    Parameters
    ----------
    starts : pandas.DatetimeIndex
        tz-aware interval starts.
    ghi_w_m2 : numpy.ndarray
        Global horizontal irradiance per interval (a mean over it) [W/m2].
    solpos : pandas.DataFrame
        :func:`solar_position` of ``starts`` (its ``zenith``).
    temp_air_c : float or numpy.ndarray
        Air temperature [degC] (NaN: 20 degC).
    """
    ghi = np.clip(np.asarray(ghi_w_m2, dtype=float), 0, None)
    split = pvlib.irradiance.erbs(ghi, solpos["zenith"].to_numpy(), starts.day_of_year.to_numpy())
    lit = ghi > 0
    dni = np.where(lit, np.clip(np.nan_to_num(np.asarray(split["dni"], float)), 0, None), 0.0)
    dhi = np.where(lit, np.clip(np.nan_to_num(np.asarray(split["dhi"], float)), 0, ghi), 0.0)
    temp = np.broadcast_to(np.asarray(temp_air_c, dtype=float), ghi.shape)
    temp = np.where(np.isfinite(temp), temp, DEFAULT_TEMP_AIR_C)
    return pd.DataFrame(
        {
            "ghi": ghi,
            "dni": dni,
            "dhi": dhi,
            "temp_air": temp,
            "wind_speed": DEFAULT_WIND_SPEED_M_S,
        },
        index=starts,
    )


def clear_sky_weather(
    site: Site,
    starts: pd.DatetimeIndex,
    interval_minutes: int,
    clearness: np.ndarray | float = 1.0,
    *,
    sky: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> pd.DataFrame:
    """A weather frame in pvlib's columns for the interval ``starts``: clear-sky global
    irradiance (Ineichen, at interval midpoints) times ``clearness``, split into beam
    and diffuse by the Erbs model (:func:`ghi_weather`); 20 degC, 1 m/s.

    Parameters
    ----------
    site : Site
    starts : pandas.DatetimeIndex
        tz-aware interval starts.
    interval_minutes : int
        Interval length [min].
    clearness : float or numpy.ndarray
        Factor on the clear-sky global irradiance, per interval or one for all [0-1.2].
    sky : (pandas.DataFrame, numpy.ndarray), optional
        :func:`clear_sky` of the same ``starts``, when already computed.
    """
    solpos, ghi_cs = sky if sky is not None else clear_sky(site, starts, interval_minutes)
    return ghi_weather(starts, ghi_cs * np.asarray(clearness, dtype=float), solpos)


def pv_forecast_kwh(
    site: Site,
    system: PVSystem,
    starts_us: np.ndarray,
    interval_minutes: int,
    ghi_w_m2: np.ndarray | None = None,
    temp_air_c: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """AC energy of ``system`` over a forecast horizon [kWh per interval], from a weather
    forecast's global irradiance where it has one and the clear sky elsewhere.

    Parameters
    ----------
    site : Site
    system : PVSystem
    starts_us : numpy.ndarray
        Interval starts [microseconds since the epoch, UTC].
    interval_minutes : int
        Interval length [min].
    ghi_w_m2 : numpy.ndarray, optional
        Forecast global irradiance per interval [W/m2]; NaN (or none given) takes the
        clear-sky irradiance (Ineichen).
    temp_air_c : numpy.ndarray, optional
        Forecast air temperature [degC]; NaN or none: 20 degC.

    Returns
    -------
    (numpy.ndarray, int)
        AC energy per interval [kWh] (inverter-clipped, export limit not applied), and how
        many intervals took the clear sky for want of a forecast.
    """
    starts = pd.DatetimeIndex(np.asarray(starts_us, dtype="datetime64[us]")).tz_localize("UTC")
    solpos, ghi_cs = clear_sky(site, starts, interval_minutes)
    ghi = ghi_cs if ghi_w_m2 is None else np.asarray(ghi_w_m2, dtype=float)
    clear = ~np.isfinite(ghi)
    ghi = np.where(clear, ghi_cs, ghi)
    temp = DEFAULT_TEMP_AIR_C if temp_air_c is None else temp_air_c
    weather = ghi_weather(starts, ghi, solpos, temp)
    kwh = pv_ac_kwh(weather, site, system, interval_minutes, solpos=solpos)
    return kwh, int(clear.sum()) if ghi_w_m2 is not None else len(starts)


# --------------------------------------------------------------------------- totals
def monthly_kwh(
    kwh: np.ndarray, index: pd.DatetimeIndex, timezone: str | None = None
) -> pl.DataFrame:
    """Energy per interval summed per local calendar month.

    Parameters
    ----------
    kwh : numpy.ndarray
        Energy per interval [kWh].
    index : pandas.DatetimeIndex
        Tz-aware interval starts, one per value.
    timezone : str, optional
        Time zone whose months count (default: the index's).

    Returns
    -------
    polars.DataFrame
        ``month`` (``YYYY-MM``, local) and ``kwh``, one row per month in order.
    """
    kwh = np.asarray(kwh, dtype=float)
    if kwh.shape != (len(index),):
        raise ValueError(f"kwh has {kwh.shape} values; the index has {len(index)} intervals")
    local = index.tz_convert(timezone) if timezone else index
    months = pl.Series("month", np.asarray(local.strftime("%Y-%m")))
    return (
        pl.DataFrame({"month": months, "kwh": kwh})
        .group_by("month", maintain_order=True)
        .agg(pl.col("kwh").sum())
    )


def pv_monthly_kwh(
    weather: pd.DataFrame, site: Site, system: PVSystem, interval_minutes: int
) -> pl.DataFrame:
    """Monthly AC energy of ``system`` [kWh] in the site's local months (``month``, ``kwh``)."""
    kwh = pv_ac_kwh(weather, site, system, interval_minutes)
    return monthly_kwh(kwh, weather.index, site.timezone)


def annual_yield_kwh_per_kwdc(
    weather: pd.DataFrame, site: Site, system: PVSystem, interval_minutes: int
) -> float:
    """Specific yield [kWh/kWdc per year]: AC energy over the frame, scaled to 365 days."""
    kwh = pv_ac_kwh(weather, site, system, interval_minutes)
    days = len(weather) * interval_minutes / 1440.0
    return float(kwh.sum() / system.kwdc * 365.0 / days)
