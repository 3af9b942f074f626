"""The agent and the central Postgres: its decision log copied with the store sync's
durability rules, and new models delivered from the central store (download, validate,
swap, roll back on failure).  A real local Postgres; a simulated clock."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from agent_fakes import START, make_agent, seed_history
from fastapi.testclient import TestClient
from postgres_fixture import pg_url, postgres_server  # noqa: F401
from postgrest_fake import FakePostgrest

from energylib.agent.decision_copy import RestDecisionSync
from energylib.agent.decision_log import read_decisions
from energylib.agent.decision_sync import DecisionSync, table_ddl
from energylib.agent.kiosk import create_app
from energylib.agent.model_delivery import ModelDelivery, publish_model
from energylib.agent.models import ModelWatcher
from energylib.cli import main
from energylib.forecast.export import load_model
from energylib.store import SqliteStore
from energylib.store.influx_sync import schema_sql
from energylib.store.postgres import PostgresSyncError

pytestmark = pytest.mark.postgres


def _pg_decisions(url: str) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute(
            "SELECT decided_at, action, battery_kw, model_version, inputs FROM "
            "energylib.agent_decisions ORDER BY decided_at"
        ).fetchall()


@pytest.fixture
def agent_with_history(settings, clock, fake_amber):
    seed_history(SqliteStore(settings.live_db), START, days=2)
    settings.models_path.mkdir(parents=True, exist_ok=True)
    return settings


def test_the_decision_log_reaches_postgres_and_catches_up_after_an_outage(
    agent_with_history,
    clock,
    fake_amber,
    postgres_server,  # noqa: F811
):
    url = postgres_server.url(postgres_server.create_database())
    settings = agent_with_history.replace(cloud_sync_every_s=300.0)
    agent = make_agent(settings, clock, fake_amber, central_url=url)
    agent.scheduler.run_until(START + timedelta(minutes=11))
    local = read_decisions(settings.decisions_db)
    assert len(local) == 11
    copied = _pg_decisions(url)
    assert len(copied) == 11  # the 10:10 run copied every decision up to then
    assert [r[0].isoformat() for r in copied] == [d["decided_at"] for d in local]
    assert copied[3][4] == local[3]["inputs"] and copied[3][2] == local[3]["battery_kw"]
    postgres_server.stop()
    try:
        agent.scheduler.run_until(START + timedelta(minutes=21))
        status = agent.status()["cloud_sync"]
        assert status["last_error"] and "not-checked" not in json.dumps(agent.status())
        assert status["pending"] == 10 and len(read_decisions(settings.decisions_db)) == 21
        agent.write_status()
        metrics = TestClient(create_app(settings, clock=clock.now)).get("/metrics").text
        assert "energy_agent_cloud_sync_pending 10.0" in metrics
        assert "energy_agent_cloud_sync_failing 1.0" in metrics
    finally:
        postgres_server.start()
    agent.scheduler.run_until(START + timedelta(minutes=26))
    assert len(_pg_decisions(url)) == 26 and agent.status()["cloud_sync"]["pending"] == 0
    # a second copier over the same log changes nothing (the server's watermark says so)
    assert DecisionSync(settings.decisions_db, url, settings.site.name).sync() == 0


def test_with_only_supabase_url_and_key_the_agent_copies_over_rest(
    agent_with_history,
    clock,
    fake_amber,
    pg_url,  # noqa: F811
    monkeypatch,
):
    with psycopg.connect(pg_url, autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_roles WHERE rolname = 'service_role'").fetchone():
            con.execute("CREATE ROLE service_role")
        con.execute(schema_sql(extra=table_ddl()))
    fake = FakePostgrest(pg_url, "agent-key").start()
    try:
        monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
        monkeypatch.setenv("SUPABASE_URL", fake.url)
        monkeypatch.setenv("SUPABASE_KEY", "agent-key")
        settings = agent_with_history.replace(cloud_sync_every_s=300.0)
        agent = make_agent(settings, clock, fake_amber)
        assert isinstance(agent.cloud, RestDecisionSync) and agent.delivery is None
        agent.scheduler.run_until(START + timedelta(minutes=11))
        local = read_decisions(settings.decisions_db)
        copied = _pg_decisions(pg_url)
        assert len(copied) == len(local) == 11
        assert [r[0].isoformat() for r in copied] == [d["decided_at"] for d in local]
        assert copied[3][4] == local[3]["inputs"]
        status = agent.status()["cloud_sync"]
        assert status["watermark"] == 11 and status["pending"] == 0
        assert "agent-key" not in json.dumps(agent.status())
    finally:
        fake.stop()


def test_a_copy_cut_off_by_a_crash_keeps_its_watermark_with_its_rows(
    agent_with_history,
    clock,
    fake_amber,
    postgres_server,  # noqa: F811
):
    url = postgres_server.url(postgres_server.create_database())
    agent = make_agent(agent_with_history, clock, fake_amber)
    agent.scheduler.run_until(START + timedelta(minutes=12))
    sync = DecisionSync(agent_with_history.decisions_db, url, "site", batch_rows=4)
    real = sync._local_rows
    calls = []

    def crash_after_two_batches(after):
        calls.append(after)
        if len(calls) == 3:  # two batches committed: the server dies at once
            postgres_server._ctl("stop", "-m", "immediate")
        return real(after)

    sync._local_rows = crash_after_two_batches
    try:
        with pytest.raises(PostgresSyncError, match="8 decision\\(s\\) copied"):
            sync.sync()
    finally:
        postgres_server.start()
    with psycopg.connect(url) as con:
        (last,) = con.execute("SELECT last_id FROM energylib.agent_decision_sync").fetchone()
        ids = [r[0] for r in con.execute("SELECT local_id FROM energylib.agent_decisions")]
    assert last == 8 and sorted(ids) == list(range(1, 9))  # the watermark never ahead of rows
    assert DecisionSync(agent_with_history.decisions_db, url, "site").sync() == 4


class _FailingRunner:
    """A model that validates but fails in use (e.g. weights that blow up on live data)."""

    def __init__(self, runner):
        self._runner = runner

    def __getattr__(self, name):
        return getattr(self._runner, name)

    def predict_array(self, window):
        raise FloatingPointError("non-finite forecast")


def _load(path):
    runner = load_model(path)
    return _FailingRunner(runner) if "model_b" in path.name else runner


def test_new_models_are_delivered_validated_swapped_and_rolled_back(
    agent_with_history,
    clock,
    fake_amber,
    model_files,
    pg_url,  # noqa: F811
):
    settings = agent_with_history.replace(model_poll_every_s=300.0)
    watcher = ModelWatcher(settings.models_path, load=_load)
    agent = make_agent(settings, clock, fake_amber, central_url=pg_url, models=watcher)
    assert main(["agent", "publish-model", str(model_files["a"]), "--to", pg_url]) == 0
    agent.scheduler.run_until(START + timedelta(minutes=3))
    assert agent.models.version.startswith("model_a.v1.onnx@")
    assert agent.last_decision.model_version.startswith("model_a.v1.onnx@")

    assert publish_model(model_files["b"], pg_url) == 2  # validates, fails in use
    agent.scheduler.run_until(START + timedelta(minutes=12))
    decisions = read_decisions(settings.decisions_db)
    versions = [d["model_version"] for d in decisions]
    assert any("model_b.v2" in v and v.startswith("none") for v in versions)
    assert agent.models.version.startswith("model_a.v1.onnx@")  # rolled back
    assert versions[-1].startswith("model_a.v1.onnx@")
    status = agent.status()["model_delivery"]
    assert "2" in status["refused"] and status["installed"]["version"] == 1
    assert (settings.models_path / "rejected" / "model_b.v2.onnx").exists()
    # one minute of decisions each, none missed across the swaps
    assert [d["decided_at"] for d in decisions] == sorted({d["decided_at"] for d in decisions})

    assert publish_model(model_files["corrupt"], pg_url) == 3  # refused at validation
    agent.scheduler.run_until(START + timedelta(minutes=17))
    assert agent.models.version.startswith("model_a.v1.onnx@")
    assert "3" in agent.status()["model_delivery"]["refused"]
    # a restart remembers what it installed and refused: nothing downloaded again
    again = ModelDelivery(pg_url, ModelWatcher(settings.models_path))
    assert again.poll() is False and again.status()["installed"]["version"] == 1


def test_an_unreachable_central_store_is_an_error_in_the_status_not_a_crash(
    agent_with_history, clock, fake_amber
):
    url = "postgresql://agent:Hunter2Secret@127.0.0.1:1/central"
    agent = make_agent(agent_with_history, clock, fake_amber, central_url=url)
    agent.scheduler.run_until(START + timedelta(minutes=6))
    assert len(read_decisions(agent_with_history.decisions_db)) == 6
    status = json.dumps(agent.status())
    assert "cannot connect" in agent.status()["model_delivery"]["last_error"]
    assert "Hunter2Secret" not in status
