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
where ``view``'s last day is the day to forecast.  A model whose calibration reads only
the view it is given (not an earlier calibration: LEAR, the naive forecasts, the ridge)
says so with ``independent_calibrations = True`` (and a model that refits only every
``calibration_period_days``, as the DNN, names that period); :func:`run_protocol` can then
split its test days into blocks that run in parallel processes (``workers``) with the same
forecasts as one serial run.  :class:`SeasonalNaive`,
:class:`RidgeDayAhead` (the library's ridge), :class:`~energylib.forecast.lear.LEAR`
and :class:`TransformerDayAhead` (the EnergyTransformer) are such models;
:func:`add_average` makes an ensemble of outputs after the fact.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import polars as pl
from joblib import Parallel, delayed
from scipy import stats
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from energylib.forecast.baselines import ridge_fit
from energylib.forecast.dayahead import DayAheadData, slot_starts
from energylib.forecast.features import FeatureSpec, feature_matrix
from energylib.forecast.lear import LEAR, InvariantScaler, lear_features
from energylib.forecast.metrics import mae, rmse, smape
from energylib.schema import TIME, FrameMeta

RECALIBRATION = {"daily": 1, "weekly": 7, "never": 0}

#: The NP dataset's published test period and reference scores (EUR/MWh).
NP_TEST = ("2016-12-27", "2018-12-24")
FINETUNE_VAL_DAYS = 7  # a transformer's fine-tuning validates on its last week
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


def block_days(model: DayAheadModel, every: int) -> int:
    """The test days a block of ``model``'s run must be a whole multiple of, so that blocks
    forecast apart give the serial run's forecasts; 0 where it cannot be split.

    A model whose calibration reads only the view it is given says so with
    ``independent_calibrations``; one that refits every ``calibration_period_days`` (and
    skips the protocol's calibrations between) gives that period.  Blocks then start on
    days where both the protocol and the model calibrate.
    """
    if not every or not getattr(model, "independent_calibrations", False):
        return 0
    return math.lcm(every, int(getattr(model, "calibration_period_days", 1)))


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

    independent_calibrations: ClassVar[bool] = True

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

    independent_calibrations: ClassVar[bool] = True

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
    transform : str
        ``none``, or ``asinh``: LEAR's variance-stabilising transform
        (:class:`~energylib.forecast.lear.InvariantScaler`) of the regressors and the
        target, fitted on each calibration window (for prices with spikes, such as the NEM's).
    known_future : bool
        Read the data's known-future inputs (False: history and calendar only, on the
        same data: the comparison that says what the inputs are worth).
    """

    independent_calibrations: ClassVar[bool] = True

    window: int = 1092
    alpha: float = 1.0
    lag_days: int = 7
    name: str = "ridge"
    transform: str = "none"
    known_future: bool = True
    _fit: object = field(default=None, repr=False)
    _scalers: tuple | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.transform not in ("none", "asinh"):
            raise ValueError(f"ridge: transform {self.transform!r} unknown; use none or asinh")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def config(self) -> dict:
        out = {
            "model": "ridge",
            "window": self.window,
            "alpha": self.alpha,
            "lag_days": self.lag_days,
        }
        out |= {"transform": self.transform} if self.transform != "none" else {}
        return out | ({"known_future": False} if not self.known_future else {})

    def _design(self, data: DayAheadData, rows: np.ndarray) -> np.ndarray:
        exog = data.exog if self.known_future else data.exog[:, :, :0]
        return lear_features(
            data.target, exog, data.weekdays(), rows, range(1, self.lag_days + 1), (0,)
        )

    def calibrate(self, data: DayAheadData) -> None:
        day = data.n_days - 1
        rows = np.arange(max(day - self.window, self.lag_days), day)
        x, y = self._design(data, rows), data.target[rows]
        if self.transform == "asinh":
            ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
            xsc, ysc = InvariantScaler.fit(x[ok, :-7]), InvariantScaler.fit(y[ok])
            self._scalers = (xsc, ysc)
            x, y = np.column_stack([xsc.transform(x[:, :-7]), x[:, -7:]]), ysc.transform(y)
        self._fit = ridge_fit(x, y, self.alpha)

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        day = data.n_days - 1
        x = self._design(data, np.array([day]))
        if self.transform == "asinh":
            xsc, ysc = self._scalers
            x = np.column_stack([xsc.transform(x[:, :-7]), x[:, -7:]])
            return {self.name: ysc.inverse(self._fit.predict(x))[0]}
        return {self.name: self._fit.predict(x)[0]}


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
    recalibrate_every_days : int
        Fine-tune at most this often [days], whatever the protocol's recalibration (a
        daily run of LEAR need not fine-tune a network every day).
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
    recalibrate_every_days: int = 7
    seeds: Sequence[int] = (2025,)
    cpu_threads: int = 1
    name: str = "transformer"
    checkpoint_dir: str | None = None
    _runners: list = field(default_factory=list, repr=False)
    _checkpoints: list = field(default_factory=list, repr=False)
    _spec: object = field(default=None, repr=False)
    _calibrated_day: object = field(default=None, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def config(self) -> dict:
        keep = [
            "preset", "model", "sequence_days", "lag_days", "val_days", "max_epochs",
            "learning_rate", "weight_decay", "batch_size", "origins", "early_stopping_patience",
            "max_train_batches", "finetune_epochs", "finetune_days", "recalibrate_every_days",
            "seeds",
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
        day = data.n_days - 1
        first = not self._runners
        if not first and (
            self.finetune_epochs == 0
            or (data.days[day] - self._calibrated_day).astype(int) < self.recalibrate_every_days
        ):
            return
        frame = data.to_frame()
        if first:
            # From scratch on every day before, the last val_days validating (early stopping).
            self._spec = self.spec_for(data, frame)
            self._fit(data, frame, 0, day, self.val_days, self.max_epochs, self.learning_rate)
        if self.finetune_epochs:
            # Then on the latest finetune_days, the most recent data included (a week validates).
            history = self.sequence_days + max(self.lag_days, default=0)
            start = max(0, day - self.finetune_days - history)
            rate = self.learning_rate / 3
            self._fit(data, frame, start, day, FINETUNE_VAL_DAYS, self.finetune_epochs, rate)
        self._calibrated_day = data.days[day]

    def _fit(self, data, frame, start, day, val_days, epochs, learning_rate) -> None:
        """Train every seed on local days ``start .. day-1`` (from the current weights, if any)."""
        # torch is imported only when a transformer is benchmarked (a slow import).
        import tempfile

        from energylib.forecast.checkpoint import load_checkpoint
        from energylib.forecast.train import TrainConfig, train

        part = frame.filter(
            (pl.col(TIME) >= _day_start(data, start)) & (pl.col(TIME) < _day_start(data, day + 1))
        )
        split = (str(_day_start(data, day - val_days)), str(_day_start(data, day)))
        root = Path(self.checkpoint_dir or tempfile.mkdtemp(prefix="energylib-dayahead-"))
        self.checkpoint_dir = str(root)
        runners, ckpts = [], []
        for k, seed in enumerate(self.seeds):
            cfg = TrainConfig(
                preset=self.preset,
                feature_spec=self._spec,
                model=dict(self.model),
                learning_rate=learning_rate,
                weight_decay=self.weight_decay,
                batch_size=self.batch_size,
                max_epochs=epochs,
                early_stopping_patience=self.early_stopping_patience,
                max_train_batches=self.max_train_batches,
                seed=int(seed),
                split=split,
                cpu_threads=self.cpu_threads,
                origins=self.origins,
            )
            warm = self._checkpoints[k] if self._checkpoints else None
            result = train(
                part, data.timezone, cfg, root / f"seed{seed}", warm_start=warm, progress=False
            )
            ckpts.append(result.best_checkpoint)
            runners.append(load_checkpoint(ckpts[-1]))
        self._runners, self._checkpoints = runners, ckpts

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        from energylib.forecast.features import future_windows, input_windows

        if not self._runners:
            raise RuntimeError(f"{self.name} is not calibrated; call calibrate() first")
        spec = self._runners[0].spec
        # Only the window and its lags reach back: the last few days of the view suffice.
        keep = -(-spec.history_rows // data.per_day) + 2
        data = replace(
            data, days=data.days[-keep:], target=data.target[-keep:], exog=data.exog[-keep:]
        )
        day = data.n_days - 1
        fm = feature_matrix(data.to_frame(), spec, data.timezone)
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

    def forecast_vs_actual(
        self, days: int = 3, models: Sequence[str] | None = None, unit_factor: float | None = None
    ) -> pl.DataFrame:
        """Long frame ``interval_start, task, series, value`` of the last ``days`` test days
        (for :func:`energylib.plots.forecast_vs_actual_chart`)."""
        k = self._factor(unit_factor)
        first = self._first_day + len(self.days) - days
        parts = [("actual", self.actual[-days:])]
        parts += [(m, self.forecasts[m][-days:]) for m in (models or list(self.forecasts))]
        return pl.concat(
            self.data.frame(v * k, first, "value").with_columns(
                pl.lit(self.data.target_name).alias("task"), pl.lit(name).alias("series")
            )
            for name, v in parts
        ).select(TIME, "task", "series", "value")

    def error_by_slot(self, unit_factor: float | None = None) -> pl.DataFrame:
        """MAE of every output by slot of the day: ``model, task, hour, mae`` (``hour``: the
        slot's local start hour; for charts)."""
        k = self._factor(unit_factor)
        hours = np.arange(self.data.per_day) * self.data.interval_minutes / 60.0
        rows = []
        for name, f in self.forecasts.items():
            err = np.nanmean(np.abs(f - self.actual), axis=0) * k
            rows += [
                {"model": name, "task": self.data.target_name, "hour": float(h), "mae": float(e)}
                for h, e in zip(hours, err, strict=True)
            ]
        return pl.DataFrame(rows)

    def dm_matrix(self, models: Sequence[str] | None = None, norm: int = 1) -> pl.DataFrame:
        """epftoolbox's DM chessboard: ``model_1, model_2, p_value`` of the one-sided test
        that ``model_2`` is *not* more accurate than ``model_1`` (small: ``model_2`` is
        significantly better); 1 on the diagonal."""
        names = list(models or self.forecasts)
        rows = []
        for a in names:
            for b in names:
                p = 1.0
                if a != b:
                    p = dm_test(self.actual, self.forecasts[a], self.forecasts[b], norm=norm)[
                        "p_one_sided"
                    ]
                rows.append({"model_1": a, "model_2": b, "p_value": p})
        return pl.DataFrame(rows)


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
    workers: int = 1,
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
    workers : int
        Processes for a model with independent calibrations (LEAR, the naive forecasts,
        the ridge, the DNN retrained from scratch): its test days are split into this many
        blocks of whole recalibration periods (:func:`block_days`), forecast in parallel
        (joblib processes) and joined; the forecasts are those of one serial run.  Other
        models (the fine-tuned transformer), and ``recalibration="never"``, run serially.
        Give a parallel LEAR ``n_jobs=1``: the blocks are its parallelism.
    """
    if recalibration not in RECALIBRATION:
        raise ValueError(
            f"recalibration {recalibration!r} unknown; use one of {sorted(RECALIBRATION)}"
        )
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
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
        blocks = _blocks(len(rows), block_days(model, every), workers)
        t0 = time.perf_counter()
        if len(blocks) == 1:
            out, timing = _forecast_days(model, data, rows, every, progress, blas_threads)
        else:
            out, timing = _forecast_blocks(model, data, rows, every, blocks, progress, blas_threads)
        timing["wall_s"] = time.perf_counter() - t0
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


def _blocks(n_days: int, step: int, workers: int) -> list[tuple[int, int]]:
    """``[start, stop)`` blocks of the test days, each starting on a multiple of ``step``
    (0: one block)."""
    if workers == 1 or step == 0 or n_days <= step:
        return [(0, n_days)]
    periods = -(-n_days // step)
    edges = np.linspace(0, periods, min(workers, periods) + 1).round().astype(int) * step
    edges[-1] = n_days
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _forecast_days(
    model: DayAheadModel,
    data: DayAheadData,
    rows: np.ndarray,
    every: int,
    progress: bool,
    blas_threads: int | None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Each day of ``rows`` forecast in order, recalibrating on days 0, every, 2 every ..."""
    out = {name: np.full((len(rows), data.per_day), np.nan) for name in model.names}
    cal_s = fc_s = 0.0
    calibrations = 0
    bar = tqdm(rows, desc=", ".join(model.names)[:40], disable=not progress, leave=False)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
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
    return out, timing


def _forecast_blocks(model, data, rows, every, blocks, progress, blas_threads):
    """:func:`_forecast_days` on each block in its own process, joined in order; the
    timing's ``calibrate_s`` and ``forecast_s`` add the blocks' times (CPU-side work)."""
    jobs = Parallel(n_jobs=len(blocks), return_as="generator")(
        delayed(_forecast_days)(model, data, rows[a:b], every, False, blas_threads)
        for a, b in blocks
    )
    parts = list(
        tqdm(
            jobs,
            total=len(blocks),
            desc=f"{model.names[0][:30]} ({len(blocks)} blocks)",
            disable=not progress,
            leave=False,
        )
    )
    out = {name: np.concatenate([p[0][name] for p in parts]) for name in model.names}
    timing = parts[0][1] | {
        key: sum(p[1][key] for p in parts) for key in ("calibrations", "calibrate_s", "forecast_s")
    }
    return out, timing | {"blocks": len(blocks)}


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


# --------------------------------------------------------------------------- tables and params files
def benchmark_table(
    result: BenchmarkResult,
    reference: str | None = None,
    *,
    published: Mapping[str, float] | None = None,
    unit_factor: float | None = None,
) -> pl.DataFrame:
    """The benchmark's table: scores of every output, the DM test against ``reference``,
    and published figures where given.

    Columns: ``model, source, mae, rmae, smape_pct, rmse`` and, against ``reference``
    (default: the output with the lowest MAE), ``dm_p_better`` (epftoolbox's one-sided
    p-value that the model is *not* more accurate than the reference: small means it is)
    and ``dm_p_two_sided`` (equal accuracy).  ``source`` is ``this run`` or
    ``published``; published rows carry only an MAE.
    """
    table = result.table(unit_factor=unit_factor)
    reference = reference or table["model"][0]
    if reference not in result.forecasts:
        raise KeyError(
            f"DM reference {reference!r} is not an output; outputs: {sorted(result.forecasts)}"
        )
    dm_better, dm_two = [], []
    for name in table["model"]:
        if name == reference:
            dm_better.append(None)
            dm_two.append(None)
            continue
        r = dm_test(result.actual, result.forecasts[reference], result.forecasts[name])
        dm_better.append(r["p_one_sided"])
        dm_two.append(r["p_two_sided"])
    table = table.drop("days").with_columns(
        pl.lit("this run").alias("source"),
        pl.Series("dm_p_better", dm_better, dtype=pl.Float64),
        pl.Series("dm_p_two_sided", dm_two, dtype=pl.Float64),
    )
    if published:
        pub = pl.DataFrame(
            {"model": list(published), "mae": [float(v) for v in published.values()]}
        ).with_columns(pl.lit("published").alias("source"))
        table = pl.concat([table, pub], how="diagonal_relaxed").sort("mae")
    return table.select(
        "model", "source", "mae", "rmae", "smape_pct", "rmse", "dm_p_better", "dm_p_two_sided"
    )


MODEL_KINDS = ("naive", "median", "ridge", "lear", "dnn", "transformer")


def build_model(spec: Mapping) -> DayAheadModel:
    """A protocol model from a params entry ``{model: <kind>, <option>: <value> ...}``.

    Kinds: ``naive`` (:class:`SeasonalNaive`: ``season_days`` 1, 7 or ``standard``),
    ``median`` (:class:`RecentMedian`), ``ridge`` (:class:`RidgeDayAhead`), ``lear``
    (:class:`~energylib.forecast.lear.LEAR`: ``windows``, ``n_jobs``), ``dnn``
    (:class:`~energylib.forecast.dnn.DNN`) and ``transformer`` (:class:`TransformerDayAhead`;
    its model sizes go under ``sizes``, as ``model`` names the kind).
    """
    spec = dict(spec)
    kind = spec.pop("model", None)
    if kind == "transformer" and "sizes" in spec:
        spec["model"] = spec.pop("sizes")
    classes = {
        "naive": SeasonalNaive,
        "median": RecentMedian,
        "ridge": RidgeDayAhead,
        "lear": LEAR,
        "transformer": TransformerDayAhead,
    }
    if kind == "dnn":
        # torch is imported only when a network is benchmarked (a slow import).
        from energylib.forecast.dnn import DNN

        classes["dnn"] = DNN
    if kind not in classes:
        raise ValueError(f"models: kind {kind!r} unknown; use one of {MODEL_KINDS}")
    try:
        return classes[kind](**spec)
    except TypeError as exc:
        raise ValueError(f"models: {kind} {spec}: {exc}") from exc


def load_benchmark_data(params: Mapping) -> DayAheadData:
    """The series a params file names, by local day.

    ``data: epftoolbox`` reads ``path`` (an epftoolbox CSV such as NP.csv; relative to
    the working directory, else the project root); ``data: store`` reads ``source`` /
    ``site`` (``kinds``, ``interval_minutes``, ``price_channel``: ``general`` for Amber,
    ``wholesale`` for AEMO, ``day_ahead`` for ENTSO-E) from the store at ``store_dir``
    (empty: the configured one).  ``target`` and ``known_future`` name the columns;
    ``timezone`` the market's local days (default: the data's).
    """
    from energylib.config import PROJECT_ROOT, load_settings

    how = params.get("data", "epftoolbox")
    timezone = params.get("timezone")
    if how == "epftoolbox":
        path = Path(str(params.get("path", "")))
        if not path.is_file() and (PROJECT_ROOT / path).is_file():
            path = PROJECT_ROOT / path
        frame, meta = read_epftoolbox_csv(path, market=params.get("market", "NP"))
        timezone = timezone or meta.timezone
    elif how == "store":
        from energylib.forecast.features import history_from_store
        from energylib.store import ParquetStore

        root = params.get("store_dir") or load_settings().processed_dir
        frame, tz = history_from_store(
            ParquetStore(root),
            params.get("source", "simulated"),
            params.get("site", "default"),
            kinds=params.get("kinds", ("prices", "weather")),
            interval_minutes=int(params.get("interval_minutes", 60)),
            price_channel=params.get("price_channel", "general") or None,
        )
        timezone = timezone or tz
    else:
        raise ValueError(f"data: {how!r} unknown; use epftoolbox or store")
    return DayAheadData.from_frame(
        frame,
        params.get("target", "price_per_kwh"),
        list(params.get("known_future") or []),
        timezone=timezone,
        fill_single_gaps=bool(params.get("fill_single_gaps", False)),
    )


PARAMS_KEYS = {
    "data", "path", "market", "store_dir", "source", "site", "kinds", "interval_minutes", "price_channel",
    "target", "known_future", "timezone", "fill_single_gaps", "test_start", "test_end",
    "recalibration", "models", "ensembles", "reference", "published", "cache_dir",
    "blas_threads", "unit_factor", "workers",
}  # fmt: skip


def benchmark_from_params(
    params: Mapping, *, data: DayAheadData | None = None, progress: bool = True
) -> tuple[BenchmarkResult, pl.DataFrame]:
    """Run the benchmark a params file describes (see ``params/forecast_np_*.yaml``).

    Keys: the data keys of :func:`load_benchmark_data`; ``test_start`` / ``test_end``
    (local dates; default NP's published period); ``recalibration``; ``models`` (a list
    of :func:`build_model` entries); ``ensembles`` (``{name: [outputs]}``, averaged
    after the run); ``reference`` (the DM test's reference output); ``published``
    (``NP``: add Lago et al.'s published figures to the table); ``cache_dir`` (keep each
    model's forecasts; relative to the data folder); ``blas_threads``; ``unit_factor``;
    ``workers`` (processes over blocks of test days, :func:`run_protocol`).

    Returns the result and :func:`benchmark_table`.
    """
    from energylib.config import load_settings

    unknown = sorted(set(params) - PARAMS_KEYS)
    if unknown:
        raise ValueError(f"unknown benchmark option(s) {unknown}; known: {sorted(PARAMS_KEYS)}")
    data = data if data is not None else load_benchmark_data(params)
    entries = params.get("models") or [{"model": "naive", "season_days": 7}]
    models = [build_model(m) for m in entries]
    cache = params.get("cache_dir") or None
    if cache is not None and not Path(cache).is_absolute():
        cache = load_settings().data_dir / cache
    start, end = params.get("test_start", NP_TEST[0]), params.get("test_end", NP_TEST[1])
    result = run_protocol(
        data,
        models,
        str(start),
        str(end),
        recalibration=params.get("recalibration", "daily"),
        cache_dir=cache,
        progress=progress,
        blas_threads=params.get("blas_threads", 1),
        workers=int(params.get("workers", 1)),
    )
    for name, members in (params.get("ensembles") or {}).items():
        add_average(result, name, list(members))
    published = PUBLISHED_NP_MAE if str(params.get("published", "")).upper() == "NP" else None
    table = benchmark_table(
        result, params.get("reference"), published=published, unit_factor=params.get("unit_factor")
    )
    return result, table
