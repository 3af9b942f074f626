"""The agent on the ENTSO-E market: day-ahead prices from a local Transparency Platform server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from werkzeug import Request, Response

from energylib.agent.clock import SimulatedClock
from energylib.agent.collect import Collector, entsoe_day_ahead_fetcher
from energylib.agent.config import AgentSettings
from energylib.agent.kiosk import create_app
from energylib.agent.runner import build_agent
from energylib.site import AMSTERDAM
from energylib.store import SqliteStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "entsoe"
DOC = FIXTURES / "A44_NL_2025-11-05_PT15M_A03.xml"
ACK = FIXTURES / "acknowledgement_no_data.xml"


def test_agent_decides_on_entsoe_day_ahead_prices_in_eur(httpserver, tmp_path):
    seen = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        if request.args.get("securityToken") != "test-token":
            return Response("Unauthorized", status=401)
        if request.args.get("offset", "0") != "0":
            return Response(ACK.read_bytes(), content_type="text/xml")
        return Response(DOC.read_bytes(), content_type="text/xml")

    httpserver.expect_request("/api").respond_with_handler(handler)
    clock = SimulatedClock(datetime(2025, 11, 5, 9, 0, tzinfo=UTC))
    settings = AgentSettings(
        state_dir=tmp_path / "agent",
        market="entsoe",
        site=dataclasses.replace(AMSTERDAM, name="NL"),
        policy="forecast",
    )
    store = SqliteStore(settings.live_db)
    fetch = entsoe_day_ahead_fetcher(
        "NL", api_key="test-token", base_url=httpserver.url_for("/api")
    )
    agent = build_agent(settings, clock=clock, collectors=[Collector("day_ahead", fetch, store)])
    agent.scheduler.run_until(clock.now() + timedelta(minutes=30))
    d = agent.last_decision
    assert seen and seen[0]["documentType"] == "A44"
    # the first fetch reaches back 8 days, for the forecaster's week-old price lag
    first = datetime.strptime(seen[0]["periodStart"], "%Y%m%d%H%M").replace(tzinfo=UTC)
    assert datetime(2025, 11, 5, tzinfo=UTC) - first >= timedelta(days=8)
    assert not d.stale and d.action in ("charge", "discharge", "hold")
    assert d.inputs["price_steps"]["market"] > 0  # the day-ahead prices fed the policy
    assert 0 < d.price_per_kwh < 1  # EUR/kWh, converted from EUR/MWh at ingestion
    price = TestClient(create_app(settings, clock=clock.now)).get("/api/price").json()
    assert price["currency"] == "EUR" and price["unit"] == "EUR/kWh"
    # the kiosk shows the day-ahead price; the decision prices it as a study bills it
    spot = d.inputs["price_now_per_kwh"]
    assert price["price_per_kwh"] == spot
    assert d.inputs["tariff"] == "eu_dynamic"
    assert d.price_per_kwh == pytest.approx((spot + 0.02 + 0.10154) * 1.21)
    assert d.inputs["export_credit_now_per_kwh"] == pytest.approx(spot - 0.01)
    assert price["state"] in ("cheap", "normal", "expensive")
