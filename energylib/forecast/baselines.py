"""Baseline forecasts a learned model must beat.

All work on one target series on a gap-free interval grid (NaN where missing)
and a set of anchor rows; each returns ``(n_anchors, horizon)`` forecasts of the
rows ``anchor + 1 .. anchor + horizon``, using only rows ``<= anchor`` and inputs
known in advance for the forecast's rows (the profile uses only the training block).

* :func:`seasonal_naive`: the same interval one season earlier (``season=48``:
  yesterday at 30 min; ``season=336``: last week), repeated for horizons past a season;
* :class:`RidgeAR`: a direct multi-output ridge regression on the last day of values,
  the anchor's calendar (hour, weekday, day of year, sin/cos) and weather, and the
  known-future inputs (day-ahead forecasts) of the forecast's first day;
* :func:`hour_of_week_profile` / :func:`profile_forecast`: the mean by local
  half-hour of the week from training history: the simulator's baseline load
  (and solar) forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from energylib.forecast.features import time_encodings


def seasonal_naive(y: np.ndarray, anchors: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Forecast step ``k`` (1-based) as ``y[anchor + k - season * ceil(k / season)]``.

    Parameters
    ----------
    y : numpy.ndarray
        Series on its grid (any unit; the forecast has the same unit).
    anchors : numpy.ndarray
        Row of the last known value of each forecast.
    horizon : int
        Steps ahead [intervals].
    season : int
        Season length [intervals]: 48 half-hours = a day, 336 = a week.
    """
    k = np.arange(1, horizon + 1)
    back = k - season * np.ceil(k / season).astype(np.int64)  # in (-season, 0]
    idx = np.asarray(anchors)[:, None] + back[None, :]
    out = np.full(idx.shape, np.nan)
    ok = idx >= 0
    out[ok] = np.asarray(y, dtype=np.float64)[idx[ok]]
    return out


def calendar_regressors(times: pl.Series, timezone: str) -> np.ndarray:
    """``(n, 6)`` hour-of-day, day-of-week and day-of-year sin/cos in the site's local time."""
    enc = time_encodings(times, timezone)
    return np.column_stack(
        [enc[k] for k in ("hour_sin", "hour_cos", "dow_sin", "dow_cos", "doy_sin", "doy_cos")]
    )


@dataclass
class LinearFit:
    """A linear map fitted on standardised regressors: ``((x - x_mean) / x_std) @ coef + y_mean``."""

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    coef: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (
            (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_std
        ) @ self.coef + self.y_mean


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> LinearFit:
    """Multi-output ridge regression on standardised regressors.

    Rows with a missing regressor or target are left out.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, p)`` regressors.
    y : numpy.ndarray
        ``(n, k)`` targets.
    alpha : float
        Penalty on the standardised coefficients.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    y2 = y.reshape(len(y), -1)
    rows = np.isfinite(x).all(axis=1) & np.isfinite(y2).all(axis=1)
    if rows.sum() < 2:
        raise ValueError("fewer than 2 complete training rows for the ridge baseline")
    x, y2 = x[rows], y2[rows]
    x_mean, x_std = x.mean(axis=0), x.std(axis=0)
    x_std = np.where(x_std > 1e-12, x_std, 1.0)
    xs = (x - x_mean) / x_std
    y_mean = y2.mean(axis=0)
    gram = xs.T @ xs + alpha * np.eye(xs.shape[1])
    coef = np.linalg.solve(gram, xs.T @ (y2 - y_mean))
    return LinearFit(x_mean, x_std, y_mean, coef)


@dataclass
class RidgeAR:
    """Direct multi-horizon ridge regression: one linear map from regressors to all steps.

    Regressors at the anchor: the last ``lags`` values of the series, then the
    ``exog`` columns (calendar and weather at the anchor: known when forecasting), then
    the known-future inputs (``future``) at the first ``future_steps`` forecast intervals.
    """

    lags: int
    alpha: float
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    coef: np.ndarray
    future_steps: int = 0

    @staticmethod
    def design(
        y: np.ndarray,
        exog: np.ndarray | None,
        anchors: np.ndarray,
        lags: int,
        future: np.ndarray | None = None,
        future_steps: int = 0,
    ) -> np.ndarray:
        """Regressor matrix ``(n_anchors, lags + n_exog + future_steps * n_future)``."""
        a = np.asarray(anchors)
        idx = a[:, None] + np.arange(-lags + 1, 1)[None, :]
        if (idx < 0).any():
            raise ValueError(f"anchors before row {lags - 1} have fewer than {lags} past values")
        parts = [np.asarray(y, dtype=np.float64)[idx]]
        if exog is not None:
            parts.append(np.asarray(exog, dtype=np.float64)[a])
        if future is not None and future_steps and np.shape(future)[1]:
            ahead = a[:, None] + np.arange(1, future_steps + 1)[None, :]
            parts.append(np.asarray(future, dtype=np.float64)[ahead].reshape(len(a), -1))
        return np.column_stack(parts)

    @classmethod
    def fit(
        cls,
        y: np.ndarray,
        exog: np.ndarray | None,
        anchors: np.ndarray,
        horizon: int,
        lags: int = 48,
        alpha: float = 1.0,
        future: np.ndarray | None = None,
        future_steps: int = 0,
    ) -> RidgeAR:
        """Fit on the windows at ``anchors`` (training anchors only).

        Parameters
        ----------
        y : numpy.ndarray
            Target series on its grid.
        exog : numpy.ndarray or None
            ``(n_rows, n_exog)`` regressors on the same grid.
        anchors : numpy.ndarray
            Training anchors; rows ``anchor + 1 .. anchor + horizon`` are the targets.
        horizon : int
            Steps ahead [intervals].
        lags : int
            Past values used [intervals].
        alpha : float
            Ridge penalty on standardised regressors.
        future : numpy.ndarray, optional
            ``(n_rows, n_future)`` inputs known in advance, on the same grid.
        future_steps : int
            Forecast intervals whose known-future inputs are regressors (a day, say).
        """
        x = cls.design(y, exog, anchors, lags, future, future_steps)
        tgt = np.asarray(y, dtype=np.float64)[
            np.asarray(anchors)[:, None] + np.arange(1, horizon + 1)[None, :]
        ]
        fit = ridge_fit(x, tgt, alpha)
        return cls(lags, alpha, fit.x_mean, fit.x_std, fit.y_mean, fit.coef, future_steps)

    def predict(
        self,
        y: np.ndarray,
        exog: np.ndarray | None,
        anchors: np.ndarray,
        future: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(n_anchors, horizon)`` forecasts."""
        x = self.design(y, exog, anchors, self.lags, future, self.future_steps)
        return ((x - self.x_mean) / self.x_std) @ self.coef + self.y_mean


def week_slots(times: pl.Series, timezone: str, interval_minutes: int = 30) -> np.ndarray:
    """Local interval-of-the-week index (Monday 00:00 = 0) of each interval start."""
    local = times.dt.convert_time_zone(timezone)
    minutes = (
        (local.dt.weekday().cast(pl.Int64) - 1) * 1440
        + local.dt.hour().cast(pl.Int64) * 60
        + local.dt.minute().cast(pl.Int64)
    )
    return (minutes // interval_minutes).to_numpy()


def hour_of_week_profile(y: np.ndarray, slots: np.ndarray, rows: tuple[int, int]) -> np.ndarray:
    """Mean of ``y`` per week slot over ``rows = (start, stop)`` (the training block).

    A slot never seen in training takes the overall training mean.
    """
    a, b = rows
    v, s = np.asarray(y, dtype=np.float64)[a:b], np.asarray(slots)[a:b]
    ok = np.isfinite(v)
    n_slots = int(np.max(slots)) + 1
    sums = np.bincount(s[ok], weights=v[ok], minlength=n_slots)
    counts = np.bincount(s[ok], minlength=n_slots)
    overall = v[ok].mean() if ok.any() else np.nan
    return np.where(counts > 0, sums / np.maximum(counts, 1), overall)


def profile_forecast(
    profile: np.ndarray, slots: np.ndarray, anchors: np.ndarray, horizon: int
) -> np.ndarray:
    """The profile's value at each target row's week slot: ``(n_anchors, horizon)``."""
    idx = np.asarray(anchors)[:, None] + np.arange(1, horizon + 1)[None, :]
    return profile[np.asarray(slots)[idx]]
