"""Gateway battery state: SoC window, power limits, energy bookkeeping, ageing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.simulate.battery import BatterySpec, simulate_battery


def _day(n=288 * 3, seed=0, base=0.02):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pv = np.clip(np.sin((t % 288 - 72) / 144 * np.pi), 0, None) * 0.45
    load = base + 0.05 * rng.random(n)
    return pv, load, np.full(n, 20.0)


@settings(max_examples=40, deadline=None)
@given(
    cap=st.floats(1, 30),
    pch=st.floats(0.5, 10),
    pdis=st.floats(0.5, 10),
    rte=st.floats(0.7, 1.0),
    lo=st.floats(0, 0.5),
    hi=st.floats(0.5, 1.0),
    soc0=st.floats(0, 1),
    seed=st.integers(0, 100),
)
def test_soc_never_leaves_window_and_power_within_limits(cap, pch, pdis, rte, lo, hi, soc0, seed):
    spec = BatterySpec(cap, pch, pdis, rte, soc0, lo, hi)
    pv, load, temp = _day(seed=seed)
    r = simulate_battery(pv, load, temp, 5, spec)
    assert (r["soc_pct"] >= lo * 100 - 1e-9).all() and (r["soc_pct"] <= hi * 100 + 1e-9).all()
    assert (r["power_kw"] <= pch + 1e-9).all() and (r["power_kw"] >= -pdis - 1e-9).all()
    assert np.all(np.diff(r["cycles_count"]) >= 0)
    assert np.all(np.diff(r["soh_pct"]) <= 1e-12)


def test_stored_energy_balances_with_efficiency():
    spec = BatterySpec(10, 5, 5, 0.81, 0.5, 0.0, 1.0, calendar_fade_pct_per_year=0, cycle_life=1e12)
    pv, load, temp = _day()
    r = simulate_battery(pv, load, temp, 5, spec)
    e = r["power_kw"] / 12
    stored = 0.9 * e[e > 0].sum() - (-e[e < 0]).sum() / 0.9
    assert (r["soc_pct"][-1] - 50.0) / 100 * 10 == pytest.approx(stored, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    cap=st.floats(1, 30),
    pch=st.floats(0.5, 10),
    pdis=st.floats(0.5, 10),
    rte=st.floats(0.7, 1.0),
    lo=st.floats(0, 0.5),
    hi=st.floats(0.5, 1.0),
    soc0=st.floats(0, 1),
    seed=st.integers(0, 100),
)
def test_stored_energy_balances_for_any_battery(cap, pch, pdis, rte, lo, hi, soc0, seed):
    """Without ageing, the change in stored energy is what went in times the charge
    efficiency less what came out over the discharge efficiency (SoC starts clipped to
    the window)."""
    spec = BatterySpec(
        cap, pch, pdis, rte, soc0, lo, hi, cycle_life=0.0, calendar_fade_pct_per_year=0.0
    )
    pv, load, temp = _day(seed=seed)
    r = simulate_battery(pv, load, temp, 5, spec)
    eta = np.sqrt(rte)
    e = r["power_kw"] / 12
    stored = eta * e[e > 0].sum() - (-e[e < 0]).sum() / eta
    start = min(max(soc0, lo), hi)
    assert r["soc_pct"][-1] / 100 * cap - start * cap == pytest.approx(stored, rel=1e-9, abs=1e-9)
    assert np.all(r["soh_pct"] == 100.0)


def test_battery_only_charges_from_surplus_and_covers_deficit():
    pv, load, temp = _day()
    r = simulate_battery(pv, load, temp, 5)
    surplus = pv - load
    assert (r["power_kw"][surplus <= 0] <= 1e-12).all()
    assert (r["power_kw"][surplus >= 0] >= -1e-12).all()
    assert (-r["power_kw"] / 12 <= np.clip(load - pv, 0, None) + 1e-12).all()


def test_voltage_rises_with_state_of_charge_and_health_fades():
    pv, load, temp = _day(288 * 30, base=0.06)
    r = simulate_battery(pv, load, temp, 5)
    rest = np.abs(r["power_kw"]) < 1e-9
    v, soc = r["voltage_v"][rest], r["soc_pct"][rest]
    assert v[soc > 90].mean() > v[soc < 30].mean()
    assert r["soh_pct"][-1] < 100.0 and r["cycles_count"][-1] > 5
    assert r["voltage_v"].min() > 40 and r["voltage_v"].max() < 60


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"capacity_kwh": -1}, "capacity_kwh"),
        ({"min_soc": 0.9, "max_soc": 0.5}, "min_soc"),
        ({"round_trip_efficiency": 1.5}, "round_trip_efficiency"),
    ],
)
def test_bad_battery_spec_names_the_key(kwargs, word):
    with pytest.raises(ValueError, match=word):
        BatterySpec(**kwargs)
