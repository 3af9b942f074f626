"""LEAR: the LASSO-estimated autoregressive day-ahead model of Lago et al. (2021).

The open benchmark's statistical reference model (epftoolbox), built from the same
facts:

* one linear model per slot of the day (24 for hourly prices);
* inputs of target day ``D``: the target on days ``D-1, D-2, D-3, D-7`` (every slot),
  each known-future input on days ``D, D-1, D-7`` (every slot) and 7 day-of-week
  dummies of ``D``;
* a variance-stabilising transform of inputs and target: ``asinh((x - median) / MAD)``
  per column, median and MAD (normalised, ``1.4826 * median |x - median|``) over the
  calibration days; dummies are left as they are;
* calibration on the last ``W`` days before ``D`` (the first week of them only feeds
  the lags, so ``W - 7`` training days); windows 56, 84, 1,092 and 1,456 days, and the
  average of the four;
* the L1 penalty chosen per slot by scikit-learn's ``LassoLarsIC(criterion='aic')``,
  then a scikit-learn Lasso at that penalty.  The published figures were made with
  scikit-learn of 2020, whose ``LassoLarsIC`` normalised every input column to unit
  length before the LARS path and scored it with ``n MSE / var(y) + 2 df``; this
  module does the same (scikit-learn's current ``LassoLarsIC`` with
  ``noise_variance=var(y)`` on normalised columns picks the identical penalty, which a
  test checks), and fits the Lasso on the transformed, unnormalised columns as
  epftoolbox does.

Speed (the full protocol refits 24 slots x 4 windows on each of 728 test days): the
feature matrix of every day is built once per call with array indexing; the 24 slots
share one Gram matrix for the LARS path (scikit-learn's ``lars_path_gram``, the
solver ``LassoLarsIC`` runs) and for the Lasso's coordinate descent (scikit-learn's
``lasso_path``, the solver ``Lasso`` runs); the path is first followed for
``path_steps`` steps and only followed to its end when the criterion's minimum is not
well inside them (on NP it lies at steps 1-30 of 200-450); slots run in parallel
with joblib (``n_jobs``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path_gram, lasso_path

from energylib.forecast.dayahead import DayAheadData

#: Calibration windows of Lago et al. [days].
WINDOWS = (56, 84, 1092, 1456)
TARGET_LAGS = (1, 2, 3, 7)  # days
EXOG_LAGS = (0, 1, 7)  # days; 0 is the target day itself (a day-ahead forecast)
MAX_ITER = 2500  # epftoolbox's max_iter, for the LARS path and the Lasso alike
MAD_TO_SIGMA = (
    1.4826022185056018  # 1 / Phi^-1(3/4): the MAD of a normal distribution is sigma / 1.4826
)


def lear_features(
    target: np.ndarray,
    exog: np.ndarray,
    weekdays: np.ndarray,
    rows: np.ndarray,
    target_lags: Sequence[int] = TARGET_LAGS,
    exog_lags: Sequence[int] = EXOG_LAGS,
) -> np.ndarray:
    """LEAR's inputs for days ``rows``: ``(len(rows), n_features)``.

    Columns, in order: ``target[d - k, s]`` for each lag ``k`` in ``target_lags`` and
    slot ``s``; ``exog[d - k, s, e]`` for each lag ``k`` in ``exog_lags``, input ``e``
    and slot ``s``; then 7 dummies (Monday first) of day ``d``'s weekday.  A lag before
    the first day is NaN.

    Parameters
    ----------
    target : numpy.ndarray
        ``(n_days, per_day)``.
    exog : numpy.ndarray
        ``(n_days, per_day, n_exog)``.
    weekdays : numpy.ndarray
        ``(n_days,)``, Monday = 0.
    rows : numpy.ndarray
        Days to build rows for.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n_days = target.shape[0]

    def at(values: np.ndarray, lag: int) -> np.ndarray:
        src = rows - lag
        out = np.full((len(rows),) + values.shape[1:], np.nan)
        ok = (src >= 0) & (src < n_days)
        out[ok] = values[src[ok]]
        return out

    parts = [at(target, k) for k in target_lags]
    for k in exog_lags:
        lagged = at(exog, k)  # (n, per_day, n_exog)
        parts += [lagged[:, :, e] for e in range(exog.shape[2])]
    parts.append(np.eye(7)[np.asarray(weekdays)[rows]])
    return np.concatenate(parts, axis=1)


def lear_feature_names(
    per_day: int,
    exog_names: Sequence[str],
    target_lags: Sequence[int] = TARGET_LAGS,
    exog_lags: Sequence[int] = EXOG_LAGS,
) -> list[str]:
    """Names of :func:`lear_features`' columns (``target_d-1_s0`` ... ``dow_6``)."""
    names = [f"target_d-{k}_s{s}" for k in target_lags for s in range(per_day)]
    for k in exog_lags:
        for e in exog_names:
            names += [f"{e}_d-{k}_s{s}" if k else f"{e}_d_s{s}" for s in range(per_day)]
    return names + [f"dow_{d}" for d in range(7)]


@dataclass
class InvariantScaler:
    """``asinh((x - median) / MAD)`` per column (the variance-stabilising transform of
    Uniejewski, Weron and Ziel 2018 that LEAR uses); MAD normalised to a normal's sigma.

    A column whose MAD is 0 (a constant) is divided by its standard deviation, or 1.
    """

    median: np.ndarray
    mad: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> InvariantScaler:
        med = np.median(x, axis=0)
        mad = MAD_TO_SIGMA * np.median(np.abs(x - med), axis=0)
        std = x.std(axis=0)
        mad = np.where(mad > 1e-12, mad, np.where(std > 1e-12, std, 1.0))
        return cls(med, mad)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.arcsinh((x - self.median) / self.mad)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.sinh(z) * self.mad + self.median


def aic_alpha(
    gram: np.ndarray, xy: np.ndarray, yy: float, n: int, path_steps: int | None = 100
) -> float:
    """The penalty 2020's ``LassoLarsIC(criterion='aic')`` chooses, from the Gram matrix
    of centred, unit-length columns.

    Parameters
    ----------
    gram : numpy.ndarray
        ``X'X`` of the centred, normalised inputs ``(p, p)``.
    xy : numpy.ndarray
        ``X'y`` with ``y`` centred ``(p,)``.
    yy : float
        ``y'y`` of the centred ``y``.
    n : int
        Training rows.
    path_steps : int or None
        Follow the LARS path this many steps first; the whole path is followed (up to
        2,500 steps) only when the minimum lies past half of them.  None: always the whole path.

    Returns
    -------
    float
        The penalty at the minimum of ``n MSE / var(y) + 2 df`` over the path's knots.
    """
    var_y = yy / n
    steps = [path_steps, MAX_ITER] if path_steps else [MAX_ITER]
    for cap in steps:
        alphas, _, coefs = lars_path_gram(
            xy, gram, n_samples=n, max_iter=cap, method="lasso", copy_Gram=True
        )
        rss = yy - 2.0 * (coefs.T @ xy) + np.einsum("ik,ij,jk->k", coefs, gram, coefs)
        df = (np.abs(coefs) > np.finfo(np.float64).eps).sum(axis=0)
        crit = rss / (var_y + np.finfo(np.float64).eps) + 2.0 * df
        best = int(np.argmin(crit))
        finished = len(alphas) <= cap  # the path ended before the cap
        if finished or best <= cap // 2:
            return float(alphas[best])
    return float(alphas[best])


def _fit_slots(
    xs: np.ndarray, ys: np.ndarray, path_steps: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(n_slots, p)`` and intercepts ``(n_slots,)`` of one window's slots."""
    n, p = xs.shape
    x_mean = xs.mean(axis=0)
    xc = xs - x_mean
    norms = np.sqrt((xc * xc).sum(axis=0))
    norms = np.where(norms > 0, norms, 1.0)
    xn = xc / norms
    gram_n = xn.T @ xn
    precompute = (
        n > p
    )  # as scikit-learn's "auto": a Gram matrix pays off with more rows than columns
    gram = xc.T @ xc if precompute else False
    coef = np.zeros((ys.shape[1], p))
    intercept = np.zeros(ys.shape[1])
    with warnings.catch_warnings():
        # epftoolbox ignores the Lasso's convergence warnings at max_iter 2,500; so do we.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j in range(ys.shape[1]):
            y = ys[:, j]
            y_mean = y.mean()
            yc = y - y_mean
            alpha = aic_alpha(gram_n, xn.T @ yc, float(yc @ yc), n, path_steps)
            _, c, _ = lasso_path(
                xc,
                yc,
                alphas=[alpha],
                precompute=gram,
                Xy=xc.T @ yc if precompute else None,
                max_iter=MAX_ITER,
                tol=1e-4,
            )
            coef[j] = c[:, 0]
            intercept[j] = y_mean - x_mean @ coef[j]
    return coef, intercept


@dataclass
class LEARFit:
    """One calibrated window: scalers and per-slot linear models (transformed units)."""

    window: int
    x_scaler: InvariantScaler
    y_scaler: InvariantScaler
    coef: np.ndarray  # (per_day, n_features)
    intercept: np.ndarray  # (per_day,)
    n_train: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forecasts ``(n, per_day)`` in the target's unit for raw feature rows ``x``."""
        z = x.copy()
        z[:, :-7] = self.x_scaler.transform(x[:, :-7])
        return self.y_scaler.inverse(z @ self.coef.T + self.intercept)


@dataclass
class LEAR:
    """LEAR over one or more calibration windows, and their average.

    A model of the benchmark protocol (:mod:`energylib.forecast.benchmark`):
    :meth:`calibrate` fits every window on the days before the view's last day,
    :meth:`forecast` forecasts that last day.

    Parameters
    ----------
    windows : sequence of int
        Calibration windows [days]; default Lago et al.'s 56, 84, 1,092 and 1,456.
    path_steps : int or None
        See :func:`aic_alpha`.
    n_jobs : int
        Parallel workers (joblib processes) over windows and slots; 1 runs inline.
    prefix : str
        Output names are ``"<prefix> <window>"`` and ``"<prefix> ensemble"``.
    """

    independent_calibrations: ClassVar[bool] = True  # each calibration reads only its view
    windows: Sequence[int] = WINDOWS
    path_steps: int | None = 100
    n_jobs: int = 1
    prefix: str = "LEAR"
    fits: dict[int, LEARFit] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Output names: one per window, then the ensemble where there are several."""
        own = tuple(f"{self.prefix} {w}" for w in self.windows)
        return own + ((f"{self.prefix} ensemble",) if len(self.windows) > 1 else ())

    def config(self) -> dict:
        return {
            "model": "LEAR",
            "version": 1,
            "windows": list(self.windows),
            "path_steps": self.path_steps,
        }

    def _matrix(self, data: DayAheadData) -> np.ndarray:
        return lear_features(data.target, data.exog, data.weekdays(), np.arange(data.n_days))

    def calibrate(self, data: DayAheadData) -> None:
        """Fit every window on the days before ``data``'s last day."""
        day = data.n_days - 1
        x_all = self._matrix(data)
        jobs = []
        prepared = {}
        for w in self.windows:
            rows = np.arange(max(day - w + 7, 0), day)
            x, y = x_all[rows], data.target[rows]
            ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
            x, y = x[ok], y[ok]
            if len(x) < 8:
                raise ValueError(
                    f"LEAR {w}: {len(x)} complete training day(s) before {data.days[day]}; "
                    "it needs at least 8 (start the test period later or use a shorter window)"
                )
            xsc, ysc = InvariantScaler.fit(x[:, :-7]), InvariantScaler.fit(y)
            xs = x.copy()
            xs[:, :-7] = xsc.transform(x[:, :-7])
            ys = ysc.transform(y)
            prepared[w] = (xsc, ysc, len(x))
            n_chunks = max(1, min(self.n_jobs, data.per_day))
            for slots in np.array_split(np.arange(data.per_day), n_chunks):
                jobs.append((w, slots, xs, ys[:, slots]))
        if self.n_jobs == 1:
            results = [_fit_slots(xs, ys, self.path_steps) for _, _, xs, ys in jobs]
        else:
            results = Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_slots)(xs, ys, self.path_steps) for _, _, xs, ys in jobs
            )
        p = x_all.shape[1]
        coefs = {w: np.zeros((data.per_day, p)) for w in self.windows}
        intercepts = {w: np.zeros(data.per_day) for w in self.windows}
        for (w, slots, _, _), (c, b) in zip(jobs, results, strict=True):
            coefs[w][slots], intercepts[w][slots] = c, b
        self.fits = {
            w: LEARFit(w, prepared[w][0], prepared[w][1], coefs[w], intercepts[w], prepared[w][2])
            for w in self.windows
        }

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        """Forecasts of ``data``'s last day, ``{name: (per_day,)}``."""
        if not self.fits:
            raise RuntimeError("LEAR is not calibrated; call calibrate() first")
        day = data.n_days - 1
        x = lear_features(data.target, data.exog, data.weekdays(), np.array([day]))
        if not np.isfinite(x).all():
            bad = [
                n
                for n, v in zip(
                    lear_feature_names(data.per_day, data.exog_names), x[0], strict=True
                )
                if not np.isfinite(v)
            ]
            raise ValueError(
                f"LEAR cannot forecast {data.days[day]}: {len(bad)} input(s) missing (first {bad[:3]}); "
                "the target of the 7 days before and the known-future inputs must be present"
            )
        out = {f"{self.prefix} {w}": self.fits[w].predict(x)[0] for w in self.windows}
        if len(self.windows) > 1:
            out[f"{self.prefix} ensemble"] = np.mean(list(out.values()), axis=0)
        return out
