"""Intraday price forecasts from recent lags, for model-predictive control.

:class:`LagRidge` forecasts the price of each of the next ``horizon`` intervals from what is
known at the decision interval: one ridge regression per step ahead (scikit-learn's
:class:`~sklearn.linear_model.Ridge`), each on

* the decision interval's own price (published by then: Amber's current interval, the
  MPC's ``known_intervals=1``), the two before it and the mean of the last six;
* the price at the target's time of day on the latest day before the decision, and a
  week before that;
* the median at the target's time of day over the last week;
* the target's local hour (one-hot).

Prices go in clipped to ``[-clip, clip]`` (a market cap of 17.5 AUD/kWh would otherwise
dominate every least-squares fit), the target unclipped, so the forecast is a conditional
mean that keeps the chance of a spike.  A forecast needs no data after its decision
interval (tested).  :meth:`LagRidge.table` gives the forecasts issued at every decision of a
period, as :class:`energylib.dispatch.mpc.IssuedForecast` takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import Ridge

WEEK_DAYS = 7


@dataclass
class LagRidge:
    """Per-step-ahead ridge regressions of the price on recent lags (see the module docstring).

    Parameters
    ----------
    horizon : int
        Steps ahead forecast (step 0 is the decision interval itself).
    steps_per_day : int
        Intervals per day (48 at 30 min).
    clip : float or None
        Inputs clipped to ``[-clip, clip]`` [currency/kWh]; None: unclipped.
    alpha : float
        Ridge penalty.
    """

    horizon: int
    steps_per_day: int
    clip: float | None = 1.0
    alpha: float = 1.0
    models: list[Ridge] = field(default_factory=list, repr=False)

    def features(self, price: np.ndarray, hour: np.ndarray, h: int) -> np.ndarray:
        """Inputs of step ``h`` ahead for a decision at every interval ``i``: row ``i`` reads
        ``price[: i + 1]`` only (NaN where that history is too short).

        Parameters
        ----------
        price : numpy.ndarray
            Price per interval [currency/kWh].
        hour : numpy.ndarray of int
            Local hour (0-23) of each interval.
        h : int
            Steps ahead.
        """
        x = np.asarray(price, dtype=float)
        if self.clip is not None:
            x = np.clip(x, -self.clip, self.clip)
        n, day = x.size, self.steps_per_day
        i = np.arange(n)

        def at(idx: np.ndarray) -> np.ndarray:
            return np.where((idx >= 0) & (idx < n), x[np.clip(idx, 0, n - 1)], np.nan)

        recent = np.column_stack([at(i - k) for k in range(6)])
        # the target's time of day on the latest day before the decision, and the week's
        back = day * (h // day + 1)
        days = np.column_stack([at(i + h - back - d * day) for d in range(WEEK_DAYS)])
        target_hour = hour[np.clip(i + h, 0, n - 1)]
        return np.column_stack(
            [
                recent[:, :3],
                recent.mean(axis=1),
                days[:, 0],
                at(i + h - back - WEEK_DAYS * day),
                np.median(days, axis=1),
                np.eye(24)[target_hour],
            ]
        )

    def fit(self, price: np.ndarray, hour: np.ndarray) -> LagRidge:
        """Fit every step ahead on a history of prices and their local hours."""
        y = np.asarray(price, dtype=float)
        self.models = []
        for h in range(self.horizon):
            X = self.features(y, hour, h)
            target = np.r_[y[h:], np.full(h, np.nan)]
            ok = np.isfinite(X).all(axis=1) & np.isfinite(target)
            if ok.sum() < X.shape[1]:
                raise ValueError(
                    f"LagRidge: {int(ok.sum())} complete rows to fit step {h} ahead; give at "
                    f"least {WEEK_DAYS + 2} days of prices"
                )
            self.models.append(Ridge(alpha=self.alpha).fit(X[ok], target[ok]))
        return self

    def table(self, price: np.ndarray, hour: np.ndarray, issues: np.ndarray) -> np.ndarray:
        """Forecasts issued at the intervals ``issues`` of ``price``: ``(issues, horizon)``
        [currency/kWh], NaN where the history before an issue is too short.

        ``price`` holds the history before the period and the period itself; an issue at
        ``i`` reads ``price[: i + 1]``.
        """
        if not self.models:
            raise ValueError("LagRidge.table before fit(): fit it on a history of prices first")
        issues = np.asarray(issues, dtype=np.int64)
        out = np.full((issues.size, self.horizon), np.nan)
        for h, model in enumerate(self.models):
            X = self.features(price, hour, h)[issues]
            ok = np.isfinite(X).all(axis=1)
            if ok.any():
                out[ok, h] = model.predict(X[ok])
        return out


@dataclass
class AnalogScenarios:
    """Price scenarios for stochastic MPC: at a decision, a fitted :class:`LagRidge`'s point
    forecast plus the errors it made at the ``scenarios`` most similar earlier decisions.

    Similar decisions are at the same time of day (within ``slot_window`` intervals) and
    nearest in what a decision sees: the current price, the mean of the last six and the
    highest price of the last day (clipped as the ridge's inputs, in units of their spread
    before ``history_end``, times ``weights``).  An earlier decision lends its errors only once its whole
    horizon is over (``j + horizon <= i``), so a decision at ``i`` reads ``price[: i + 1]``
    and nothing later (tested).  The errors keep their shape along the horizon: a spike's
    path, its timing and its length, as it happened.

    Parameters
    ----------
    model : LagRidge
        Fitted (on data before ``history_end``).
    price : numpy.ndarray
        Price per interval, the history and the period [currency/kWh].
    hour : numpy.ndarray of int
        Local hour of each interval.
    history_end : int
        Index of the period's first interval in ``price`` (the features' spread is taken
        before it).
    scenarios : int
        Paths per decision.
    slot_window : int
        Intervals either side of the decision's time of day an earlier decision may be at.
    weights : tuple of float
        Weights of the current price, the last six's mean and the last day's highest price
        in the distance.
    """

    model: LagRidge
    price: np.ndarray
    hour: np.ndarray
    history_end: int
    scenarios: int = 20
    slot_window: int = 1
    weights: tuple[float, float, float] = (1.0, 1.0, 0.5)
    point: np.ndarray = field(init=False, repr=False)
    errors: np.ndarray = field(init=False, repr=False)
    state: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = np.asarray(self.price, dtype=float)
        n, H = x.size, self.model.horizon
        if self.scenarios < 1:
            raise ValueError(f"AnalogScenarios.scenarios must be >= 1, got {self.scenarios}")
        self.point = self.model.table(x, self.hour, np.arange(n))
        ahead = np.arange(n)[:, None] + np.arange(H)
        actual = np.where(ahead < n, x[np.minimum(ahead, n - 1)], np.nan)
        self.errors = actual - self.point
        c = x if self.model.clip is None else np.clip(x, -self.model.clip, self.model.clip)
        day = self.model.steps_per_day

        def rolling(k: int, fn) -> np.ndarray:
            out = np.full(n, np.nan)
            if n >= k:
                out[k - 1 :] = fn(np.lib.stride_tricks.sliding_window_view(c, k), axis=1)
            return out

        state = np.column_stack([c, rolling(6, np.mean), rolling(day, np.max)])
        scale = np.nanstd(state[: max(self.history_end, 1)], axis=0)
        self.state = state / np.where(scale > 0, scale, 1.0) * np.asarray(self.weights)

    def paths(self, i: int, n: int) -> np.ndarray:
        """``(scenarios, n)`` price paths of intervals ``i .. i + n - 1`` of ``price`` as
        known at the start of ``i`` (NaN where the point forecast has none)."""
        H, day, K = self.model.horizon, self.model.steps_per_day, self.scenarios
        n = min(n, H)
        # earlier decisions at the same time of day (+- slot_window), horizon over before i
        last = i - H
        back = np.arange(1, last // day + 2) * day
        cand = (i - back[:, None] + np.arange(-self.slot_window, self.slot_window + 1)).ravel()
        cand = cand[(cand >= 0) & (cand <= last)]
        point = self.point[i, :n]
        if cand.size == 0 or not np.isfinite(self.state[i]).all():
            return np.broadcast_to(point, (K, n)).copy()
        err = self.errors[cand, :n]
        d = self.state[cand] - self.state[i]
        dist = np.einsum("ij,ij->i", d, d)
        dist[~(np.isfinite(dist) & np.isfinite(err).all(axis=1))] = np.inf
        k = min(K, cand.size)
        near = np.argpartition(dist, k - 1)[:k] if k < cand.size else np.arange(cand.size)
        near = near[np.argsort(dist[near], kind="stable")]
        near = near[np.isfinite(dist[near])]
        if near.size == 0:
            return np.broadcast_to(point, (K, n)).copy()
        take = near[np.arange(K) % near.size]  # too few: the nearest again
        return point + err[take]
