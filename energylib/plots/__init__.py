"""Every Altair chart builder, and the kiosk's small hand-written SVG.

=================================== =========================================================
:mod:`~energylib.plots.offline`     ``offline_charts``: charts as inline SVG, no CDN
:mod:`~energylib.plots.series`      canonical series: ``line_over_time``, ``daily_overview``
:mod:`~energylib.plots.coverage`    what the store holds: ``coverage_chart``
:mod:`~energylib.plots.forecast`    training and evaluation of the forecaster
:mod:`~energylib.plots.study`       the scenario study's result frames
:mod:`~energylib.plots.trading`     the community market study's result frames
:mod:`~energylib.plots.federated`   the federated forecasting study's rounds and methods
:mod:`~energylib.plots.svg`         ``price_bars_svg``: the kiosk's price bars, drawn by hand
:mod:`~energylib.plots.table`       ``report_table``: a frame as a Markdown table in words and units
:mod:`~energylib.plots.agent`       the owner's dashboard: decisions, state of charge, savings
=================================== =========================================================

Every builder takes a tidy polars frame and returns an Altair chart; the names below are
importable from :mod:`energylib.plots` itself (``from energylib import plots``).
"""

from __future__ import annotations

import importlib

# Each public name and the module that builds it.  They are loaded on first use: altair is
# slow to import, and the kiosk on a Pi needs only the hand-written SVG.
_BUILDERS = {
    "agent_decisions_chart": "agent",
    "agent_savings_chart": "agent",
    "coverage_chart": "coverage",
    "benchmark_mae_chart": "forecast",
    "dm_matrix_chart": "forecast",
    "error_by_horizon_chart": "forecast",
    "error_by_hour_chart": "forecast",
    "federated_gains_chart": "federated",
    "federated_methods_chart": "federated",
    "federated_round_time_chart": "federated",
    "federated_rounds_chart": "federated",
    "forecast_vs_actual_chart": "forecast",
    "learning_curve_chart": "forecast",
    "offline_charts": "offline",
    "daily_overview": "series",
    "line_over_time": "series",
    "MONTH_NAMES": "study",
    "cash_flow_chart": "study",
    "ev_strategies_chart": "study",
    "monthly_bills_chart": "study",
    "npv_heatmap": "study",
    "policy_vs_optimum_chart": "study",
    "scenario_colours": "study",
    "soc_week_chart": "study",
    "stability_tradeoff_chart": "study",
    "tornado_chart": "study",
    "typical_days_chart": "study",
    "price_bars_svg": "svg",
    "report_table": "table",
    "clearing_prices_chart": "trading",
    "energy_shares_chart": "trading",
    "feeder_chart": "trading",
    "household_savings_chart": "trading",
    "peaks_chart": "trading",
    "savings_chart": "trading",
}
__all__ = sorted(_BUILDERS)


def __getattr__(name: str):
    if name not in _BUILDERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_BUILDERS[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BUILDERS))
