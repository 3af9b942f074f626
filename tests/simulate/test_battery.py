"""Gateway battery state: SoC window, power limits, energy bookkeeping, ageing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.dispatch.assets import Battery
from energylib.simulate.battery import LFP_HOME_BATTERY, GatewayBattery


def _battery(cap, pch, pdis, rte, soc0, lo, hi, *, ageing=True) -> GatewayBattery:
    """A gateway battery of these figures (LFP ageing unless ``ageing=False``)."""
    fade = {} if ageing else {"fade_per_cycle_fraction": 0.0, "fade_per_year_fraction": 0.0}
    return GatewayBattery(
        Battery(
            capacity_kwh=cap,
            charge_kw=pch,
            discharge_kw=pdis,
            round_trip_efficiency=rte,
            initial_soc_fraction=soc0,
            soc_min_fraction=lo,
            soc_max_fraction=hi,
            **(
                fade
                or {
                    "fade_per_cycle_fraction": LFP_HOME_BATTERY.fade_per_cycle_fraction,
                    "fade_per_year_fraction": LFP_HOME_BATTERY.fade_per_year_fraction,
                }
            ),
        )
    )


#: Any battery and day: capacity [kWh], power limits [kW], round trip, SoC window and start.
ANY_BATTERY = dict(
    cap=st.floats(1, 30),
    pch=st.floats(0.5, 10),
    pdis=st.floats(0.5, 10),
    rte=st.floats(0.7, 1.0),
    lo=st.floats(0, 0.49),  # a window of no width is no battery: Battery refuses it
    hi=st.floats(0.5, 1.0),
    soc0=st.floats(0, 1),
    seed=st.integers(0, 100),
)


def _day(n=288 * 3, seed=0, base=0.02):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pv = np.clip(np.sin((t % 288 - 72) / 144 * np.pi), 0, None) * 0.45
    load = base + 0.05 * rng.random(n)
    return pv, load, np.full(n, 20.0)


@settings(max_examples=40, deadline=None)
@given(**ANY_BATTERY)
def test_soc_never_leaves_window_and_power_within_limits(cap, pch, pdis, rte, lo, hi, soc0, seed):
    pv, load, temp = _day(seed=seed)
    r = _battery(cap, pch, pdis, rte, soc0, lo, hi).simulate(pv, load, temp, 5)
    assert (r["soc_pct"] >= lo * 100 - 1e-9).all() and (r["soc_pct"] <= hi * 100 + 1e-9).all()
    assert (r["power_kw"] <= pch + 1e-9).all() and (r["power_kw"] >= -pdis - 1e-9).all()
    assert np.all(np.diff(r["cycles_count"]) >= 0)
    assert np.all(np.diff(r["soh_pct"]) <= 1e-12)


def test_stored_energy_balances_with_efficiency():
    pv, load, temp = _day()
    r = _battery(10, 5, 5, 0.81, 0.5, 0.0, 1.0, ageing=False).simulate(pv, load, temp, 5)
    e = r["power_kw"] / 12
    stored = 0.9 * e[e > 0].sum() - (-e[e < 0]).sum() / 0.9
    assert (r["soc_pct"][-1] - 50.0) / 100 * 10 == pytest.approx(stored, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(**ANY_BATTERY)
def test_stored_energy_balances_for_any_battery(cap, pch, pdis, rte, lo, hi, soc0, seed):
    """Without ageing, the change in stored energy is what went in times the charge
    efficiency less what came out over the discharge efficiency (SoC starts clipped to
    the window)."""
    pv, load, temp = _day(seed=seed)
    r = _battery(cap, pch, pdis, rte, soc0, lo, hi, ageing=False).simulate(pv, load, temp, 5)
    eta = np.sqrt(rte)
    e = r["power_kw"] / 12
    stored = eta * e[e > 0].sum() - (-e[e < 0]).sum() / eta
    start = min(max(soc0, lo), hi)
    assert r["soc_pct"][-1] / 100 * cap - start * cap == pytest.approx(stored, rel=1e-9, abs=1e-9)
    assert np.all(r["soh_pct"] == 100.0)


def test_battery_only_charges_from_surplus_and_covers_deficit():
    pv, load, temp = _day()
    r = GatewayBattery().simulate(pv, load, temp, 5)
    surplus = pv - load
    assert (r["power_kw"][surplus <= 0] <= 1e-12).all()
    assert (r["power_kw"][surplus >= 0] >= -1e-12).all()
    assert (-r["power_kw"] / 12 <= np.clip(load - pv, 0, None) + 1e-12).all()


def test_voltage_rises_with_state_of_charge_and_health_fades():
    pv, load, temp = _day(288 * 30, base=0.06)
    r = GatewayBattery().simulate(pv, load, temp, 5)
    rest = np.abs(r["power_kw"]) < 1e-3  # below 1 W: fade frees a trickle at the empty end
    v, soc = r["voltage_v"][rest], r["soc_pct"][rest]
    assert v[soc > 90].mean() > v[soc < 30].mean()
    assert r["soh_pct"][-1] < 100.0 and r["cycles_count"][-1] > 5
    assert r["voltage_v"].min() > 40 and r["voltage_v"].max() < 60


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"capacity_kwh": -1}, "capacity_kwh"),
        ({"soc_min_fraction": 0.9, "soc_max_fraction": 0.5}, "soc_min_fraction"),
        ({"round_trip_efficiency": 1.5}, "round_trip_efficiency"),
    ],
)
def test_bad_battery_spec_names_the_key(kwargs, word):
    with pytest.raises(ValueError, match=word):
        GatewayBattery(Battery(**kwargs))


def test_a_chained_day_carries_health_cycles_and_charge_on():
    pv, load, temp = _day(288 * 2, base=0.06)
    whole = GatewayBattery().simulate(pv, load, temp, 5)
    first = GatewayBattery().simulate(pv[:288], load[:288], temp[:288], 5)
    second = GatewayBattery().simulate(
        pv[288:],
        load[288:],
        temp[288:],
        5,
        initial_soc=first["soc_pct"][-1] / 100,
        initial_soh_pct=first["soh_pct"][-1],
        initial_cycles=first["cycles_count"][-1],
    )
    for key in ("soc_pct", "soh_pct", "cycles_count", "power_kw"):
        assert second[key] == pytest.approx(whole[key][288:], rel=1e-4), key
