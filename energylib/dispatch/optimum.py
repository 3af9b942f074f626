"""The perfect-foresight optimum: the cheapest dispatch of battery, EV and V2H/V2G.

A linear programme over the year (or over rolling windows with perfect foresight),
solved with HiGHS.  It is the bound every rule policy is measured against.  With
``t`` the interval, all energies kWh per interval (AC side unless stated):

Variables (all >= 0)
    ``imp, exp`` grid import and export; ``curt`` curtailed PV; ``bc, bd`` battery charge
    and discharge; ``soc`` battery stored energy (end of interval); ``evc, evd`` EV charge and
    discharge; ``ev_soc`` EV stored energy; slacks ``ev_short`` (departure SoC not reached),
    ``ev_topup`` (trip energy bought away from home), ``ev_below_reserve``.

Energy balance
    ``pv - curt + imp + bd + evd == load + bc + evc + exp``
Battery
    ``soc[t] == soc[t-1] + eta_c bc[t] - bd[t] / eta_d``,
    ``soc_min cap_t <= soc[t] <= soc_max cap_t`` (calendar fade in ``cap_t``),
    ``bc <= charge limit``, ``bd <= discharge limit``
EV
    ``ev_soc[t] == ev_soc[t-1] + eta_c evc[t] - evd[t] / eta_d - trip[t] + ev_topup[t]``,
    ``evc, evd <= limits x parked[t]`` (``evd`` only with V2H or V2G),
    ``ev_soc[t] + ev_short[t] >= required[t]`` before each departure,
    ``ev_soc[t] + ev_below_reserve[t] >= reserve`` while parked (with V2H/V2G)
V2H without V2G
    ``exp <= pv - curt + bd`` (the EV's energy is not exported)
Grid
    ``imp <= max(import limit, load - pv)``, ``exp <= export limit``, ``curt <= pv``
Objective
    ``sum(import_price imp - export_credit exp + wear_b bd + wear_ev evd)
    + penalty (ev_short + ev_topup + ev_below_reserve)``

A battery cannot charge and discharge in the same interval, nor the house import and
export at once: an LP may do both when prices are negative (burning energy in losses).
Where the first solution does, the direction of each such interval is fixed to its net
flow and the LP is solved again, so the flows returned never do.

Cycle fade (capacity lost per cycle) is not in the LP (it would couple every interval to
all earlier ones); calendar fade is.  The rule kernels model both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energylib.dispatch.assets import EV, Battery, EVArrays, GridLimits
from energylib.dispatch.flows import Flows, dispatch_inputs
from energylib.dispatch.lp import Model, Solution

SIMULTANEOUS_TOL_KWH = 1e-7


@dataclass(frozen=True)
class OptimumOptions:
    """How the optimum is solved.

    Parameters
    ----------
    window_days : float or None
        ``None``: one LP over the whole series.  Otherwise rolling windows of this many days
        with perfect foresight, committing ``step_days`` of each before moving on.
    step_days : float
        Days committed per rolling window.
    penalty_per_kwh : float or None
        Price of an EV shortfall, top-up or reserve breach [currency/kWh]; default 10 x the
        largest absolute import price + 10.
    time_limit_s : float or None
        HiGHS time limit per LP [s].
    """

    window_days: float | None = None
    step_days: float = 1.0
    penalty_per_kwh: float | None = None
    time_limit_s: float | None = None


class DispatchLP:
    """The optimum's LP over a window of ``n`` intervals: built once, re-solved with new data.

    The structure (variables, rows) depends only on the window length and on which assets
    there are; every number of a window (load, PV, prices, limits, the EV's driving, the
    starting states of charge) goes in through :meth:`update` as bounds, costs and
    right-hand sides, so rolling windows (and a model-predictive controller) re-solve one
    HiGHS model from its last basis.  The model is the module docstring's, with the EV's
    departure and reserve rows written for every interval (off where they do not apply).

    Parameters
    ----------
    n : int
        Intervals per window.
    interval_minutes : int
        Interval length [min].
    battery, ev : Battery or None, EV or None
        The assets.
    v2h, v2g : bool
        Vehicle-to-home / vehicle-to-grid.
    penalty_per_kwh : float
        Price of an EV shortfall, top-up or reserve breach [currency/kWh].
    scenarios : int
        ``K`` copies of the window, one per scenario of its numbers (a **two-stage
        stochastic LP**): each copy has its own flows and states of charge from the same
        starting ones, the first interval's battery and EV set-points are shared by all
        (non-anticipativity: one decision now, a recourse per scenario after it), and the
        objective is the mean of the copies' costs.  Rows of copy ``s`` are
        ``s * n .. s * n + n - 1`` of every variable.  1: the deterministic LP.
    shared : int
        With scenarios, the first intervals whose set-points are shared (the decisions made
        now: those up to the next re-plan).
    """

    def __init__(
        self,
        n: int,
        interval_minutes: int,
        *,
        battery: Battery | None = None,
        ev: EV | None = None,
        v2h: bool = False,
        v2g: bool = False,
        penalty_per_kwh: float = 100.0,
        scenarios: int = 1,
        shared: int = 1,
    ) -> None:
        if scenarios < 1 or shared < 1:
            raise ValueError(
                f"DispatchLP needs scenarios >= 1 and shared >= 1, got {scenarios} and {shared}"
            )
        self.n, self.interval_minutes = n, interval_minutes
        self.battery, self.ev, self.v2h, self.v2g = battery, ev, v2h, v2g
        self.penalty = float(penalty_per_kwh)
        self.scenarios = k = int(scenarios)
        rows = np.arange(n * k)
        # x[t - 1] is the same scenario's previous interval, except at a copy's first row
        link = (rows % n != 0).astype(float)
        m = self.model = Model(n * k)
        # Bounds and right-hand sides are placeholders until update().
        imp = m.variable("imp")
        exp = m.variable("exp")
        curt = m.variable("curt")
        balance = imp - exp - curt  # + sources - sinks of the assets, == load - pv
        no_v2g = exp + curt
        if battery is not None:
            eta = battery.eta_one_way
            bc, bd = m.variable("bc"), m.variable("bd")
            soc = m.variable("soc")
            m.constrain(
                "battery soc dynamics", soc - soc.shift(1) * link - eta * bc + bd / eta == 0.0
            )
            balance = balance + bd - bc
            no_v2g = no_v2g - bd
        if ev is not None:
            evc, evd = m.variable("evc"), m.variable("evd")
            ev_soc = m.variable("ev_soc", upper=ev.max_soc_fraction * ev.capacity_kwh)
            topup, short = m.variable("ev_topup"), m.variable("ev_short")
            m.constrain(
                "ev soc dynamics",
                ev_soc
                - ev_soc.shift(1) * link
                - ev.charge_efficiency * evc
                + evd / ev.discharge_efficiency
                - topup
                == 0.0,
            )
            m.constrain("ev departure soc", ev_soc + short >= 0.0)
            if v2h or v2g:
                below = m.variable("ev_below_reserve")
                m.constrain("ev reserve while parked", ev_soc + below >= 0.0)
            if v2h and not v2g:
                m.constrain("no V2G: exports come from pv and the battery", no_v2g <= 0.0)
            balance = balance + evd - evc
        m.constrain("energy balance", balance == 0.0)
        if k > 1:  # one decision now: each copy's first set-points equal the previous copy's
            later_first = (rows % n < shared) & (rows >= n)
            for name in ("bc", "bd", "evc", "evd"):
                if name in m.variables:
                    v = m.variables[name]
                    m.constrain(f"{name} now, shared", v - v.shift(n) == 0.0, where=later_first)

    def update(
        self,
        load: np.ndarray,
        pv: np.ndarray,
        import_per_kwh: np.ndarray,
        export_credit_per_kwh: np.ndarray,
        *,
        import_max_kwh: float = np.inf,
        export_max_kwh: float = np.inf,
        ev_arrays: EVArrays | None = None,
        soc0_kwh: float | None = None,
        ev_soc0_kwh: float | None = None,
        start: int = 0,
        terminal_value_per_kwh: float = 0.0,
    ) -> None:
        """Put one window's numbers into the model.

        Parameters
        ----------
        load, pv : numpy.ndarray
            Household load and PV per interval of the window [kWh]: ``(n,)``, or with
            scenarios ``(scenarios, n)`` (one row per scenario; ``(n,)`` is every scenario's).
        import_per_kwh, export_credit_per_kwh : numpy.ndarray
            Prices per interval [currency/kWh], shaped as ``load``.
        import_max_kwh, export_max_kwh : float
            Grid limits per interval [kWh] (``inf``: none).
        ev_arrays : EVArrays
            The EV's driving over the window (required with an EV).
        soc0_kwh, ev_soc0_kwh : float
            Stored energy before the window's first interval [kWh] (default: the assets'
            initial state of charge).
        start : int
            Index of the window's first interval in the year (calendar fade).
        terminal_value_per_kwh : float
            What a kWh stored in the battery at the end of the window is worth
            [currency/kWh]: the objective subtracts it times the last interval's SoC (a
            receding-horizon controller's terminal value; 0 for the optimum).
        """
        m, n, b, ev, k = self.model, self.n, self.battery, self.ev, self.scenarios
        h = self.interval_minutes / 60.0

        def rows(a) -> np.ndarray:  # one value per row of the model: (n,) or (k, n) -> (k n,)
            a = np.asarray(a)
            return a if k == 1 else np.broadcast_to(a, (k, n)).reshape(k * n)

        load, pv = rows(load), rows(pv)
        starts = np.arange(k) * n  # each scenario's first row
        first = np.zeros(n * k)
        # Nothing can draw more than load + battery + EV, nor send out more than PV + battery +
        # EV: these bounds keep the LP bounded where the import price dips below the credit.
        most_in, most_out = load.copy(), pv.copy()
        cost = {
            "imp": rows(import_per_kwh),
            "exp": -rows(export_credit_per_kwh),
            "curt": 1e-7,
        }
        bounds = {}  # every number goes in with one HiGHS call for bounds, one for costs
        if b is not None:
            bc_max, bd_max = b.per_interval(self.interval_minutes)
            most_in += bc_max
            most_out += bd_max
            cap = rows(b.calendar_capacity_kwh(n, self.interval_minutes, start=start))
            bounds["bc"] = (0.0, bc_max)
            bounds["bd"] = (0.0, bd_max)
            bounds["soc"] = (b.soc_min_fraction * cap, b.soc_max_fraction * cap)
            first[starts] = b.initial_soc_kwh if soc0_kwh is None else soc0_kwh
            m.set_rhs("battery soc dynamics", first)
            cost |= {"bc": 1e-7, "bd": b.wear_cost_per_kwh + 1e-7}
            if terminal_value_per_kwh:
                cost["soc"] = np.zeros(n * k)
                cost["soc"][starts + n - 1] = -float(terminal_value_per_kwh)
        if ev is not None:
            if ev_arrays is None:
                raise ValueError(
                    "an EV needs its ev_arrays (EV.arrays(local_times, interval_minutes))"
                )
            home = rows(ev_arrays.home).astype(float)
            charge = home * ev.charger_kw * h
            discharge = home * (ev.bidirectional_kw * h if (self.v2h or self.v2g) else 0.0)
            most_in += charge
            most_out += discharge
            req, trip = rows(ev_arrays.required_kwh), rows(ev_arrays.trip_kwh)
            parked = home > 0
            bounds["evc"] = (0.0, charge)
            bounds["evd"] = (0.0, discharge)
            bounds["ev_topup"] = (0.0, np.where(trip > 0, np.inf, 0.0))
            bounds["ev_short"] = (0.0, np.where(req > 0, req, 0.0))
            first = np.zeros(n * k)
            first[starts] = (
                ev.initial_soc_fraction * ev.capacity_kwh if ev_soc0_kwh is None else ev_soc0_kwh
            )
            m.set_rhs("ev soc dynamics", first - trip)
            m.set_rhs("ev departure soc", req)
            cost |= {
                "evc": 1e-7,
                "evd": ev.wear_cost_per_kwh + 1e-7,
                "ev_topup": self.penalty,
                "ev_short": self.penalty,
            }
            if self.v2h or self.v2g:
                reserve = ev.reserve_soc_fraction * ev.capacity_kwh
                bounds["ev_below_reserve"] = (0.0, np.where(parked, np.inf, 0.0))
                m.set_rhs(
                    "ev reserve while parked",
                    reserve,
                    lower=np.where(parked, reserve, -np.inf),
                )
                cost["ev_below_reserve"] = self.penalty
            if self.v2h and not self.v2g:
                m.set_rhs("no V2G: exports come from pv and the battery", pv)
        bounds["imp"] = (0.0, np.minimum(np.maximum(import_max_kwh, load - pv), most_in))
        bounds["exp"] = (0.0, np.minimum(export_max_kwh, most_out))
        bounds["curt"] = (0.0, pv)
        m.set_rhs("energy balance", load - pv)
        if k > 1:  # the mean of the scenarios' costs
            cost = {name: np.asarray(c) / k for name, c in cost.items()}
        m.set_columns(bounds, cost)

    def solve(self, *, time_limit_s: float | None = None) -> Solution:
        """Solve; then, until no pair of opposite flows is on at once, switch the smaller off
        and solve again (from the last basis).  Bounds changed here hold until the next
        :meth:`update`.  With scenarios, only the first scenario's flows (the plan a
        controller keeps; the first interval is every scenario's) are switched: the others'
        only weigh the decision."""
        sol = self.model.solve(time_limit_s=time_limit_s)
        # Each round switches off at least one flow that was free (a switched-off flow is
        # 0), so this ends within 3 rounds per interval.
        while switch_off := _simultaneous(sol, self.n):
            for name, where in switch_off.items():
                self.model.fix_upper(name, where, 0.0)
            sol = self.model.solve(time_limit_s=time_limit_s)
        return sol


def _simultaneous(sol: Solution, rows: int | None = None) -> dict[str, np.ndarray]:
    """Intervals (of the first ``rows``; None: all) where a pair of opposite flows is both
    on, and the flow to switch off."""
    fixed: dict[str, np.ndarray] = {}
    for a, b in (("bc", "bd"), ("evc", "evd"), ("imp", "exp")):
        if a in sol.values and b in sol.values:
            x, y = sol[a], sol[b]
            both = (x > SIMULTANEOUS_TOL_KWH) & (y > SIMULTANEOUS_TOL_KWH)
            both[rows:] = False
            if both.any():
                fixed[b] = both & (x >= y)
                fixed[a] = both & (x < y)
    return fixed


def optimise(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    import_per_kwh: np.ndarray,
    export_credit_per_kwh: np.ndarray,
    interval_minutes: int,
    *,
    battery: Battery | None = None,
    ev: EV | None = None,
    ev_arrays: EVArrays | None = None,
    v2h: bool = False,
    v2g: bool = False,
    grid: GridLimits | None = None,
    export_limit_kw: float | None = None,
    options: OptimumOptions | None = None,
) -> Flows:
    """Perfect-foresight cheapest dispatch (see the module docstring for the model).

    Parameters
    ----------
    load_kwh, pv_kwh : numpy.ndarray
        Household load without the modelled EV, and PV AC generation [kWh per interval].
    import_per_kwh, export_credit_per_kwh : numpy.ndarray
        Import price and export credit per interval [currency/kWh].
    interval_minutes : int
        Interval length [min].
    battery, ev, ev_arrays, v2h, v2g, grid, export_limit_kw
        As for :func:`energylib.dispatch.rules.dispatch_rules`.
    options : OptimumOptions
        Whole series or rolling windows, penalties, time limit.

    Returns
    -------
    Flows
        ``policy='optimum'``.
    """
    options = options or OptimumOptions()
    load, pv, ip, ec = dispatch_inputs(load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh)
    n = load.size
    if ev is not None and ev_arrays is None:
        raise ValueError("an EV needs its ev_arrays (EV.arrays(local_times, interval_minutes))")
    grid = grid or GridLimits()
    imp_max, exp_max = grid.per_interval(interval_minutes, export_limit_kw)
    penalty = options.penalty_per_kwh
    if penalty is None:
        penalty = 10.0 * float(np.abs(ip).max(initial=0.0)) + 10.0
    soc0 = battery.initial_soc_kwh if battery is not None else 0.0
    ev_soc0 = ev.initial_soc_fraction * ev.capacity_kwh if ev is not None else 0.0

    steps_per_day = 1440 / interval_minutes
    if options.window_days is None:
        windows = [(0, n, n)]
    else:
        step = max(1, int(round(options.step_days * steps_per_day)))
        span = max(step, int(round(options.window_days * steps_per_day)))
        windows = [(s, min(s + span, n), min(s + step, n)) for s in range(0, n, step)]

    keys = ("imp", "exp", "curt", "bc", "bd", "soc", "evc", "evd", "ev_soc", "ev_topup")
    out = {k: np.zeros(n) for k in keys}
    models: dict[int, DispatchLP] = {}  # one per window length: rolling windows reuse it
    for s, e, keep in windows:
        sl = slice(s, e)
        eva = None
        if ev is not None:
            eva = EVArrays(
                home=ev_arrays.home[sl],
                trip_kwh=ev_arrays.trip_kwh[sl],
                required_kwh=ev_arrays.required_kwh[sl],
                next_departure=np.minimum(ev_arrays.next_departure[sl] - s, e - s),
            )
        lp = models.get(e - s)
        if lp is None:
            lp = models[e - s] = DispatchLP(
                e - s,
                interval_minutes,
                battery=battery,
                ev=ev,
                v2h=v2h,
                v2g=v2g,
                penalty_per_kwh=penalty,
            )
        lp.update(
            load[sl],
            pv[sl],
            ip[sl],
            ec[sl],
            import_max_kwh=imp_max,
            export_max_kwh=exp_max,
            ev_arrays=eva,
            soc0_kwh=soc0,
            ev_soc0_kwh=ev_soc0,
            start=s,
        )
        sol = lp.solve(time_limit_s=options.time_limit_s)
        k = keep - s
        for key in keys:
            if key in sol.values:
                out[key][s:keep] = sol[key][:k]
        if battery is not None:
            soc0 = float(sol["soc"][k - 1])
        if ev is not None:
            ev_soc0 = float(sol["ev_soc"][k - 1])

    # Clean solver round-off so that flows are >= 0 and exact zeros stay zeros.
    for key in keys:
        if key not in ("soc", "ev_soc"):
            out[key][np.abs(out[key]) < 1e-9] = 0.0
            np.clip(out[key], 0.0, None, out=out[key])
    cap = battery.calendar_capacity_kwh(n, interval_minutes) if battery is not None else np.zeros(n)
    req = ev_arrays.required_kwh if ev is not None else np.zeros(n)
    short = np.where(req > 0, np.maximum(req - out["ev_soc"], 0.0), 0.0)
    short[short < 1e-6] = 0.0
    return Flows(
        interval_minutes=interval_minutes,
        load_kwh=load,
        pv_kwh=pv,
        import_kwh=out["imp"],
        export_kwh=out["exp"],
        curtailed_kwh=out["curt"],
        battery_charge_kwh=out["bc"],
        battery_discharge_kwh=out["bd"],
        battery_soc_kwh=out["soc"],
        battery_capacity_kwh=cap,
        ev_charge_kwh=out["evc"],
        ev_discharge_kwh=out["evd"],
        ev_soc_kwh=out["ev_soc"],
        ev_topup_kwh=out["ev_topup"],
        ev_shortfall_kwh=short,
        ev_required_kwh=req,
        policy="optimum",
    )
