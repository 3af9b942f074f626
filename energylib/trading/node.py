"""Household nodes as arrays: their batteries, grid limits and forecasts, vectorised over homes.

A node is a home of a :class:`~energylib.trading.homes.Community`: its load and PV, its
:class:`~energylib.dispatch.assets.Battery` (or none) and the community's
:class:`~energylib.dispatch.assets.GridLimits`, and a forecast of its own load and PV and
of the grid's prices.  The simulation (:mod:`energylib.trading.community`) steps all nodes
of a community at once, so here each of those is an array with one entry per home.

Forecasts (:class:`Forecasts`)
------------------------------
``perfect``
    The actual values (a bound on what a forecaster can give).
``persistence``
    Yesterday's value at the same time (on the first day, which has no yesterday, the
    day's own values), the naive forecast :func:`energylib.dispatch.rules.persistence`
    makes for one home.
arrays
    Any forecaster's output, one value per interval and home (load, PV) and per interval
    (prices): for the trained EnergyTransformer, run it day-ahead and pass its forecasts.

A node at interval ``t`` looks ``horizon`` intervals ahead (``t+1 .. t+horizon``) and
condenses its forecast into four numbers per home (:meth:`Forecasts.horizon`): the
forecast deficit and surplus [kWh] and the deficit-weighted forecast import price and
surplus-weighted forecast feed-in credit [currency/kWh] (plain means where there is no
deficit or surplus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energylib.dispatch.assets import Battery

FORECASTS = ("perfect", "persistence")


@dataclass(frozen=True, eq=False)
class BatteryArrays:
    """Every home's battery as per-interval numbers (zeros where a home has none).

    Attributes (one value per home)
    -------------------------------
    lo, hi : SoC window [kWh stored].
    soc0 : initial SoC [kWh stored].
    charge_max, discharge_max : AC limits per interval [kWh].
    eta : one-way efficiency [0-1] (1 without a battery).
    round_trip : round-trip efficiency [0-1] (1 without a battery).
    wear : wear cost per kWh discharged [currency/kWh].
    usable : AC size of the window, ``(hi - lo) * eta`` [kWh].
    """

    lo: np.ndarray
    hi: np.ndarray
    soc0: np.ndarray
    charge_max: np.ndarray
    discharge_max: np.ndarray
    eta: np.ndarray
    round_trip: np.ndarray
    wear: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        return (self.hi - self.lo) * self.eta

    @classmethod
    def of(cls, batteries: tuple[Battery | None, ...], interval_minutes: int) -> BatteryArrays:
        """From one :class:`Battery` (or None) per home."""
        rows = []
        for b in batteries:
            if b is None:
                rows.append((0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0))
                continue
            c, d = b.per_interval(interval_minutes)
            rows.append(
                (
                    b.soc_min_fraction * b.capacity_kwh,
                    b.soc_max_fraction * b.capacity_kwh,
                    b.initial_soc_kwh,
                    c,
                    d,
                    b.eta_one_way,
                    b.round_trip_efficiency,
                    b.wear_cost_per_kwh,
                )
            )
        cols = np.array(rows, dtype=float).reshape(len(rows), 8).T
        return cls(*(np.ascontiguousarray(c) for c in cols))


def _persist(x: np.ndarray, rows: np.ndarray, steps_per_day: int) -> np.ndarray:
    """Yesterday's rows (the first day's own rows)."""
    src = np.where(rows >= steps_per_day, rows - steps_per_day, rows)
    return x[src]


@dataclass(frozen=True, eq=False)
class Forecasts:
    """What every node expects: a named kind, or arrays from a forecaster.

    Parameters
    ----------
    kind : {'perfect', 'persistence', 'arrays'}
        How the forecast is made.
    load_kwh, pv_kwh : numpy.ndarray, optional
        ``(T, N)`` forecasts (kind ``arrays``) [kWh per interval].
    import_per_kwh, export_credit_per_kwh : numpy.ndarray, optional
        ``(T,)`` price forecasts (kind ``arrays``) [currency/kWh].
    """

    kind: str = "persistence"
    load_kwh: np.ndarray | None = None
    pv_kwh: np.ndarray | None = None
    import_per_kwh: np.ndarray | None = None
    export_credit_per_kwh: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in (*FORECASTS, "arrays"):
            raise ValueError(
                f"forecast {self.kind!r}; use one of {FORECASTS} or pass arrays (kind='arrays')"
            )
        given = [
            a is not None
            for a in (self.load_kwh, self.pv_kwh, self.import_per_kwh, self.export_credit_per_kwh)
        ]
        if self.kind == "arrays" and not all(given):
            raise ValueError(
                "Forecasts(kind='arrays') needs load_kwh, pv_kwh, import_per_kwh and export_credit_per_kwh"
            )

    def check(self, shape: tuple[int, int]) -> None:
        """Refuse forecast arrays that do not cover ``(T, N)`` intervals and homes."""
        if self.kind != "arrays":
            return
        n_t = shape[0]
        for name, want in (
            ("load_kwh", shape),
            ("pv_kwh", shape),
            ("import_per_kwh", (n_t,)),
            ("export_credit_per_kwh", (n_t,)),
        ):
            got = np.shape(getattr(self, name))
            if got != want:
                raise ValueError(
                    f"Forecasts.{name} has shape {got}; the community needs {want} "
                    "(intervals x homes for energy, intervals for prices)"
                )

    def horizon(
        self,
        rows: np.ndarray,
        horizon: int,
        steps_per_day: int,
        load: np.ndarray,
        pv: np.ndarray,
        imp: np.ndarray,
        exp: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Forecast deficit and surplus [kWh], deficit-weighted import price and
        surplus-weighted feed-in credit [currency/kWh], looking ``horizon`` intervals ahead of
        each of ``rows`` (consecutive interval indices); four ``(len(rows), N)`` arrays.

        The last interval of the series looks at nothing: its own prices stand in.
        """
        t = load.shape[0]
        r0 = int(rows[0])
        ahead = np.arange(r0 + 1, min(int(rows[-1]) + horizon, t - 1) + 1)
        if self.kind == "perfect":
            lf, pf, ipf, ecf = load[ahead], pv[ahead], imp[ahead], exp[ahead]
        elif self.kind == "persistence":
            lf, pf, ipf, ecf = (_persist(x, ahead, steps_per_day) for x in (load, pv, imp, exp))
        else:
            lf, pf = self.load_kwh[ahead], self.pv_kwh[ahead]
            ipf, ecf = self.import_per_kwh[ahead], self.export_credit_per_kwh[ahead]
        deficit = np.maximum(lf - pf, 0.0)
        surplus = np.maximum(pf - lf, 0.0)
        # window of row r: ahead positions [r - r0, min(r + horizon, t - 1) - r0)
        start = rows - r0
        end = np.minimum(rows + horizon, t - 1) - r0

        def window_sum(x: np.ndarray) -> np.ndarray:
            c = np.concatenate((np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)))
            return c[end] - c[start]

        n_ahead = (end - start)[:, None]
        p_mean = window_sum(ipf)[:, None] / np.maximum(n_ahead, 1)
        c_mean = window_sum(ecf)[:, None] / np.maximum(n_ahead, 1)
        none = n_ahead == 0
        p_mean = np.where(none, imp[rows, None], p_mean)
        c_mean = np.where(none, exp[rows, None], c_mean)
        d_sum = window_sum(deficit)
        s_sum = window_sum(surplus)
        p_def = np.divide(
            window_sum(ipf[:, None] * deficit),
            d_sum,
            out=np.broadcast_to(p_mean, d_sum.shape).copy(),
            where=d_sum > 1e-9,
        )
        c_sur = np.divide(
            window_sum(ecf[:, None] * surplus),
            s_sum,
            out=np.broadcast_to(c_mean, s_sum.shape).copy(),
            where=s_sum > 1e-9,
        )
        return d_sum, s_sum, p_def, c_sur
