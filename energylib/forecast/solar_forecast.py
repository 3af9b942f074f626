"""Day-ahead rooftop PV: a weather forecast through the library's PV model, and a learned correction.

Two day-ahead models of the benchmark protocol (:mod:`energylib.forecast.benchmark`)
for a home's measured PV (``pv_kwh``, CityLearn's 17 homes):

* :class:`PVModelForecast`: the next day's weather forecast is the clear-sky
  irradiance at the site (pvlib's Ineichen model with its Linke turbidity climatology)
  scaled by the clearness the home's own meter measured the day before (its PV over
  the PV model's clear-sky output: cloudiness persists); the global irradiance is split
  into beam and diffuse (Erbs) and run through :func:`energylib.solar.pv_ac_kwh` for the
  home's system.  No fitting: what a DER simulator's baseline solar forecast is.
* :class:`PVCorrected`: a median (least absolute deviations) regression, refitted on
  the home's past days, that corrects that forecast from measured PV: per hour of the
  day a factor on the clear-sky output (the array's real orientation, shading and
  losses the nominal system lacks), plus weights on the clear-sky and weather-driven
  forecasts an hour either side (a meter or array an hour off) and on yesterday's
  measured PV at the same hour.

Both read only days before the target day (the protocol hands them that view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
from sklearn.linear_model import QuantileRegressor
from tqdm import tqdm

from energylib.forecast.baselines import LinearFit
from energylib.forecast.benchmark import SeasonalNaive, run_protocol
from energylib.forecast.dayahead import DayAheadData, slot_starts
from energylib.schema import FrameMeta
from energylib.site import Site
from energylib.solar import (  # noqa: F401 (clear_sky_weather: re-exported, as before)
    PVSystem,
    clear_sky,
    clear_sky_weather,
    pv_ac_kwh,
    solar_position,
)

CLEARNESS_RANGE = (0.0, 1.2)  # a day's measured / clear-sky PV, clipped
#: Where the CityLearn 2022 homes are: Fontana, California.  ``Site`` needs a market of
#: the library's; none applies to PV, so the field is a placeholder here.
CITYLEARN_SITE = Site("citylearn-fontana", 34.0922, -117.4350, 377.0, "America/Los_Angeles", "nem")


@dataclass
class PVModelForecast:
    """Clear-sky weather scaled by yesterday's measured clearness, through the PV model.

    Parameters
    ----------
    site : Site
        Where the home is.
    system : PVSystem
        Its PV system (size from the home's records; orientation, where unknown, the
        library's default: 20 degrees, facing the equator).
    name : str
        Output name.
    """

    site: Site
    system: PVSystem
    name: str = "PV model (persisted clearness)"
    _sky: dict = field(default_factory=dict, repr=False)
    _forecast: dict = field(default_factory=dict, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def config(self) -> dict:
        return {
            "model": "pv_model",
            "site": self.site.name,
            "system": repr(self.system),
            "version": 1,
        }

    def _calendar(self, data: DayAheadData, rows: np.ndarray) -> dict:
        """Index, sun position, clear-sky irradiance and clear-sky PV of days ``rows``.

        They depend on the calendar only (no measurement), so they are computed for a
        year of days at a time from the data's first day (pvlib's clear-sky model reads
        its turbidity table on every call)."""
        per_day = data.per_day
        if self._sky.get("days0") != data.days[0] or int(rows.max()) >= self._sky.get("n", 0):
            n = int(rows.max()) + 366
            dates = data.days[0] + np.arange(n)
            # A slot that does not exist on the local clock (the hour skipped when clocks
            # go forward, at night) takes the slot before it.
            starts = slot_starts(dates, data.interval_minutes, data.timezone).fill_null(
                strategy="forward"
            )
            idx = pd.DatetimeIndex(starts.to_pandas()).tz_convert(self.site.timezone)
            solpos, ghi_cs = clear_sky(self.site, idx, data.interval_minutes)
            weather = clear_sky_weather(self.site, idx, data.interval_minutes, sky=(solpos, ghi_cs))
            pv = pv_ac_kwh(weather, self.site, self.system, data.interval_minutes, solpos=solpos)
            self._sky = {
                "days0": data.days[0],
                "n": n,
                "index": idx,
                "solpos": solpos,
                "ghi_cs": ghi_cs.reshape(n, per_day),
                "pv": pv.reshape(n, per_day),
            }
        return self._sky

    def clear_sky_pv(self, data: DayAheadData, rows: np.ndarray) -> np.ndarray:
        """The PV model's output on clear-sky weather for days ``rows``: ``(n, per_day)`` [kWh]."""
        rows = np.asarray(rows, dtype=np.int64)
        return self._calendar(data, rows)["pv"][rows]

    def clearness(self, data: DayAheadData, rows: np.ndarray) -> np.ndarray:
        """Measured clearness of days ``rows``: measured PV over clear-sky PV, clipped (1
        where the day has no measurement or no clear-sky output)."""
        clear = self.clear_sky_pv(data, rows).sum(axis=1)
        measured = data.target[rows].sum(axis=1)
        with np.errstate(all="ignore"):
            k = np.where((clear > 0) & np.isfinite(measured), measured / clear, 1.0)
        return np.clip(k, *CLEARNESS_RANGE)

    def forecasts(self, data: DayAheadData, rows: np.ndarray) -> np.ndarray:
        """Forecasts of days ``rows`` (each from the day before it): ``(n, per_day)`` [kWh]."""
        rows = np.asarray(rows, dtype=np.int64)
        k = self.clearness(data, rows - 1)
        # A day's forecast depends on its date and yesterday's clearness only: kept by both.
        keys = [(int(r), float(c)) for r, c in zip(rows, k, strict=True)]
        todo = np.array(
            [i for i, key in enumerate(keys) if key not in self._forecast], dtype=np.int64
        )
        if len(todo):
            cal = self._calendar(data, rows)
            per_day = data.per_day
            pos = (rows[todo][:, None] * per_day + np.arange(per_day)[None, :]).reshape(-1)
            idx = cal["index"][pos]
            solpos = cal["solpos"].iloc[pos]
            weather = clear_sky_weather(
                self.site,
                idx,
                data.interval_minutes,
                np.repeat(k[todo], per_day),
                sky=(solpos, cal["ghi_cs"][rows[todo]].reshape(-1)),
            )
            pv = pv_ac_kwh(weather, self.site, self.system, data.interval_minutes, solpos=solpos)
            for i, day in zip(todo, pv.reshape(len(todo), per_day), strict=True):
                self._forecast[keys[i]] = day
        return np.stack([self._forecast[key] for key in keys])

    def calibrate(self, data: DayAheadData) -> None:
        return None

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        day = data.n_days - 1
        return {self.name: self.forecasts(data, np.array([day]))[0]}


@dataclass
class PVCorrected:
    """The PV model's day-ahead forecast, corrected by a regression fitted on measured PV.

    Regressors of slot ``s`` of day ``D`` (no intercept: no sun, no PV): the clear-sky
    output at ``s`` in the column of slot ``s`` (a factor per slot of the day: the real
    array's orientation, shading and losses that the nominal system lacks), the
    clear-sky output and the weather-driven forecast of :class:`PVModelForecast` at
    ``s - 1``, ``s`` and ``s + 1`` (a meter whose clock or array is an hour off), and the
    measured PV of ``D-1`` at ``s``.  Fitted on the last ``window`` days before ``D`` by
    least absolute deviations (``loss='absolute'``: the median, which the MAE rewards;
    scikit-learn's ``QuantileRegressor`` on HiGHS) or by ridge (``loss='squared'``).

    Parameters
    ----------
    physical : PVModelForecast
        The PV model forecast it corrects.
    window : int
        Training days [days].
    alpha : float
        Penalty (L1 for ``absolute``, L2 on standardised regressors for ``squared``).
    loss : str
        ``absolute`` or ``squared``.
    """

    physical: PVModelForecast
    window: int = 90
    alpha: float = 1e-4
    loss: str = "absolute"
    name: str = "PV model + learned correction"
    _fit: LinearFit | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.loss not in ("absolute", "squared"):
            raise ValueError(f"loss {self.loss!r} unknown; use 'absolute' or 'squared'")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def config(self) -> dict:
        return {
            "model": "pv_corrected",
            "physical": self.physical.config(),
            "window": self.window,
            "alpha": self.alpha,
            "loss": self.loss,
            "version": 2,
        }

    def _design(self, data: DayAheadData, rows: np.ndarray) -> np.ndarray:
        s = data.per_day
        clear = self.physical.clear_sky_pv(data, rows)
        phys = self.physical.forecasts(data, rows)
        yday = np.nan_to_num(data.target[rows - 1])

        def shifted(v: np.ndarray, k: int) -> np.ndarray:
            return np.roll(v, k, axis=1).reshape(-1)

        n = clear.size
        per_slot = np.zeros((n, s))
        per_slot[np.arange(n), np.tile(np.arange(s), len(rows))] = clear.reshape(-1)
        return np.column_stack(
            [per_slot]
            + [shifted(v, k) for v in (clear, phys) for k in (1, 0, -1)]
            + [yday.reshape(-1)]
        )

    def calibrate(self, data: DayAheadData) -> None:
        day = data.n_days - 1
        rows = np.arange(max(1, day - self.window), day)
        x = self._design(data, rows)
        y = data.target[rows].reshape(-1)
        ok = np.isfinite(y)
        if ok.sum() < 2 * data.per_day:
            raise ValueError(
                f"{self.name}: fewer than 2 measured days before {data.days[day]}; start the test later"
            )
        # A regression through the origin: no sun, no PV.
        self._fit = (
            _lad_through_origin(x[ok], y[ok], self.alpha)
            if self.loss == "absolute"
            else _ridge_through_origin(x[ok], y[ok], self.alpha)
        )

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        if self._fit is None:
            raise RuntimeError(f"{self.name} is not calibrated; call calibrate() first")
        day = data.n_days - 1
        y = self._fit.predict(self._design(data, np.array([day])))
        return {self.name: np.clip(y.reshape(-1), 0.0, None)}


def _scale(x: np.ndarray) -> np.ndarray:
    scale = np.sqrt((x * x).mean(axis=0))
    return np.where(scale > 1e-12, scale, 1.0)


def _ridge_through_origin(x: np.ndarray, y: np.ndarray, alpha: float) -> LinearFit:
    """Ridge without intercept on regressors scaled by their root mean square."""
    scale = _scale(x)
    xs = x / scale
    coef = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ y)
    return LinearFit(np.zeros(x.shape[1]), scale, np.zeros(1), coef[:, None])


def _lad_through_origin(x: np.ndarray, y: np.ndarray, alpha: float) -> LinearFit:
    """Least absolute deviations (the conditional median) without intercept, L1-penalised,
    on regressors scaled by their root mean square: scikit-learn's QuantileRegressor."""
    scale = _scale(x)
    model = QuantileRegressor(quantile=0.5, alpha=alpha, fit_intercept=False, solver="highs")
    model.fit(x / scale, y)
    return LinearFit(np.zeros(x.shape[1]), scale, np.zeros(1), model.coef_[:, None])


def pv_benchmark(
    buildings: Sequence[tuple[pl.DataFrame, FrameMeta]],
    site: Site = CITYLEARN_SITE,
    *,
    clock: str = "Etc/GMT+8",
    test_start: str = "2016-10-01",
    test_end: str | None = None,
    recalibration: str = "weekly",
    window: int = 90,
    progress: bool = True,
) -> pl.DataFrame:
    """Day-ahead PV of each home by persistence, the PV model, and the corrected PV model.

    Parameters
    ----------
    buildings : sequence of (polars.DataFrame, FrameMeta)
        Homes with measured ``pv_kwh`` and ``meta.extra['pv_kwp']``
        (:func:`energylib.ingest.households.read_citylearn_buildings`).
    site : Site
        Their location.
    clock : str
        Zone whose days are forecast (CityLearn's clock: fixed UTC-8).
    test_start, test_end : str
        Test period (local dates; ``test_end`` default: the data's last day).
    recalibration : str
        How often the correction is refitted.
    window : int
        Training days of the correction [days].

    Returns
    -------
    polars.DataFrame
        ``home, kwp, model, days, mae, rmse, skill_pct`` (MAE and RMSE [kWh per hour];
        ``skill_pct``: MAE below persistence's, %).
    """
    rows = []
    for data, meta in tqdm(buildings, desc="homes", disable=not progress):
        kwp = float(meta.extra["pv_kwp"])
        days = DayAheadData.from_frame(
            data, "pv_kwh", timezone=clock, interval_minutes=meta.interval_minutes
        )
        physical = PVModelForecast(site, PVSystem(kwdc=kwp))
        result = run_protocol(
            days,
            [SeasonalNaive(1), physical, PVCorrected(physical, window=window)],
            test_start,
            test_end or str(days.days[-1]),
            recalibration=recalibration,
            progress=False,
        )
        table = result.table(unit_factor=1.0)
        persistence = table.filter(pl.col("model") == "naive day")["mae"][0]
        rows.append(
            table.select("model", "days", "mae", "rmse").with_columns(
                pl.lit(meta.site).alias("home"),
                pl.lit(kwp).alias("kwp"),
                pl.col("model").replace({"naive day": "persistence (yesterday)"}),
                (100.0 * (1.0 - pl.col("mae") / persistence)).alias("skill_pct"),
            )
        )
    return pl.concat(rows).select("home", "kwp", "model", "days", "mae", "rmse", "skill_pct")
