"""Dispatch policies by name: the one place a name such as ``"forecast"`` becomes a policy.

Scenarios, studies (their YAML ``policy:`` keys) and the live agent (``ENERGY_AGENT_POLICY``)
all name a policy; :func:`resolve` turns the name and the policy's own options into the
object :func:`energylib.dispatch.rules.dispatch_rules` or
:func:`energylib.dispatch.optimum.optimise` runs.

========================= ==================================================================
name                      policy
========================= ==================================================================
``self_consumption``      :class:`~energylib.dispatch.rules.SelfConsumption`
``price_threshold``       :class:`~energylib.dispatch.rules.PriceThreshold`
                          (``charge_below_per_kwh``, ``discharge_above_per_kwh``,
                          ``export_above_per_kwh``)
``forecast``              :class:`~energylib.dispatch.rules.ForecastPolicy` on perfect
                          forecasts unless given (``price_forecast_per_kwh``,
                          ``load_forecast_kwh``, ``horizon_hours``)
``forecast_persistence``  the same on yesterday's values as the forecast
``mpc``                   :class:`~energylib.dispatch.mpc.MPCPolicy`, model-predictive
                          control on the optimum's LP (``forecast``, ``horizon_hours``,
                          ``terminal_value``, ``switch_threshold``, ``known_intervals`` ...)
``optimum``               :class:`~energylib.dispatch.optimum.OptimumOptions`, the
                          perfect-foresight LP (``window_days``, ``step_days`` ...)
========================= ==================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from energylib.dispatch.rules import ForecastPolicy, Policy, PriceThreshold, SelfConsumption

if TYPE_CHECKING:
    from energylib.dispatch.mpc import MPCPolicy
    from energylib.dispatch.optimum import OptimumOptions


def _optimum() -> type:
    # Slow (HiGHS and scipy.sparse), and only for the optimum: the live agent runs the
    # rule policies and never loads them.
    from energylib.dispatch.optimum import OptimumOptions

    return OptimumOptions


def _mpc() -> type:
    # Slow (HiGHS, scipy.sparse and numba's compiled plan-applier), and only for MPC: an
    # agent on a rule policy never loads them.
    from energylib.dispatch.mpc import MPCPolicy

    return MPCPolicy


#: Each name, the class it builds (or what gives it), and the options the name fixes.
POLICIES: dict[str, tuple[type | Callable[[], type], dict[str, Any]]] = {
    "self_consumption": (SelfConsumption, {}),
    "price_threshold": (PriceThreshold, {}),
    "forecast": (ForecastPolicy, {"forecast": "perfect"}),
    "forecast_persistence": (
        ForecastPolicy,
        {"forecast": "persistence", "name": "forecast_persistence"},
    ),
    "mpc": (_mpc, {}),
    "optimum": (_optimum, {}),
}
NAMES = tuple(POLICIES)


def options_of(name: str) -> tuple[str, ...]:
    """The options a policy name takes (its class's fields, less those the name fixes)."""
    cls, fixed = _lookup(name)
    return tuple(
        f.name for f in dataclasses.fields(cls) if f.name not in fixed and f.name != "name"
    )


def resolve(name: str, **options: Any) -> Policy | MPCPolicy | OptimumOptions:
    """The policy object a name stands for, built with ``options``.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    **options
        The policy's own parameters (:func:`options_of`), e.g. ``charge_below_per_kwh=0.10``
        [currency/kWh] for ``price_threshold``, ``horizon_hours=24`` [h] for ``forecast``.

    Raises
    ------
    ValueError
        For an unknown name or an option the policy does not take; the message lists the
        names or the options there are.
    """
    cls, fixed = _lookup(name)
    unknown = sorted(set(options) - set(options_of(name)))
    if unknown:
        raise ValueError(
            f"policy {name!r} takes no option {', '.join(unknown)}; its options are "
            f"{', '.join(options_of(name)) or 'none'}"
        )
    return cls(**fixed, **options)


def _lookup(name: str) -> tuple[type, dict[str, Any]]:
    try:
        cls, fixed = POLICIES[name]
    except KeyError:
        raise ValueError(
            f"unknown dispatch policy {name!r}; use one of {', '.join(NAMES)}"
        ) from None
    return (cls if isinstance(cls, type) else cls()), fixed
