"""Small random years for the dispatch property tests (hypothesis draws the parameters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np
from hypothesis import strategies as st

from energylib.dispatch.assets import (
    EV,
    EV_STRATEGIES,
    Battery,
    DrivingProfile,
    EVArrays,
    GridLimits,
)


@dataclass
class Case:
    minutes: int
    load: np.ndarray
    pv: np.ndarray
    imp: np.ndarray
    exp: np.ndarray
    local: np.ndarray
    battery: Battery | None
    ev: EV | None
    ev_arrays: EVArrays | None
    strategy: str
    v2h: bool
    v2g: bool
    grid: GridLimits

    @property
    def kwargs(self) -> dict:
        return dict(
            battery=self.battery,
            ev=self.ev,
            ev_arrays=self.ev_arrays,
            v2h=self.v2h,
            v2g=self.v2g,
            grid=self.grid,
        )


def make_case(
    seed: int,
    days: int,
    minutes: int,
    with_battery: bool,
    with_ev: bool,
    strategy: str,
    v2h: bool,
    v2g: bool,
    limited_grid: bool,
    negative_prices: bool,
) -> Case:
    rng = np.random.default_rng(seed)
    n = days * 1440 // minutes
    h = minutes / 60
    hour = (np.arange(n) * h) % 24
    load = rng.gamma(2.0, 0.4, n) * h
    pv_kw = (
        rng.uniform(0, 8)
        * np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)
        * rng.uniform(0.2, 1, n)
    )
    pv = pv_kw * h
    imp = 0.25 + 0.3 * np.exp(-((hour - 18) ** 2) / 4) - 0.15 * np.exp(-((hour - 13) ** 2) / 6)
    imp = imp + rng.normal(0, 0.08, n)
    exp = np.minimum(rng.uniform(-0.02, 0.12, n), imp - 0.01)
    if negative_prices:
        neg = rng.random(n) < 0.15
        imp[neg] = rng.uniform(-0.2, 0.0, neg.sum())
        exp[neg] = np.minimum(rng.uniform(-0.3, 0.0, neg.sum()), imp[neg])
        spike = rng.random(n) < 0.03
        imp[spike] = rng.uniform(1, 5, spike.sum())
        exp[spike] = imp[spike] * rng.uniform(0.5, 0.95, spike.sum())
    local = np.datetime64("2025-03-03T00:00") + np.arange(n) * np.timedelta64(
        minutes, "m"
    )  # a Monday
    battery = None
    if with_battery:
        lo = rng.uniform(0, 0.3)
        battery = Battery(
            capacity_kwh=rng.uniform(2, 20),
            charge_kw=rng.uniform(0.5, 7),
            discharge_kw=rng.uniform(0.5, 7),
            round_trip_efficiency=rng.uniform(0.75, 1.0),
            soc_min_fraction=lo,
            soc_max_fraction=rng.uniform(lo + 0.2, 1.0),
            initial_soc_fraction=rng.uniform(0, 1),
        )
    ev = eva = None
    if with_ev:
        cap = rng.uniform(30, 80)
        dep_frac = rng.uniform(0.4, 0.9)
        consumption = 0.15
        km = rng.uniform(0, dep_frac * cap / consumption * 0.6)  # a trip the departure SoC covers
        ev = EV(
            capacity_kwh=cap,
            consumption_kwh_per_km=consumption,
            charger_kw=rng.uniform(1.5, 11),
            charge_efficiency=rng.uniform(0.85, 1.0),
            departure_soc_fraction=dep_frac,
            max_soc_fraction=max(dep_frac, rng.uniform(0.8, 1.0)),
            min_soc_fraction=rng.uniform(0, 0.5),
            initial_soc_fraction=rng.uniform(0.05, dep_frac),
            bidirectional_kw=rng.uniform(1, 11),
            discharge_efficiency=rng.uniform(0.85, 1.0),
            reserve_soc_fraction=rng.uniform(0.1, 0.5),
            wear_cost_per_kwh=0.0,
            driving=DrivingProfile(
                weekday_km=km,
                weekend_km=km / 2,
                weekday_departure=time(int(rng.integers(5, 10)), 0),
                weekday_return=time(int(rng.integers(12, 20)), 0),
            ),
        )
        eva = ev.arrays(local, minutes)
    grid = GridLimits()
    if limited_grid:
        grid = GridLimits(import_kw=rng.uniform(2, 10), export_kw=rng.uniform(0.5, 5))
    return Case(
        minutes,
        load,
        pv,
        imp,
        exp,
        local,
        battery,
        ev,
        eva,
        strategy,
        v2h and with_ev,
        v2g and with_ev,
        grid,
    )


@st.composite
def cases(draw, max_days: int = 3, minutes=(30, 60), negative=True, limited=True) -> Case:
    return make_case(
        seed=draw(st.integers(0, 2**31)),
        days=draw(st.integers(1, max_days)),
        minutes=draw(st.sampled_from(minutes)),
        with_battery=draw(st.booleans()),
        with_ev=draw(st.booleans()),
        strategy=draw(st.sampled_from(EV_STRATEGIES)),
        v2h=draw(st.booleans()),
        v2g=draw(st.booleans()),
        limited_grid=draw(st.booleans()) if limited else False,
        negative_prices=draw(st.booleans()) if negative else False,
    )


def assert_soc_follows_the_flows(f, c: Case, *, atol: float = 1e-5) -> None:
    """Every interval's state of charge is the last one plus what went in and out (battery:
    one-way efficiency each way, no fade in these cases; EV: also trips and top-ups away
    from home), from the first interval on, across any window boundary."""
    if c.battery is not None:
        b = c.battery
        eta = b.eta_one_way
        before = np.concatenate(([b.initial_soc_kwh], f.battery_soc_kwh[:-1]))
        np.testing.assert_allclose(
            f.battery_soc_kwh,
            before + eta * f.battery_charge_kwh - f.battery_discharge_kwh / eta,
            atol=atol,
            err_msg=f"battery SoC, {f.policy}",
        )
    if c.ev is not None:
        ev = c.ev
        before = np.concatenate(([ev.initial_soc_fraction * ev.capacity_kwh], f.ev_soc_kwh[:-1]))
        np.testing.assert_allclose(
            f.ev_soc_kwh,
            before
            + ev.charge_efficiency * f.ev_charge_kwh
            - f.ev_discharge_kwh / ev.discharge_efficiency
            - c.ev_arrays.trip_kwh
            + f.ev_topup_kwh,
            atol=atol,
            err_msg=f"EV SoC, {f.policy}",
        )
