"""Crash tests: the InfluxDB -> Postgres sync and the decision-log copy killed with SIGKILL
at seeded random points of their run: a random batch, then a random part of one batch's
time after it commits, so a kill lands inside a transaction or between two (a real
influxd, a real Postgres, a real process of :mod:`kill_children`).

After every kill: what Postgres holds is exactly what the watermark says (every row
before it, as a complete run writes it, and none after it); a re-run finishes the job and
the tables equal a run that was never killed."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from energylib.agent.decision_sync import DecisionSync
from energylib.store.influx_sync import sync_influx_to_postgres

from .test_influx_sync import _fill

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
import kill_children  # noqa: E402
from dashboard_data import write_month  # noqa: E402

pytestmark = pytest.mark.postgres

KINDS = ("load", "pv", "weather", "battery", "grid", "prices", "carbon")
END = "2025-01-15T03:00Z"  # three hours of 1-min readings: 12 windows of 15 min


def _run(job: str, *args: str, kill: tuple[int, float] | None = None) -> float:
    """Run ``job`` of :mod:`kill_children` in a process of its own.  ``kill = (k, s)``:
    SIGKILL it ``s`` seconds after it committed its ``k``-th batch (mid-transaction or
    between two).  Returns the seconds it ran."""
    ctx = multiprocessing.get_context("forkserver")
    # The forkserver imports kill_children (and the library) once; Python 3.11's server does
    # not take the test's sys.path, only the environment's PYTHONPATH.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), str(TESTS.parent), old) if p)
    ctx.set_forkserver_preload(["kill_children"])
    ready, done = ctx.Event(), ctx.Value("i", 0)
    child = ctx.Process(target=kill_children.main, args=(ready, done, job, args))
    try:
        child.start()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    assert ready.wait(timeout=60)
    started = time.perf_counter()
    if kill is not None:
        k, delay = kill
        while done.value < k and child.is_alive():
            time.sleep(0.0005)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # it may have finished meanwhile
            os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=120)
    if kill is None:
        assert child.exitcode == 0
    return time.perf_counter() - started


def _kills(batches: int, reference_s: float, seed: int) -> list[tuple[int, float]]:
    """Three seeded points: after a random batch, a random part of one batch's time."""
    rng = np.random.default_rng(seed)
    per_batch = reference_s / batches
    return [
        (int(k), float(rng.uniform(0, per_batch)))
        for k in rng.choice(np.arange(1, batches - 1), size=3, replace=False)
    ]


def _influx_rows(url: str) -> dict[str, list]:
    with psycopg.connect(url) as con:
        return {
            k: con.execute(
                f'SELECT * FROM energylib."{k}" ORDER BY site, channel, interval_start'
            ).fetchall()
            if con.execute("SELECT to_regclass(%s)", (f"energylib.{k}",)).fetchone()[0]
            else []
            for k in KINDS
        }


def test_influx_sync_killed_at_random_points_keeps_rows_and_watermark_together(
    influxd, postgres_server
):
    w, _ = _fill(influxd, end=END, db="der_kill")
    until = datetime.fromisoformat(END)
    reference_url = postgres_server.url(postgres_server.create_database())
    args = (influxd, "der_kill")
    took = _run("influx_sync", *args, reference_url, END)
    reference = _influx_rows(reference_url)
    assert len(reference["load"]) == 36
    partial = 0
    for kill in _kills(12, took, seed=21):
        url = postgres_server.url(postgres_server.create_database())
        _run("influx_sync", *args, url, END, kill=kill)
        with psycopg.connect(url) as con:
            found = (
                con.execute("SELECT to_regclass('energylib.influx_sync_state')").fetchone()[0]
                and con.execute("SELECT synced_until FROM energylib.influx_sync_state").fetchone()
            )
        mark = found[0] if found else None
        rows = _influx_rows(url)
        for kind in KINDS:  # exactly the reference's rows before the watermark
            want = [r for r in reference[kind] if mark is not None and r[4] < mark]
            assert rows[kind] == want, (kind, kill, mark)
        print(f"[kill -9] {kill[1]:.3f} s after window {kill[0]}: synced until {mark}")
        partial += mark is not None and mark < until
        sync_influx_to_postgres(w, url, batch_intervals=3, until=until, progress=False)
        assert _influx_rows(url) == reference
    print(f"\n[kill -9] influx sync: {took:.2f} s complete, {partial} of 3 kills mid-sync")
    assert partial >= 1  # at least one kill landed mid-sync


def _copied(url: str) -> tuple[int | None, list]:
    with psycopg.connect(url) as con:
        if not con.execute("SELECT to_regclass('energylib.agent_decision_sync')").fetchone()[0]:
            return None, []
        state = con.execute("SELECT last_id FROM energylib.agent_decision_sync").fetchone()
        rows = con.execute(
            "SELECT local_id, decided_at, action, battery_kw, inputs FROM "
            "energylib.agent_decisions ORDER BY local_id"
        ).fetchall()
    return (state[0] if state else None), rows


def test_decision_copy_killed_at_random_points_keeps_rows_and_watermark_together(
    tmp_path, postgres_server
):
    db = tmp_path / "decisions.db"
    n = write_month(db, datetime(2025, 1, 1, tzinfo=UTC), days=300 * 300 / 86400, every_s=300)
    assert n == 300
    reference_url = postgres_server.url(postgres_server.create_database())
    took = _run("decision_copy", str(db), reference_url)
    _, reference = _copied(reference_url)
    assert [r[0] for r in reference] == list(range(1, n + 1))
    partial = 0
    for kill in _kills(30, took, seed=17):
        url = postgres_server.url(postgres_server.create_database())
        _run("decision_copy", str(db), url, kill=kill)
        last, rows = _copied(url)
        # every decision up to the watermark, as the complete copy has it; none after it
        assert rows == reference[: last or 0], (kill, last)
        partial += last is not None and 0 < last < n
        assert DecisionSync(db, url, "site", batch_rows=10).sync() == n - (last or 0)
        assert _copied(url) == (n, reference)
    print(f"\n[kill -9] decision copy: {took:.2f} s complete, {partial} of 3 kills mid-copy")
    assert partial >= 1  # at least one kill landed mid-copy
