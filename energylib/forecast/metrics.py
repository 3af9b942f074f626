"""Forecast errors and the evaluation table (every model x task x horizon).

:func:`evaluation_table` is the one call a study makes: given history at any
interval and (optionally) a loaded forecaster, it builds the chronological test
split (fractions or dates), runs the model and the baselines on the same test
windows (every forecast origin of the block, or one per local day) and returns a
tidy polars frame.  :func:`evaluate` returns the forecasts too, for charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from energylib.forecast.baselines import (
    RidgeAR,
    calendar_regressors,
    hour_of_week_profile,
    profile_forecast,
    seasonal_naive,
    week_slots,
)
from energylib.forecast.features import (
    FeatureMatrix,
    FeatureSpec,
    daily_origins,
    feature_matrix,
    future_windows,
    get_spec,
    input_windows,
    split_blocks,
    window_anchors,
)

REFERENCE = "seasonal_naive_day"
BASELINES = ("seasonal_naive_day", "seasonal_naive_week", "ridge", "profile")
ORIGINS = ("all", "daily")


def _pair(y: np.ndarray, yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, yhat = np.asarray(y, dtype=np.float64).ravel(), np.asarray(yhat, dtype=np.float64).ravel()
    if y.shape != yhat.shape:
        raise ValueError(f"actual has {y.size} values, forecast {yhat.size}")
    ok = np.isfinite(y) & np.isfinite(yhat)
    return y[ok], yhat[ok]


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute error (unit of ``y``); pairs with a NaN are skipped."""
    a, f = _pair(y, yhat)
    return float(np.mean(np.abs(a - f))) if a.size else float("nan")


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Root mean squared error (unit of ``y``)."""
    a, f = _pair(y, yhat)
    return float(np.sqrt(np.mean((a - f) ** 2))) if a.size else float("nan")


def smape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Symmetric mean absolute percentage error [%], 0-200: ``200 |f - a| / (|a| + |f|)``;
    a pair where both are 0 counts as 0 error."""
    a, f = _pair(y, yhat)
    if not a.size:
        return float("nan")
    den = np.abs(a) + np.abs(f)
    terms = np.where(den > 0, 2.0 * np.abs(f - a) / np.where(den > 0, den, 1.0), 0.0)
    return float(100.0 * terms.mean())


def relative_mae(y: np.ndarray, yhat: np.ndarray, reference: np.ndarray) -> float:
    """MAE of ``yhat`` divided by the MAE of ``reference`` (the seasonal naive forecast):
    below 1 beats it."""
    return mae(y, yhat) / mae(y, reference)


def score_table(
    actual: Mapping[tuple[str, str], np.ndarray],
    predictions: Mapping[str, Mapping[tuple[str, str], np.ndarray]],
    horizons: Mapping[str, int],
    reference: str = REFERENCE,
) -> pl.DataFrame:
    """Error table from forecast arrays.

    Parameters
    ----------
    actual : mapping of (task, horizon) to array
        ``(n, H)`` actual values.
    predictions : mapping of model to mapping of (task, horizon) to array
        Forecasts of the same shapes.
    horizons : mapping of str to int
        Horizon name to steps [intervals], for ordering and the ``steps`` column.
    reference : str
        The model whose MAE the ``mae_vs_naive`` column divides by.

    Returns
    -------
    polars.DataFrame
        ``model, task, horizon, steps, windows, mae, rmse, smape_pct, mae_vs_naive,
        skill_pct`` (``windows``: forecasts scored; ``skill_pct = 100 * (1 - mae_vs_naive)``:
        how much better than the reference).
    """
    rows = []
    for model, preds in predictions.items():
        for (task, hname), y in actual.items():
            if (task, hname) not in preds:
                continue
            f = preds[(task, hname)]
            ref = predictions.get(reference, {}).get((task, hname))
            ratio = relative_mae(y, f, ref) if ref is not None else float("nan")
            rows.append(
                {
                    "model": model,
                    "task": task,
                    "horizon": hname,
                    "steps": int(horizons[hname]),
                    "windows": int(np.shape(y)[0]),
                    "mae": mae(y, f),
                    "rmse": rmse(y, f),
                    "smape_pct": smape(y, f),
                    "mae_vs_naive": ratio,
                    "skill_pct": 100.0 * (1.0 - ratio),
                }
            )
    return pl.DataFrame(rows).sort(["task", "steps", "model"])


@dataclass
class Evaluation:
    """Forecasts and actuals on the test windows, and their error table.

    Each horizon is scored on every window of the block whose forecast of that length
    fits in it: ``anchors[horizon]`` (rows of ``matrix.times``, the last input interval
    of each window), so a day-ahead score spans the whole block, not only its first
    weeks (where a month-ahead forecast still fits).  ``actual[(task, horizon)]`` and
    ``predictions[model][(task, horizon)]`` are ``(len(anchors[horizon]), H)`` in
    physical units.
    """

    table: pl.DataFrame
    actual: dict[tuple[str, str], np.ndarray]
    predictions: dict[str, dict[tuple[str, str], np.ndarray]]
    anchors: dict[str, np.ndarray]
    matrix: FeatureMatrix

    def forecast_vs_actual(
        self, anchor: int, horizon: str, models: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Long frame ``interval_start, task, series, value`` for one test window
        (``anchor`` is its position in ``anchors[horizon]``), for charts."""
        spec = self.matrix.spec
        steps = dict(spec.horizons)[horizon]
        row = int(self.anchors[horizon][anchor])
        times = self.matrix.times[row + 1 : row + 1 + steps]
        frames = []
        for task in spec.tasks:
            frames.append(
                pl.DataFrame(
                    {
                        "interval_start": times,
                        "task": task,
                        "series": "actual",
                        "value": self.actual[(task, horizon)][anchor],
                    }
                )
            )
            for m in models or list(self.predictions):
                frames.append(
                    pl.DataFrame(
                        {
                            "interval_start": times,
                            "task": task,
                            "series": m,
                            "value": self.predictions[m][(task, horizon)][anchor],
                        }
                    )
                )
        return pl.concat(frames)

    def error_by_hour(self, horizon: str = "day") -> pl.DataFrame:
        """MAE by local hour of day of the forecast interval: ``model, task, hour, mae``."""
        spec, fm = self.matrix.spec, self.matrix
        steps = dict(spec.horizons)[horizon]
        idx = self.anchors[horizon][:, None] + np.arange(1, steps + 1)[None, :]
        hours = fm.times.dt.convert_time_zone(fm.timezone).dt.hour().to_numpy()[idx].ravel()
        rows = []
        for model, preds in self.predictions.items():
            for task in spec.tasks:
                err = np.abs(preds[(task, horizon)] - self.actual[(task, horizon)]).ravel()
                ok = np.isfinite(err)
                sums = np.bincount(hours[ok], weights=err[ok], minlength=24)
                counts = np.bincount(hours[ok], minlength=24)
                for h in range(24):
                    if counts[h]:
                        rows.append(
                            {"model": model, "task": task, "hour": h, "mae": sums[h] / counts[h]}
                        )
        return pl.DataFrame(rows)


def evaluate(
    data: pl.DataFrame,
    timezone: str,
    forecaster=None,
    *,
    spec: FeatureSpec | str | None = None,
    split: Sequence = (0.7, 0.15, 0.15),
    block: str = "test",
    baselines: Sequence[str] = BASELINES,
    model_name: str = "transformer",
    ridge_alpha: float = 1.0,
    max_anchors: int | None = None,
    origins: str = "all",
) -> Evaluation:
    """Run the model and the baselines on one chronological block's windows.

    Parameters
    ----------
    data : polars.DataFrame
        Canonical frame at the spec's interval (the same kind of frame the model
        trained on), with the known-future columns where the spec has them.
    timezone : str
        Site IANA time zone.
    forecaster : ForecastRunner, optional
        A loaded model (:func:`energylib.forecast.checkpoint.load_checkpoint` or
        :func:`energylib.forecast.export.load_model`); its spec is used.
    spec : FeatureSpec or str, optional
        Needed only without a forecaster (baselines alone).
    split : sequence of float or of dates
        Chronological fractions or dates ``(val_start, test_start[, end])``, as in
        training, so the test block is the same.
    block : str
        ``test`` (default), ``val`` or ``train``.
    baselines : sequence of str
        Any of ``seasonal_naive_day``, ``seasonal_naive_week``, ``ridge``, ``profile``.
    model_name : str
        Row label of the forecaster.
    ridge_alpha : float
        Ridge penalty.
    max_anchors : int, optional
        Use only every k-th window of each horizon so that at most this many remain (faster).
    origins : str
        ``all``: every forecast origin of the block (one per interval); ``daily``: one
        per local day, the forecast starting at its midnight (day-ahead scoring: each
        day of a test period exactly once).
    """
    if origins not in ORIGINS:
        raise ValueError(f"origins {origins!r} unknown; use one of {ORIGINS}")
    spec = get_spec(forecaster.spec if forecaster is not None else spec or "TRADING_24")
    fm = feature_matrix(data, spec, timezone)
    blocks = split_blocks(fm.times, split)
    if block not in blocks:
        raise ValueError(f"block {block!r} unknown; use one of {sorted(blocks)}")
    horizons = dict(spec.horizons)
    anchors = {name: window_anchors(fm, blocks[block], h) for name, h in horizons.items()}
    if origins == "daily":
        anchors = {name: daily_origins(fm, a) for name, a in anchors.items()}
    for name, a in anchors.items():
        if len(a) == 0:
            lo, hi = blocks[block]
            raise ValueError(
                f"the {block} block (rows {lo}-{hi}) holds no complete window of "
                f"{spec.sequence_length}+{horizons[name]} intervals (the {name} horizon); "
                "use more history or a shorter horizon"
            )
        if max_anchors is not None and len(a) > max_anchors:
            anchors[name] = a[:: -(-len(a) // max_anchors)]
    train_anchors = window_anchors(fm, blocks["train"])
    actual: dict[tuple[str, str], np.ndarray] = {}
    for t, task in enumerate(spec.tasks):
        for hname, h in spec.horizons:
            actual[(task, hname)] = fm.targets[
                anchors[hname][:, None] + np.arange(1, h + 1)[None, :], t
            ].astype(np.float64)

    # Every model forecasts each window any horizon scores once, at the longest horizon;
    # a horizon takes its own windows' rows and its first steps.
    every = np.unique(np.concatenate(list(anchors.values())))
    rows = {hname: np.searchsorted(every, a) for hname, a in anchors.items()}

    def by_horizon(full: np.ndarray) -> dict[str, np.ndarray]:
        return {hname: full[rows[hname], :h].astype(np.float64) for hname, h in horizons.items()}

    predictions: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    if forecaster is not None:
        ahead = future_windows(fm.future, every, spec.max_horizon) if spec.n_future else None
        out = forecaster.predict_array(input_windows(fm.inputs, every, spec.sequence_length), ahead)
        predictions[model_name] = {
            (task, hname): out[f"{task}_{hname}"][rows[hname]].astype(np.float64)
            for task in spec.tasks
            for hname in horizons
        }
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"baseline(s) {unknown} unknown; use any of {BASELINES}")
    slots = week_slots(fm.times, timezone, spec.interval_minutes)
    exog = _exog(data, fm, timezone) if "ridge" in baselines else None
    per_day = spec.per_day
    H = spec.max_horizon
    # The ridge reads the known-future inputs of the forecast's first day (day-ahead
    # forecasts cover a day; a month of them would be thousands of regressors).
    future_steps = min(H, per_day) if spec.n_future else 0
    for name in baselines:
        preds = {}
        for t, task in enumerate(spec.tasks):
            y = fm.targets[:, t].astype(np.float64)
            if name == "seasonal_naive_day":
                full = seasonal_naive(y, every, H, per_day)
            elif name == "seasonal_naive_week":
                full = seasonal_naive(y, every, H, 7 * per_day)
            elif name == "ridge":
                fit = RidgeAR.fit(
                    y,
                    exog,
                    train_anchors,
                    H,
                    lags=spec.sequence_length,
                    alpha=ridge_alpha,
                    future=fm.future,
                    future_steps=future_steps,
                )
                full = fit.predict(y, exog, every, fm.future)
            else:  # profile: reads each target row's slot, so only rows inside the data
                prof = hour_of_week_profile(y, slots, blocks["train"])
                for hname, h in horizons.items():
                    preds[(task, hname)] = profile_forecast(prof, slots, anchors[hname], h)
                continue
            preds |= {(task, hname): f for hname, f in by_horizon(full).items()}
        predictions[name] = preds
    table = score_table(actual, predictions, horizons)
    return Evaluation(table, actual, predictions, anchors, fm)


def _exog(data: pl.DataFrame, fm: FeatureMatrix, timezone: str) -> np.ndarray:
    """Calendar and (where present) weather regressors on the matrix's grid."""
    cal = calendar_regressors(fm.times, timezone)
    weather = [c for c in ("temp_air_c", "ghi_w_m2") if c in data.columns]
    if not weather:
        return cal
    grid = pl.DataFrame({"interval_start": fm.times}).join(
        data.select(["interval_start", *weather]), on="interval_start", how="left"
    )
    w = np.column_stack([grid[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in weather])
    return np.column_stack([cal, w])


def evaluation_table(data: pl.DataFrame, timezone: str, forecaster=None, **kwargs) -> pl.DataFrame:
    """Every model x task x horizon on the chronological test split, as a polars frame.

    Same arguments as :func:`evaluate`; columns as :func:`score_table`.
    """
    return evaluate(data, timezone, forecaster, **kwargs).table
