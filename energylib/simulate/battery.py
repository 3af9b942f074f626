"""Gateway battery state: a home battery running self-consumption, as a gateway reports it.

A :class:`GatewayBattery` is a :class:`energylib.dispatch.assets.Battery` (capacity, power
limits, efficiency, SoC window, capacity fade) plus what only a gateway reports: the
pack's nominal voltage and its cell temperature.  The battery is dispatched by the same
code as every study (:func:`energylib.dispatch.rules.dispatch_rules` with
:class:`~energylib.dispatch.rules.SelfConsumption`: charge from PV surplus, discharge
into the home load); this module adds, from those flows, the state a gateway shows per
interval: state of charge [%], state of health [%], equivalent full cycles, pack voltage
[V] and cell temperature [degC].
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from energylib.dispatch.assets import Battery
from energylib.dispatch.rules import SelfConsumption, dispatch_rules

#: An LFP home battery: 13.5 kWh, 5 kW, 90 % round trip, 70 % health after 6000 cycles,
#: 1.5 % calendar fade a year.
LFP_HOME_BATTERY = Battery(
    capacity_kwh=13.5,
    charge_kw=5.0,
    discharge_kw=5.0,
    round_trip_efficiency=0.90,
    soc_min_fraction=0.10,
    soc_max_fraction=1.0,
    initial_soc_fraction=0.5,
    fade_per_cycle_fraction=0.30 / 6_000,
    fade_per_year_fraction=0.015,
)
#: Cell temperature above the air at rest, and its rise at full power [K].
_REST_K, _FULL_POWER_K = 3.0, 6.0
#: Thermal time constant of the pack [h].
_THERMAL_HOURS = 2.0


@dataclass(frozen=True)
class GatewayBattery:
    """A home battery as a gateway sees it (LFP, 16 cells in series by default).

    Parameters
    ----------
    battery : Battery
        What is dispatched: capacity when new [kWh], power limits [kW], round-trip
        efficiency, SoC window, initial SoC and fade per cycle and per year.
    nominal_voltage_v : float
        Pack nominal voltage [V].
    """

    battery: Battery = field(default=LFP_HOME_BATTERY)
    nominal_voltage_v: float = 51.2

    def __post_init__(self) -> None:
        if not self.nominal_voltage_v > 0:
            raise ValueError(
                f"battery.nominal_voltage_v must be > 0 V, got {self.nominal_voltage_v}"
            )

    def simulate(
        self,
        pv_kwh: np.ndarray,
        load_kwh: np.ndarray,
        temp_air_c: np.ndarray,
        interval_minutes: int,
        *,
        initial_soc: float | None = None,
        initial_soh_pct: float = 100.0,
        initial_cycles: float = 0.0,
    ) -> dict[str, np.ndarray]:
        """Run the battery in self-consumption mode and report its state each interval.

        Parameters
        ----------
        pv_kwh, load_kwh : numpy.ndarray
            PV generation and home load per interval [kWh].
        temp_air_c : numpy.ndarray
            Ambient temperature around the battery [degC].
        interval_minutes : int
            Interval length [min].
        initial_soc : float, optional
            SoC at the start [0-1 of the capacity then] (default: the battery's own).
        initial_soh_pct, initial_cycles : float
            Health [% of capacity when new] and equivalent full cycles at the start (to
            chain days).

        Returns
        -------
        dict
            ``soc_pct`` [%], ``soh_pct`` [%], ``cycles_count`` [equivalent full cycles],
            ``voltage_v`` [V], ``temp_c`` [degC] (state at the end of each interval) and
            ``power_kw`` [kW, + charging, - discharging, AC side].
        """
        pv = np.ascontiguousarray(pv_kwh, dtype=np.float64)
        load = np.ascontiguousarray(load_kwh, dtype=np.float64)
        temp = np.ascontiguousarray(temp_air_c, dtype=np.float64)
        if not (len(pv) == len(load) == len(temp)):
            raise ValueError(
                f"pv_kwh, load_kwh and temp_air_c differ in length: {len(pv)}, {len(load)}, {len(temp)}"
            )
        b, hours = self.battery, interval_minutes / 60.0
        health = initial_soh_pct / 100.0
        # The battery as it is now: its capacity faded to its health, fading on from there at
        # the rates of the battery when new (fade per year is a share of the new capacity).
        now = replace(
            b,
            capacity_kwh=b.capacity_kwh * health,
            initial_soc_fraction=b.initial_soc_fraction if initial_soc is None else initial_soc,
            fade_per_year_fraction=b.fade_per_year_fraction / health,
        )
        zero = np.zeros(len(pv))
        flows = dispatch_rules(
            load, pv, zero, zero, interval_minutes, policy=SelfConsumption(), battery=now
        )
        charge, discharge = flows.battery_charge_kwh, flows.battery_discharge_kwh
        capacity = flows.battery_capacity_kwh  # at the start of each interval [kWh]
        soc = np.divide(flows.battery_soc_kwh, capacity, out=np.zeros(len(pv)), where=capacity > 0)
        # Capacity at the end of each interval, as the dispatch fades it.
        discharged = np.cumsum(discharge / now.eta_one_way)
        years = np.arange(1, len(pv) + 1) * interval_minutes / 525_600.0
        faded = now.capacity_kwh * (1.0 - now.fade_per_year_fraction * years)
        faded = np.maximum(faded - now.fade_per_cycle_fraction * discharged, 0.0)
        # An equivalent full cycle is a capacity's worth in and out.
        full_cycle_kwh = np.where(capacity > 0, 2.0 * capacity, np.inf)
        power_kw = (charge - discharge) / hours
        return {
            "soc_pct": soc * 100.0,
            "soh_pct": faded / b.capacity_kwh * 100.0,
            "cycles_count": initial_cycles + np.cumsum((charge + discharge) / full_cycle_kwh),
            "voltage_v": self._voltage_v(soc, power_kw),
            "temp_c": self._temp_c(temp, power_kw, hours),
            "power_kw": power_kw,
        }

    def _voltage_v(self, soc: np.ndarray, power_kw: np.ndarray) -> np.ndarray:
        """Pack voltage [V]: an LFP open-circuit curve (flat, steep near full and empty)
        plus the drop over a 15 mOhm-equivalent pack resistance."""
        ocv_cell = (
            3.2
            + 0.12 * soc
            + 0.25 * np.maximum(soc - 0.95, 0.0) / 0.05
            - 0.4 * np.maximum(0.08 - soc, 0.0) / 0.08
        )
        current_a = power_kw * 1000.0 / self.nominal_voltage_v
        return ocv_cell * self.nominal_voltage_v / 3.2 + current_a * 0.015

    def _temp_c(self, temp_air_c: np.ndarray, power_kw: np.ndarray, hours: float) -> np.ndarray:
        """Cell temperature [degC]: a first-order lag (2 h) towards the air plus a rise with
        the power throughput."""
        if temp_air_c.size == 0:
            return temp_air_c.copy()
        peak_kw = max(self.battery.charge_kw, self.battery.discharge_kw, 1e-9)
        target = temp_air_c + _REST_K + _FULL_POWER_K * np.abs(power_kw) / peak_kw
        alpha = 1.0 - np.exp(-hours / _THERMAL_HOURS)
        start = temp_air_c[0] + _REST_K
        from scipy.signal import lfilter  # slow to import (~1 s): only the simulator needs it

        out, _ = lfilter([alpha], [1.0, alpha - 1.0], target, zi=[(1.0 - alpha) * start])
        return out
