"""Rule-based dispatch of a home battery, an EV, V2H and V2G over a year of intervals.

The per-interval loop is one numba kernel (:func:`_dispatch_kernel`, compiled once and
cached on disk); everything around it is vectorised numpy.  A 5-min year (105,120
intervals) with PV, a battery and an EV runs in a few milliseconds after warm-up.
``compiled=False`` runs the same kernel interpreted, without loading numba: the live
agent's decisions (a day of intervals, once a minute) take that path, where numba's
memory (~70 MB on a Pi) would cost more than its speed gives.

Battery policies (``policy=``)
------------------------------
:class:`SelfConsumption`
    Charge from PV surplus, discharge to meet the load, never trade with the grid.
:class:`PriceThreshold`
    Price-threshold / time-of-use arbitrage: also charge from the grid while the import
    price is at or below ``charge_below_per_kwh``, discharge to the load only while it is at
    or above ``discharge_above_per_kwh``, and export from the battery while the feed-in
    credit is at or above ``export_above_per_kwh``.  For a TOU tariff put the thresholds
    between the off-peak and peak prices (:meth:`PriceThreshold.for_tou`).
:class:`ForecastPolicy`
    Takes a price forecast and a load forecast (arrays, one value per interval; perfect or
    naive persistence forecasts when not given).  For every 24-hour window it sizes the
    energy the battery can usefully shift (the smaller of its usable energy and the
    forecast net load), charges from the grid in that window's cheapest intervals,
    discharges while the price beats the cost of the stored energy (charge price over
    round-trip efficiency plus wear), and exports from the battery when the feed-in credit
    beats the dearest import price forecast in the window (price spikes).

EV strategies (``ev_strategy=``)
--------------------------------
``immediate``: charge at the charger limit from arrival until the car's charge limit.
``solar_only``: charge from PV surplus only, from the grid only up to ``min_soc_fraction``.
``cheapest``: at each arrival, pick the cheapest import intervals before the next departure
that cover the energy needed for the departure SoC.  ``solar_cheapest``: PV surplus up to the
charge limit plus the cheapest intervals for what the sun does not cover.

Every strategy keeps a departure guard: when the intervals left before a departure are
just enough to reach the required SoC at the charger limit, it charges now.  So the car
leaves with its required SoC whenever that is physically possible (not when the car
arrives too empty, or the import limit is in the way); the shortfall is reported.

V2H discharges the parked EV into the home load (after the home battery) above its
reserve; V2G exports from the parked EV when the feed-in credit pays for the battery wear
and for recharging at the cheapest import price before departure.  Neither ever takes
energy the departure needs.

Conventions
-----------
All energies are kWh per interval (AC side unless stated); ``export_credit_per_kwh`` is
what one exported kWh *earns* (the tariff flips Amber's sign).  PV surplus is exported
only while the credit is >= 0 and within the export limit, otherwise curtailed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from energylib.dispatch.assets import EV, EV_STRATEGIES, Battery, EVArrays, GridLimits
from energylib.dispatch.flows import Flows, dispatch_inputs
from energylib.jit import kernel

POLICY_CODES = {"self_consumption": 0, "price_threshold": 1, "forecast": 2}
STRATEGY_CODES = {name: i for i, name in enumerate(EV_STRATEGIES)}
_EPS = 1e-12


@dataclass(frozen=True)
class SelfConsumption:
    """Charge from PV surplus, discharge to meet the load."""

    name: str = "self_consumption"


@dataclass(frozen=True)
class PriceThreshold:
    """Price-threshold / TOU arbitrage.

    Parameters
    ----------
    charge_below_per_kwh : float
        Charge from the grid while the import price <= this [currency/kWh].
    discharge_above_per_kwh : float
        Discharge to the load only while the import price >= this [currency/kWh];
        ``-inf`` discharges whenever there is load.
    export_above_per_kwh : float
        Export from the battery while the feed-in credit >= this [currency/kWh];
        ``inf`` never exports from the battery.
    """

    charge_below_per_kwh: float = 0.10
    discharge_above_per_kwh: float = -math.inf
    export_above_per_kwh: float = math.inf
    name: str = "price_threshold"

    @classmethod
    def for_tou(cls, offpeak_per_kwh: float, peak_per_kwh: float) -> PriceThreshold:
        """Charge in the off-peak period, hold the energy for the peak [currency/kWh]."""
        mid = 0.5 * (offpeak_per_kwh + peak_per_kwh)
        return cls(charge_below_per_kwh=offpeak_per_kwh + 1e-9, discharge_above_per_kwh=mid)


@dataclass(frozen=True, eq=False)
class ForecastPolicy:
    """Forecast-driven arbitrage.

    Parameters
    ----------
    price_forecast_per_kwh : numpy.ndarray or None
        Forecast import price per interval [currency/kWh]; ``None`` uses ``forecast``.
    load_forecast_kwh : numpy.ndarray or None
        Forecast household load per interval [kWh]; ``None`` uses ``forecast``.
    forecast : {'perfect', 'persistence'}
        The stand-in where an array is not given: the actual values, or yesterday's.
    horizon_hours : float
        Window over which the charge and discharge thresholds are set [h].
    """

    price_forecast_per_kwh: np.ndarray | None = None
    load_forecast_kwh: np.ndarray | None = None
    forecast: str = "perfect"
    horizon_hours: float = 24.0
    name: str = field(default="forecast")

    def __post_init__(self) -> None:
        if self.forecast not in ("perfect", "persistence"):
            raise ValueError(
                f"ForecastPolicy.forecast={self.forecast!r}; use 'perfect' or 'persistence'"
            )


Policy = SelfConsumption | PriceThreshold | ForecastPolicy


def persistence(x: np.ndarray, steps_per_day: int) -> np.ndarray:
    """Naive forecast: yesterday's value at the same time (the first day repeats itself)."""
    x = np.asarray(x, dtype=float)
    if x.size <= steps_per_day:
        return x.copy()
    return np.concatenate((x[:steps_per_day], x[:-steps_per_day]))


#: Window-sorted price forecasts, by content: a study's re-simulated years and candidate
#: policies dispatch the same prices again and again (a few entries of one series each).
_SORTED: OrderedDict[tuple[int, bytes], np.ndarray] = OrderedDict()


def window_sorted(price_f: np.ndarray, window: int) -> np.ndarray:
    """``price_f`` sorted within each consecutive ``window`` of intervals (the last window
    may be shorter); remembered for the few most recent series."""
    key = (window, price_f.tobytes())
    if key in _SORTED:
        _SORTED.move_to_end(key)
        return _SORTED[key]
    full = price_f.size - price_f.size % window
    out = np.concatenate(
        (np.sort(price_f[:full].reshape(-1, window), axis=1).ravel(), np.sort(price_f[full:]))
    )
    _SORTED[key] = out
    while len(_SORTED) > 4:
        _SORTED.popitem(last=False)
    return out


@kernel
def _forecast_thresholds(sorted_f, load_f, pv, window, usable_kwh, bc_max, bd_max, eta_rt, wear):
    """Per-interval charge-below, discharge-above and export-above thresholds per window
    (``sorted_f``: the price forecast sorted within each window, :func:`window_sorted`)."""
    n = sorted_f.size
    charge_below = np.full(n, -np.inf)
    discharge_above = np.full(n, -np.inf)
    export_above = np.full(n, np.inf)
    s = 0
    while s < n:
        e = min(s + window, n)
        m = e - s
        srt = sorted_f[s:e]
        # A full battery displaces the dearest imports it can cover in the window; a feed-in
        # credit above the cheapest of those (a price spike) is better taken by exporting.
        if bd_max > _EPS:
            k_full = min(m, max(1, int(math.ceil(usable_kwh / bd_max - 1e-9))))
            worth = max(srt[m - k_full], 0.0) + wear
            for t in range(s, e):
                export_above[t] = worth
        deficit = 0.0
        for t in range(s, e):
            d = load_f[t] - pv[t]
            if d > 0:
                deficit += d
        shift = min(usable_kwh, deficit)
        if shift > _EPS and bc_max > _EPS and bd_max > _EPS:
            k_ch = int(math.ceil(shift / (eta_rt * bc_max) - 1e-9))
            k_dis = int(math.ceil(shift / bd_max - 1e-9))
            if k_ch + k_dis <= m:
                low = srt[k_ch - 1]
                high = srt[m - k_dis]
                hold = low / eta_rt + wear
                if high > hold:
                    for t in range(s, e):
                        charge_below[t] = low
                        discharge_above[t] = hold
        s = e
    return charge_below, discharge_above, export_above


@kernel
def _plan_cheapest(price, start, end, k, plan):
    """Mark the ``k`` cheapest intervals of ``[start, end)`` in ``plan``, the earliest first
    among equal prices (the set a stable sort's first ``k`` would give), in O(end - start)."""
    m = end - start
    if k >= m:
        for q in range(start, end):
            plan[q] = True
        return
    kth = np.partition(price[start:end].copy(), k - 1)[k - 1]
    taken = 0
    for q in range(start, end):
        if price[q] < kth:
            plan[q] = True
            taken += 1
    for q in range(start, end):
        if taken >= k:
            break
        if price[q] == kth:
            plan[q] = True
            taken += 1


@kernel
def _dispatch_kernel(
    load,
    pv,
    imp_price,
    exp_credit,
    imp_max,
    exp_max,
    # battery
    has_batt,
    cap0,
    smin_f,
    smax_f,
    soc0,
    bc_max,
    bd_max,
    eta_c,
    eta_d,
    fade_cycle,
    fade_year,
    years_per_step,
    charge_below,
    discharge_above,
    export_above,
    # EV
    has_ev,
    home,
    trip,
    req,
    next_dep,
    ev_soc0,
    ev_smax,
    ev_floor,
    ev_reserve,
    ev_c_max,
    ev_eta_c,
    ev_d_max,
    ev_eta_d,
    ev_wear,
    strategy,
    v2h,
    v2g,
):
    n = load.size
    imp = np.zeros(n)
    exp = np.zeros(n)
    curt = np.zeros(n)
    # written at every interval below
    bc = np.empty(n)
    bd = np.empty(n)
    soc = np.empty(n)
    cap = np.empty(n)
    evc = np.empty(n)
    evd = np.empty(n)
    ev_soc = np.empty(n)
    ev_topup = np.zeros(n)
    ev_short = np.zeros(n)
    plan = np.zeros(n, dtype=np.bool_)

    s = soc0
    es = ev_soc0
    discharged_store = 0.0  # stored kWh discharged so far, for cycle fade
    g = ev_c_max * ev_eta_c  # EV stored-energy gain per interval at the charger limit
    v2g_thr = np.inf
    topped_up = False  # immediate strategy: reached the charge limit since arrival
    for t in range(n):
        # ---------------------------------------------------------------- capacity fade
        c_t = cap0
        if has_batt:
            c_t = cap0 * (
                1.0 - fade_year * years_per_step * t - fade_cycle * discharged_store / cap0
            )
            if c_t < 0.0:
                c_t = 0.0
        lo = smin_f * c_t
        hi = smax_f * c_t
        if has_batt and s > hi:
            s = hi  # fade removes stored energy above the shrunken window
        cap[t] = c_t
        surplus = pv[t] - load[t]

        # ---------------------------------------------------------------- EV
        e_c = 0.0
        e_d_home = 0.0
        if has_ev:
            if not home[t]:
                if trip[t] > 0.0:
                    es -= trip[t]
                    if es < 0.0:
                        ev_topup[
                            t
                        ] = -es  # bought away from home: the trip could not be done on board
                        es = 0.0
            else:
                j = next_dep[t]
                R = req[j] if j < n else 0.0
                arriving = t == 0 or not home[t - 1]
                if arriving:
                    # Plan the cheapest slots before the next departure and the V2G threshold.
                    end = j + 1 if j < n else n
                    for k in range(t, end):
                        plan[k] = False
                    cheapest = np.inf
                    for k in range(t, end):
                        if imp_price[k] < cheapest:
                            cheapest = imp_price[k]
                    v2g_thr = ev_wear + cheapest / (ev_eta_c * ev_eta_d)
                    topped_up = False
                    if strategy >= 2 and g > _EPS:
                        need = (R if j < n else ev_smax) - es
                        if need > _EPS:
                            k_need = int(math.ceil(need / g - 1e-9))
                            _plan_cheapest(imp_price, t, end, k_need, plan)
                room = max(ev_smax - es, 0.0)  # stored kWh the car can still take
                want = 0.0  # stored kWh to add this interval
                if strategy == 0:
                    # charge once to the limit after arrival; V2H does not trigger a recharge
                    if room <= 1e-9:
                        topped_up = True
                    if not topped_up:
                        want = room
                else:
                    if (strategy == 1 or strategy == 3) and surplus > 0.0:
                        want = surplus * ev_eta_c
                    if strategy == 1 and es < ev_floor:
                        want = max(want, ev_floor - es)
                    if strategy >= 2 and plan[t]:
                        target = R if j < n else ev_smax
                        want = max(want, target - es)
                # with V2H/V2G the reserve is topped up first (the optimum does the same)
                if (v2h or v2g) and es < ev_reserve:
                    want = max(want, ev_reserve - es)
                # departure guard: charge now what the remaining intervals could not add
                if j < n:
                    must = R - es - (j - t) * g
                    if must > want:
                        want = must
                want = min(want, room, g)
                if want > 0.0:
                    e_c = want / ev_eta_c
                    # grid part of EV charging obeys the import limit
                    base_import = max(load[t] - pv[t], 0.0)
                    pv_avail = max(surplus, 0.0)
                    grid_room = max(imp_max - base_import, 0.0)
                    if e_c > pv_avail + grid_room:
                        e_c = pv_avail + grid_room
                    es += e_c * ev_eta_c
                # stored kWh V2H/V2G may take: reserve kept, departure still reachable
                spare = es - ev_reserve
                if j < n:
                    spare = min(spare, es + (j - t) * g - R)
                if (v2h or v2g) and e_c == 0.0 and spare > _EPS:
                    e_d_home = min(spare * ev_eta_d, ev_d_max)  # AC kWh available this interval
        net = load[t] + e_c - pv[t]  # > 0: deficit, < 0: surplus

        # ---------------------------------------------------------------- battery, PV surplus
        b_c = 0.0
        b_d = 0.0
        if has_batt and net < 0.0:
            b_c = min(-net, bc_max, max(hi - s, 0.0) / eta_c)
            net += b_c
        if has_batt and net > 0.0 and imp_price[t] >= discharge_above[t]:
            b_d = min(net, bd_max, max(s - lo, 0.0) * eta_d)
            net -= b_d
        # V2H into the remaining load
        ev_d = 0.0
        if has_ev and v2h and net > 0.0 and e_d_home > 0.0:
            ev_d = min(net, e_d_home)
            net -= ev_d
        # grid charging of the battery (arbitrage)
        headroom = imp_max - max(net, 0.0)
        if has_batt and b_d == 0.0 and imp_price[t] <= charge_below[t] and headroom > 0.0:
            extra = min(bc_max - b_c, max(hi - s, 0.0) / eta_c - b_c, headroom)
            if extra > 0.0:
                b_c += extra
                net += extra
        # battery export
        if (
            has_batt
            and b_c == 0.0
            and exp_credit[t] >= 0.0
            and exp_credit[t] >= export_above[t]
            and net <= 0.0
        ):
            room_exp = exp_max + net  # net <= 0 is surplus that will be exported first
            extra = min(bd_max - b_d, max(s - lo, 0.0) * eta_d - b_d, room_exp)
            if extra > 0.0:
                b_d += extra
                net -= extra
        # V2G export
        if (
            has_ev
            and v2g
            and e_d_home > ev_d
            and net <= 0.0
            and exp_credit[t] >= 0.0
            and exp_credit[t] >= v2g_thr
        ):
            room_exp = exp_max + net
            extra = min(e_d_home - ev_d, room_exp)
            if extra > 0.0:
                ev_d += extra
                net -= extra

        # ---------------------------------------------------------------- grid
        if net > 0.0:
            imp[t] = net
        elif net < 0.0:
            surplus_out = -net
            if exp_credit[t] >= 0.0:
                exp[t] = min(surplus_out, exp_max)
            # Stored energy is exported only within the limit at a credit >= 0, so what is left
            # over here is PV: curtail it.
            curt[t] = surplus_out - exp[t]
        if has_batt:
            s += b_c * eta_c - b_d / eta_d
            discharged_store += b_d / eta_d
        if has_ev and ev_d > 0.0:
            es -= ev_d / ev_eta_d
        bc[t] = b_c
        bd[t] = b_d
        soc[t] = s
        evc[t] = e_c
        evd[t] = ev_d
        ev_soc[t] = es
        if has_ev and req[t] > 0.0 and es < req[t] - 1e-9:
            ev_short[t] = req[t] - es
    return imp, exp, curt, bc, bd, soc, cap, evc, evd, ev_soc, ev_topup, ev_short


def policy_thresholds(
    policy: Policy,
    n: int,
    interval_minutes: int,
    import_per_kwh: np.ndarray,
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    battery: Battery | None,
    *,
    compiled: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-interval ``charge_below``, ``discharge_above``, ``export_above`` [currency/kWh]
    (``compiled=False``: the forecast policy's kernel interpreted, without numba)."""
    if isinstance(policy, SelfConsumption):
        return np.full(n, -np.inf), np.full(n, -np.inf), np.full(n, np.inf)
    if isinstance(policy, PriceThreshold):
        return (
            np.full(n, float(policy.charge_below_per_kwh)),
            np.full(n, float(policy.discharge_above_per_kwh)),
            np.full(n, float(policy.export_above_per_kwh)),
        )
    if isinstance(policy, ForecastPolicy):
        steps_per_day = int(round(1440 / interval_minutes))
        pf = policy.price_forecast_per_kwh
        lf = policy.load_forecast_kwh
        if pf is None:
            pf = (
                import_per_kwh
                if policy.forecast == "perfect"
                else persistence(import_per_kwh, steps_per_day)
            )
        if lf is None:
            lf = load_kwh if policy.forecast == "perfect" else persistence(load_kwh, steps_per_day)
        pf = np.ascontiguousarray(pf, dtype=float)
        lf = np.ascontiguousarray(lf, dtype=float)
        for name, arr in (("price_forecast_per_kwh", pf), ("load_forecast_kwh", lf)):
            if arr.shape != (n,):
                raise ValueError(
                    f"ForecastPolicy.{name} has shape {arr.shape}; it needs one value per interval ({n})"
                )
        if battery is None:
            return np.full(n, -np.inf), np.full(n, -np.inf), np.full(n, np.inf)
        bc_max, bd_max = battery.per_interval(interval_minutes)
        usable = (
            (battery.soc_max_fraction - battery.soc_min_fraction)
            * battery.capacity_kwh
            * battery.eta_one_way
        )
        window = max(1, int(round(policy.horizon_hours * 60 / interval_minutes)))
        thresholds = _forecast_thresholds.compiled() if compiled else _forecast_thresholds
        return thresholds(
            window_sorted(pf, window),
            lf,
            np.ascontiguousarray(pv_kwh, dtype=float),
            window,
            usable,
            bc_max,
            bd_max,
            battery.round_trip_efficiency,
            battery.wear_cost_per_kwh,
        )
    raise TypeError(
        f"unknown policy {policy!r}; use SelfConsumption, PriceThreshold or ForecastPolicy"
    )


def dispatch_rules(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    import_per_kwh: np.ndarray,
    export_credit_per_kwh: np.ndarray,
    interval_minutes: int,
    *,
    policy: Policy | None = None,
    battery: Battery | None = None,
    ev: EV | None = None,
    ev_arrays: EVArrays | None = None,
    ev_strategy: str = "immediate",
    v2h: bool = False,
    v2g: bool = False,
    grid: GridLimits | None = None,
    export_limit_kw: float | None = None,
    compiled: bool = True,
) -> Flows:
    """Dispatch battery and EV by rules over one series of intervals.

    Parameters
    ----------
    load_kwh : numpy.ndarray
        Household load without the modelled EV [kWh per interval].
    pv_kwh : numpy.ndarray
        PV AC generation [kWh per interval].
    import_per_kwh : numpy.ndarray
        Price of one imported kWh [currency/kWh].
    export_credit_per_kwh : numpy.ndarray
        What one exported kWh earns [currency/kWh] (negative: exporting costs).
    interval_minutes : int
        Interval length [min].
    policy : SelfConsumption, PriceThreshold or ForecastPolicy
        Battery policy (default self-consumption).
    battery : Battery or None
        Home battery, or none.
    ev : EV or None
        The EV, or none.
    ev_arrays : EVArrays
        Its driving per interval (:meth:`EV.arrays`); required with ``ev``.
    ev_strategy : str
        One of ``immediate``, ``solar_only``, ``cheapest``, ``solar_cheapest``.
    v2h, v2g : bool
        Let the parked EV discharge into the home / to the grid.
    grid : GridLimits or None
        Grid connection limits (default unlimited).
    export_limit_kw : float or None
        A further export limit (the PV inverter's setting) [kW].
    compiled : bool
        Run the numba-compiled kernel (default); ``False`` runs the same kernel interpreted,
        without loading numba: the same flows, slower per interval (for short series).

    Returns
    -------
    Flows
        Per-interval flows; ``Flows.check_balance()`` holds by construction.
    """
    policy = SelfConsumption() if policy is None else policy
    load, pv, ip, ec = dispatch_inputs(load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh)
    n = load.size
    if ev_strategy not in STRATEGY_CODES:
        raise ValueError(f"ev_strategy={ev_strategy!r}; use one of {EV_STRATEGIES}")
    grid = GridLimits() if grid is None else grid
    imp_max, exp_max = grid.per_interval(interval_minutes, export_limit_kw)

    cb, da, ea = policy_thresholds(
        policy, n, interval_minutes, ip, load, pv, battery, compiled=compiled
    )
    if battery is not None:
        bc_max, bd_max = battery.per_interval(interval_minutes)
        b = (
            True,
            battery.capacity_kwh,
            battery.soc_min_fraction,
            battery.soc_max_fraction,
            battery.initial_soc_kwh,
            bc_max,
            bd_max,
            battery.eta_one_way,
            battery.eta_one_way,
            battery.fade_per_cycle_fraction,
            battery.fade_per_year_fraction,
            interval_minutes / 525_600.0,
        )
    else:
        b = (False, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    if ev is not None:
        if ev_arrays is None:
            raise ValueError("an EV needs its ev_arrays (EV.arrays(local_times, interval_minutes))")
        if ev_arrays.home.shape != (n,):
            raise ValueError(f"ev_arrays cover {ev_arrays.home.shape[0]} intervals, not {n}")
        h = interval_minutes / 60.0
        cap = ev.capacity_kwh
        e = (
            True,
            ev_arrays.home,
            ev_arrays.trip_kwh,
            ev_arrays.required_kwh,
            ev_arrays.next_departure,
            ev.initial_soc_fraction * cap,
            ev.max_soc_fraction * cap,
            ev.min_soc_fraction * cap,
            ev.reserve_soc_fraction * cap,
            ev.charger_kw * h,
            ev.charge_efficiency,
            ev.bidirectional_kw * h if (v2h or v2g) else 0.0,
            ev.discharge_efficiency,
            ev.wear_cost_per_kwh,
            STRATEGY_CODES[ev_strategy],
            bool(v2h),
            bool(v2g),
        )
    else:
        z = np.zeros(n)
        e = (
            False,
            np.ones(n, dtype=np.bool_),
            z,
            z,
            np.full(n, n, dtype=np.int64),
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.0,
            0.0,
            1.0,
            0.0,
            0,
            False,
            False,
        )
    run = _dispatch_kernel.compiled() if compiled else _dispatch_kernel
    out = run(load, pv, ip, ec, imp_max, exp_max, *b, cb, da, ea, *e)
    imp, exp, curt, bc, bd, soc, cap_t, evc, evd, ev_soc, ev_topup, ev_short = out
    return Flows(
        interval_minutes=interval_minutes,
        load_kwh=load,
        pv_kwh=pv,
        import_kwh=imp,
        export_kwh=exp,
        curtailed_kwh=curt,
        battery_charge_kwh=bc,
        battery_discharge_kwh=bd,
        battery_soc_kwh=soc,
        battery_capacity_kwh=cap_t,
        ev_charge_kwh=evc,
        ev_discharge_kwh=evd,
        ev_soc_kwh=ev_soc,
        ev_topup_kwh=ev_topup,
        ev_shortfall_kwh=ev_short,
        ev_required_kwh=ev_arrays.required_kwh if ev is not None else np.zeros(n),
        policy=getattr(policy, "name", type(policy).__name__),
    )
