"""The cooperative optimum: the least the whole community could pay, as one linear programme.

An upper bound on what any market can save: one planner sees every home's load, PV and
prices for the whole period (perfect foresight), runs every battery, and moves energy
between homes freely (no loss, no fee); the community meets the grid as one customer at
the feeder.  Written with :mod:`energylib.dispatch.lp` (the optimum's own small LP layer)
and solved with HiGHS.  For home ``h`` and interval ``t`` (kWh per interval):

Variables (all >= 0)
    ``bc[h], bd[h]`` battery charge and discharge (AC), ``soc[h]`` stored energy (end of
    interval), ``curt[h]`` curtailed PV; the feeder's ``imp`` and ``exp``.
Home meter (the connection's limits hold for everything a home sends or takes)
    ``net[h] = load[h] - pv[h] + curt[h] + bc[h] - bd[h]``,
    ``-export limit <= net[h] <= max(import limit, load[h] - pv[h])``
Battery
    ``soc[h][t] == soc[h][t-1] + eta bc[h][t] - bd[h][t] / eta``, window and power limits
Feeder balance (free exchange between homes)
    ``imp - exp == sum_h net[h]``
Objective
    ``sum_t import_price imp - export_credit exp + sum_h wear[h] bd[h]``

A battery may charge and discharge in one interval (burning energy) where that pays,
which only lowers the bound's cost, so it stays a bound.  ``window_days`` solves rolling
windows of that many days instead of one LP (each window's final state starts the next):
quicker for a year of many homes, and a little below the true optimum's saving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from energylib.dispatch.lp import Model
from energylib.trading.homes import Community
from energylib.trading.node import BatteryArrays


@dataclass(eq=False)
class OptimumResult:
    """The cooperative optimum of a community.

    Attributes
    ----------
    energy_cost : float
        The community's grid energy cost (imports x price - exports x credit), without fixed
        charges [currency].
    import_kwh, export_kwh : numpy.ndarray
        The feeder's grid flows per interval [kWh].
    exchanged_kwh : numpy.ndarray
        Energy moved between homes per interval [kWh].
    curtailed_kwh : numpy.ndarray
        PV curtailed per interval, all homes [kWh].
    battery_charge_kwh, battery_discharge_kwh : numpy.ndarray
        All batteries' charge and discharge per interval [kWh].
    soc_kwh : numpy.ndarray
        Stored energy per interval and home ``(T, N)`` [kWh].
    seconds : float
        Build and solve time [s].
    message : str
        HiGHS's status of the last window.
    """

    energy_cost: float
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    exchanged_kwh: np.ndarray
    curtailed_kwh: np.ndarray
    battery_charge_kwh: np.ndarray
    battery_discharge_kwh: np.ndarray
    soc_kwh: np.ndarray
    seconds: float
    message: str

    def bill(self, community: Community) -> float:
        """The community's bill at the optimum, fixed charges included [currency]."""
        return self.energy_cost + community.year.fixed_charges() * community.n_homes


def _window(
    community: Community, sl: slice, soc0: np.ndarray, b: BatteryArrays
) -> tuple[dict, float, str]:
    year = community.year
    load = community.load_kwh[sl]
    pv = community.pv_kwh[sl]
    ip = year.import_per_kwh[sl]
    ec = year.export_credit_per_kwh[sl]
    n_t, n = load.shape
    imp_max, exp_max = community.grid.per_interval(year.interval_minutes)
    m = Model(n_t)
    flex = []  # per home: curt + bc - bd, the part of its net load the planner moves
    homes = []
    for h in range(n):
        terms = 0.0
        own = load[:, h] - pv[:, h]
        has_pv = bool((pv[:, h] > 0).any())
        has_batt = b.hi[h] > 0
        curt = bc = bd = soc = None
        if has_pv:
            curt = m.variable(f"curt[{h}]", upper=pv[:, h])
            terms = curt + terms
        if has_batt:
            bc = m.variable(f"bc[{h}]", upper=b.charge_max[h])
            bd = m.variable(f"bd[{h}]", upper=b.discharge_max[h])
            soc = m.variable(f"soc[{h}]", lower=b.lo[h], upper=b.hi[h])
            rhs = np.zeros(n_t)
            rhs[0] = soc0[h]
            m.constrain(
                f"soc dynamics [{h}]", soc - soc.shift(1) - b.eta[h] * bc + bd / b.eta[h] == rhs
            )
            terms = bc - bd + terms
        if has_pv or has_batt:
            m.constrain(f"import limit [{h}]", terms <= np.maximum(imp_max, own) - own)
            if np.isfinite(exp_max):
                m.constrain(f"export limit [{h}]", terms >= -exp_max - own)
            flex.append(terms)
        homes.append((curt, bc, bd, soc))
    own_total = (load - pv).sum(axis=1)
    most_in = load.sum(axis=1) + b.charge_max.sum()
    most_out = pv.sum(axis=1) + b.discharge_max.sum()
    imp = m.variable("imp", upper=most_in)
    exp = m.variable("exp", upper=most_out)
    balance = imp - exp
    for terms in flex:
        balance = balance - terms
    m.constrain("feeder balance", balance == own_total)
    objective = ip * imp - ec * exp + 1e-7 * exp
    for h, (curt, _, bd, _) in enumerate(homes):
        if curt is not None:
            objective = objective + 1e-7 * curt
        if bd is not None and b.wear[h] > 0:
            objective = objective + b.wear[h] * bd
    m.minimise(objective)
    sol = m.solve()
    out = {
        "imp": sol["imp"],
        "exp": sol["exp"],
        "curt": sum(
            (sol[f"curt[{h}]"] for h, hm in enumerate(homes) if hm[0] is not None), np.zeros(n_t)
        ),
        "bc": sum(
            (sol[f"bc[{h}]"] for h, hm in enumerate(homes) if hm[1] is not None), np.zeros(n_t)
        ),
        "bd": sum(
            (sol[f"bd[{h}]"] for h, hm in enumerate(homes) if hm[1] is not None), np.zeros(n_t)
        ),
        "soc": np.column_stack(
            [sol[f"soc[{h}]"] if hm[3] is not None else np.zeros(n_t) for h, hm in enumerate(homes)]
        ),
        "net": np.column_stack(
            [
                load[:, h]
                - pv[:, h]
                + (sol[f"curt[{h}]"] if hm[0] is not None else 0.0)
                + (sol[f"bc[{h}]"] - sol[f"bd[{h}]"] if hm[1] is not None else 0.0)
                for h, hm in enumerate(homes)
            ]
        ),
    }
    cost = float((ip * sol["imp"] - ec * sol["exp"]).sum())
    return out, cost, sol.message


def cooperative_optimum(community: Community, *, window_days: float | None = None) -> OptimumResult:
    """Solve the cooperative optimum of ``community`` (see the module docstring).

    Parameters
    ----------
    community : Community
        Homes, prices and limits (meant for 10-20 homes; the LP grows with homes x intervals).
    window_days : float, optional
        Solve rolling windows of this many days (default: one LP over the whole period).

    Returns
    -------
    OptimumResult
    """
    t0 = time.perf_counter()
    n_t = len(community)
    b = BatteryArrays.of(community.batteries, community.year.interval_minutes)
    step = (
        n_t
        if window_days is None
        else max(1, int(round(window_days * 1440 / community.year.interval_minutes)))
    )
    soc0 = b.soc0.copy()
    parts = []
    cost = 0.0
    message = ""
    for a in range(0, n_t, step):
        out, c, message = _window(community, slice(a, min(a + step, n_t)), soc0, b)
        parts.append(out)
        cost += c
        soc0 = out["soc"][-1]
    cat = {
        k: np.concatenate([p[k] for p in parts])
        for k in ("imp", "exp", "curt", "bc", "bd", "soc", "net")
    }
    exchanged = np.maximum(-cat["net"], 0.0).sum(axis=1) - cat["exp"]
    return OptimumResult(
        energy_cost=cost,
        import_kwh=cat["imp"],
        export_kwh=cat["exp"],
        exchanged_kwh=np.maximum(exchanged, 0.0),
        curtailed_kwh=cat["curt"],
        battery_charge_kwh=cat["bc"],
        battery_discharge_kwh=cat["bd"],
        soc_kwh=cat["soc"],
        seconds=time.perf_counter() - t0,
        message=message,
    )
