"""Gateway battery state: a home battery running self-consumption, as a gateway reports it.

State per interval: state of charge [%], state of health [%], equivalent full
cycles, pack voltage [V] and cell temperature [degC].  The battery charges from PV
surplus and discharges into the home load within its power and SoC limits; the loop
over intervals is compiled with numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class BatterySpec:
    """A home battery (LFP, 16 cells in series by default).

    Parameters
    ----------
    capacity_kwh : float
        Usable capacity when new [kWh].
    max_charge_kw, max_discharge_kw : float
        Power limits at the AC side [kW].
    round_trip_efficiency : float
        AC-to-AC round-trip efficiency [0-1]; split evenly between charge and discharge.
    initial_soc, min_soc, max_soc : float
        State of charge at the start and the allowed window [0-1].
    nominal_voltage_v : float
        Pack nominal voltage [V].
    cycle_life : float
        Equivalent full cycles to ``end_of_life_soh_pct``.
    end_of_life_soh_pct : float
        State of health at the end of the cycle life [%].
    calendar_fade_pct_per_year : float
        Capacity lost per year at rest [%].
    """

    capacity_kwh: float = 13.5
    max_charge_kw: float = 5.0
    max_discharge_kw: float = 5.0
    round_trip_efficiency: float = 0.90
    initial_soc: float = 0.5
    min_soc: float = 0.10
    max_soc: float = 1.0
    nominal_voltage_v: float = 51.2
    cycle_life: float = 6_000.0
    end_of_life_soh_pct: float = 70.0
    calendar_fade_pct_per_year: float = 1.5

    def __post_init__(self) -> None:
        for name in (
            "capacity_kwh",
            "max_charge_kw",
            "max_discharge_kw",
            "nominal_voltage_v",
            "cycle_life",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"battery.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.round_trip_efficiency <= 1:
            raise ValueError(
                f"battery.round_trip_efficiency must be in (0, 1], got {self.round_trip_efficiency}"
            )
        for name in ("initial_soc", "min_soc", "max_soc"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"battery.{name} must be within [0, 1], got {getattr(self, name)}")
        if self.min_soc > self.max_soc:
            raise ValueError(
                f"battery.min_soc ({self.min_soc}) must not exceed battery.max_soc ({self.max_soc})"
            )


@numba.njit(cache=True)
def _self_consumption(
    pv,
    load,
    temp_air,
    hours,
    cap,
    pch,
    pdis,
    eta,
    soc0,
    lo,
    hi,
    soh0,
    cyc0,
    fade_cycle,
    fade_year,
    v_nom,
):  # pragma: no cover - compiled
    n = pv.shape[0]
    soc = np.empty(n)
    soh = np.empty(n)
    cycles = np.empty(n)
    volt = np.empty(n)
    temp = np.empty(n)
    power = np.empty(n)  # AC side, + charging
    s = min(max(soc0, lo), hi)
    h_ = soh0
    c = cyc0
    t = temp_air[0] + 3.0 if n else 0.0
    alpha = 1.0 - np.exp(-hours / 2.0)  # 2-hour thermal time constant
    for i in range(n):
        usable = cap * h_ / 100.0
        net = pv[i] - load[i]
        e = 0.0
        if net > 0 and usable > 0:
            e = min(net, pch * hours, (hi - s) * usable / eta)
            s += e * eta / usable
        elif net < 0 and usable > 0:
            d = min(-net, pdis * hours, (s - lo) * usable * eta)
            s -= d / eta / usable
            e = -d
        s = min(max(s, lo), hi)
        if usable > 0:
            c += abs(e) / (2.0 * usable)
        h_ = max(soh0 - fade_cycle * (c - cyc0) - fade_year * (i + 1) * hours / 8766.0, 0.0)
        p_kw = e / hours
        ocv_cell = (
            3.2 + 0.12 * s + 0.25 * max(s - 0.95, 0.0) / 0.05 - 0.4 * max(0.08 - s, 0.0) / 0.08
        )
        current = p_kw * 1000.0 / v_nom
        volt[i] = ocv_cell * v_nom / 3.2 + current * 0.015
        t = t + alpha * (temp_air[i] + 3.0 + 6.0 * abs(p_kw) / max(pch, pdis, 1e-9) - t)
        soc[i] = s * 100.0
        soh[i] = h_
        cycles[i] = c
        temp[i] = t
        power[i] = p_kw
    return soc, soh, cycles, volt, temp, power


def simulate_battery(
    pv_kwh: np.ndarray,
    load_kwh: np.ndarray,
    temp_air_c: np.ndarray,
    interval_minutes: int,
    spec: BatterySpec | None = None,
    *,
    initial_soc: float | None = None,
    initial_soh_pct: float = 100.0,
    initial_cycles: float = 0.0,
) -> dict[str, np.ndarray]:
    """Run a battery in self-consumption mode and report its state each interval.

    Parameters
    ----------
    pv_kwh, load_kwh : numpy.ndarray
        PV generation and home load per interval [kWh].
    temp_air_c : numpy.ndarray
        Ambient temperature around the battery [degC].
    interval_minutes : int
        Interval length [min].
    spec : BatterySpec
        The battery (default: 13.5 kWh, 5 kW).
    initial_soc : float, optional
        SoC at the start [0-1] (default: ``spec.initial_soc``).
    initial_soh_pct, initial_cycles : float
        Health [%] and equivalent full cycles at the start (to chain days).

    Returns
    -------
    dict
        ``soc_pct`` [%], ``soh_pct`` [%], ``cycles_count`` [equivalent full cycles],
        ``voltage_v`` [V], ``temp_c`` [degC] (state at the end of each interval) and
        ``power_kw`` [kW, + charging, - discharging, AC side].
    """
    spec = spec or BatterySpec()
    pv = np.ascontiguousarray(pv_kwh, dtype=np.float64)
    load = np.ascontiguousarray(load_kwh, dtype=np.float64)
    temp = np.ascontiguousarray(temp_air_c, dtype=np.float64)
    if not (len(pv) == len(load) == len(temp)):
        raise ValueError(
            f"pv_kwh, load_kwh and temp_air_c differ in length: {len(pv)}, {len(load)}, {len(temp)}"
        )
    eta = float(np.sqrt(spec.round_trip_efficiency))
    fade_cycle = (
        (100.0 - spec.end_of_life_soh_pct) / spec.cycle_life if spec.cycle_life > 0 else 0.0
    )
    soc, soh, cyc, volt, tc, power = _self_consumption(
        pv,
        load,
        temp,
        interval_minutes / 60.0,
        float(spec.capacity_kwh),
        float(spec.max_charge_kw),
        float(spec.max_discharge_kw),
        eta,
        float(spec.initial_soc if initial_soc is None else initial_soc),
        float(spec.min_soc),
        float(spec.max_soc),
        float(initial_soh_pct),
        float(initial_cycles),
        fade_cycle,
        float(spec.calendar_fade_pct_per_year),
        float(spec.nominal_voltage_v),
    )
    return {
        "soc_pct": soc,
        "soh_pct": soh,
        "cycles_count": cyc,
        "voltage_v": volt,
        "temp_c": tc,
        "power_kw": power,
    }
