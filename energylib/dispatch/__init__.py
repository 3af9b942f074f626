"""Dispatch of a home battery, an EV and V2H/V2G over a series of intervals.

Modules
-------
:mod:`~energylib.dispatch.assets`
    ``Battery`` (Powerwall 2 defaults), ``EV`` + ``DrivingProfile`` (Model Y defaults),
    ``EVArrays`` (driving per interval), ``GridLimits`` (kW or kWh per interval).
:mod:`~energylib.dispatch.rules`
    ``dispatch_rules(load_kwh, pv_kwh, import_per_kwh, export_credit_per_kwh, interval_minutes,
    *, policy, battery, ev, ev_arrays, ev_strategy, v2h, v2g, grid, export_limit_kw) -> Flows``
    with policies ``SelfConsumption``, ``PriceThreshold`` (TOU arbitrage), ``ForecastPolicy``;
    one numba kernel.
:mod:`~energylib.dispatch.optimum`
    ``optimise(...same inputs..., options=OptimumOptions()) -> Flows``: the perfect-foresight
    LP (HiGHS), whole series or rolling windows.
:mod:`~energylib.dispatch.lp`
    The small vectorised LP layer the optimum is written in.
:mod:`~energylib.dispatch.flows`
    ``Flows``: per-interval energy flows, SoC, EV shortfalls; ``to_frame``, ``check_balance``.

Everything is kWh per interval and currency per kWh; ``export_credit_per_kwh`` is what an
exported kWh earns (:mod:`energylib.tariff` turns a tariff into these arrays).
"""
