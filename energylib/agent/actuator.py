"""Acting on a decision is a plug: :class:`Actuator` is what a real integration implements.

The default, :class:`DryRunActuator`, only logs what it would do.  So that the
decisions it logs are those a real battery would see, it keeps a *virtual* state of
charge: it integrates its own set-points over the time between decisions (within
the battery's window, at its one-way efficiency).  A real integration returns the
device's own readings from :meth:`Actuator.read_state` instead.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from energylib.dispatch.assets import Battery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceState:
    """What the devices report.

    Parameters
    ----------
    battery_soc_fraction : float or None
        Battery state of charge [0-1 of capacity]; None when there is no battery.
    ev_plugged_in : bool
        The EV is connected to the charger.
    ev_soc_fraction : float or None
        EV state of charge [0-1], where the charger knows it.
    """

    battery_soc_fraction: float | None = None
    ev_plugged_in: bool = False
    ev_soc_fraction: float | None = None


class Actuator(ABC):
    """Interface of a battery / EV charger integration.

    Implementations must be quick (called on the decision path) and must not raise for
    a device that is briefly unreachable: report it through :meth:`read_state` returning
    the last known state and log the problem.
    """

    name: str = "actuator"

    @abstractmethod
    def read_state(self, now: datetime) -> DeviceState:
        """The devices' state at ``now``."""

    @abstractmethod
    def apply(
        self, now: datetime, action: str, battery_kw: float, ev_kw: float, reason: str
    ) -> None:
        """Command the devices: ``battery_kw`` [kW] (+ charge, - discharge, 0 hold), ``ev_kw`` [kW]."""


class DryRunActuator(Actuator):
    """Logs every command and tracks a virtual battery; touches no hardware.

    Parameters
    ----------
    battery : Battery or None
        The battery spec (window and efficiency); None for no battery.
    soc_fraction : float
        Starting virtual SoC [0-1].
    ev_plugged_in : bool
        Whether to report the EV as plugged in.
    """

    name = "dry-run"

    def __init__(
        self, battery: Battery | None = None, soc_fraction: float = 0.5, ev_plugged_in: bool = False
    ):
        self.battery = battery
        self.soc_fraction = soc_fraction
        self.ev_plugged_in = ev_plugged_in
        self._set_kw = 0.0
        self._since: datetime | None = None
        self.commands = 0

    def read_state(self, now: datetime) -> DeviceState:
        self._integrate(now)
        return DeviceState(
            battery_soc_fraction=self.soc_fraction if self.battery is not None else None,
            ev_plugged_in=self.ev_plugged_in,
        )

    def apply(
        self, now: datetime, action: str, battery_kw: float, ev_kw: float, reason: str
    ) -> None:
        self._integrate(now)
        self._set_kw = float(battery_kw)
        self.commands += 1
        log.info("dry-run: %s battery %+.2f kW, EV %.2f kW (%s)", action, battery_kw, ev_kw, reason)

    def _integrate(self, now: datetime) -> None:
        if self.battery is None:
            return
        if self._since is not None:
            hours = (now - self._since).total_seconds() / 3600.0
            if 0 < hours < 1.0:  # a clock jump does not move the virtual battery
                b = self.battery
                eta = b.eta_one_way
                stored = self._set_kw * hours * (eta if self._set_kw > 0 else 1.0 / eta)
                soc = self.soc_fraction + stored / b.capacity_kwh
                self.soc_fraction = min(max(soc, b.soc_min_fraction), b.soc_max_fraction)
        self._since = now
