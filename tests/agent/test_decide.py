"""Decisions: through the dispatch policy code, never on stale data, across clock jumps."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from agent_fakes import START, make_agent, price_c_per_kwh, seed_history

from energylib.agent.actuator import DeviceState, DryRunActuator
from energylib.agent.decision_log import read_decisions
from energylib.dispatch.assets import EV, Battery
from energylib.store import SqliteStore

THRESHOLDS = dict(policy="price_threshold", charge_below_per_kwh=0.12, discharge_above_per_kwh=0.35)


def _agent(settings, clock, fake, **changes):
    s = settings.replace(**changes)
    seed_history(SqliteStore(s.live_db), START, days=1)
    return make_agent(s, clock, fake)


def test_cheap_price_charges_at_the_battery_limit_through_the_threshold_policy(
    settings, clock, fake_amber
):
    # 02:00 UTC is around Sydney's solar noon: the fake's cheapest prices (~8 c/kWh).
    clock.set(START + timedelta(hours=2))
    agent = _agent(settings, clock, fake_amber, **THRESHOLDS)
    d = agent.run_once()
    assert price_c_per_kwh(clock.now()) < 12
    assert d.action == "charge" and d.battery_kw == pytest.approx(settings.battery.charge_kw)
    assert "charge threshold" in d.reason and not d.stale


def test_dear_price_discharges_to_meet_the_load(settings, clock, fake_amber):
    clock.set(START + timedelta(hours=7, minutes=30))  # 18:30 in Sydney: the evening peak
    agent = _agent(settings, clock, fake_amber, **THRESHOLDS)
    d = agent.run_once()
    assert d.price_per_kwh > 0.35
    assert d.action == "discharge" and d.battery_kw < 0
    assert abs(d.battery_kw) <= settings.battery.discharge_kw + 1e-9


def test_forecast_policy_charges_in_the_cheapest_hours_only(settings, clock, fake_amber):
    agent = _agent(settings, clock, fake_amber, policy="forecast")
    agent.actuator.soc_fraction = 0.1  # empty: there is energy to shift
    seen = []
    for hour in range(0, 24, 1):
        clock.set(START + timedelta(hours=hour))
        fake_amber.clock = clock
        agent.collectors[0].run(clock.now())
        seen.append((price_c_per_kwh(clock.now()), agent.decider.decide(clock.now()).action))
    charging = [p for p, a in seen if a == "charge"]
    others = [p for p, a in seen if a != "charge"]
    assert charging, "the forecast policy never charged"
    assert max(charging) < np.median(others)


def test_stale_data_gives_a_safe_hold_with_the_reason(settings, clock, fake_amber):
    agent = _agent(settings, clock, fake_amber, stale_after_min=10)
    agent.run_once()
    fake_amber.mode = "503"
    agent.scheduler.run_until(START + timedelta(minutes=30))
    d = agent.last_decision
    assert d.stale and d.action == "hold" and d.battery_kw == 0.0 and d.ev_kw == 0.0
    assert d.reason.startswith("safe hold: price data is") and "limit 10 min" in d.reason
    assert agent.actuator._set_kw == 0.0  # the hold reached the actuator


def test_a_failed_state_build_is_a_safe_hold_that_reaches_the_actuator(
    settings, clock, fake_amber, monkeypatch
):
    agent = _agent(settings, clock, fake_amber)
    agent.actuator.apply(clock.now(), "charge", 5.0, 0.0, "an earlier set-point")

    def broken(*args, **kwargs):
        raise OSError("disk I/O error")

    monkeypatch.setattr(agent.store, "read", broken)
    d = agent.decider.decide(clock.now())
    assert d.action == "hold" and d.battery_kw == 0.0 and d.ev_kw == 0.0
    assert d.reason == "safe hold: state build failed: OSError: disk I/O error"
    assert agent.actuator._set_kw == 0.0  # the earlier charge set-point is not left running


def test_no_price_for_the_current_interval_is_a_safe_hold(settings, clock, fake_amber):
    agent = make_agent(settings, clock, fake_amber)  # empty cache
    fake_amber.mode = "500"
    d = agent.run_once()
    assert d.stale and d.action == "hold"
    assert "no market price for the current interval" in d.reason


def test_clock_jumps_do_not_stop_or_duplicate_decisions(settings, clock, fake_amber):
    agent = _agent(settings, clock, fake_amber)
    agent.scheduler.run_until(START + timedelta(minutes=10))
    clock.jump(-3600)  # NTP steps back an hour
    agent.scheduler.run_until(clock.now() + timedelta(minutes=5))
    clock.jump(3 * 3600)  # and forwards three
    agent.scheduler.run_until(clock.now() + timedelta(minutes=5))
    decided = [d["decided_at"] for d in read_decisions(agent.settings.decisions_db)]
    assert len(decided) == len(set(decided))
    assert agent.decisions_made >= 10 + 5 + 5
    assert agent.scheduler.clock_jumps == 1
    assert agent.scheduler.job("decide").missed >= 170
    assert not agent.last_decision.stale  # it fetched fresh prices after the jump


def test_dry_run_actuator_keeps_its_virtual_battery_in_the_window():
    b = Battery(capacity_kwh=10, charge_kw=5, discharge_kw=5, soc_min_fraction=0.1)
    act = DryRunActuator(b, soc_fraction=0.5)
    t = START
    act.read_state(t)
    act.apply(t, "charge", 5.0, 0.0, "test")
    for _ in range(120):
        t += timedelta(minutes=1)
        act.read_state(t)
    assert act.read_state(t) == DeviceState(battery_soc_fraction=1.0)
    act.apply(t, "discharge", -5.0, 0.0, "test")
    for _ in range(240):
        t += timedelta(minutes=1)
        act.read_state(t)
    assert act.soc_fraction == pytest.approx(0.1)


def test_plugged_in_ev_gets_a_charge_rate_within_the_charger_limit(settings, clock, fake_amber):
    from agent_fakes import amber_collectors

    from energylib.agent.runner import build_agent
    from energylib.store import SqliteStore as _Store

    s = settings.replace(ev=EV(charger_kw=7.0), policy="forecast")
    store = _Store(s.live_db)
    seed_history(store, START, days=1)
    rates = []
    # Monday 07:00 local (just before the 08:00 departure: the cheapest night intervals of the
    # fake) and 19:00 local (the evening peak); the car is at home at both.
    for hour in (20, 8):
        clock.set(START + timedelta(hours=hour))
        act = DryRunActuator(Battery(), soc_fraction=0.5, ev_plugged_in=True)
        agent = build_agent(
            s, clock=clock, collectors=amber_collectors(s, store, fake_amber), actuator=act
        )
        d = agent.run_once()
        assert 0.0 <= d.ev_kw <= 7.0 + 1e-9
        assert "EV" in d.reason and d.inputs["ev_plugged_in"] is True
        rates.append(d.ev_kw)
    # The cheapest-slots strategy charges in the cheap hour, not at the peak.
    assert rates[0] > 0.0 == rates[1]
