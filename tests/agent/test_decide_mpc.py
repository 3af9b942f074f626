"""The agent on the mpc policy (the study's MPC controller), and its prices through tariff.py."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from agent_fakes import START, make_agent, seed_history

from energylib.agent.config import load_agent_settings
from energylib.agent.decision_log import read_decisions
from energylib.store import SqliteStore
from energylib.tariff import Calendar, FlatTariff, MarketPrices

ROOT = Path(__file__).resolve().parents[2]


def _agent(settings, clock, fake, **changes):
    s = settings.replace(**changes)
    seed_history(SqliteStore(s.live_db), START, days=1)
    return make_agent(s, clock, fake)


def test_mpc_charges_an_empty_battery_at_the_cheapest_hour_and_logs_its_plan(
    settings, clock, fake_amber
):
    clock.set(START + timedelta(hours=2))  # Sydney's solar noon: the day's cheapest prices
    agent = _agent(settings, clock, fake_amber, policy="mpc")
    agent.actuator.soc_fraction = 0.1
    d = agent.run_once()
    assert not d.stale and d.action == "charge"
    assert 0 < d.battery_kw <= settings.battery.charge_kw + 1e-9
    assert d.reason.startswith("mpc policy: plan: charge now") and "plan over 24 h" in d.reason
    plan = d.forecast["plan"]
    assert plan["replanned"] is True and plan["mode"] == "charge"
    assert plan["horizon_h"] == 24.0 and np.isfinite(plan["expected_cost"])
    assert plan["charge_kwh"] > 0 and plan["soc_end_kwh"] > 0  # the terminal value keeps some
    # the plan reaches the decision log whole
    (logged,) = read_decisions(settings.decisions_db)
    assert logged["forecast"]["plan"] == plan


def test_mpc_replans_once_per_interval_and_carries_the_plan_on_in_between(
    settings, clock, fake_amber
):
    agent = _agent(settings, clock, fake_amber, policy="mpc")
    first = agent.run_once()  # collects, then decides
    clock.set(clock.now() + timedelta(minutes=1))  # same 5-min interval, no new data
    second = agent.decider.decide(clock.now())
    assert first.forecast["plan"]["replanned"] and not second.forecast["plan"]["replanned"]
    assert (second.action, second.battery_kw) == (first.action, first.battery_kw)
    assert second.forecast["plan"]["planned_at"] == first.forecast["plan"]["planned_at"]
    clock.set(START + timedelta(minutes=5))  # the next interval (priced by the forecast)
    third = agent.decider.decide(clock.now())
    assert third.forecast["plan"]["replanned"]
    assert third.forecast["plan"]["planned_at"] != first.forecast["plan"]["planned_at"]


def test_a_flat_tariff_prices_every_interval_alike_whatever_the_market_price(
    settings, clock, fake_amber
):
    flat = FlatTariff(import_per_kwh=0.3, feed_in_credit_per_kwh=0.05)
    agent = _agent(settings, clock, fake_amber, policy="forecast", tariff=flat)
    state = agent.decider.build_state(clock.now())
    assert np.ptp(state.price) > 0.1  # the market's prices move ...
    assert np.all(state.import_per_kwh == 0.3) and np.all(state.export_credit_per_kwh == 0.05)
    d = agent.decider.decide(clock.now())
    # ... but there is nothing to gain from moving energy at one price
    assert d.action == "hold" and d.price_per_kwh == 0.3 and d.inputs["tariff"] == "flat"


def test_amber_prices_go_through_the_amber_tariff_as_a_study_bills_them(
    settings, clock, fake_amber
):
    agent = _agent(settings, clock, fake_amber, policy="self_consumption")
    agent.run_once()  # collects the current and forecast intervals of both channels
    st = agent.decider.build_state(clock.now())
    cal = Calendar.from_utc(st.grid_us.astype("datetime64[us]"), settings.site.timezone, 5)
    market = MarketPrices(general_per_kwh=st.price, feed_in_per_kwh=-st.feed_in_credit)
    imp, exp = settings.tariff.interval_prices(cal, market)
    np.testing.assert_array_equal(st.import_per_kwh, imp)
    np.testing.assert_array_equal(st.export_credit_per_kwh, exp)
    # Amber's negative feed-in price is a credit; past its forecast, yesterday's
    assert np.all(st.export_credit_per_kwh > 0)


def test_tariff_and_mpc_settings_from_the_environment(tmp_path):
    env = {
        "ENERGY_AGENT_POLICY": "mpc",
        "ENERGY_AGENT_SWITCH_THRESHOLD": "0.1",
        "ENERGY_AGENT_MARKET": "entsoe",
        "ENERGY_AGENT_TARIFF_OPTIONS": '{"supplier_margin_per_kwh": 0.03}',
        "ENERGY_DATA_DIR": str(tmp_path),
    }
    s = load_agent_settings(env_file=tmp_path / "none.env", environ=env)
    assert s.tariff.name == "eu_dynamic" and s.tariff.supplier_margin_per_kwh == 0.03
    assert s.policy_options["switch_threshold"] == 0.1
    with pytest.raises(ValueError, match="ENERGY_AGENT_TARIFF='amber' cannot price the 'entsoe'"):
        load_agent_settings(environ=env | {"ENERGY_AGENT_TARIFF": "amber"})
    with pytest.raises(ValueError, match="ENERGY_AGENT_TARIFF_OPTIONS=.*JSON object"):
        load_agent_settings(environ=env | {"ENERGY_AGENT_TARIFF_OPTIONS": '{"margin": 1}'})


def test_highs_loads_only_when_mpc_is_the_policy(tmp_path):
    """An agent deciding on a rule policy keeps HiGHS out of its memory; mpc loads it."""
    code = """
import sys
sys.path.insert(0, "tests")
from agent_fakes import START, at_home, seed_history
from energylib.agent.actuator import DryRunActuator
from energylib.agent.config import AgentSettings
from energylib.agent.decide import Decider
from energylib.store import SqliteStore
from pathlib import Path
s = AgentSettings(state_dir=Path(sys.argv[2]), policy=sys.argv[1], site=at_home())
store = SqliteStore(s.live_db)
seed_history(store, START, days=1)
d = Decider(s, store, DryRunActuator(s.battery))
action = d._policy(d.build_state(START - __import__("datetime").timedelta(hours=1)))[0]
print(action, "highspy" in sys.modules)
"""
    out = {}
    for policy in ("forecast", "mpc"):
        r = subprocess.run(
            [sys.executable, "-c", code, policy, str(tmp_path / policy)],
            cwd=ROOT, env=os.environ, capture_output=True, text=True,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        out[policy] = r.stdout.splitlines()[-1].split()  # after HiGHS's banner
    assert out["forecast"][1] == "False"
    assert out["mpc"][1] == "True"


def test_mpc_plans_the_plugged_in_ev_and_runs_without_a_battery(settings, clock, fake_amber):
    from agent_fakes import amber_collectors

    from energylib.agent.actuator import DryRunActuator
    from energylib.agent.runner import build_agent
    from energylib.dispatch.assets import EV

    clock.set(START + timedelta(hours=20))  # 07:00 local, before the 08:00 departure
    for battery in (settings.battery, None):
        s = settings.replace(ev=EV(charger_kw=7.0), policy="mpc", battery=battery)
        store = SqliteStore(s.live_db)
        seed_history(store, START, days=1)
        act = DryRunActuator(battery, soc_fraction=0.5, ev_plugged_in=True)
        agent = build_agent(
            s, clock=clock, collectors=amber_collectors(s, store, fake_amber), actuator=act
        )
        d = agent.run_once()
        assert not d.stale and d.reason.startswith("mpc policy:") and "EV" in d.reason
        assert 0.0 <= d.ev_kw <= 7.0 + 1e-9
        if battery is None:
            assert d.battery_kw == 0.0 and d.forecast["plan"]["mode"] == "hold"


def test_a_sunny_day_plan_charges_the_battery_from_pv_rather_than_the_grid(
    settings, clock, fake_amber, tmp_path
):
    """With the site's PV forecast the plan stores the midday surplus; without it, the same
    plan on the same prices buys the battery's energy from the grid at midday."""
    clock.set(START - timedelta(hours=3))  # 08:00 in Sydney: a sunny day ahead
    plans = {}
    for kw in (0.0, 6.6):
        s = settings.replace(policy="mpc", pv_kw=kw, state_dir=tmp_path / f"pv{kw}")
        agent = _agent(s, clock, fake_amber)
        agent.actuator.soc_fraction = 0.05
        d = agent.run_once()
        assert not d.stale, d.reason
        plans[kw] = d.forecast["plan"]
        assert d.forecast["pv_kwh"] == pytest.approx(plans[kw]["pv_kwh"])
    without, with_pv = plans[0.0], plans[6.6]
    room = settings.battery.capacity_kwh * (1 - 0.05)
    assert without["pv_kwh"] == 0 and without["pv_source"] == "no PV"
    assert without["charge_from_grid_kwh"] > 0.5 * room  # cheap midday grid energy
    # 6.6 kWdc on a sunny Sydney summer day: 30-45 kWh, from the collected weather
    assert 25 < with_pv["pv_kwh"] < 50 and "open-meteo weather" in with_pv["pv_source"]
    assert with_pv["charge_from_pv_kwh"] > 0.85 * room
    # (a little grid energy tops it up in the afternoon, while PV falls and prices are low)
    assert with_pv["charge_from_grid_kwh"] < 0.1 * room
    assert with_pv["expected_cost"] < without["expected_cost"]


def test_pv_forecast_without_weather_takes_the_clear_sky_and_feeds_the_rule_policies(
    settings, clock
):
    from energylib.agent.actuator import DryRunActuator
    from energylib.agent.decide import Decider

    s = settings.replace(policy="forecast", pv_kw=6.6)
    store = SqliteStore(s.live_db)
    decider = Decider(s, store, DryRunActuator(s.battery))
    st = decider.build_state(START)  # 11:00 in Sydney, nothing cached
    assert st.pv_source == "6.6 kWdc PV on clear sky (no open-meteo weather cached)"
    # near noon a clear sky gives the inverter's rating (5 kWac) per hour, none at night
    assert 4.0 < st.pv_kwh[0] * 12 <= 6.6 / 1.32 + 1e-9
    night = (st.grid_us - st.grid_us[0]) // 3_600_000_000 == 12  # 23:00 local
    assert np.all(st.pv_kwh[night] == 0)
    assert decider._pv_forecast(int(st.grid_us[0]), st.grid_us)[0] is not st.pv_kwh  # a copy


def test_pv_settings_from_the_environment(tmp_path):
    env = {"ENERGY_DATA_DIR": str(tmp_path), "ENERGY_AGENT_PV_KW": "6.6"}
    s = load_agent_settings(env_file=tmp_path / "none.env", environ=env)
    system = s.pv_system()
    assert system.kwdc == 6.6 and system.kwac == pytest.approx(5.0)
    assert system.azimuth_for(s.site) == 0.0  # facing north in Sydney
    env |= {"ENERGY_AGENT_PV_TILT_DEG": "30", "ENERGY_AGENT_PV_AZIMUTH_DEG": "90"}
    system = load_agent_settings(env_file=tmp_path / "none.env", environ=env).pv_system()
    assert (system.tilt_deg, system.azimuth_deg) == (30.0, 90.0)
    assert load_agent_settings(environ={"ENERGY_DATA_DIR": str(tmp_path)}).pv_system() is None
    with pytest.raises(ValueError, match="ENERGY_AGENT_PV_TILT_DEG"):
        load_agent_settings(environ=env | {"ENERGY_AGENT_PV_TILT_DEG": "95"})


def test_with_pv_yesterdays_metered_import_plus_its_self_used_pv_is_the_load(settings):
    """A PV home's meter sees the grid: yesterday's import plus the PV it used itself (the
    modelled output less the metered export) is the load the plan forecasts."""
    from agent_fakes import SITE, price_record

    from energylib.agent.actuator import DryRunActuator
    from energylib.agent.decide import DAY_US, Decider
    from energylib.ingest.amber import read_amber_usage

    s = settings.replace(policy="forecast", pv_kw=6.6)
    store = SqliteStore(s.live_db)
    seed_history(store, START, days=1)
    exported = []
    for k in range(48):  # 0.5 kWh exported every half-hour of yesterday (Amber: negative)
        u = price_record(START - timedelta(days=1, minutes=-30 * k), "Usage", "feedIn", 30)
        u.update({"channelIdentifier": "B1", "kwh": -0.5, "cost": -2.0, "quality": "billable"})
        exported.append(u)
    for data, meta in read_amber_usage(exported, site=SITE):
        store.upsert(data, meta, nullable=tuple((meta.extra or {}).get("nullable", ())))
    decider = Decider(s, store, DryRunActuator(s.battery))
    st = decider.build_state(START)
    metered = Decider(s.replace(pv_kw=0.0), store, DryRunActuator(s.battery)).build_state(START)
    pv_yesterday = decider._pv_on(st.grid_us - DAY_US)[0]
    assert pv_yesterday.max() > 0.3  # yesterday's sunny noon, 5-min steps
    want = metered.load_kwh + np.clip(pv_yesterday - 0.5 / 6, 0.0, None)
    np.testing.assert_allclose(st.load_kwh, want, atol=1e-12)
    assert st.load_source == "yesterday's usage + its self-used PV (modelled)"
    assert metered.load_source == "yesterday's usage"


def test_a_failing_pv_model_plans_without_pv_instead_of_holding(
    settings, clock, fake_amber, monkeypatch
):
    import energylib.solar

    def broken(*args, **kwargs):
        raise RuntimeError("no turbidity table")

    monkeypatch.setattr(energylib.solar, "pv_forecast_kwh", broken)
    agent = _agent(settings, clock, fake_amber, policy="mpc", pv_kw=6.6)
    d = agent.run_once()
    assert not d.stale and not d.reason.startswith("safe hold"), d.reason
    assert d.inputs["pv_source"] == "none (PV forecast failed: RuntimeError: no turbidity table)"
    assert d.forecast["plan"]["pv_kwh"] == 0.0


def test_the_pv_forecast_loads_pvlib_but_never_numba(tmp_path):
    """An agent with PV imports pvlib on its first decision; a day of 5-min steps runs
    solar.py's kernels interpreted, so numba stays out of its memory."""
    code = """
import sys
sys.path.insert(0, "tests")
from agent_fakes import START, at_home, seed_history
from energylib.agent.actuator import DryRunActuator
from energylib.agent.config import AgentSettings
from energylib.agent.decide import Decider
from energylib.store import SqliteStore
from pathlib import Path
s = AgentSettings(state_dir=Path(sys.argv[1]), policy="forecast", site=at_home(), pv_kw=6.6)
store = SqliteStore(s.live_db)
seed_history(store, START, days=1)
before = "pvlib" in sys.modules
st = Decider(s, store, DryRunActuator(s.battery)).build_state(START)
print(before, "pvlib" in sys.modules, "numba" in sys.modules, round(float(st.pv_kwh.sum()), 3))
"""
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=os.environ,
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    before, pvlib, numba, kwh = r.stdout.split()
    assert (before, pvlib, numba) == ("False", "True", "False") and float(kwh) > 10
