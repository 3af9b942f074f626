"""The open day-ahead benchmark's protocol for any model of the library (Lago et al. 2021).

Protocol (epftoolbox's, as the NP dataset's README gives it):

* each day ``D`` of the test period is forecast whole (every slot) from what is known
  the day before: the target up to the end of ``D-1`` and the known-future inputs
  (day-ahead load and wind forecasts ...) up to the end of ``D``
  (:meth:`DayAheadData.information_for` builds that view; a model never sees more);
* models are recalibrated on the data before ``D``: every day, every week (on the
  test period's days 0, 7, 14 ...) or never (once, before the first test day);
* scores over the test period: MAE, rMAE (MAE over the MAE of the weekly seasonal
  naive forecast on the same period, as epftoolbox's ``rMAE(m='W')``: the naive is
  scored from the test period's 8th day), sMAPE [%] and RMSE; and the Diebold-Mariano
  test between two forecasts on the loss differential of whole days.

A model of the protocol has ``names`` (its outputs: LEAR has one per calibration
window and their average), ``calibrate(view)`` and ``forecast(view) -> {name: (per_day,)}``,
where ``view``'s last day is the day to forecast.  :class:`SeasonalNaive`,
:class:`RidgeDayAhead` (the library's ridge), :class:`~energylib.forecast.lear.LEAR`
and :class:`TransformerDayAhead` (the EnergyTransformer) are such models;
:func:`add_average` makes an ensemble of outputs after the fact.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
from scipy import stats
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from energylib.forecast.baselines import ridge_fit
from energylib.forecast.dayahead import DayAheadData, slot_starts
from energylib.forecast.features import FeatureSpec, feature_matrix
from energylib.forecast.lear import lear_features
from energylib.forecast.metrics import mae, rmse, smape
from energylib.schema import TIME, FrameMeta

RECALIBRATION = {"daily": 1, "weekly": 7, "never": 0}

#: The NP dataset's published test period and reference scores (EUR/MWh).
NP_TEST = ("2016-12-27", "2018-12-24")
PUBLISHED_NP_MAE = {
    "DNN ensemble (Lago et al. 2021)": 1.667,
    "LEAR ensemble (Lago et al. 2021)": 1.738,
}


class DayAheadModel(Protocol):
    """What the protocol needs of a model."""

    @property
    def names(self) -> tuple[str, ...]: ...

    def config(self) -> dict: ...

    def calibrate(self, data: DayAheadData) -> None: ...

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]: ...


# --------------------------------------------------------------------------- data
def read_epftoolbox_csv(path: str | Path, *, market: str = "NP") -> tuple[pl.DataFrame, FrameMeta]:
    """Read one of epftoolbox's datasets (``NP.csv``, ``PJM.csv`` ...) as a canonical frame.

    Parameters
    ----------
    path : path
        The CSV as published: ``Date`` (the hour's start), the price [EUR/MWh or USD/MWh],
        then two day-ahead forecasts (for NP: grid load and wind power [MW]).
    market : str
        Site name of the frame (``NP``).

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        ``interval_start``, ``price_per_kwh`` [currency/kWh] (the price / 1000), and the
        two forecasts with ``_forecast_mw`` names (``grid_load_forecast_mw``,
        ``wind_power_forecast_mw`` for NP) [MW].  Every day of these datasets has 24
        hours on the market's clock, so the clock is read as a fixed one (UTC).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no epftoolbox dataset at {path}")
    raw = pl.read_csv(path)
    raw = raw.rename({c: c.strip() for c in raw.columns})
    if raw.columns[:2] != ["Date", "Price"] or len(raw.columns) < 3:
        raise ValueError(
            f"{path}: columns {raw.columns} are not epftoolbox's 'Date, Price, <forecast>, <forecast>'"
        )
    names = {
        c: _snake(c) + ("_mw" if not c.lower().endswith("_mw") else "") for c in raw.columns[2:]
    }
    frame = raw.select(
        pl.col("Date").str.to_datetime("%Y-%m-%d %H:%M:%S").dt.replace_time_zone("UTC").alias(TIME),
        (pl.col("Price").cast(pl.Float64) / 1000.0).alias("price_per_kwh"),
        *[pl.col(c).cast(pl.Float64).alias(n) for c, n in names.items()],
    )
    currency = "USD" if market.upper() == "PJM" else "EUR"
    meta = FrameMeta(
        "epftoolbox", "prices", 60, site=market, channel="day_ahead", currency=currency
    )
    return frame, meta


def _snake(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


# --------------------------------------------------------------------------- baselines as protocol models
@dataclass
class SeasonalNaive:
    """The target ``season_days`` days earlier, slot by slot (1: yesterday, 7: last week);
    ``standard``: epftoolbox's naive (last week on Monday, Saturday and Sunday, else yesterday)."""

    season_days: int | str = 7

    @property
    def names(self) -> tuple[str, ...]:
        s = self.season_days
        return (
            "naive (epftoolbox standard)"
            if s == "standard"
            else {1: "naive day", 7: "naive week"}.get(s, f"naive {s} days"),
        )

    def config(self) -> dict:
        return {"model": "seasonal_naive", "season_days": self.season_days}

    def calibrate(self, data: DayAheadData) -> None:
        return None

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        day = data.n_days - 1
        k = self.season_days
        if k == "standard":
            k = 7 if data.weekdays()[day] in (0, 5, 6) else 1
        return {self.names[0]: data.target[day - int(k)].copy()}


@dataclass
class RecentMedian:
    """Each slot's median over the last ``days`` days, pooling the ``neighbours`` slots
    either side: a robust day-ahead profile (for spiky household load, the median is
    what minimises the absolute error, and pooling neighbours steadies it).

    Parameters
    ----------
    days : int
        Days of history [days].
    neighbours : int
        Slots either side pooled with each slot (the day wraps around).
    """

    days: int = 14
    neighbours: int = 1

    @property
    def names(self) -> tuple[str, ...]:
        return (f"median {self.days} days",)

    def config(self) -> dict:
        return {"model": "recent_median", "days": self.days, "neighbours": self.neighbours}

    def calibrate(self, data: DayAheadData) -> None:
        return None

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        day = data.n_days - 1
        past = data.target[max(0, day - self.days) : day]  # (k, per_day)
        pooled = np.concatenate(
            [np.roll(past, s, axis=1) for s in range(-self.neighbours, self.neighbours + 1)]
        )
        with np.errstate(all="ignore"):
            if not np.isfinite(pooled).any(axis=0).all():
                # a slot never seen in the window: fall back to every value of the window
                fallback = np.nanmedian(past) if np.isfinite(past).any() else np.nan
                pooled = np.where(np.isfinite(pooled).any(axis=0), pooled, fallback)
            return {self.names[0]: np.nanmedian(pooled, axis=0)}


@dataclass
class RidgeDayAhead:
    """The library's ridge (:class:`~energylib.forecast.baselines.RidgeAR`'s regression) on
    whole days: the last ``lag_days`` days of the target, the target day's known-future
    inputs (every slot) and its weekday, one linear map to the day's slots.

    Parameters
    ----------
    window : int
        Calibration window [days].
    alpha : float
        Ridge penalty on standardised regressors.
    lag_days : int
        Days of target history.
    """

    window: int = 1092
    alpha: float = 1.0
    lag_days: int = 7
    name: str = "ridge"
    _fit: object = field(default=None, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def config(self) -> dict:
        return {
            "model": "ridge",
            "window": self.window,
            "alpha": self.alpha,
            "lag_days": self.lag_days,
        }

    def _design(self, data: DayAheadData, rows: np.ndarray) -> np.ndarray:
        return lear_features(
            data.target, data.exog, data.weekdays(), rows, range(1, self.lag_days + 1), (0,)
        )

    def calibrate(self, data: DayAheadData) -> None:
        day = data.n_days - 1
        rows = np.arange(max(day - self.window, self.lag_days), day)
        self._fit = ridge_fit(self._design(data, rows), data.target[rows], self.alpha)

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        day = data.n_days - 1
        return {self.name: self._fit.predict(self._design(data, np.array([day])))[0]}


@dataclass
class TransformerDayAhead:
    """The EnergyTransformer (:mod:`energylib.forecast.transformer`) as a protocol model.

    The spec is :meth:`FeatureSpec.for_series` of the target with the data's known-future
    inputs (read at the forecast's intervals), a window of ``sequence_days`` days and one
    day's horizon.  The first calibration trains from scratch on every day before the
    target day (the last ``val_days`` of them validate, for early stopping); each later
    one continues from the current weights for ``finetune_epochs`` on the last
    ``finetune_days`` (a warm start: :func:`energylib.forecast.train.train`'s
    ``warm_start``).  With several ``seeds`` the output is their average (an ensemble).

    Parameters
    ----------
    preset : str
        Model preset (``pi``, ``seed``); ``model`` overrides its sizes.
    sequence_days : int
        History window [days].
    lag_days : sequence of int
        The target this many days before each window step, as inputs [days].
    val_days : int
        Validation days at the end of the training data [days].
    max_epochs, learning_rate, batch_size, origins, weight_decay :
        As :class:`energylib.forecast.train.TrainConfig` (``origins='daily'`` trains on
        the midnight windows only).
    finetune_epochs : int
        Epochs of each later calibration (0: keep the first weights).
    finetune_days : int
        Days of data each later calibration trains on [days].
    seeds : sequence of int
        One model per seed; the output is their mean.
    cpu_threads : int
        Torch intra-op threads.
    """

    preset: str = "pi"
    model: dict = field(default_factory=dict)
    sequence_days: int = 7
    lag_days: Sequence[int] = ()
    val_days: int = 91
    max_epochs: int = 30
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    origins: str = "all"
    early_stopping_patience: int = 5
    max_train_batches: int | None = None
    finetune_epochs: int = 1
    finetune_days: int = 364
    seeds: Sequence[int] = (2025,)
    cpu_threads: int = 1
    name: str = "transformer"
    checkpoint_dir: str | None = None
    _runners: list = field(default_factory=list, repr=False)
    _checkpoints: list = field(default_factory=list, repr=False)
    _spec: object = field(default=None, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def config(self) -> dict:
        keep = [
            "preset", "model", "sequence_days", "lag_days", "val_days", "max_epochs",
            "learning_rate", "weight_decay", "batch_size", "origins", "early_stopping_patience",
            "max_train_batches", "finetune_epochs", "finetune_days", "seeds",
        ]  # fmt: skip
        return {"model_kind": "transformer", "version": 1} | {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in ((k, getattr(self, k)) for k in keep)
        }

    def spec_for(self, data: DayAheadData, frame: pl.DataFrame) -> FeatureSpec:
        """The feature spec this model trains with on ``data``."""
        return FeatureSpec.for_series(
            frame,
            data.target_name,
            horizons={"day": data.per_day},
            known_future=list(data.exog_names),
            interval_minutes=data.interval_minutes,
            sequence_length=self.sequence_days * data.per_day,
            lag_days=list(self.lag_days),
            name=f"{data.target_name} day-ahead",
        )

    def calibrate(self, data: DayAheadData) -> None:
        # torch is imported only when a transformer is benchmarked (a slow import).
        import tempfile

        from energylib.forecast.train import TrainConfig, load_checkpoint, train

        day = data.n_days - 1
        frame = data.to_frame()
        first = not self._runners
        if first:
            self._spec = self.spec_for(data, frame)
            start = 0
        else:
            if self.finetune_epochs == 0:
                return
            start = max(
                0, day - self.finetune_days - self.sequence_days - max(self.lag_days, default=0)
            )
        part = frame.filter(
            (pl.col(TIME) >= _day_start(data, start)) & (pl.col(TIME) < _day_start(data, day + 1))
        )
        split = (str(_day_start(data, day - self.val_days)), str(_day_start(data, day)))
        root = Path(self.checkpoint_dir or tempfile.mkdtemp(prefix="energylib-dayahead-"))
        self.checkpoint_dir = str(root)
        runners, ckpts = [], []
        for k, seed in enumerate(self.seeds):
            cfg = TrainConfig(
                preset=self.preset,
                feature_spec=self._spec,
                model=dict(self.model),
                learning_rate=self.learning_rate if first else self.learning_rate / 3,
                weight_decay=self.weight_decay,
                batch_size=self.batch_size,
                max_epochs=self.max_epochs if first else self.finetune_epochs,
                early_stopping_patience=self.early_stopping_patience,
                max_train_batches=self.max_train_batches,
                seed=int(seed),
                split=split,
                cpu_threads=self.cpu_threads,
                origins=self.origins,
            )
            out = root / f"seed{seed}"
            warm = None if first else self._checkpoints[k]
            result = train(part, data.timezone, cfg, out, warm_start=warm, progress=False)
            ckpts.append(result.best_checkpoint if result.best_epoch else warm)
            runners.append(load_checkpoint(ckpts[-1]))
        self._runners, self._checkpoints = runners, ckpts

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        from energylib.forecast.features import future_windows, input_windows

        if not self._runners:
            raise RuntimeError(f"{self.name} is not calibrated; call calibrate() first")
        spec = self._runners[0].spec
        day = data.n_days - 1
        frame = data.to_frame()
        fm = feature_matrix(frame, spec, data.timezone)
        # The anchor is the last interval of the day before (found by time: a local day
        # may have 23 or 25 hours).
        start = _day_start(data, day)
        anchor = np.array([int((fm.times < start).sum()) - 1])
        window = input_windows(fm.inputs, anchor, spec.sequence_length)
        ahead = future_windows(fm.future, anchor, spec.max_horizon)
        if not (np.isfinite(window).all() and np.isfinite(ahead).all()):
            raise ValueError(
                f"{self.name} cannot forecast {data.days[day]}: its window or the day's "
                "known-future inputs have missing values"
            )
        outs = [r.predict_array(window, ahead)[f"{spec.tasks[0]}_day"][0] for r in self._runners]
        return {self.name: np.mean(outs, axis=0)}


def _day_start(data: DayAheadData, row: int):
    """UTC start of local day ``row`` of ``data`` (rows past the end continue the calendar)."""
    day = data.days[0] + np.timedelta64(int(row), "D")
    return slot_starts(np.array([day]), data.interval_minutes, data.timezone)[0]


# --------------------------------------------------------------------------- the protocol
@dataclass
class BenchmarkResult:
    """Forecasts of every model output over the test period, with the actuals and timings.

    ``forecasts[name]`` and ``actual`` are ``(n_test_days, per_day)``; ``days`` are the
    test days (local dates); ``timings`` has one row per model: ``model, outputs,
    calibrations, calibrate_s, forecast_s``.
    """

    days: np.ndarray
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    timings: pl.DataFrame
    data: DayAheadData
    recalibration: str

    def table(
        self, reference: str = "naive week", unit_factor: float | None = None
    ) -> pl.DataFrame:
        """MAE, rMAE, sMAPE [%] and RMSE of every output (see :func:`score_day_ahead`)."""
        return score_day_ahead(self.actual, self.forecasts, unit_factor=self._factor(unit_factor))

    def _factor(self, unit_factor: float | None) -> float:
        if unit_factor is not None:
            return unit_factor
        return 1000.0 if self.data.target_name.endswith("_per_kwh") else 1.0

    def dm_table(self, reference: str, **kwargs) -> pl.DataFrame:
        """The DM test of every output against ``reference`` (see :func:`dm_test`)."""
        rows = []
        for name, f in self.forecasts.items():
            if name == reference:
                continue
            r = dm_test(self.actual, self.forecasts[reference], f, **kwargs)
            rows.append({"model": name, "versus": reference} | r)
        return pl.DataFrame(rows)

    def forecast_frame(self) -> pl.DataFrame:
        """Long frame ``model, interval_start, forecast, actual`` (target unit)."""
        frames = []
        actual = self.data.frame(self.actual, self._first_day, "actual")
        for name, f in self.forecasts.items():
            part = self.data.frame(f, self._first_day, "forecast").with_columns(
                pl.lit(name).alias("model"), actual["actual"]
            )
            frames.append(part.select("model", TIME, "forecast", "actual"))
        return pl.concat(frames)

    @property
    def _first_day(self) -> int:
        return self.data.day_index(self.days[0])


def add_average(result: BenchmarkResult, name: str, members: Sequence[str]) -> BenchmarkResult:
    """Add the average of outputs ``members`` as output ``name`` (an ensemble built
    after the fact: each member kept to the day-before rule, so their average does)."""
    missing = [m for m in members if m not in result.forecasts]
    if missing:
        raise KeyError(
            f"ensemble {name!r}: no output(s) {missing}; outputs are {sorted(result.forecasts)}"
        )
    result.forecasts[name] = np.mean([result.forecasts[m] for m in members], axis=0)
    return result


def test_days(data: DayAheadData, start: str, end: str) -> np.ndarray:
    """Rows of the test period ``start .. end`` (local dates, both included)."""
    a, b = data.day_index(start), data.day_index(end)
    if b < a:
        raise ValueError(f"test period ends ({end}) before it starts ({start})")
    return np.arange(a, b + 1)


def run_protocol(
    data: DayAheadData,
    models: Sequence[DayAheadModel],
    test_start: str,
    test_end: str,
    *,
    recalibration: str = "daily",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    blas_threads: int | None = 1,
) -> BenchmarkResult:
    """Forecast every day of ``test_start .. test_end`` with every model, by the protocol.

    Parameters
    ----------
    data : DayAheadData
        The whole series (history and test period).
    models : sequence of DayAheadModel
        Models to run; each keeps its state between days (a model recalibrated weekly
        forecasts with the last calibration).
    test_start, test_end : str
        First and last test day (local dates, ``YYYY-MM-DD``).
    recalibration : str
        ``daily``, ``weekly`` or ``never``.
    cache_dir : path, optional
        Keep each model's forecasts in a Parquet file named by a hash of its config, the
        data and the protocol, and reuse them (a long LEAR run is done once).
    progress : bool
        A progress bar per model.
    blas_threads : int or None
        Threads of numpy's BLAS while the models run (None: its default).  One is the
        default: the models solve many small systems, which several threads slow down
        (they spin against each other, badly so on a shared machine).
    """
    if recalibration not in RECALIBRATION:
        raise ValueError(
            f"recalibration {recalibration!r} unknown; use one of {sorted(RECALIBRATION)}"
        )
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _run(data, models, test_start, test_end, recalibration, cache_dir, progress)


def _run(data, models, test_start, test_end, recalibration, cache_dir, progress) -> BenchmarkResult:
    every = RECALIBRATION[recalibration]
    rows = test_days(data, test_start, test_end)
    forecasts: dict[str, np.ndarray] = {}
    timing_rows = []
    for model in models:
        cached = _cache_path(cache_dir, model, data, rows, recalibration)
        if cached is not None and cached.is_file():
            stored = pl.read_parquet(cached)
            for name in model.names:
                forecasts[name] = stored[name].to_numpy().reshape(len(rows), data.per_day)
            meta = json.loads(cached.with_suffix(".json").read_text())
            timing_rows.append(meta["timing"] | {"cached": True})
            continue
        out = {name: np.full((len(rows), data.per_day), np.nan) for name in model.names}
        cal_s = fc_s = 0.0
        calibrations = 0
        bar = tqdm(rows, desc=", ".join(model.names)[:40], disable=not progress, leave=False)
        for k, day in enumerate(bar):
            view = data.information_for(int(day))
            if k == 0 or (every and k % every == 0):
                t0 = time.perf_counter()
                model.calibrate(view)
                cal_s += time.perf_counter() - t0
                calibrations += 1
            t0 = time.perf_counter()
            got = model.forecast(view)
            fc_s += time.perf_counter() - t0
            for name in model.names:
                out[name][k] = got[name]
        bar.close()
        timing = {
            "model": model.names[0] if len(model.names) == 1 else ", ".join(model.names),
            "outputs": len(model.names),
            "calibrations": calibrations,
            "calibrate_s": cal_s,
            "forecast_s": fc_s,
        }
        timing_rows.append(timing | {"cached": False})
        forecasts |= out
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame({n: v.reshape(-1) for n, v in out.items()}).write_parquet(cached)
            cached.with_suffix(".json").write_text(
                json.dumps({"config": model.config(), "timing": timing}, default=str)
            )
    return BenchmarkResult(
        days=data.days[rows],
        actual=data.target[rows].copy(),
        forecasts=forecasts,
        timings=pl.DataFrame(timing_rows),
        data=data,
        recalibration=recalibration,
    )


def data_fingerprint(data: DayAheadData) -> str:
    """A short hash of the values, names and calendar of ``data``."""
    h = hashlib.sha256()
    for arr in (data.target, data.exog, data.days.astype(np.int64)):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(
        json.dumps(
            [data.target_name, list(data.exog_names), data.interval_minutes, data.timezone]
        ).encode()
    )
    return h.hexdigest()[:16]


def _cache_path(cache_dir, model, data, rows, recalibration) -> Path | None:
    if cache_dir is None:
        return None
    key = json.dumps(
        {
            "model": model.config(),
            "data": data_fingerprint(data),
            "rows": [int(rows[0]), int(rows[-1])],
            "recalibration": recalibration,
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{_snake(model.names[0])}-{digest}.parquet"


# --------------------------------------------------------------------------- scores
def weekly_naive_mae(actual: np.ndarray) -> float:
    """MAE of the weekly naive forecast inside the period (epftoolbox's ``rMAE(m='W')``
    denominator: day ``d`` forecast by day ``d-7`` of the same period, from its 8th day)."""
    a = np.asarray(actual, dtype=np.float64)
    if a.shape[0] <= 7:
        return float("nan")
    return mae(a[7:], a[:-7])


def score_day_ahead(
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    unit_factor: float = 1.0,
) -> pl.DataFrame:
    """The benchmark's scores of each forecast over the same days.

    Parameters
    ----------
    actual : numpy.ndarray
        ``(n_days, per_day)`` in the target's unit.
    forecasts : mapping of str to numpy.ndarray
        Same shape each.
    unit_factor : float
        MAE and RMSE are reported in the target's unit times this (1000: per kWh to
        per MWh, as markets quote prices).

    Returns
    -------
    polars.DataFrame
        ``model, days, mae, rmae, smape_pct, rmse``, sorted by MAE.
    """
    naive = weekly_naive_mae(actual)
    rows = []
    for name, f in forecasts.items():
        f = np.asarray(f, dtype=np.float64)
        if f.shape != np.shape(actual):
            raise ValueError(
                f"forecast {name!r} has shape {f.shape}, the actuals {np.shape(actual)}"
            )
        m = mae(actual, f)
        rows.append(
            {
                "model": name,
                "days": int(np.isfinite(f).all(axis=1).sum()),
                "mae": m * unit_factor,
                "rmae": m / naive if naive > 0 else float("nan"),
                "smape_pct": smape(actual, f),
                "rmse": rmse(actual, f) * unit_factor,
            }
        )
    return pl.DataFrame(rows).sort("mae")


def dm_test(
    actual: np.ndarray,
    forecast_1: np.ndarray,
    forecast_2: np.ndarray,
    *,
    norm: int = 1,
    version: str = "multivariate",
) -> dict:
    """Diebold-Mariano test of forecast 2 against forecast 1, as epftoolbox runs it.

    The loss differential of day ``t`` is ``||e1_t||_norm^norm / S - ||e2_t||_norm^norm / S``
    over the day's ``S`` slots (``multivariate``: one test on whole days), or per slot
    (``univariate``: one test per slot).  The statistic is ``mean(d) / sqrt(var(d) / N)``
    (``var`` with ``ddof=0``), asymptotically standard normal.

    Returns
    -------
    dict
        ``statistic``; ``p_one_sided``: ``1 - Phi(stat)``, the p-value of H0 "forecast 2
        is not more accurate than forecast 1" (epftoolbox's ``DM``; small: forecast 2 is
        significantly better); ``p_two_sided``: ``2 (1 - Phi(|stat|))``, of H0 "equal
        accuracy"; ``days``.  Arrays (one entry per slot) for ``univariate``.
    """
    a = np.asarray(actual, dtype=np.float64)
    e1, e2 = (
        a - np.asarray(forecast_1, dtype=np.float64),
        a - np.asarray(forecast_2, dtype=np.float64),
    )
    if e1.shape != e2.shape or a.ndim != 2:
        raise ValueError(
            f"actual and forecasts must share one (n_days, per_day) shape; got {a.shape}, {np.shape(forecast_1)}, {np.shape(forecast_2)}"
        )
    if norm not in (1, 2):
        raise ValueError(f"norm {norm} unknown; use 1 or 2")
    loss = (lambda e: np.abs(e)) if norm == 1 else (lambda e: e * e)
    ok = np.isfinite(e1).all(axis=1) & np.isfinite(e2).all(axis=1)
    if version == "multivariate":
        d = loss(e1[ok]).mean(axis=1) - loss(e2[ok]).mean(axis=1)
        axis = None
    elif version == "univariate":
        d = loss(e1[ok]) - loss(e2[ok])
        axis = 0
    else:
        raise ValueError(f"version {version!r} unknown; use 'multivariate' or 'univariate'")
    n = d.shape[0]
    stat = np.mean(d, axis=axis) / np.sqrt(np.var(d, axis=axis, ddof=0) / n)
    return {
        "statistic": stat if axis is not None else float(stat),
        "p_one_sided": (1 - stats.norm.cdf(stat))
        if axis is not None
        else float(1 - stats.norm.cdf(stat)),
        "p_two_sided": (2 * (1 - stats.norm.cdf(np.abs(stat))))
        if axis is not None
        else float(2 * (1 - stats.norm.cdf(abs(stat)))),
        "days": int(n),
    }
