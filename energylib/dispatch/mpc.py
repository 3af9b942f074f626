"""Model-predictive control (MPC): the optimum's LP over a receding horizon, on forecasts.

At each decision interval ``t`` the controller

1. takes the forecasts available at the start of ``t`` for the next ``horizon_hours``
   (household load, PV, the market's price channels; a :class:`Forecast`: ``perfect``,
   ``persistence``, the last few days' mean (:class:`RecentMeanForecast`, what a study's
   trained price forecasts plan load and PV on), a supplier's published forecasts or a
   trained forecaster's, see :class:`IssuedForecast`, or any predict-like callable,
   :class:`CallableForecast`);
2. prices them through the tariff (:class:`PriceModel`: every tariff's import price and
   export credit are affine in the market prices, so the study's tariff prices a forecast
   exactly as it bills the year);
3. solves the perfect-foresight LP (:class:`~energylib.dispatch.optimum.DispatchLP`: the same
   model, built once and re-solved by HiGHS from its last basis) over the horizon from the
   current states of charge, with a **terminal value** on the energy left in the battery at
   the horizon's end, so the plan does not empty it there;
4. keeps the plan it is following unless the new plan is cheaper, by the same forecast,
   by more than ``switch_threshold`` (**hysteresis**: plan stability);
5. applies the plan's first step to what actually happens (:func:`realise`), and moves on.

Applying a step
---------------
A plan step is a battery mode with a set-point, as an inverter takes it:

``self_consumption``
    the plan neither imports nor exports nor curtails while the battery moves: the battery
    follows the actual net load (discharges into a deficit, charges from a surplus) within
    its limits;
``charge`` (set-point ``bc`` [kWh per interval])
    charges ``bc``: from the grid where the plan imports, else from PV surplus only;
``discharge`` (set-point ``bd``)
    discharges ``bd`` where the plan exports, else at most the actual deficit (no export
    from the battery that the plan did not intend);
``hold``
    idle.

The EV charges and discharges at its planned set-points while parked.  With perfect
forecasts each applied step is the planned step, so MPC on perfect forecasts with a horizon
covering the whole period is the optimum (tested).

Scenarios
---------
A :class:`ScenarioForecast` gives K paths of the market prices per decision (for example
:func:`lag_ridge_forecast` with ``scenarios``: a fitted forecast plus its errors at the most
similar earlier decisions).  The plan is then one two-stage stochastic LP
(:class:`~energylib.dispatch.optimum.DispatchLP` with ``scenarios=K``): a copy of the
horizon per path, the first interval's set-points shared by all (one decision now, a
recourse per path after it), the mean cost minimised.  It holds charge where a spike is
possible in some paths and spends it where one is seen.  Re-planned every ``r`` intervals,
the first ``r`` are shared (the plan runs on through them); past those the plan it keeps is
the first path's, and its expected cost is the mean.

Plan stability
--------------
With ``switch_threshold = 0`` every decision adopts the new plan.  Above 0, the plan being
followed (shifted to now, idle past its end) is priced on the new forecast from the
current state of charge; the new plan replaces it only when it is cheaper by more than the
threshold [currency over the horizon, terminal value included].  :func:`battery_modes` reads
each interval's mode from any policy's flows, so mode changes per day
(:func:`mode_changes_per_day`) compare rules, MPC and the optimum alike.

API
---
``MPCPolicy(forecast, horizon_hours, replan_minutes, terminal_value, switch_threshold)``
    What :func:`energylib.scenario.run` dispatches (``ScenarioSpec(policy=MPCPolicy(...))``).
``run_mpc(load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh, interval_minutes, *,
policy, battery, ev, ev_arrays, v2h, v2g, grid, export_limit_kw, prices, market) -> MPCRun``
    A whole period: flows and :class:`MPCStats`; :func:`dispatch_mpc` returns the flows.
``MPCController(policy, interval_minutes, battery=..., ev=...)``
    One decision at a time (:meth:`MPCController.decide`): the study's loop and the live
    agent call the same code.
"""

from __future__ import annotations

import abc
import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from numba import njit

from energylib.dispatch.assets import EV, Battery, EVArrays, GridLimits
from energylib.dispatch.flows import Flows, dispatch_inputs
from energylib.dispatch.lp import InfeasibleError
from energylib.dispatch.optimum import DispatchLP
from energylib.forecast.features import feature_matrix, input_windows
from energylib.ingest.issued import ISSUE_US as ISSUE_STEP_US
from energylib.ingest.issued import STEP_US as HALF_HOUR_US
from energylib.ingest.issued import read_issued

#: Named forecasts an :class:`MPCPolicy` resolves by itself.
FORECASTS = ("perfect", "persistence")
#: Battery modes, by code (see the module docstring).
MODES = ("hold", "self_consumption", "charge", "discharge")
HOLD, FOLLOW, CHARGE, DISCHARGE = range(4)
#: Flows below this are zero when a step's mode is read [kWh per interval].
MODE_TOL_KWH = 1e-6
TERMINAL_VALUES = ("median", "mean")


# --------------------------------------------------------------------------- the policy
@dataclass(frozen=True)
class MPCPolicy:
    """Model-predictive control of the battery (and EV): see the module docstring.

    Parameters
    ----------
    forecast : str or Forecast
        ``perfect`` (the actual values), ``persistence`` (the latest value known at the same
        time of day), or a :class:`Forecast` object (:class:`IssuedForecast` for a
        supplier's published forecasts or a trained forecaster's, :class:`CallableForecast`
        for any predict-like callable, :class:`ScenarioForecast` for several price paths and
        one stochastic plan over them).
    horizon_hours : float
        Planning horizon [h] (24-48 h).
    replan_minutes : int or None
        Minutes between decisions (a multiple of the interval); ``None``: every interval.
        Between decisions the plan in force runs on.
    terminal_value : float or str
        Value of a kWh stored in the battery at the horizon's end [currency/kWh], or
        ``median`` / ``mean``: that statistic of the horizon's forecast import price, less
        wear, times the discharge efficiency (what the stored kWh displaces later).
    switch_threshold : float
        A new plan replaces the one being followed only when it is cheaper by more than
        this, by the forecast [currency over the horizon]; 0 replans every decision.
    known_intervals : int
        Intervals, from the decision interval on, whose market prices are known when
        deciding (1: the current interval's price, as Amber publishes it and as the live
        agent reads it; 0: every price is forecast).
    penalty_per_kwh : float or None
        Price of an EV shortfall, top-up or reserve breach [currency/kWh]; default as the
        optimum's (10 x the largest absolute import price + 10).
    """

    forecast: object = "perfect"
    horizon_hours: float = 48.0
    replan_minutes: int | None = None
    terminal_value: float | str = "median"
    switch_threshold: float = 0.0
    known_intervals: int = 0
    penalty_per_kwh: float | None = None
    name: str = "mpc"

    def __post_init__(self) -> None:
        if isinstance(self.forecast, str) and self.forecast not in FORECASTS:
            raise ValueError(
                f"MPCPolicy.forecast={self.forecast!r}; use one of {FORECASTS} or pass a "
                "Forecast object (IssuedForecast for published or trained forecasts)"
            )
        if not isinstance(self.forecast, str) and not hasattr(self.forecast, "window"):
            raise ValueError(
                f"MPCPolicy.forecast {self.forecast!r} has no window(series, t, n) method"
            )
        if not self.horizon_hours > 0:
            raise ValueError(f"MPCPolicy.horizon_hours must be > 0 h, got {self.horizon_hours}")
        if isinstance(self.terminal_value, str) and self.terminal_value not in TERMINAL_VALUES:
            raise ValueError(
                f"MPCPolicy.terminal_value={self.terminal_value!r}; use a number "
                f"[currency/kWh] or one of {TERMINAL_VALUES}"
            )
        if self.switch_threshold < 0:
            raise ValueError(
                f"MPCPolicy.switch_threshold must be >= 0, got {self.switch_threshold}"
            )
        if self.known_intervals < 0:
            raise ValueError(f"MPCPolicy.known_intervals must be >= 0, got {self.known_intervals}")
        if self.replan_minutes is not None and self.replan_minutes <= 0:
            raise ValueError(f"MPCPolicy.replan_minutes must be > 0 min, got {self.replan_minutes}")

    def steps(self, interval_minutes: int) -> int:
        """Intervals in the horizon."""
        return max(1, int(round(self.horizon_hours * 60 / interval_minutes)))

    def replan_steps(self, interval_minutes: int) -> int:
        """Intervals between decisions."""
        if self.replan_minutes is None:
            return 1
        k = self.replan_minutes / interval_minutes
        if k < 1 or abs(k - round(k)) > 1e-9:
            raise ValueError(
                f"MPCPolicy.replan_minutes={self.replan_minutes} is not a multiple of the "
                f"{interval_minutes}-min interval"
            )
        return int(round(k))

    def forecast_object(self) -> Forecast:
        if self.forecast == "perfect":
            return PerfectForecast()
        if self.forecast == "persistence":
            return PersistenceForecast()
        return self.forecast  # type: ignore[return-value]

    @property
    def scenarios(self) -> int:
        """Price scenarios each plan weighs (a :class:`ScenarioForecast`'s; 1: one forecast)."""
        return int(getattr(self.forecast, "scenarios", 1))

    @property
    def forecast_name(self) -> str:
        f = self.forecast
        return f if isinstance(f, str) else getattr(f, "name", type(f).__name__)


# --------------------------------------------------------------------------- forecasts
@dataclass(frozen=True, eq=False)
class Series:
    """What happens, interval by interval: what a simulation replays, and the history a
    forecast may read (everything before the decision interval).

    ``market`` holds the market's price channels [currency/kWh] by name
    (``general_per_kwh``, ``feed_in_per_kwh``, ``spot_per_kwh``; or ``import_per_kwh`` and
    ``export_credit_per_kwh`` where the prices are given directly).
    """

    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    market: Mapping[str, np.ndarray]
    steps_per_day: int

    def __len__(self) -> int:
        return int(self.load_kwh.size)

    def names(self) -> tuple[str, ...]:
        return ("load_kwh", "pv_kwh", *self.market)

    def get(self, name: str) -> np.ndarray:
        if name == "load_kwh":
            return self.load_kwh
        if name == "pv_kwh":
            return self.pv_kwh
        return self.market[name]


@dataclass(frozen=True, eq=False)
class Window:
    """Forecast (or actual) values over a horizon: ``load_kwh``, ``pv_kwh`` [kWh per
    interval] and the market channels [currency/kWh], one value per interval."""

    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    market: dict[str, np.ndarray]


class Forecast(abc.ABC):
    """Base of the forecasts: :meth:`window` gives every series of ``series`` for the
    intervals ``t .. t + n - 1`` as known at the start of interval ``t``."""

    name = "forecast"

    def window(self, series: Series, t: int, n: int) -> Window:
        return Window(
            *(self.values(series, name, t, n) for name in ("load_kwh", "pv_kwh")),
            {c: self.values(series, c, t, n) for c in series.market},
        )

    @abc.abstractmethod
    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        """Series ``name`` for the intervals ``t .. t + n - 1`` as known at the start of ``t``."""


class PerfectForecast(Forecast):
    """The actual values (perfect foresight over the horizon)."""

    name = "perfect"

    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        return series.get(name)[t : t + n]


class PersistenceForecast(Forecast):
    """The latest value known at the same time of day: interval ``s`` of the horizon gets
    ``x[s - k * day]`` with the smallest ``k >= 1`` that is before ``t`` (the first day of
    the series repeats itself where there is no earlier day)."""

    name = "persistence"

    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        x = series.get(name)
        day = series.steps_per_day
        src = t + _lags(n, day)
        if t < day:  # no earlier day: the first day repeats itself
            src = np.where(src < 0, (t + np.arange(n)) % day, src)
        return x[np.minimum(src, x.size - 1)]


@dataclass(frozen=True)
class RecentMeanForecast(Forecast):
    """The mean of the latest ``days`` values at the same time of day before the decision:
    interval ``s`` of the horizon gets the mean of ``x[s - k * day]`` for the ``days``
    smallest ``k >= 1`` that are before ``t`` (fewer where the series has fewer days before
    ``t``; persistence's rule where it has none).  ``days=1`` is :class:`PersistenceForecast`.

    For household load and PV a few days' mean is the better plan input: a day's load is
    spiky and a day's weather passes, and the plan is linear in both, so it wants their
    expected values (on VIC1 2024 with an SGSC home, MPC on the lag ridge's prices captured
    76.9 % of the optimum's saving with 3 days' mean against 73.7 % with yesterday's:
    ``tests/bench/test_bench_mpc.py``).

    Parameters
    ----------
    days : int
        Days averaged (>= 1).
    """

    days: int = 3
    name = "recent mean"

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(
                f"RecentMeanForecast.days must be >= 1 (days averaged), got {self.days}"
            )

    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        latest = PersistenceForecast().values(series, name, t, n)
        if self.days == 1:
            return latest
        x, day = series.get(name), series.steps_per_day
        src = (t + _lags(n, day))[None, :] - day * np.arange(self.days)[:, None]  # all < t
        seen = src >= 0
        total = np.where(seen, x[np.maximum(src, 0)], 0.0).sum(axis=0)
        count = seen.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), latest)


@functools.lru_cache(maxsize=16)
def _lags(n: int, day: int) -> np.ndarray:
    """Offset of the latest same-time-of-day interval before the decision, per step ahead."""
    j = np.arange(n)
    return j - day * (j // day + 1)


@dataclass(eq=False)
class IssuedForecast(Forecast):
    """Forecasts published at given intervals: a supplier's (Amber's forecast intervals) or
    a trained forecaster's, run once per issue.

    Parameters
    ----------
    issued : numpy.ndarray of int
        Interval index at which each forecast became available (sorted).
    forecasts : dict of str to numpy.ndarray
        Per series name (``load_kwh``, ``pv_kwh`` or a market channel), an ``(issues, H)``
        array: row ``i`` forecasts intervals ``issued[i] .. issued[i] + H - 1`` (NaN: not
        forecast).
    fallback : Forecast
        For series and intervals the issue does not cover (default persistence).
    name : str
        Label in results.
    """

    issued: np.ndarray
    forecasts: dict[str, np.ndarray]
    fallback: Forecast = field(default_factory=PersistenceForecast)
    name: str = "issued"

    def __post_init__(self) -> None:
        self.issued = np.asarray(self.issued, dtype=np.int64)
        if self.issued.ndim != 1 or (np.diff(self.issued) < 0).any():
            raise ValueError("IssuedForecast.issued must be a sorted 1-D array of interval indices")
        for key, v in self.forecasts.items():
            if np.ndim(v) != 2 or v.shape[0] != self.issued.size:
                raise ValueError(
                    f"IssuedForecast.forecasts[{key!r}] has shape {np.shape(v)}; it needs one row "
                    f"per issue ({self.issued.size}) and one column per interval ahead"
                )

    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        out = self.fallback.values(series, name, t, n).copy()
        table = self.forecasts.get(name)
        i = int(np.searchsorted(self.issued, t, side="right")) - 1
        if table is None or i < 0:
            return out
        lead = t - int(self.issued[i])
        row = table[i, lead : lead + out.size]  # no further than the fallback (the period's end)
        ok = np.isfinite(row)
        out[: row.size][ok] = row[ok]
        return out


@dataclass(eq=False)
class CallableForecast(Forecast):
    """Any predict-like callable ``predict(t, n) -> {series name: values}`` (values for
    intervals ``t .. t + n - 1``, NaN where it has none); the series it leaves out come from
    ``fallback``."""

    predict: Callable[[int, int], Mapping[str, np.ndarray]]
    fallback: Forecast = field(default_factory=PersistenceForecast)
    name: str = "callable"

    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        return self._merged(series, name, t, n, self.predict(t, n))

    def window(self, series: Series, t: int, n: int) -> Window:
        got = self.predict(t, n)  # once for every series of the window
        vals = {key: self._merged(series, key, t, n, got) for key in series.names()}
        load, pv = vals.pop("load_kwh"), vals.pop("pv_kwh")
        return Window(load, pv, vals)

    def _merged(
        self, series: Series, name: str, t: int, n: int, got: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """The fallback's values with the callable's finite ones on top."""
        v = self.fallback.values(series, name, t, n).copy()
        if name in got:
            g = np.asarray(got[name], dtype=float)[:n]
            ok = np.isfinite(g)
            v[: g.size][ok] = g[ok]
        return v


@dataclass(eq=False)
class ScenarioForecast(Forecast):
    """Several paths of the market prices at each decision, for a **stochastic** plan: the
    controller then solves one LP over all of them (:class:`DispatchLP` with
    ``scenarios``), sharing the first interval's set-points and minimising the mean cost, so
    it keeps charge where a spike is possible and spends it where one is seen.

    Parameters
    ----------
    paths : callable
        ``paths(t, n) -> {market channel: (scenarios, n) array}``: the paths of intervals
        ``t .. t + n - 1`` as known at the start of ``t`` (NaN: the fallback's value).
    scenarios : int
        Paths per channel.
    fallback : Forecast
        For the series ``paths`` leaves out (load, PV; default persistence).
    name : str
        Label in results.
    """

    paths: Callable[[int, int], Mapping[str, np.ndarray]]
    scenarios: int
    fallback: Forecast = field(default_factory=PersistenceForecast)
    name: str = "scenarios"

    def __post_init__(self) -> None:
        if self.scenarios < 1:
            raise ValueError(f"ScenarioForecast.scenarios must be >= 1, got {self.scenarios}")

    def values(self, series: Series, name: str, t: int, n: int) -> np.ndarray:
        return self._merged(series, name, t, n, self.paths(t, n))

    def window(self, series: Series, t: int, n: int) -> Window:
        got = self.paths(t, n)  # once for every channel of the window
        market = {c: self._merged(series, c, t, n, got) for c in series.market}
        return Window(
            self.fallback.values(series, "load_kwh", t, n),
            self.fallback.values(series, "pv_kwh", t, n),
            market,
        )

    def _merged(
        self, series: Series, name: str, t: int, n: int, got: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """A ``(scenarios, n)`` array of a channel's paths over the fallback's values."""
        base = self.fallback.values(series, name, t, n)
        if name not in got:
            return base
        p = np.asarray(got[name], dtype=float)[:, : base.size]
        if p.shape[0] != self.scenarios:
            raise ValueError(
                f"ScenarioForecast {self.name!r}: {p.shape[0]} paths of {name!r} at interval {t}; "
                f"it was built for scenarios={self.scenarios}"
            )
        out = np.broadcast_to(base, (self.scenarios, base.size)).copy()
        ok = np.isfinite(p)
        out[:, : p.shape[1]][ok] = p[ok]
        return out


def forecaster_forecast(
    runner,
    history: pl.DataFrame,
    start: datetime,
    n: int,
    interval_minutes: int,
    *,
    targets: Mapping[str, str],
    every: int = 1,
    batch_size: int = 256,
    name: str = "forecaster",
) -> IssuedForecast:
    """A trained forecaster's forecasts as issued at each decision of a period.

    At decision interval ``t`` (every ``every`` intervals of the period that starts at
    ``start``) the forecaster sees the latest ``spec.sequence_length`` complete intervals of
    ``history`` before it, as the live agent does, and forecasts its first horizon.  All
    windows go through the model in batches.  Decisions whose window is incomplete (the
    first days, gaps) get no forecast: the :class:`IssuedForecast` falls back to persistence.

    Parameters
    ----------
    runner : energylib.forecast.inference.ForecastRunner
        The loaded model (ONNX, TorchScript or eager): ``spec``, ``timezone``,
        ``predict_array``.
    history : polars.DataFrame
        Canonical frame at the spec's interval with the columns it reads, covering the
        period and the history before it (``interval_start`` UTC).
    start : datetime
        The period's first interval start (UTC).
    n : int
        Intervals in the period.
    interval_minutes : int
        The period's interval length [min] (the spec's, or a divisor of it).
    targets : dict of str to str
        Which forecast target feeds which series: ``{"price_per_kwh": "general_per_kwh"}``
        (a market channel), ``{"total_kwh": "load_kwh"}``.
    every : int
        Intervals between decisions.
    name : str
        Label in results.
    """
    spec = runner.spec
    ratio = spec.interval_minutes // interval_minutes
    if ratio < 1 or ratio * interval_minutes != spec.interval_minutes:
        raise ValueError(
            f"the forecaster runs at {spec.interval_minutes} min; the period's {interval_minutes}-min "
            "intervals must divide it"
        )
    fm = feature_matrix(history, spec, runner.timezone)
    issued = np.arange(0, n, every, dtype=np.int64)
    step_us = spec.interval_minutes * 60_000_000
    t_us = _epoch_us(start) + issued * interval_minutes * 60_000_000
    first_us = _epoch_us(fm.times[0])
    anchor = (t_us - first_us) // step_us - 1  # the latest complete interval before t
    lead = ((t_us - first_us) % step_us) // (interval_minutes * 60_000_000)  # into its interval
    L = spec.sequence_length
    usable = (anchor >= L - 1) & (anchor < fm.n_rows)
    windows = input_windows(fm.inputs, np.clip(anchor, L - 1, fm.n_rows - 1), L)
    usable &= np.isfinite(windows).all(axis=(1, 2))
    hname, steps = spec.horizons[0]
    out = {key: np.full((issued.size, steps * ratio), np.nan) for key in targets.values()}
    rows = np.flatnonzero(usable)
    if rows.size:
        outs = runner.predict_array(windows[rows], batch_size=batch_size)
        for target, key in targets.items():
            task = spec.tasks[list(spec.targets).index(target)]
            y = np.asarray(outs[f"{task}_{hname}"], dtype=float)
            if target.endswith("_kwh"):
                y = y / ratio  # energy per spec interval, split evenly
            out[key][rows] = np.repeat(y, ratio, axis=1)
    # A decision inside a spec interval starts that far into the forecast.
    for key, table in out.items():
        if ratio > 1:
            shifted = np.full_like(table, np.nan)
            for k in range(ratio):
                sel = lead == k
                shifted[sel, : table.shape[1] - k] = table[sel, k:]
            out[key] = shifted
    return IssuedForecast(issued, out, name=name)


def lag_ridge_forecast(
    price: np.ndarray,
    hour: np.ndarray,
    start: int,
    n: int,
    *,
    channel: str,
    steps_per_day: int,
    horizon: int | None = None,
    scenarios: int = 0,
    fallback: Forecast | None = None,
) -> IssuedForecast | ScenarioForecast:
    """MPC's price forecast from :class:`energylib.forecast.intraday.LagRidge`, fitted on
    the history before the period: as issued at every decision (``scenarios=0``), or with
    ``scenarios > 0`` that many paths per decision, the ridge's forecast plus its errors at
    the most similar earlier decisions (:class:`~energylib.forecast.intraday.AnalogScenarios`),
    for stochastic MPC.  Decision ``t`` reads ``price[: start + t + 1]`` (its own interval's
    price is published by then) and nothing later.

    Parameters
    ----------
    price : numpy.ndarray
        The market channel per interval, the history then the period [currency/kWh] (NaN
        where missing).
    hour : numpy.ndarray of int
        Local hour of each interval.
    start : int
        Index of the period's first interval in ``price`` (the model is fitted before it).
    n : int
        Intervals in the period.
    channel : str
        The market channel forecast (``spot_per_kwh``, ``general_per_kwh``).
    steps_per_day : int
        Intervals per day.
    horizon : int, optional
        Steps ahead forecast (default a day).
    scenarios : int
        Paths per decision; 0: the point forecast.
    fallback : Forecast, optional
        Load, PV and the other channels (default persistence).
    """
    # sklearn is slow to import and only studies need it (the agent imports this module)
    from energylib.forecast.intraday import AnalogScenarios, LagRidge

    H = horizon or steps_per_day
    x = np.asarray(price, dtype=float)
    model = LagRidge(horizon=H, steps_per_day=steps_per_day).fit(x[:start], hour[:start])
    fallback = fallback or PersistenceForecast()
    if scenarios <= 0:
        table = model.table(x, hour, start + np.arange(n))
        return IssuedForecast(np.arange(n), {channel: table}, fallback, name="lag ridge")
    analogs = AnalogScenarios(model, x, hour, start, scenarios=scenarios)

    def paths(t: int, m: int) -> dict[str, np.ndarray]:
        return {channel: analogs.paths(start + t, m)}

    return ScenarioForecast(paths, scenarios, fallback, name=f"lag ridge, {scenarios} scenarios")


#: The market channel each stored supplier channel forecasts (Amber's all-in prices).
SUPPLIER_CHANNELS = {"general": "general_per_kwh", "feed_in": "feed_in_per_kwh"}


def supplier_forecast(
    store,
    start: datetime,
    n: int,
    interval_minutes: int,
    *,
    source: str = "amber",
    site: str | None = None,
    channels: Mapping[str, str] = SUPPLIER_CHANNELS,
    fallback: Forecast | None = None,
    name: str = "supplier",
) -> IssuedForecast:
    """A supplier's published price forecasts as they were issued, for a period's decisions.

    Reads the forecasts the agent stored with their issue time
    (:mod:`energylib.ingest.issued`, kind ``price_forecasts``) and gives decision interval
    ``t`` the **latest forecast issued at or before its start** (nothing later): an issue
    at 10:05 serves a 30-min study from its 10:30 decision, and the 10:25 issue, where
    there is one, replaces it there.  Each forecast (half-hourly) is put on the period's
    grid (the mean of the half-hours each interval spans); intervals and series it does
    not cover come from ``fallback`` (persistence by default: load and PV are not the
    supplier's).

    Parameters
    ----------
    store : Store
        Where the issued forecasts are (the agent's live cache, or a store it synced to).
    start : datetime
        The period's first interval start (tz-aware).
    n : int
        Intervals in the period.
    interval_minutes : int
        The period's interval length [min], a multiple of 5.
    source, site : str
        The stored series (``amber`` and the Amber site id).
    channels : dict of str to str
        Stored channel -> the market channel it forecasts (``general`` ->
        ``general_per_kwh``, ``feed_in`` -> ``feed_in_per_kwh``).
    fallback : Forecast, optional
        Default :class:`PersistenceForecast`.
    name : str
        Label in results.

    Raises
    ------
    LookupError
        No forecast of a channel stored in the period (the message says what fills it).
    """
    if interval_minutes % 5:
        raise ValueError(
            f"supplier forecasts come in 5-min issues; a {interval_minutes}-min period cannot "
            "use them (use an interval that is a multiple of 5 min)"
        )
    step_us = interval_minutes * 60_000_000
    t0 = int(_epoch_us(start))
    end = t0 + n * step_us
    lo = datetime.fromtimestamp(t0 / 1e6, UTC) - timedelta(days=1)
    hi = datetime.fromtimestamp(end / 1e6, UTC)
    per_issue: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for channel in channels:
        try:
            per_issue[channel] = read_issued(store, source, lo, hi, site=site, channel=channel)
        except LookupError as exc:
            raise LookupError(
                f"no {source} price forecasts stored for channel {channel!r} in "
                f"{lo.isoformat()}..{hi.isoformat()}: the live agent stores each forecast it "
                f"fetches (energy agent run, market amber); forecast 'supplier' needs them ({exc})"
            ) from None
    # Decision interval of each issue: the first at or after it; per decision, the latest issue.
    issues = np.unique(np.concatenate([v[0] for v in per_issue.values()]))
    d = np.maximum(-(-(issues - t0) // step_us), 0)  # before the period: its first decision
    keep = d < n
    issues, d = issues[keep], d[keep]
    last = np.r_[d[1:] != d[:-1], True]  # issues sorted: the last of each decision wins
    issues, d = issues[last], d[last]
    sub = step_us // ISSUE_STEP_US  # 5-min steps per interval of the period
    half_hour0 = (issues // HALF_HOUR_US) * HALF_HOUR_US  # the half-hour each issue falls in
    forecasts = {}
    for channel, key in channels.items():
        when, table = per_issue[channel]
        rows = np.clip(np.searchsorted(when, issues), 0, when.size - 1)
        found = when[rows] == issues
        steps = table.shape[1]
        width = -(-steps * HALF_HOUR_US // step_us) + 1  # intervals ahead an issue reaches
        out = np.full((issues.size, width), np.nan)
        for lo_row in range(0, issues.size, 4096):  # blocks: a 5-min year stays small
            b = slice(lo_row, lo_row + 4096)
            # the half-hour of the issue's forecast each 5-min step of each interval is in
            t5 = (t0 + d[b] * step_us)[:, None, None] + (
                np.arange(width)[:, None] * step_us + np.arange(sub) * ISSUE_STEP_US
            )[None]
            k = (t5 - half_hour0[b, None, None]) // HALF_HOUR_US
            ok = found[b, None, None] & (k < steps)
            vals = np.where(ok, table[rows[b, None, None], np.clip(k, 0, steps - 1)], np.nan)
            out[b] = vals.mean(axis=2)  # NaN where a step is missing: the fallback's
        forecasts[key] = out
    return IssuedForecast(d, forecasts, fallback or PersistenceForecast(), name=name)


def _epoch_us(t) -> np.int64:
    return np.int64(round(t.timestamp() * 1_000_000)) if hasattr(t, "timestamp") else np.int64(t)


# --------------------------------------------------------------------------- prices
@dataclass(frozen=True, eq=False)
class PriceModel:
    """A tariff's prices as affine functions of the market's price channels, per interval:
    ``import[t] = import_base[t] + sum_c import_coef[c][t] * market[c][t]`` (and the same for
    the export credit) [currency/kWh].  Every tariff in :mod:`energylib.tariff` is affine
    (pass-through, spot + margin + tax + VAT, network TOU on top of spot, flat, TOU)."""

    import_base: np.ndarray
    export_base: np.ndarray
    import_coef: dict[str, np.ndarray]
    export_coef: dict[str, np.ndarray]

    @classmethod
    def identity(cls, n: int) -> PriceModel:
        """Prices given directly as the channels ``import_per_kwh`` / ``export_credit_per_kwh``."""
        z, one = np.zeros(n), np.ones(n)
        return cls(
            z, z, {"import_per_kwh": one, "export_credit_per_kwh": z},
            {"import_per_kwh": z, "export_credit_per_kwh": one},
        )  # fmt: skip

    @classmethod
    def from_tariff(cls, tariff, cal, market) -> PriceModel:
        """Read a tariff's affine map on a calendar from its prices at zero and unit market
        prices; checked against its prices at the actual ``market``
        (:class:`energylib.tariff.MarketPrices`)."""
        from energylib.tariff import MarketPrices

        n = len(cal)
        names = [
            c for c in ("general_per_kwh", "feed_in_per_kwh", "spot_per_kwh")
            if getattr(market, c) is not None
        ]  # fmt: skip
        zero = {c: np.zeros(n) for c in names}
        ib, eb = (
            np.asarray(a, dtype=float) for a in tariff.interval_prices(cal, MarketPrices(**zero))
        )
        ic, ec = {}, {}
        for c in names:
            i1, e1 = tariff.interval_prices(cal, MarketPrices(**(zero | {c: np.ones(n)})))
            ic[c], ec[c] = np.asarray(i1) - ib, np.asarray(e1) - eb
        model = cls(np.broadcast_to(ib, (n,)), np.broadcast_to(eb, (n,)), ic, ec)
        actual = {c: np.asarray(getattr(market, c), dtype=float) for c in names}
        want_i, want_e = tariff.interval_prices(cal, market)
        got_i, got_e = model.prices(0, n, actual)
        scale = 1e-9 * (1.0 + np.abs(want_i).max(initial=0.0) + np.abs(want_e).max(initial=0.0))
        if (
            np.abs(got_i - want_i).max(initial=0) > scale
            or np.abs(got_e - want_e).max(initial=0) > scale
        ):
            raise ValueError(
                f"tariff {getattr(tariff, 'name', tariff)!r} is not affine in the market prices; "
                "MPC prices forecasts through it: give the import and export prices directly"
            )
        return model

    def prices(
        self, t: int, n: int, market: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Import price and export credit of intervals ``t .. t + n - 1`` for market values
        ``market`` over them [currency/kWh]: ``(n,)`` arrays, or ``(scenarios, n)`` where a
        channel has a row per scenario."""
        sl = slice(t, t + n)
        imp = self.import_base[sl].copy()
        exp = self.export_base[sl].copy()
        k = imp.size
        for c, coef in self.import_coef.items():
            if c in market:
                imp = imp + coef[sl] * np.asarray(market[c])[..., :k]
        for c, coef in self.export_coef.items():
            if c in market:
                exp = exp + coef[sl] * np.asarray(market[c])[..., :k]
        if imp.shape != exp.shape:  # one side read a channel with scenarios
            imp, exp = np.broadcast_arrays(imp, exp)
        return imp, exp


# --------------------------------------------------------------------------- applying a plan
@njit(cache=True)
def _realise(
    mode, bc_sp, bd_sp, evc_sp, evd_sp, topup_sp, curt_sp, import_ok, export_ok,
    load, pv_all, ip, ec, exp_max,
    has_b, soc0, lo, hi, bc_max, bd_max, eta, wear,
    has_ev, home, trip, req, ev_soc0, ev_hi, ev_c_max, ev_d_max, ev_eta_c, ev_eta_d,
    ev_reserve, ev_wear, v2g, penalty,
):  # fmt: skip
    """Apply a plan's steps (modes and set-points) to load and PV; flows and their cost."""
    n = load.size
    imp = np.zeros(n)
    exp = np.zeros(n)
    curt = np.zeros(n)
    bc = np.zeros(n)
    bd = np.zeros(n)
    soc = np.zeros(n)
    evc = np.zeros(n)
    evd = np.zeros(n)
    ev_soc = np.zeros(n)
    topup = np.zeros(n)
    cost = 0.0
    s = soc0
    es = ev_soc0
    pv = pv_all.copy()
    for t in range(n):
        # PV the plan curtails to import, or to export from the battery, instead
        cut0 = min(curt_sp[t], pv[t])
        pv[t] -= cut0
        # ------------------------------------------------------------ EV at its set-points
        e_c = 0.0
        e_d = 0.0
        if has_ev:
            if home[t]:
                e_c = min(evc_sp[t], ev_c_max[t], max(ev_hi - es, 0.0) / ev_eta_c)
                if e_c <= 0.0:
                    e_c = 0.0
                    e_d = min(evd_sp[t], ev_d_max[t], max(es - ev_reserve, 0.0) * ev_eta_d)
                    if e_d < 0.0:
                        e_d = 0.0
            elif trip[t] > 0.0:
                # a trip: energy bought away where the plan does (or the car runs short)
                es += topup_sp[t] - trip[t]
                topup[t] = topup_sp[t]
                if es < 0.0:
                    topup[t] -= es
                    es = 0.0
        d = load[t] + e_c - e_d - pv[t]  # > 0: deficit
        # ------------------------------------------------------------ battery
        b_c = 0.0
        b_d = 0.0
        if has_b:
            room = max(hi[t] - s, 0.0) / eta
            avail = max(s - lo[t], 0.0) * eta
            m = mode[t]
            if m == 1:
                if d > 0.0:
                    b_d = min(d, bd_max, avail)
                else:
                    b_c = min(-d, bc_max, room)
            elif m == 2:
                b_c = bc_sp[t] if import_ok[t] else min(bc_sp[t], max(-d, 0.0))
                b_c = min(b_c, room)
            elif m == 3:
                b_d = bd_sp[t] if export_ok[t] else min(bd_sp[t], max(d, 0.0))
                b_d = min(b_d, avail)
        if has_ev and not v2g and e_d > 0.0:
            # V2H only: the EV feeds the home (load and battery), exports come from PV and the
            # battery (as the LP counts them: export <= PV - curtailed + battery discharge)
            e_d = min(e_d, load[t] + b_c + e_c)
            d = load[t] + e_c - e_d - pv[t]
        net = d + b_c - b_d
        # ------------------------------------------------------------ grid
        if net > 0.0:
            imp[t] = net
        elif net < 0.0:
            out = -net
            if ec[t] >= 0.0:
                exp[t] = min(out, exp_max)
            rest = out - exp[t]
            if rest > pv[t]:
                # stored energy is never curtailed: discharge less instead
                over = rest - pv[t]
                cut = min(over, b_d)
                b_d -= cut
                over -= cut
                e_d = max(e_d - over, 0.0)
                rest = pv[t]
            curt[t] = rest
        curt[t] += cut0
        if has_b:
            s += b_c * eta - b_d / eta
        if has_ev:
            es += e_c * ev_eta_c - e_d / ev_eta_d
        bc[t] = b_c
        bd[t] = b_d
        soc[t] = s
        evc[t] = e_c
        evd[t] = e_d
        ev_soc[t] = es
        cost += ip[t] * imp[t] - ec[t] * exp[t] + wear * b_d + ev_wear * e_d
        cost += penalty * topup[t]
        if has_ev and req[t] > 0.0 and es < req[t]:
            cost += penalty * (req[t] - es)
        if has_ev and home[t] and es < ev_reserve:
            cost += penalty * (ev_reserve - es)  # below the V2H/V2G reserve while parked
    return imp, exp, curt, bc, bd, soc, evc, evd, ev_soc, topup, cost


@dataclass(eq=False)
class Plan:
    """A plan: per interval of the horizon, the battery mode (:data:`MODES`) and set-points.

    ``start`` is the absolute index of its first interval; ``bc``, ``bd``, ``evc``, ``evd``
    are charge and discharge set-points [kWh per interval]; ``topup`` energy bought away
    from home on a trip [kWh]; ``curt`` PV curtailed to import
    instead or to export from the battery instead (negative prices) [kWh per interval];
    ``import_ok`` / ``export_ok``
    say where the plan imports / exports (a set-point may then draw on / feed the grid);
    ``soc_kwh`` the planned stored energy; ``expected_cost`` [currency] the plan's cost on
    the forecast it was made with, less the terminal value.
    """

    start: int
    mode: np.ndarray
    bc: np.ndarray
    bd: np.ndarray
    evc: np.ndarray
    evd: np.ndarray
    topup: np.ndarray
    curt: np.ndarray
    import_ok: np.ndarray
    export_ok: np.ndarray
    soc_kwh: np.ndarray
    expected_cost: float = math.nan

    def __len__(self) -> int:
        return int(self.mode.size)

    def mode_name(self, k: int = 0) -> str:
        return MODES[int(self.mode[k])]

    def shifted(self, start: int, n: int) -> Plan:
        """The same plan from interval ``start`` on, ``n`` intervals long (idle past its end)."""
        k = start - self.start
        if k < 0:
            raise ValueError(f"a plan starting at {self.start} cannot be shifted back to {start}")

        def take(a: np.ndarray, fill) -> np.ndarray:
            out = np.full(n, fill, dtype=a.dtype)
            part = a[k : k + n]
            out[: part.size] = part
            return out

        return Plan(
            start,
            take(self.mode, HOLD),
            take(self.bc, 0.0),
            take(self.bd, 0.0),
            take(self.evc, 0.0),
            take(self.evd, 0.0),
            take(self.topup, 0.0),
            take(self.curt, 0.0),
            take(self.import_ok, False),
            take(self.export_ok, False),
            take(self.soc_kwh, np.nan),
            self.expected_cost,
        )


def plan_from_flows(
    start: int, imp, exp, curt, bc, bd, soc, evc=None, evd=None, topup=None,
    tol: float = MODE_TOL_KWH,
) -> Plan:  # fmt: skip
    """The modes and set-points of planned flows (see the module docstring)."""
    bc = np.where(bc > tol, bc, 0.0)
    bd = np.where(bd > tol, bd, 0.0)
    import_ok, export_ok = imp > tol, exp > tol
    moving = (bc > 0) | (bd > 0)
    follow = moving & ~import_ok & ~export_ok & (curt <= tol)
    mode = np.full(bc.size, HOLD, dtype=np.int8)
    mode[bc > 0] = CHARGE
    mode[bd > 0] = DISCHARGE
    mode[follow] = FOLLOW
    z = np.zeros(bc.size)
    evc = z if evc is None else np.where(evc > tol, evc, 0.0)
    evd = z if evd is None else np.where(evd > tol, evd, 0.0)
    topup = z if topup is None else np.where(topup > tol, topup, 0.0)
    # PV the plan curtails to import instead, or to export from the battery instead (both
    # where prices are negative); other curtailment follows from the grid's limits and prices
    curt_sp = np.where((import_ok | (export_ok & (bd > 0))) & (curt > tol), curt, 0.0)
    return Plan(
        start, mode, bc, bd, evc, evd, topup, curt_sp, import_ok, export_ok,
        np.asarray(soc, dtype=float),
    )  # fmt: skip


# --------------------------------------------------------------------------- the controller
@dataclass
class MPCStep:
    """One decision: the plan in force after it and why.

    ``mode``: what the battery does now (:data:`MODES`); ``changed``: it is not what it did
    in the interval before; ``reason``: why the mode changed or held; ``expected_cost``:
    the plan's cost over the horizon on the forecast, less the terminal value [currency];
    ``alternative_cost``: the cost of the plan turned down (carrying on, or changing), where
    the threshold weighed two; ``terminal_value_per_kwh``; ``solve_ms``: LP update and
    solves [ms]; ``horizon_steps``: intervals planned.
    """

    plan: Plan
    mode: str
    changed: bool
    reason: str
    expected_cost: float
    alternative_cost: float | None
    terminal_value_per_kwh: float
    solve_ms: float
    horizon_steps: int


class MPCController:
    """One MPC decision at a time (see the module docstring): the study's loop and the live
    agent both call :meth:`decide`.

    Parameters
    ----------
    policy : MPCPolicy
    interval_minutes : int
        Interval length [min].
    battery, ev : Battery or None, EV or None
        The assets.
    v2h, v2g : bool
        Vehicle-to-home / vehicle-to-grid.
    import_max_kwh, export_max_kwh : float
        Grid limits per interval [kWh] (``inf``: none).
    penalty_per_kwh : float
        Price of an EV shortfall, top-up or reserve breach [currency/kWh].
    """

    def __init__(
        self,
        policy: MPCPolicy,
        interval_minutes: int,
        *,
        battery: Battery | None = None,
        ev: EV | None = None,
        v2h: bool = False,
        v2g: bool = False,
        import_max_kwh: float = math.inf,
        export_max_kwh: float = math.inf,
        penalty_per_kwh: float = 100.0,
    ) -> None:
        self.policy, self.interval_minutes = policy, interval_minutes
        self.battery, self.ev, self.v2h, self.v2g = battery, ev, v2h, v2g
        self.import_max, self.export_max = import_max_kwh, export_max_kwh
        self.penalty = float(penalty_per_kwh)
        self.n = policy.steps(interval_minutes)
        self.scenarios = policy.scenarios
        self.lp = DispatchLP(
            self.n, interval_minutes, battery=battery, ev=ev, v2h=v2h, v2g=v2g,
            penalty_per_kwh=self.penalty, scenarios=self.scenarios,
            shared=policy.replan_steps(interval_minutes),
        )  # fmt: skip
        self.plan: Plan | None = None
        h = interval_minutes / 60.0
        if battery is not None:
            self._bc_max, self._bd_max = battery.per_interval(interval_minutes)
        if ev is not None:
            self._ev_c = ev.charger_kw * h
            self._ev_d = ev.bidirectional_kw * h if (v2h or v2g) else 0.0

    # ------------------------------------------------------------------ pieces
    def terminal_value(self, import_per_kwh: np.ndarray) -> float:
        """Value of a stored kWh at the horizon's end [currency/kWh] (see :class:`MPCPolicy`)."""
        b, v = self.battery, self.policy.terminal_value
        if b is None:
            return 0.0
        if not isinstance(v, str):
            return float(v)
        stat = np.median(import_per_kwh) if v == "median" else np.mean(import_per_kwh)
        return max(float(stat) - b.wear_cost_per_kwh, 0.0) * b.eta_one_way

    def simulate(
        self,
        plan: Plan,
        load: np.ndarray,
        pv: np.ndarray,
        ip: np.ndarray,
        ec: np.ndarray,
        soc0_kwh: float,
        ev_soc0_kwh: float = 0.0,
        ev: EVArrays | None = None,
        cap_kwh: np.ndarray | None = None,
    ) -> tuple:
        """Apply ``plan``'s first ``load.size`` steps to ``load`` and ``pv``: ``(imp, exp, curt,
        bc, bd, soc, evc, evd, ev_soc, topup, cost)`` [kWh per interval, currency]."""
        n = load.size
        b, e = self.battery, self.ev
        if b is not None:
            cap = b.calendar_capacity_kwh(n, self.interval_minutes) if cap_kwh is None else cap_kwh
            bat = (True, soc0_kwh, b.soc_min_fraction * cap, b.soc_max_fraction * cap,
                   self._bc_max, self._bd_max, b.eta_one_way, b.wear_cost_per_kwh)  # fmt: skip
        else:
            z = np.zeros(n)
            bat = (False, 0.0, z, z, 0.0, 0.0, 1.0, 0.0)
        if e is not None:
            home = ev.home[:n]
            evs = (
                True, home, ev.trip_kwh[:n], ev.required_kwh[:n], ev_soc0_kwh,
                e.max_soc_fraction * e.capacity_kwh, home * self._ev_c, home * self._ev_d,
                e.charge_efficiency, e.discharge_efficiency,
                e.reserve_soc_fraction * e.capacity_kwh if (self.v2h or self.v2g) else 0.0,
                e.wear_cost_per_kwh, self.v2g,
            )  # fmt: skip
        else:
            z = np.zeros(n)
            evs = (
                False,
                np.zeros(n, dtype=np.bool_),
                z,
                z,
                0.0,
                0.0,
                z,
                z,
                1.0,
                1.0,
                0.0,
                0.0,
                False,
            )
        return _realise(
            plan.mode[:n], plan.bc[:n], plan.bd[:n], plan.evc[:n], plan.evd[:n], plan.topup[:n],
            plan.curt[:n],
            plan.import_ok[:n], plan.export_ok[:n], load, pv, ip, ec, self.export_max,
            *bat, *evs, self.penalty,
        )  # fmt: skip

    # ------------------------------------------------------------------ deciding
    def decide(
        self,
        start: int,
        load_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        import_per_kwh: np.ndarray,
        export_credit_per_kwh: np.ndarray,
        *,
        soc_kwh: float | None = None,
        ev_soc_kwh: float | None = None,
        ev_arrays: EVArrays | None = None,
        fade_start: int = 0,
        mode_now: str | None = None,
    ) -> MPCStep:
        """Plan from interval ``start`` on, on forecasts over the horizon, and choose between
        the new plan and the one in force.

        Parameters
        ----------
        start : int
            Absolute index of the decision interval (plans are shifted by it).
        load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh : numpy.ndarray
            Forecasts for the intervals ``start ..`` (at most the horizon; fewer where the
            period ends first: the rest of the horizon is idle) [kWh, currency/kWh].
        soc_kwh, ev_soc_kwh : float
            Stored energy now [kWh].
        ev_arrays : EVArrays
            The EV's driving over the same intervals (with an EV).
        fade_start : int
            Index of ``start`` in the battery's life (calendar fade).
        mode_now : str, optional
            The battery's mode in the interval before (:data:`MODES`): with a stability
            threshold, a plan that changes it must be cheaper than the best plan that
            carries it on by more than the threshold.

        Returns
        -------
        MPCStep
        """
        t0 = time.perf_counter()
        n, m = self.n, min(np.shape(load_kwh)[-1], self.n)
        b, e = self.battery, self.ev
        pad = n - m

        def padded(a, fill=0.0):  # (m,) or (scenarios, m) -> (n,) or (scenarios, n)
            a = np.asarray(a, dtype=float)[..., :m]
            if pad == 0:
                return a
            return np.concatenate((a, np.full((*a.shape[:-1], pad), fill)), axis=-1)

        load, pv, ip, ec = (
            padded(a) for a in (load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh)
        )
        soc0 = (b.initial_soc_kwh if soc_kwh is None else float(soc_kwh)) if b else 0.0
        ev_soc0 = 0.0
        eva = None
        if e is not None:
            if ev_arrays is None:
                raise ValueError("an EV needs its ev_arrays over the horizon")
            ev_soc0 = (
                (e.initial_soc_fraction * e.capacity_kwh)
                if ev_soc_kwh is None
                else float(ev_soc_kwh)
            )
            home = ev_arrays.home[:m]
            eva = EVArrays(
                home=home if pad == 0 else np.concatenate((home, np.zeros(pad, dtype=bool))),
                trip_kwh=padded(ev_arrays.trip_kwh),
                required_kwh=padded(ev_arrays.required_kwh),
                next_departure=np.zeros(n, dtype=np.int64),
            )
        value = self.terminal_value(ip[..., :m]) if m else 0.0

        def put() -> None:  # the horizon's numbers into the LP (again after a solve's fix-ups)
            self.lp.update(
                load, pv, ip, ec, import_max_kwh=self.import_max, export_max_kwh=self.export_max,
                ev_arrays=eva, soc0_kwh=soc0, ev_soc0_kwh=ev_soc0, start=fade_start,
                terminal_value_per_kwh=value,
            )  # fmt: skip
            if pad and b is not None:
                live = np.tile(np.arange(n) < m, self.scenarios)
                self.lp.model.set_bounds("bc", upper=np.where(live, self._bc_max, 0.0))
                self.lp.model.set_bounds("bd", upper=np.where(live, self._bd_max, 0.0))

        put()
        new = self._plan(start, self.lp.solve())
        cap = b.calendar_capacity_kwh(1, self.interval_minutes, start=fade_start) if b else None
        d0 = float(np.ravel(load)[0] - np.ravel(pv)[0])  # the first scenario's, with several
        mode = MODES[self._label(new, d0, soc0, cap)]
        threshold = self.policy.switch_threshold
        other = None
        if mode_now is None or b is None:
            changed, reason = mode_now is not None and mode != mode_now, f"plan: {mode} now"
        elif mode == mode_now:
            changed, reason = False, f"{mode} carries on"
        elif threshold <= 0:
            changed, reason = True, f"{mode_now} -> {mode} (no stability threshold)"
        else:
            put()
            keep = self._keep(start, mode_now, d0, soc0, float(cap[0]))
            gain = math.inf if keep is None else keep.expected_cost - new.expected_cost
            if keep is None:
                changed = True
                reason = f"{mode_now} -> {mode}: carrying on {mode_now} is not possible"
            elif gain > threshold:
                changed, other = True, keep.expected_cost
                reason = (
                    f"{mode_now} -> {mode}: {gain:.4f} cheaper than carrying on "
                    f"(> threshold {threshold:g})"
                )
            else:
                changed, other = False, new.expected_cost
                reason = (
                    f"held {mode_now}: {mode} would save {gain:.4f} (<= threshold {threshold:g})"
                )
                new, mode = keep, MODES[self._label(keep, d0, soc0, cap)]
                changed = mode != mode_now
        self.plan = new
        solve_ms = (time.perf_counter() - t0) * 1e3
        return MPCStep(new, mode, changed, reason, new.expected_cost, other, value, solve_ms, m)

    def _plan(self, start: int, sol) -> Plan:
        n = self.n  # the first scenario's rows, where there are several
        v = {name: x[:n] for name, x in sol.values.items()}
        z = np.zeros(n)
        plan = plan_from_flows(
            start, v["imp"], v["exp"], v["curt"], v.get("bc", z), v.get("bd", z),
            v.get("soc", z), v.get("evc"), v.get("evd"), v.get("ev_topup"),
        )  # fmt: skip
        plan.expected_cost = sol.objective  # the LP's own: the terminal value is in it
        return plan

    def _label(self, plan: Plan, d0: float, soc0: float, cap) -> int:
        """The mode of a plan's first step, read as :func:`battery_modes` reads flows."""
        b, tol = self.battery, MODE_TOL_KWH
        if b is None:
            return HOLD
        return _mode(
            plan.bc[0], plan.bd[0], float(plan.import_ok[0]), float(plan.export_ok[0]),
            d0 + plan.evc[0] - plan.evd[0],
            soc0 > b.soc_min_fraction * cap[0] + tol, soc0 < b.soc_max_fraction * cap[0] - tol,
        )  # fmt: skip

    def _keep(self, start: int, mode: str, d0: float, soc0: float, cap0: float) -> Plan | None:
        """The best plan whose first interval carries on in ``mode``: ``hold`` the battery
        idle; ``self_consumption`` it meets the net load ``d0`` [kWh] or stores the surplus
        as far as it can; ``charge`` / ``discharge`` at full power as far as it can (bounds on
        the first interval only); None where the first interval cannot stay in it."""
        b, m = self.battery, self.lp.model
        eta = b.eta_one_way
        avail = max(soc0 - b.soc_min_fraction * cap0, 0.0) * eta
        room = max(b.soc_max_fraction * cap0 - soc0, 0.0) / eta
        lo_c = lo_d = hi_c = hi_d = 0.0
        if mode == "self_consumption":
            lo_d = hi_d = min(max(d0, 0.0), self._bd_max, avail)
            lo_c = hi_c = min(max(-d0, 0.0), self._bc_max, room)
        elif mode == "charge":
            lo_c = hi_c = min(self._bc_max, room)
        elif mode == "discharge":
            lo_d = hi_d = min(self._bd_max, avail)
        elif mode != "hold":
            raise ValueError(f"mode {mode!r}; use one of {MODES}")
        for name, lo, hi in (("bc", lo_c, hi_c), ("bd", lo_d, hi_d)):
            v = m.variables[name]
            lower, upper = v.lower.copy(), v.upper.copy()
            lower[0], upper[0] = lo, hi
            m.set_bounds(name, lower=lower, upper=upper)
        try:
            return self._plan(start, self.lp.solve())
        except InfeasibleError:
            return None


# --------------------------------------------------------------------------- a whole period
@dataclass
class MPCStats:
    """How an MPC run went.

    ``decisions``; ``mode_changes`` (decisions that changed the battery's mode) and
    ``held`` (changes the stability threshold turned down); ``solve_ms`` per decision [ms];
    ``seconds`` the whole run [s].
    """

    decisions: int = 0
    mode_changes: int = 0
    held: int = 0
    solve_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        s = np.asarray(self.solve_ms) if self.solve_ms else np.full(1, np.nan)
        return {
            "decisions": self.decisions,
            "mode_changes": self.mode_changes,
            "held": self.held,
            "solve_ms_p50": float(np.percentile(s, 50)),
            "solve_ms_p99": float(np.percentile(s, 99)),
            "seconds": self.seconds,
        }


@dataclass
class MPCRun:
    """An MPC run over a period: ``flows`` and ``stats``."""

    flows: Flows
    stats: MPCStats


def run_mpc(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    import_per_kwh: np.ndarray,
    export_credit_per_kwh: np.ndarray,
    interval_minutes: int,
    *,
    policy: MPCPolicy | None = None,
    battery: Battery | None = None,
    ev: EV | None = None,
    ev_arrays: EVArrays | None = None,
    v2h: bool = False,
    v2g: bool = False,
    grid: GridLimits | None = None,
    export_limit_kw: float | None = None,
    prices: PriceModel | None = None,
    market: Mapping[str, np.ndarray] | None = None,
    progress: bool = False,
) -> MPCRun:
    """Dispatch a period by MPC: decide, apply the first step to what happens, move on.

    Parameters
    ----------
    load_kwh, pv_kwh : numpy.ndarray
        What actually happens: household load without the modelled EV, PV AC generation
        [kWh per interval].
    import_per_kwh, export_credit_per_kwh : numpy.ndarray
        The actual prices [currency/kWh] (what the period is billed at).
    interval_minutes : int
        Interval length [min].
    policy : MPCPolicy
        Forecast, horizon, terminal value, stability threshold.
    battery, ev, ev_arrays, v2h, v2g, grid, export_limit_kw
        As for :func:`energylib.dispatch.optimum.optimise`.
    prices, market : PriceModel and dict of arrays, optional
        The tariff as a :class:`PriceModel` and the market's price channels it reads
        (:meth:`PriceModel.from_tariff`): forecasts are then of the market prices, priced
        through the tariff.  Without them the import and export prices are forecast directly.
    progress : bool
        Show a progress bar.

    Returns
    -------
    MPCRun
        ``flows`` (``policy='mpc'``) and ``stats``.
    """
    policy = policy or MPCPolicy()
    load, pv, ip, ec = dispatch_inputs(load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh)
    n = load.size
    minutes = interval_minutes
    if ev is not None and ev_arrays is None:
        raise ValueError("an EV needs its ev_arrays (EV.arrays(local_times, interval_minutes))")
    if prices is None or market is None:
        prices, market = PriceModel.identity(n), {"import_per_kwh": ip, "export_credit_per_kwh": ec}
    imp_max, exp_max = (grid or GridLimits()).per_interval(minutes, export_limit_kw)
    penalty = policy.penalty_per_kwh
    if penalty is None:
        penalty = 10.0 * float(np.abs(ip).max(initial=0.0)) + 10.0
    ctl = MPCController(
        policy, minutes, battery=battery, ev=ev, v2h=v2h, v2g=v2g,
        import_max_kwh=imp_max, export_max_kwh=exp_max, penalty_per_kwh=penalty,
    )  # fmt: skip
    series = Series(load, pv, dict(market), int(round(1440 / minutes)))
    forecast = policy.forecast_object()
    every = policy.replan_steps(minutes)
    H = ctl.n
    cap = battery.calendar_capacity_kwh(n, minutes) if battery is not None else None
    keys = ("imp", "exp", "curt", "bc", "bd", "soc", "evc", "evd", "ev_soc", "ev_topup")
    out = {k: np.zeros(n) for k in keys}
    stats = MPCStats()
    soc = battery.initial_soc_kwh if battery is not None else 0.0
    ev_soc = ev.initial_soc_fraction * ev.capacity_kwh if ev is not None else 0.0
    t_run = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm  # only for interactive runs

        bar = tqdm(total=n, desc="mpc", unit="interval")
    plan: Plan | None = None
    mode_now: str | None = None
    for t in range(n):
        m = min(H, n - t)
        eva_t = None
        if ev is not None:
            sl = slice(t, t + m)
            eva_t = EVArrays(ev_arrays.home[sl], ev_arrays.trip_kwh[sl], ev_arrays.required_kwh[sl],
                             ev_arrays.next_departure[sl])  # fmt: skip
        if t % every == 0 or plan is None:
            w = forecast.window(series, t, m)
            k = min(policy.known_intervals, m)
            if k:  # prices published by now (in every scenario)
                for c, v in w.market.items():
                    v = np.array(v, dtype=float)
                    v[..., :k] = series.market[c][t : t + k]
                    w.market[c] = v
            f_ip, f_ec = prices.prices(t, m, w.market)
            step = ctl.decide(
                t, np.clip(w.load_kwh, 0.0, None), np.clip(w.pv_kwh, 0.0, None), f_ip, f_ec,
                soc_kwh=soc, ev_soc_kwh=ev_soc, ev_arrays=eva_t, fade_start=t, mode_now=mode_now,
            )  # fmt: skip
            plan = step.plan
            stats.decisions += 1
            stats.mode_changes += int(step.changed)
            stats.held += int(step.reason.startswith("held"))
            stats.solve_ms.append(step.solve_ms)
        now = plan.shifted(t, 1)
        sl = slice(t, t + 1)
        r = ctl.simulate(
            now, load[sl], pv[sl], ip[sl], ec[sl], soc, ev_soc, eva_t,
            None if cap is None else cap[sl],
        )  # fmt: skip
        for key, val in zip(keys, r[:10], strict=True):
            out[key][t] = val[0]
        if battery is not None:
            c_t = cap[t]
            d = load[t] + out["evc"][t] - out["evd"][t] - pv[t]
            mode_now = MODES[_mode(
                out["bc"][t], out["bd"][t], out["imp"][t], out["exp"][t], d,
                soc > battery.soc_min_fraction * c_t + MODE_TOL_KWH,
                soc < battery.soc_max_fraction * c_t - MODE_TOL_KWH,
            )]  # fmt: skip
        soc = float(r[5][0])
        ev_soc = float(r[8][0])
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    stats.seconds = time.perf_counter() - t_run
    if battery is None:
        out["soc"][:] = 0.0
    req = ev_arrays.required_kwh if ev is not None else np.zeros(n)
    short = np.where(req > 0, np.maximum(req - out["ev_soc"], 0.0), 0.0)
    short[short < 1e-6] = 0.0
    flows = Flows(
        interval_minutes=minutes,
        load_kwh=load,
        pv_kwh=pv,
        import_kwh=out["imp"],
        export_kwh=out["exp"],
        curtailed_kwh=out["curt"],
        battery_charge_kwh=out["bc"],
        battery_discharge_kwh=out["bd"],
        battery_soc_kwh=out["soc"],
        battery_capacity_kwh=cap if cap is not None else np.zeros(n),
        ev_charge_kwh=out["evc"],
        ev_discharge_kwh=out["evd"],
        ev_soc_kwh=out["ev_soc"],
        ev_topup_kwh=out["ev_topup"],
        ev_shortfall_kwh=short,
        ev_required_kwh=req,
        policy=policy.name,
    )
    return MPCRun(flows, stats)


def dispatch_mpc(*args, **kwargs) -> Flows:
    """:func:`run_mpc`'s flows."""
    return run_mpc(*args, **kwargs).flows


# --------------------------------------------------------------------------- stability
def _mode_of(bc, bd, imp, exp, d, can_give, can_take, tol: float = MODE_TOL_KWH):
    """The mode of one interval or of arrays of them (see :func:`battery_modes`)."""
    idle = (bc <= tol) & (bd <= tol)
    could = ((d > tol) & can_give) | ((d < -tol) & can_take)
    return np.select(
        [(bc > tol) & (imp > tol), (bd > tol) & (exp > tol), idle & could],
        [CHARGE, DISCHARGE, HOLD],
        FOLLOW,
    ).astype(np.int8)


def _mode(bc, bd, imp, exp, d, can_give, can_take, tol: float = MODE_TOL_KWH) -> int:
    """:func:`_mode_of` for one interval (plain floats: no arrays in the decision loop)."""
    if bc > tol and imp > tol:
        return CHARGE
    if bd > tol and exp > tol:
        return DISCHARGE
    if bc <= tol and bd <= tol and ((d > tol and can_give) or (d < -tol and can_take)):
        return HOLD
    return FOLLOW


def battery_modes(flows: Flows, battery: Battery, tol: float = MODE_TOL_KWH) -> np.ndarray:
    """The battery's mode in each interval of any policy's flows (codes of :data:`MODES`).

    ``charge`` where it charges while the house imports (from the grid), ``discharge`` where
    it discharges while the house exports (to the grid), ``hold`` where it stays idle though
    it could meet some of a deficit (energy left) or take some of a surplus (room left), and
    ``self_consumption`` otherwise: it meets (part of) the load or stores (part of) the PV
    surplus, or it cannot move.  The modes an inverter is set to, read back from the flows.
    """
    b = battery
    eta = b.eta_one_way
    bc, bd, soc = flows.battery_charge_kwh, flows.battery_discharge_kwh, flows.battery_soc_kwh
    before = soc - eta * bc + bd / eta
    cap = flows.battery_capacity_kwh
    can_give = before > b.soc_min_fraction * cap + tol
    can_take = before < b.soc_max_fraction * cap - tol
    d = flows.load_kwh + flows.ev_charge_kwh - flows.ev_discharge_kwh - flows.pv_kwh
    return _mode_of(bc, bd, flows.import_kwh, flows.export_kwh, d, can_give, can_take, tol)


def mode_changes_per_day(flows: Flows, battery: Battery | None) -> float:
    """How often the battery's mode (:func:`battery_modes`) changes, per day [1/day]."""
    if battery is None or len(flows) < 2:
        return 0.0
    modes = battery_modes(flows, battery)
    days = len(flows) * flows.interval_minutes / 1440.0
    return float(np.count_nonzero(modes[1:] != modes[:-1])) / days


__all__ = [
    "FORECASTS",
    "MODES",
    "CallableForecast",
    "Forecast",
    "IssuedForecast",
    "MPCController",
    "MPCPolicy",
    "MPCRun",
    "MPCStats",
    "MPCStep",
    "PerfectForecast",
    "PersistenceForecast",
    "Plan",
    "PriceModel",
    "ScenarioForecast",
    "Series",
    "Window",
    "battery_modes",
    "dispatch_mpc",
    "forecaster_forecast",
    "lag_ridge_forecast",
    "mode_changes_per_day",
    "plan_from_flows",
    "run_mpc",
]
