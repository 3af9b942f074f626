"""The agent and kiosk on a bad day: a damaged live cache or decision log, a full disk; and
the kiosk's security headers, HEAD, no server banner; private (0600) files."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time
from datetime import timedelta

import pytest
import requests
from agent_fakes import START, make_agent, seed_history
from fastapi.testclient import TestClient

from energylib.agent.decision_log import DecisionLogUnreadable
from energylib.agent.kiosk import CSP, create_app, server_config
from energylib.agent.runner import build_agent
from energylib.cli import main
from energylib.store import SqliteStore

JUNK = os.urandom(8192)


def damaged(path, data: bytes = JUNK):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- live cache
def test_damaged_live_cache_is_moved_aside_and_a_fresh_one_started(settings, clock):
    damaged(settings.live_db)
    agent = build_agent(settings, clock=clock, collectors=[])
    aside = list(settings.state_dir.glob("live.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == JUNK  # kept for inspection
    info = agent.status()["live_cache_recovered"]
    assert info["moved_to"] == str(aside[0]) and "not a database" in info["error"]
    seed_history(agent.store, START, days=1)  # the fresh cache works
    assert agent.store.datasets()
    agent.write_status()
    health = TestClient(create_app(settings, clock=clock.now)).get("/healthz").json()
    assert any("live cache was damaged" in p and str(aside[0]) in p for p in health["problems"])
    page = TestClient(create_app(settings, clock=clock.now)).get("/").text
    assert "live data was damaged" in page
    agent.close()


def test_kiosk_over_a_damaged_live_cache_answers_503_naming_the_fix(settings, clock):
    damaged(settings.live_db)
    client = TestClient(create_app(settings, clock=clock.now), raise_server_exceptions=False)
    page = client.get("/")
    assert page.status_code == 503 and "energy agent run" in page.json()["detail"]
    health = client.get("/healthz")
    assert health.status_code == 503 and "energy agent run" in health.json()["problems"][0]


# --------------------------------------------------------------------------- decision log
def test_damaged_decision_log_is_never_replaced_and_the_agent_refuses_to_start(settings, clock):
    damaged(settings.decisions_db)
    with pytest.raises(DecisionLogUnreadable, match="PRAGMA integrity_check") as err:
        build_agent(settings, clock=clock, collectors=[])
    assert ".recover" in str(err.value)
    assert settings.decisions_db.read_bytes() == JUNK


def test_cli_refuses_to_run_over_a_damaged_decision_log_without_a_traceback(
    settings, monkeypatch, capsys
):
    damaged(settings.decisions_db)
    monkeypatch.setenv("ENERGY_AGENT_STATE_DIR", str(settings.state_dir))
    assert main(["agent", "run", "--once", "--state-dir", str(settings.state_dir)]) == 2
    err = capsys.readouterr().err
    assert "decision log" in err and "integrity_check" in err and "Traceback" not in err
    assert settings.decisions_db.read_bytes() == JUNK


# --------------------------------------------------------------------------- permissions
def test_live_cache_and_decision_log_are_private(settings, clock, fake_amber):
    agent = make_agent(settings, clock, fake_amber)
    agent.scheduler.run_until(START + timedelta(minutes=6))
    agent.write_status()
    for path in (settings.live_db, settings.decisions_db, settings.state_dir / "agent_status.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for wal in settings.state_dir.glob("*-wal"):
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600, wal
    agent.close()


# --------------------------------------------------------------------------- disk full
@pytest.fixture
def small_state_dir(settings):
    """The agent's state folder on a 3 MB tmpfs (needs root; skipped otherwise)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(settings.state_dir)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield settings.state_dir
    finally:
        subprocess.run(["umount", "-l", str(settings.state_dir)], check=False)


def fill(folder) -> object:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_status_and_healthz_say_disk_full_while_it_lasts(
    settings, clock, fake_amber, small_state_dir
):
    seed_history(SqliteStore(settings.live_db), START, days=1)
    agent = make_agent(settings, clock, fake_amber)
    agent.scheduler.run_until(START + timedelta(minutes=6))
    assert agent.write_status()
    client = TestClient(create_app(settings, clock=clock.now))
    assert client.get("/api/agent/status").json()["disk_full"] is False
    filler = fill(small_state_dir)
    assert not agent.write_status()  # the agent cannot say it: its status file is stale
    status = client.get("/api/agent/status").json()
    assert status["disk_full"] is True and status["disk_free_mb"] < 1
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and any("disk full" in p for p in health["problems"])
    assert "DISK FULL" in client.get("/").text
    filler.unlink()
    assert agent.write_status()
    assert client.get("/api/agent/status").json()["disk_full"] is False
    agent.close()


# --------------------------------------------------------------------------- kiosk headers
def test_kiosk_sends_security_headers_and_answers_head(settings, clock):
    client = TestClient(create_app(settings, clock=clock.now))
    for path in ("/", "/api/price", "/healthz", "/chart.svg"):
        got = client.get(path)
        assert got.headers["x-content-type-options"] == "nosniff", path
        assert got.headers["content-security-policy"] == CSP
        assert got.headers["referrer-policy"] == "no-referrer"
        head = client.head(path)
        assert head.status_code == got.status_code and head.content == b"", path
    refused = client.post("/api/price")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in CSP and "http" not in CSP  # nothing from outside


def test_kiosk_server_sends_no_server_banner(settings, clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import uvicorn

    config = server_config(settings, "127.0.0.1", port, app=create_app(settings, clock=clock.now))
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        got = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert "server" not in {k.lower() for k in got.headers}
        head = requests.head(f"http://127.0.0.1:{port}/", timeout=5)
        assert head.status_code == 200 and head.content == b""
    finally:
        server.should_exit = True
        thread.join(10)
