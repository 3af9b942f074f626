"""The decision log under faults: a full disk, a lock held by a reader, a kill mid-write."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

from agent_fakes import START, make_agent

from energylib.agent.decision_log import Decision, DecisionLog, read_decisions

T0 = datetime(2025, 1, 6, tzinfo=UTC)


def _decision(i: int) -> Decision:
    return Decision(
        T0 + timedelta(minutes=i),
        "hold",
        0.0,
        0.0,
        f"test {i}",
        0.25,
        30.0,
        False,
        "none",
        1.5,
        {"i": i, "pad": "x" * 200},
        {"note": "y" * 200},
    )


def _count(path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    finally:
        con.close()


def test_disk_full_stops_writing_keeps_deciding_says_so_and_resumes(settings, clock, fake_amber):
    from fastapi.testclient import TestClient

    from energylib.agent.kiosk import create_app

    # A real SQLITE_FULL: the file may not grow beyond a few pages.
    dlog = DecisionLog(settings.decisions_db, max_page_count=8, full_retry_s=0.0)
    agent = make_agent(settings, clock, fake_amber, decision_log=dlog)
    agent.scheduler.run_until(START + timedelta(hours=2))
    assert dlog.disk_full
    assert agent.decisions_made == 120  # kept deciding every minute
    on_disk = _count(settings.decisions_db)
    assert on_disk < 120
    assert dlog.pending and dlog.written == on_disk
    status = agent.status()
    assert status["decision_log"]["disk_full"] is True
    # ... and says so where a person looks: the kiosk's status and health.
    agent.write_status()
    client = TestClient(create_app(settings, clock=clock.now))
    assert client.get("/api/price").status_code == 200  # still serving
    health = client.get("/healthz").json()
    assert "decision log: disk full" in health["problems"]
    assert "energy_agent_decision_log_disk_full 1.0" in client.get("/metrics").text
    # Space is freed: writing resumes by itself and nothing decided meanwhile is lost.
    con = dlog._open()
    con.execute("PRAGMA max_page_count=100000")
    agent.scheduler.run_until(clock.now() + timedelta(minutes=2))
    assert not dlog.disk_full
    assert _count(settings.decisions_db) == agent.decisions_made == 122
    assert dlog.dropped == 0


def test_lock_held_by_a_reader_is_waited_out_and_nothing_is_lost(tmp_path):
    path = tmp_path / "decisions.sqlite"
    dlog = DecisionLog(path, busy_timeout_s=0.05, retries=2, backoff_s=0.01)
    assert dlog.write(_decision(0))
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN EXCLUSIVE")  # e.g. a sqlite3 shell holding the lock
    assert not dlog.write(_decision(1))  # queued, not raised
    assert dlog.status()["pending"] == 1
    assert dlog.locked_waits >= 1
    # The reader lets go while the next decision waits: both rows land.
    threading.Timer(0.1, lambda: reader.execute("COMMIT")).start()
    dlog.busy_timeout_s = 1.0
    dlog._con.execute("PRAGMA busy_timeout=1000")
    assert dlog.write(_decision(2))
    reader.close()
    assert [d["reason"] for d in read_decisions(path)] == ["test 0", "test 1", "test 2"]


def test_killed_mid_write_restarts_with_nothing_lost_or_corrupted(tmp_path):
    path = tmp_path / "decisions.sqlite"
    script = textwrap.dedent(f"""
        import sys
        from datetime import UTC, datetime, timedelta
        from energylib.agent.decision_log import Decision, DecisionLog
        log = DecisionLog({str(path)!r})
        t0 = datetime(2025, 1, 6, tzinfo=UTC)
        i = 0
        while True:
            d = Decision(t0 + timedelta(minutes=i), "hold", 0.0, 0.0, "r", 0.2, 1.0, False, "none", 1.0,
                         {{"pad": "x" * 4000}}, {{"pad": "y" * 4000}})
            if log.write(d):
                print(i, flush=True)  # acknowledged only after the commit returned
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acked = []
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            acked.append(int(line))
    proc.send_signal(signal.SIGKILL)  # no clean-up of any kind, mid-way through a write
    proc.wait()
    acked += [int(x) for x in proc.stdout.read().split()]
    assert len(acked) >= 300
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    # Restart: the log opens, every acknowledged row is there, and writing goes on.
    dlog = DecisionLog(path)
    rows = {datetime.fromisoformat(d["decided_at"]) for d in read_decisions(path)}
    assert {T0 + timedelta(minutes=i) for i in acked} <= rows
    assert dlog.write(_decision(100_000))
    assert _count(path) == len(rows) + 1
