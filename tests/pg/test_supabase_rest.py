"""Cloud sync to Supabase over its REST API (PostgREST), as the gateway documents it
(SUPABASE_URL, SUPABASE_KEY): a real influxd, and a local server answering as PostgREST
does over the real Postgres of the tests."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from energylib.agent.decision_copy import RestDecisionSync
from energylib.agent.decision_sync import DecisionSync, table_ddl
from energylib.cli import main
from energylib.ingest.http import RetryPolicy
from energylib.store.influx_sync import (
    STATE_TABLE,
    schema_sql,
    sync_influx_to_postgres,
    sync_influx_to_supabase,
    target_name,
)
from energylib.store.postgres import PostgresStore
from energylib.store.supabase import SupabaseError, SupabaseRest

from .test_influx_sync import END, _fill

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dashboard_data import write_month  # noqa: E402
from postgrest_fake import FakePostgrest  # noqa: E402

pytestmark = pytest.mark.postgres

KEY = "sb-service-role-key-do-not-log"
KINDS = ("load", "pv", "weather", "battery", "grid", "prices", "carbon")


def _with_schema(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_roles WHERE rolname = 'service_role'").fetchone()
        if not exists:
            con.execute("CREATE ROLE service_role")
        con.execute(schema_sql(extra=table_ddl()))
    return pg_url


@pytest.fixture
def supabase(pg_url):
    fake = FakePostgrest(_with_schema(pg_url), KEY).start()
    yield fake
    fake.stop()


def _rest(fake: FakePostgrest, key: str = KEY, retries: int = 2) -> SupabaseRest:
    policy = RetryPolicy(
        max_retries=retries, backoff_base_s=0.0, jitter_s=0.0, sleep=lambda s: None
    )
    return SupabaseRest(fake.url, key, policy=policy)


def _tables(url: str) -> dict[str, list]:
    with psycopg.connect(url) as con:
        return {
            kind: con.execute(
                f'SELECT * FROM energylib."{kind}" ORDER BY site, channel, interval_start'
            ).fetchall()
            for kind in KINDS
        }


def _watermark(url: str, target: str):
    with psycopg.connect(url) as con:
        return con.execute(
            f"SELECT synced_until, readings, last_error FROM energylib.{STATE_TABLE} "
            "WHERE target = %s",
            (target,),
        ).fetchone()


def test_rest_sync_writes_what_the_direct_postgres_sync_writes(influxd, supabase, postgres_server):
    w, points = _fill(influxd)
    until = datetime.fromisoformat(END)
    report = sync_influx_to_supabase(
        w, _rest(supabase), batch_intervals=12, until=until, progress=False
    )
    assert report.windows == 6 and report.readings == len(points) == 360
    # documented requests: both key headers, an upsert on the table's key, the schema
    posts = [r for r in supabase.requests if r.method == "POST"]
    assert {r.table for r in posts} == {*KINDS, STATE_TABLE}
    for r in posts:
        assert r.headers["apikey"] == KEY and r.headers["Authorization"] == f"Bearer {KEY}"
        assert "resolution=merge-duplicates" in r.headers["Prefer"]
        assert r.headers["Content-Profile"] == "energylib"
    load_posts = [r for r in posts if r.table == "load"]
    assert [r.rows for r in load_posts] == [12] * 6
    assert (
        load_posts[0].params["on_conflict"] == "source,site,channel,interval_minutes,interval_start"
    )
    # the same rows as the direct path writes into another database
    direct = postgres_server.url(postgres_server.create_database())
    sync_influx_to_postgres(w, direct, batch_intervals=12, until=until, progress=False)
    rest_rows, pg_rows = _tables(supabase.pg_url), _tables(direct)
    assert rest_rows == pg_rows and len(rest_rows["load"]) == 72
    assert _watermark(supabase.pg_url, target_name(w))[:2] == (until, 360)
    # re-run: resumes at the watermark, nothing to send; a forced re-send changes nothing
    again = sync_influx_to_supabase(w, _rest(supabase), until=until, progress=False)
    assert again.windows == 0 and again.synced_until == until
    sync_influx_to_supabase(
        w,
        _rest(supabase),
        batch_intervals=36,
        since=datetime.fromisoformat("2025-01-15T00:00Z"),
        until=until,
        progress=False,
    )
    assert _tables(supabase.pg_url) == pg_rows
    frame, meta = PostgresStore(supabase.pg_url).read("gateway", "load", site="gw-7")
    assert frame.height == 72 and meta.interval_minutes == 5


def test_a_failing_batch_loses_nothing_and_the_next_run_resumes_there(influxd, supabase):
    w, _ = _fill(influxd)
    until = datetime.fromisoformat(END)
    busy = {
        "code": "PGRST000",
        "details": "connection to server failed",
        "hint": None,
        "message": "Database connection error. Retrying the connection.",
    }
    grid_posts = []

    def fail(req):  # window 4's grid rows: Supabase answers 503 on every try
        if req.method == "POST" and req.table == "grid":
            grid_posts.append(req)
            if len(grid_posts) > 3:
                return 503, busy
        return None

    supabase.fail = fail
    with pytest.raises(SupabaseError) as err:
        sync_influx_to_supabase(
            w, _rest(supabase, retries=2), batch_intervals=12, until=until, progress=False
        )
    assert err.value.status == 503 and err.value.code == "PGRST000"
    message = str(err.value)
    assert "3 tries" in message and "run again" in message and KEY not in message
    assert len(grid_posts) == 3 + 3  # three windows, then the first try and two retries
    # the watermark stays at the last confirmed window; its rows are all there
    first = datetime.fromisoformat("2025-01-15T00:00Z")
    synced_until, readings, last_error = _watermark(supabase.pg_url, target_name(w))
    assert synced_until == datetime.fromisoformat("2025-01-15T03:00Z") and readings == 180
    assert "HTTP 503" in last_error and KEY not in last_error
    rows = _tables(supabase.pg_url)
    for kind in ("load", "pv", "grid"):
        stamps = {r[4] for r in rows[kind]}
        assert len([t for t in stamps if t < synced_until]) == 36, kind
        assert min(stamps) == first
    # Supabase recovers: the next run starts at the watermark and ends complete
    supabase.fail = None
    supabase.requests.clear()
    report = sync_influx_to_supabase(
        w, _rest(supabase), batch_intervals=12, until=until, progress=False
    )
    assert report.windows == 3 and report.readings == 180
    assert [r.rows for r in supabase.requests if r.table == "load" and r.method == "POST"] == [
        12
    ] * 3
    assert all(len(v) == 72 for k, v in _tables(supabase.pg_url).items() if k != "prices")
    assert _watermark(supabase.pg_url, target_name(w)) == (until, 360, None)


def test_refusals_say_what_to_fix_without_the_key(influxd, pg_url):
    w, _ = _fill(influxd)
    until = datetime.fromisoformat(END)
    bare = FakePostgrest(pg_url, KEY).start()  # no tables yet
    try:
        with pytest.raises(SupabaseError) as err:
            sync_influx_to_supabase(w, _rest(bare), until=until, progress=False)
        assert err.value.status == 404 and err.value.code == "PGRST205"
        assert "energy sync --supabase-schema" in str(err.value)
        _with_schema(pg_url)
        with pytest.raises(SupabaseError) as err:
            sync_influx_to_supabase(w, _rest(bare, key="wrong-key"), until=until, progress=False)
        assert err.value.status == 401 and "SUPABASE_KEY" in str(err.value)
        assert "wrong-key" not in str(err.value)
        hidden = SupabaseRest(bare.url, KEY, schema="gateway", policy=RetryPolicy(max_retries=0))
        with pytest.raises(SupabaseError) as err:
            sync_influx_to_supabase(w, hidden, until=until, progress=False)
        assert err.value.code == "PGRST106" and "Exposed schemas" in str(err.value)
        assert "SupabaseRest(" in repr(hidden) and KEY not in repr(hidden)
    finally:
        bare.stop()


def test_energy_sync_over_rest_from_the_documented_variables(
    influxd, supabase, monkeypatch, capsys, tmp_path
):
    w, _ = _fill(influxd, end="2025-01-15T01:00Z", db="der_cli")
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    monkeypatch.setenv("SUPABASE_URL", supabase.url)
    monkeypatch.setenv("SUPABASE_KEY", KEY)
    monkeypatch.setenv("SYNC_BATCH_SIZE", "6")
    base = [
        "sync",
        "--source",
        "influxdb",
        "--influxdb-url",
        influxd,
        "--influxdb-database",
        "der_cli",
        "--data-dir",
        str(tmp_path),
        "--quiet",
    ]
    assert main(base) == 0  # no --target: only the REST variables are set
    out = capsys.readouterr()
    assert "synced 60 readings" in out.out and "/rest/v1" in out.out
    assert [r.rows for r in supabase.requests if r.table == "load"] == [6, 6]
    assert len([r for r in supabase.requests if r.table == STATE_TABLE]) == 1 + 3
    assert main([*base, "--status"]) == 0
    out = capsys.readouterr()
    line = next(ln for ln in out.out.splitlines() if "synced:" in ln)
    assert line.startswith("  synced:     60 readings, until ")
    # the year and more since the last reading is passed over in one step, up to now
    assert datetime.now(UTC) - datetime.fromisoformat(line.rsplit("until ", 1)[1]) < timedelta(
        minutes=5
    )
    assert "pending:    0 readings" in out.out
    assert main(["sync", "--supabase-schema"]) == 0
    ddl = capsys.readouterr().out
    assert 'CREATE TABLE IF NOT EXISTS "energylib"."load"' in ddl and STATE_TABLE in ddl
    assert '"energylib"."agent_decisions"' in ddl
    # the store is synced over SUPABASE_DB_URL only; said so
    assert main(["sync", "--target", "rest", "--data-dir", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--source influxdb" in err
    monkeypatch.delenv("SUPABASE_URL")
    assert main(["sync", "--target", "rest", "--source", "influxdb"]) == 2
    err = capsys.readouterr().err
    assert "SUPABASE_URL" in err
    text = out.out + ddl + err
    assert KEY not in text


def _decisions(url: str) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute(
            "SELECT site, decided_at, local_id, action, battery_kw, ev_kw, reason, price_per_kwh, "
            "stale, model_version, inputs, forecast FROM energylib.agent_decisions "
            "ORDER BY local_id"
        ).fetchall()


def test_the_decision_log_reaches_supabase_over_rest_and_resumes_after_a_failure(
    supabase, tmp_path, postgres_server
):
    db = tmp_path / "decisions.db"
    assert (
        write_month(db, datetime(2025, 1, 1, tzinfo=UTC), days=50 * 300 / 86400, every_s=300) == 50
    )
    direct = postgres_server.url(postgres_server.create_database())
    assert DecisionSync(db, direct, "home", batch_rows=20).sync() == 50
    posts = []

    def fail(req):  # the second batch of decisions: Supabase is down
        if req.method == "POST" and req.table == "agent_decisions":
            posts.append(req)
            if len(posts) >= 2:
                return 503, {
                    "code": "PGRST000",
                    "details": None,
                    "hint": None,
                    "message": "Database connection error. Retrying the connection.",
                }
        return None

    supabase.fail = fail
    sync = RestDecisionSync(db, _rest(supabase, retries=1), "home", batch_rows=20)
    assert sync.run() == 0  # the agent's job: logged, kept, never raised
    assert "HTTP 503" in sync.last_error and "20 decision(s) copied" in sync.last_error
    assert KEY not in sync.last_error and KEY not in repr(sync)
    status = sync.status()
    assert status["watermark"] == 20 and status["pending"] == 30
    assert _decisions(supabase.pg_url) == _decisions(direct)[:20]
    supabase.fail = None
    assert sync.run() == 30 and sync.last_error is None
    # the same rows, JSON and all, as the direct Postgres copy writes
    assert _decisions(supabase.pg_url) == _decisions(direct)
    assert sync.run() == 0
