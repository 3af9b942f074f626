"""The kiosk app: JSON endpoints, price band, staleness, totals, metrics, read-only, localhost."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from agent_fakes import SITE, START, at_home, make_agent, seed_history
from fastapi.testclient import TestClient

from energylib.agent.kiosk import create_app
from energylib.cli import build_parser
from energylib.schema import FrameMeta
from energylib.store import SqliteStore


@pytest.fixture
def running(settings, clock, fake_amber):
    seed_history(SqliteStore(settings.live_db), START, days=1)
    agent = make_agent(settings, clock, fake_amber)
    agent.scheduler.run_until(START + timedelta(minutes=20))
    agent.write_status()
    return agent, TestClient(create_app(settings, clock=clock.now))


def test_price_endpoint_shows_price_state_and_next_hours(running, clock):
    _, client = running
    p = client.get("/api/price").json()
    assert p["currency"] == "AUD" and p["unit"] == "c/kWh"
    assert p["display"] == f"{p['price_per_kwh'] * 100:.1f}"
    assert p["state"] in ("cheap", "normal", "expensive") and p["state_from"].startswith(
        "descriptor"
    )
    assert not p["stale"]
    assert len(p["next"]) >= 40  # Amber's forecast intervals
    assert p["last_updated"] is not None


@pytest.mark.parametrize("price, band", [(0.05, "cheap"), (0.25, "normal"), (0.60, "expensive")])
def test_state_from_percentiles_where_there_is_no_descriptor(settings, price, band):
    import polars as pl

    from energylib.agent.collect import Collector

    now = datetime(2025, 2, 1, 12, tzinfo=UTC)
    store = SqliteStore(settings.live_db)
    times = [now - timedelta(hours=47, minutes=45) + timedelta(minutes=15 * i) for i in range(192)]
    past = [0.10 + 0.30 * (i % 96) / 95 for i in range(191)] + [price]
    data = pl.DataFrame({"interval_start": times, "spot_per_kwh": past}).with_columns(
        pl.col("interval_start").dt.cast_time_unit("us")
    )
    s = settings.replace(market="entsoe", site=at_home("NL"))
    meta = FrameMeta("entsoe", "prices", 15, "NL", "day_ahead", "EUR", "Europe/Amsterdam")
    Collector("day_ahead", lambda t: [(data, meta)], store).run(now)
    p = TestClient(create_app(s, clock=lambda: now + timedelta(minutes=1))).get("/api/price").json()
    assert p["descriptor"] is None and p["state"] == band
    assert p["state_from"].startswith("percentiles")
    assert p["unit"] == "EUR/kWh" and p["display"] == f"{price:.3f}"


def test_last_updated_turns_into_a_stale_warning(running, clock, settings):
    agent, client = running
    later = clock.now() + timedelta(minutes=settings.stale_after_min + 5)
    stale = TestClient(create_app(settings, clock=lambda: later))
    p = stale.get("/api/price").json()
    assert p["stale"] and p["data_age_s"] > settings.stale_after_min * 60
    page = stale.get("/").text
    assert 'class="stale"' in page and "STALE" in page
    assert 'class="fresh"' in client.get("/").text


def test_cost_and_totals(running, clock):
    _, client = running
    c = client.get("/api/cost").json()
    assert c["usage_kw"] > 0 and c["cost_per_hour"] == pytest.approx(
        c["usage_kw"] * c["price_per_kwh"]
    )
    t = client.get("/api/totals").json()
    assert t["today"]["kwh"] > 0 and t["month"]["kwh"] >= t["today"]["kwh"]
    assert t["month"]["cost"] >= t["today"]["cost"] > 0


def test_agent_status_and_decision(running):
    agent, client = running
    s = client.get("/api/agent/status").json()
    assert s["running"] and s["decisions_made"] == 20 and s["actuator"] == "dry-run"
    d = client.get("/api/agent/decision").json()
    assert d["decided_at"] == agent.last_decision.decided_at.isoformat()
    assert d["action"] in ("charge", "discharge", "hold")
    assert client.get("/healthz").json()["status"] == "ok"


def test_metrics_expose_decisions_latency_fetch_errors_and_data_age(running):
    _, client = running
    text = client.get("/metrics").text
    for name in (
        "energy_agent_decisions_total",
        "energy_agent_decision_latency_ms",
        "energy_agent_fetch_errors_total",
        "energy_agent_data_age_seconds",
        "energy_price_per_kwh",
    ):
        assert name in text
    total = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("energy_agent_decisions_total{")
    )
    assert total == 20


def test_page_is_self_contained_no_external_resources(running):
    _, client = running
    page = client.get("/").text
    assert "<svg" in page and 'id="price"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page and "src=" not in page


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_read_only_every_non_get_is_refused_and_changes_nothing(running, settings, method):
    _, client = running
    before = [
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (settings.live_db, settings.decisions_db)
    ]
    for path in ("/", "/api/price", "/api/agent/decision", "/metrics", "/api/anything"):
        r = getattr(client, method)(path)
        assert r.status_code == 405
    after = [
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (settings.live_db, settings.decisions_db)
    ]
    assert before == after


def test_kiosk_binds_localhost_unless_told_otherwise(settings):
    assert settings.kiosk_host == "127.0.0.1"
    args = build_parser().parse_args(["agent", "kiosk"])
    assert args.host is None  # -> settings.kiosk_host
    args = build_parser().parse_args(["agent", "kiosk", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.host, args.port) == ("0.0.0.0", 9000)


def test_decision_endpoint_404_before_any_decision(settings):
    client = TestClient(create_app(settings.replace(site=at_home(SITE))))
    assert client.get("/api/agent/decision").status_code == 404
    assert client.get("/api/agent/status").json()["running"] is False
