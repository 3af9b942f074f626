"""pi_agent/monitoring: every Grafana query names a metric the kiosk's /metrics serves, and
the Prometheus scrape config points at it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from agent_fakes import START, make_agent, seed_history
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from energylib.agent.kiosk import create_app
from energylib.store import SqliteStore

MONITORING = Path(__file__).resolve().parents[2] / "pi_agent" / "monitoring"
# PromQL words that are not metric names
PROMQL = {"sum", "by", "without", "increase", "rate", "irate", "avg", "max", "min", "count",
          "histogram_quantile", "on", "ignoring", "group_left", "group_right", "offset"}  # fmt: skip


@pytest.fixture
def served(settings, clock, fake_amber) -> set[str]:
    """Sample names of a live agent's /metrics (after a few decisions and a failed fetch)."""
    seed_history(SqliteStore(settings.live_db), START, days=1)
    agent = make_agent(settings, clock, fake_amber)
    agent.scheduler.run_until(START + timedelta(minutes=5))
    agent.write_status()
    client = TestClient(create_app(settings, clock=clock.now))
    text = client.get("/metrics").text
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def _queries() -> list[str]:
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_every_dashboard_query_names_a_served_metric(served):
    queries = _queries()
    assert len(queries) >= 10
    names = set()
    for q in queries:
        bare = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', "", q)  # labels, strings, ranges
        found = {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare) if w not in PROMQL}
        found -= {"action", "collector", "quantile"}  # label names in by (...)
        assert found, q
        names |= found
    missing = sorted(names - served)
    assert not missing, f"dashboard queries name metrics /metrics does not serve: {missing}"
    # and the dashboard shows every family the agent exports
    families = {n.removesuffix("_total") for n in served}
    shown = {n.removesuffix("_total") for n in names}
    assert families <= shown, f"not on the dashboard: {sorted(families - shown)}"


def test_prometheus_scrapes_the_kiosk_s_metrics_path():
    cfg = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = cfg["scrape_configs"]
    assert job["job_name"] == "energy-agent" and job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8080"]  # the kiosk's default bind
    assert all('job="energy-agent"' in q for q in _queries())
