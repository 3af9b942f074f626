"""Secrets are never logged; the CLI and ``python -m pi_agent`` run the agent end to end."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from agent_fakes import SITE, START, TOKEN, make_agent

from energylib.agent.config import AgentSettings, load_agent_settings

ROOT = Path(__file__).resolve().parents[2]


def test_token_never_appears_in_logs_status_or_decisions(
    settings, clock, fake_amber, caplog, capsys
):
    with caplog.at_level(logging.DEBUG):
        agent = make_agent(settings, clock, fake_amber)
        agent.scheduler.run_until(START + timedelta(minutes=20))
        for mode in ("503", "429", "malformed_json", "missing_field"):
            fake_amber.mode = mode
            agent.collectors[0].state.next_attempt = None
            agent.scheduler.run_until(clock.now() + timedelta(minutes=6))
        agent.write_status()
        agent.close()
    assert fake_amber.auth_ok  # the token was sent: the test would see it if it leaked
    assert agent.collectors[0].state.fetch_errors_total >= 4
    out = capsys.readouterr()
    haystacks = {
        "log records": caplog.text,
        "stdout/stderr": out.out + out.err,
        "status file": (settings.state_dir / "agent_status.json").read_text(),
        "decision log": settings.decisions_db.read_bytes().decode("latin-1"),
        "live cache": settings.live_db.read_bytes().decode("latin-1"),
        "settings repr": repr(load_agent_settings(environ={"AMBER_TOKEN": TOKEN})),
    }
    for where, text in haystacks.items():
        assert TOKEN not in text, f"the Amber token leaked into the {where}"
        assert TOKEN[:12] not in text, f"part of the Amber token leaked into the {where}"


def test_energy_agent_run_once_end_to_end(tmp_path, fake_amber):
    env = os.environ | {
        "AMBER_TOKEN": TOKEN,
        "AMBER_SITE_ID": SITE,
        "AMBER_BASE_URL": fake_amber.base_url,
        "ENERGY_AGENT_STATE_DIR": str(tmp_path / "state"),
        "ENERGY_AGENT_LATITUDE": "-33.87",
        "ENERGY_AGENT_WEATHER_URL": fake_amber.base_url,  # Open-Meteo's shape, on loopback
    }
    # The fake answers for the real time here (the CLI runs on the system clock).
    from energylib.agent.clock import SystemClock

    fake_amber.clock = SystemClock()
    r = subprocess.run(
        [sys.executable, "-m", "pi_agent", "run", "--once", "-v"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    decision = json.loads(r.stdout)
    assert decision["action"] in ("charge", "discharge", "hold") and not decision["stale"]
    assert TOKEN not in r.stdout + r.stderr
    r2 = subprocess.run(
        [sys.executable, "-m", "energylib.cli", "agent", "decisions", "-n", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r2.returncode == 0 and json.loads(r2.stdout)["decided_at"] == decision["decided_at"]
    r3 = subprocess.run(
        [sys.executable, "-m", "energylib.cli", "agent", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status = json.loads(r3.stdout)
    assert status["collectors"]["prices"]["successes_total"] == 1
    assert TOKEN not in r3.stdout


def test_check_model_refuses_a_corrupt_file(model_files):
    ok = subprocess.run(
        [sys.executable, "-m", "energylib.cli", "agent", "check-model", str(model_files["a"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["feature_spec"] == "TPWT_tiny"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "energylib.cli",
            "agent",
            "check-model",
            str(model_files["corrupt"]),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "refused" in bad.stderr


def test_agent_settings_from_environment_and_dotenv(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ENERGY_AGENT_STALE_AFTER_MIN=12\nENERGY_AGENT_POLICY=price_threshold\n")
    s = load_agent_settings(
        env_file=env_file,
        environ={
            "ENERGY_AGENT_STALE_AFTER_MIN": "20",
            "ENERGY_AGENT_STATE_DIR": str(tmp_path / "st"),
        },
    )
    assert s.stale_after_min == 20.0  # the environment wins over .env
    assert s.policy == "price_threshold"
    assert s.live_db == tmp_path / "st" / "live.sqlite"
    assert s.kiosk_host == "127.0.0.1"


def test_entsoe_site_defaults_to_the_entsoe_zone_for_collector_and_decider(tmp_path):
    from energylib.agent.decide import Market

    env = {"ENERGY_AGENT_MARKET": "entsoe", "ENTSOE_ZONE": "DE_LU", "AMBER_SITE_ID": SITE}
    s = load_agent_settings(env_file=tmp_path / "none.env", environ=env)
    assert s.site.name == s.entsoe_zone == "DE_LU"  # not the Amber site id
    assert Market.from_settings(s).site == "DE_LU"  # where the day-ahead collector stores it
    amber = load_agent_settings(env_file=tmp_path / "none.env", environ={"AMBER_SITE_ID": SITE})
    assert amber.site.name == SITE
    assert AgentSettings(market="entsoe").entsoe_zone == "NL"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ENERGY_AGENT_STALE_AFTER_MIN": "soon"}, "is not a number"),
        ({"ENERGY_AGENT_POLICY": "yolo"}, "ENERGY_AGENT_POLICY"),
        ({"ENERGY_AGENT_MARKET": "nordpool"}, "ENERGY_AGENT_MARKET"),
    ],
)
def test_bad_agent_settings_say_what_to_fix(tmp_path, env, message):
    with pytest.raises(ValueError, match=message):
        load_agent_settings(env_file=tmp_path / "none.env", environ=env)
    assert AgentSettings().stale_after_min == 30.0


def test_documented_site_and_asset_variables_become_a_site_a_battery_and_an_ev(tmp_path):
    env = {
        "ENERGY_AGENT_SITE": "home",
        "ENERGY_AGENT_TIMEZONE": "Australia/Brisbane",
        "ENERGY_AGENT_LATITUDE": "-27.47",
        "ENERGY_AGENT_LONGITUDE": "153.03",
        "ENERGY_AGENT_BATTERY_KWH": "10",
        "ENERGY_AGENT_BATTERY_KW": "4.5",
        "ENERGY_AGENT_EV_CHARGER_KW": "7",
    }
    s = load_agent_settings(env_file=tmp_path / "none.env", environ=env)
    assert (s.site.name, s.site.timezone, s.site.latitude, s.site.longitude) == (
        "home",
        "Australia/Brisbane",
        -27.47,
        153.03,
    )
    assert (s.battery.capacity_kwh, s.battery.charge_kw, s.battery.discharge_kw) == (10, 4.5, 4.5)
    assert s.ev is not None and s.ev.charger_kw == 7.0
    bare = load_agent_settings(
        env_file=tmp_path / "none.env", environ={"ENERGY_AGENT_BATTERY_KWH": "0"}
    )
    assert bare.battery is None and bare.ev is None
    with pytest.raises(ValueError, match="ENERGY_AGENT_LATITUDE"):
        load_agent_settings(
            env_file=tmp_path / "none.env", environ={"ENERGY_AGENT_LATITUDE": "-123"}
        )
    with pytest.raises(ValueError, match="ENERGY_AGENT_BATTERY_KW"):
        load_agent_settings(
            env_file=tmp_path / "none.env", environ={"ENERGY_AGENT_BATTERY_KW": "-1"}
        )
