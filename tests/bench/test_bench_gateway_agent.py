"""Benchmarks of issue 21: the gateway's --historical mode, the InfluxDB -> Postgres sync,
and the owner's dashboard page load in Chromium.

Run: .venv/bin/python -m pytest tests/bench/test_bench_gateway_agent.py -s -q \
        --override-ini norecursedirs= -p no:cacheprovider

Each prints its figure with the reference measured in the same run:

* gateway readings per second over a year at 5 min (105,120 readings to JSONL, no store),
  against the readings per second of generating the same year's canonical frames;
* sync throughput from a real influxd (1.x) into a real Postgres: readings per second for a
  month at 1-min readings (43,200 readings, 5 measurements each), against the rate of
  reading them back from InfluxDB alone; and the same month over Supabase's REST API (the
  local PostgREST stand-in over the same Postgres), against the direct sync;
* the dashboard's page load in headless Chromium (phone and laptop sizes) on a month of
  the agent's decisions at one a minute (43,200), first load (rendering) and cached.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_fakes import CHROMEDRIVER, CHROMIUM, at_home, headless_chromium  # noqa: E402
from dashboard_data import write_month  # noqa: E402
from influx_fixture import influxd  # noqa: E402, F401
from postgres_fixture import pg_url, postgres_server  # noqa: E402, F401
from postgrest_fake import FakePostgrest  # noqa: E402

from energylib.agent.config import AgentSettings  # noqa: E402
from energylib.agent.kiosk import create_app  # noqa: E402
from energylib.simulate.gateway import Gateway, run_historical  # noqa: E402
from energylib.simulate.influx import (  # noqa: E402
    InfluxWriter,
    point_to_lines,
    read_measurement,
)
from energylib.store.influx_sync import (  # noqa: E402
    MEASUREMENTS,
    schema_sql,
    sync_influx_to_postgres,
    sync_influx_to_supabase,
)
from energylib.store.supabase import SupabaseRest  # noqa: E402


def _load() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def test_bench_gateway_historical_year(tmp_path):
    warnings.simplefilter("ignore")
    g = Gateway({"device_id": "bench"})
    t0 = time.perf_counter()
    n = run_historical(g, "2025-01-01", "2026-01-01", tmp_path / "year.jsonl")
    s = time.perf_counter() - t0
    ref = Gateway({"device_id": "bench"})
    t0 = time.perf_counter()
    frames = ref.frames("2025-01-01", "2026-01-01")
    s_frames = time.perf_counter() - t0
    size = (tmp_path / "year.jsonl").stat().st_size / 1e6
    print(f"\ngateway --historical, a year at 5 min (load {_load()}):")
    print(f"  {n:,} readings to JSONL in {s:.1f} s: {n / s:,.0f} readings/s ({size:.0f} MB)")
    print(
        f"  reference: the same year's canonical frames ({len(frames)} frames) in {s_frames:.1f} s: "
        f"{n / s_frames:,.0f} intervals/s; JSON readings cost {s / s_frames:.1f}x the frames"
    )
    assert n == 105_120


@pytest.mark.postgres
def test_bench_sync_from_influxdb(influxd, pg_url, postgres_server):  # noqa: F811
    warnings.simplefilter("ignore")
    w = InfluxWriter(influxd, version=1, database="bench")
    w.ensure_retention(0)
    g = Gateway({"device_id": "bench", "interval_seconds": 60})
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC)
    lines, n = [], 0
    for p in g.points(start, end):
        lines += point_to_lines(p)
        n += 1
        if len(lines) >= 50_000:
            w.write_lines(lines)
            lines = []
    w.write_lines(lines)
    t0 = time.perf_counter()
    read = sum(
        read_measurement(w, m, int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)).height
        for m in MEASUREMENTS
    )
    s_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = sync_influx_to_postgres(w, pg_url, until=end, progress=False)
    s = time.perf_counter() - t0
    print(f"\nsync InfluxDB -> Postgres, 30 days of 1-min readings (load {_load()}):")
    print(f"  {report}")
    print(f"  {report.readings / s:,.0f} readings/s ({report.rows:,} 5-min rows upserted)")
    print(
        f"  reference: reading the {read:,} points back from InfluxDB alone: {s_read:.1f} s, "
        f"{n / s_read:,.0f} readings/s; the sync takes {s / s_read:.1f}x that"
    )
    assert report.readings == n
    # the same month over Supabase's REST API: the local PostgREST stand-in over the same
    # Postgres server (a Python HTTP server: its own cost is in the figure)
    rest_db = postgres_server.url(postgres_server.create_database())
    with psycopg.connect(rest_db, autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_roles WHERE rolname = 'service_role'").fetchone():
            con.execute("CREATE ROLE service_role")
        con.execute(schema_sql())
    fake = FakePostgrest(rest_db, "bench-key").start()
    try:
        t0 = time.perf_counter()
        rest = sync_influx_to_supabase(
            w, SupabaseRest(fake.url, "bench-key"), until=end, progress=False
        )
        s_rest = time.perf_counter() - t0
    finally:
        fake.stop()
    posts = sum(1 for r in fake.requests if r.method == "POST")
    print(
        f"  over Supabase's REST API (local PostgREST stand-in): {s_rest:.1f} s, "
        f"{rest.readings / s_rest:,.0f} readings/s in {posts} upsert requests; "
        f"{s_rest / s:.1f}x the direct Postgres sync (load {_load()})"
    )
    assert rest.readings == n


@pytest.mark.browser
def test_bench_dashboard_page_load_on_a_month(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver")
    import uvicorn

    start = datetime(2025, 1, 1, tzinfo=UTC)
    settings = AgentSettings(state_dir=tmp_path / "agent", site=at_home("bench"))
    settings.state_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    n = write_month(settings.decisions_db, start, days=30, every_s=60.0)
    s_write = time.perf_counter() - t0
    now = start + timedelta(days=30)
    status = {"updated_at": now.isoformat(), "model": {"version": "model_b.v2.onnx@def"}}
    app = create_app(settings, clock=lambda: now, status_provider=lambda: status)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    print(
        f"\ndashboard on a month of decisions ({n:,}, written in {s_write:.0f} s; load {_load()}):"
    )
    try:
        # a different ?days per size (both cover the whole month): each first load renders
        sizes = (("phone", 390, 844, True, 30), ("laptop", 1366, 768, False, 31))
        for size, width, height, mobile, days in sizes:
            profile = Path(tempfile.mkdtemp(prefix="bench-dash-"))
            driver = headless_chromium(profile, f"--window-size={width},{height}")
            try:
                driver.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                )
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    driver.get(f"http://127.0.0.1:{port}/dashboard?days={days}")
                    times.append(time.perf_counter() - t0)
                nav = driver.execute_script(
                    "const e = performance.getEntriesByType('navigation')[0];"
                    "return [e.responseStart - e.requestStart, e.loadEventEnd - e.responseStart,"
                    " e.transferSize];"
                )
                print(
                    f"  {size:6s} {width}x{height}: first load {times[0]:.2f} s (renders the charts), "
                    f"cached {min(times[1:]):.3f} s (server {nav[0]:.0f} ms, browser {nav[1]:.0f} ms, "
                    f"{nav[2] / 1e3:.0f} kB); first/cached {times[0] / min(times[1:]):.0f}x"
                )
            finally:
                driver.quit()
                shutil.rmtree(profile, ignore_errors=True)
    finally:
        srv.should_exit = True
        thread.join(timeout=5)
