"""InfluxDB -> Postgres sync of the gateway's readings: a real influxd (1.x) and a real
Postgres; averages, watermark, resume after the server dies mid-sync, status."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import psycopg
import pytest
import requests

from energylib.cli import main
from energylib.schema import validate
from energylib.simulate.gateway import Gateway
from energylib.simulate.influx import (
    InfluxWriter,
    count_since,
    first_time_ns,
    point_to_lines,
    read_measurement,
)
from energylib.store import ParquetStore
from energylib.store.influx_sync import (
    STATE_TABLE,
    pending_readings,
    read_state,
    readings_to_frames,
    sync_influx_to_postgres,
    target_name,
)
from energylib.store.postgres import PostgresStore, PostgresSyncError

from .test_pgstore import filled_store

pytestmark = pytest.mark.postgres

START, END = "2025-01-15T00:00Z", "2025-01-15T06:00Z"


def _fill(url: str, start=START, end=END, db="der") -> tuple[InfluxWriter, list[dict]]:
    w = InfluxWriter(url, version=1, database=db)
    w.ensure_retention(0)  # forever: the readings are from 2025
    g = Gateway({"device_id": "gw-7", "interval_seconds": 60, "seed": 4})
    points = list(g.points(start, end))
    w.write_lines([ln for p in points for ln in point_to_lines(p)])
    return w, points


def test_readings_become_canonical_five_minute_frames(influxd, pg_url):
    w, points = _fill(influxd)
    assert first_time_ns(w, "solar", "generation_kw") == int(
        datetime.fromisoformat(START).timestamp() * 1e9
    )
    assert count_since(w, "solar", "generation_kw", 0) == len(points) == 360
    report = sync_influx_to_postgres(
        w, pg_url, batch_intervals=12, until=datetime.fromisoformat(END), progress=False
    )
    assert report.readings == 360 and report.windows == 6
    assert report.synced_until == datetime.fromisoformat(END)
    pg = PostgresStore(pg_url)
    load, meta = pg.read("gateway", "load", site="gw-7")
    assert load.height == 72 and meta.interval_minutes == 5
    validate(load, meta)
    # each interval: the mean of its five 1-min readings, as energy
    first = np.mean([p["home_load"]["total_load_kw"] for p in points[:5]]) * 5 / 60
    assert load["total_kwh"][0] == pytest.approx(first, rel=1e-12)
    parts = load.select(["air_conditioning_kwh", "ev_charging_kwh", "lighting_kwh", "misc_kwh"])
    np.testing.assert_allclose(parts.sum_horizontal().to_numpy(), load["total_kwh"], atol=1e-9)
    grid, _ = pg.read("gateway", "grid", site="gw-7")
    np.testing.assert_allclose(
        (grid["import_kwh"] - grid["export_kwh"]).to_numpy(), grid["net_grid_kwh"], atol=1e-12
    )
    for kind in ("pv", "battery", "carbon"):
        frame, m = pg.read("gateway", kind, site="gw-7")
        validate(frame, m)
    prices, pm = pg.read("gateway", "prices", site="gw-7", channel="general")
    assert pm.currency == "AUD" and set(prices["tariff_period"]) <= {"peak", "shoulder", "off_peak"}
    feed, _ = pg.read("gateway", "prices", site="gw-7", channel="feed_in")
    assert (feed["price_per_kwh"] == -0.05).all()
    # a second run starts at the watermark: nothing to read, nothing rewritten
    again = sync_influx_to_postgres(w, pg_url, until=datetime.fromisoformat(END), progress=False)
    assert again.readings == 0 and again.inserted == again.updated == 0


def test_a_sync_cut_off_by_a_server_crash_resumes_at_its_durable_watermark(
    influxd, postgres_server
):
    url = postgres_server.url(postgres_server.create_database())
    w, _ = _fill(influxd, db="crash")
    seen = []

    def crash(until):
        seen.append(until)
        if len(seen) == 2:  # two windows committed: the server dies at once
            postgres_server._ctl("stop", "-m", "immediate")

    try:
        with pytest.raises(PostgresSyncError, match="Run the sync again"):
            sync_influx_to_postgres(
                w,
                url,
                batch_intervals=12,
                until=datetime.fromisoformat(END),
                retries=0,
                progress=False,
                on_window=crash,
            )
    finally:
        postgres_server.start()
    with psycopg.connect(url) as con:
        state = read_state(con, target_name(w))
        rows = con.execute("SELECT count(*) FROM energylib.load").fetchone()[0]
    # every committed window survived the crash, with its watermark
    assert state["synced_until"] == seen[1] and rows == 24
    report = sync_influx_to_postgres(w, url, until=datetime.fromisoformat(END), progress=False)
    assert report.readings == 360 - 120
    with psycopg.connect(url) as con:
        assert con.execute("SELECT count(*) FROM energylib.load").fetchone()[0] == 72


def test_an_unreachable_influxdb_is_recorded_as_the_last_error(pg_url):
    w = InfluxWriter("http://127.0.0.1:1", version=1, database="x", timeout_s=1)
    with pytest.raises(Exception, match="could not reach InfluxDB"):
        sync_influx_to_postgres(w, pg_url, progress=False)
    with psycopg.connect(pg_url) as con:
        state = read_state(con, target_name(w))
        assert "could not reach" in state["last_error"]
        assert con.execute(f"SELECT count(*) FROM energylib.{STATE_TABLE}").fetchone()[0] >= 1


def test_pending_readings_counts_what_is_not_synced(influxd):
    w, _ = _fill(influxd, db="pending")
    assert pending_readings(w, None) == 360
    assert pending_readings(w, datetime(2025, 1, 15, 5, tzinfo=UTC)) == 60


def test_sub_minute_readings_average_into_one_minute_rows():
    t = [datetime(2025, 1, 1, 0, 0, s, tzinfo=UTC) for s in (0, 10, 20, 30, 40, 50)]
    r = pl.DataFrame({"time": t, "device_id": ["a"] * 6, "generation_kw": [6.0] * 3 + [0.0] * 3})
    ((pv, meta),) = readings_to_frames(r, interval_minutes=1)
    assert pv["pv_kwh"].to_list() == [pytest.approx(3.0 / 60)] and meta.kind == "pv"


def test_v2_flux_answers_are_read(httpserver):
    csv = (
        ",result,table,_start,_stop,_time,_measurement,device_id,generation_kw,irradiance_w_m2\r\n"
        ",_result,0,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,2025-01-01T01:00:00Z,solar,gw,1.5,300\r\n"
        ",_result,0,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,2025-01-01T01:05:00Z,solar,gw,2.5,400\r\n"
        "\r\n"
    )
    httpserver.expect_request(
        "/api/v2/query", method="POST", query_string={"org": "home"}
    ).respond_with_data(csv, content_type="text/csv")
    w = InfluxWriter(httpserver.url_for("/"), version=2, token="t", org="home", bucket="der")
    frame = read_measurement(w, "solar", 0, 2 * 10**18)
    assert frame["generation_kw"].to_list() == [1.5, 2.5]
    assert frame["time"][1] == datetime(2025, 1, 1, 1, 5, tzinfo=UTC)
    body = httpserver.log[0][0].get_json()
    assert 'r._measurement == "solar"' in body["query"] and 'bucket: "der"' in body["query"]
    assert httpserver.log[0][0].headers["Authorization"] == "Token t"


def test_influxd_fixture_is_real(influxd):
    assert requests.get(f"{influxd}/ping", timeout=2).status_code == 204


def test_cli_continuous_sync_from_influxdb_and_status(influxd, pg_url, tmp_path, capsys):
    _fill(influxd, db="cli")
    common = ["--to", pg_url, "--source", "influxdb", "--influxdb-url", influxd]
    common += ["--influxdb-database", "cli", "--data-dir", str(tmp_path), "--no-progress"]
    assert main(["sync", "--status", *common]) == 0
    out = capsys.readouterr().out
    assert "last run:   never" in out and "pending:    360 readings" in out
    assert main(["sync", "--continuous", "--interval", "0.2", "--count", "2", *common]) == 0
    out = capsys.readouterr().out
    assert "synced 360 readings" in out and "synced 0 readings" in out
    assert "2 run(s), 0 failed" in out and "not-checked" not in out
    assert main(["sync", "--status", *common]) == 0
    out = capsys.readouterr().out
    assert "synced:     360 readings" in out and "pending:    0 readings" in out
    assert "last error: none" in out
    # InfluxDB gone: the run fails, says why, and the status keeps the error
    bad = [c if c != influxd else "http://127.0.0.1:1" for c in common]
    assert main(["sync", *bad]) == 1
    assert "could not reach InfluxDB" in capsys.readouterr().err
    assert main(["sync", "--status", *bad]) == 1
    assert "last error: 20" in capsys.readouterr().out  # its time, then the message


def test_cli_store_status_lists_pending_partitions(pg_url, tmp_path, capsys):

    filled_store(tmp_path / "store")
    args = ["--to", pg_url, "--store", str(tmp_path / "store"), "--data-dir", str(tmp_path)]
    db = psycopg.connect(pg_url, autocommit=True)
    with db:
        db.execute("DROP SCHEMA IF EXISTS energylib CASCADE")
    assert main(["sync", "--status", *args]) == 0
    out = capsys.readouterr().out
    assert "synced:     0 of" in out and "amber/prices/" in out
    assert main(["sync", "--quiet", *args]) == 0
    assert main(["sync", "--status", *args]) == 0
    out = capsys.readouterr().out
    assert "pending:    0 partition(s)" in out and "last ok:" in out and "never" not in out


def test_the_pipeline_gateway_influx_postgres_features(influxd, pg_url, tmp_path, capsys):
    """The documented full pipeline: simulator -> InfluxDB -> sync -> feature table (store
    and Postgres)."""
    w = InfluxWriter(influxd, version=1, database="pipe")
    w.ensure_retention(0)
    g = Gateway({"device_id": "gw-p", "interval_seconds": 900, "seed": 2})
    w.write_lines(
        [ln for p in g.points("2025-01-01T00:00Z", "2025-01-10T00:00Z") for ln in point_to_lines(p)]
    )
    sync_influx_to_postgres(
        w, pg_url, interval_minutes=15, until=datetime(2025, 1, 10, tzinfo=UTC), progress=False
    )
    pg = PostgresStore(pg_url)
    common = ["--source", "gateway", "--site", "gw-p", "--to", pg_url]
    # the Parquet store is empty: the series are read from Postgres, the table goes to both
    store_dir = tmp_path / "data"
    argv = ["features", "--once", "--lookback-days", "1", "--data-dir", str(store_dir)]
    assert main([*argv, *common]) == 0
    out = capsys.readouterr().out
    assert "48 rows x 18 features of gateway/gw-p" in out and out.count("inserted 48") == 2
    table, meta = pg.read("gateway", "features", site="gw-p")
    assert table.height == 48 and meta.currency == "AUD"
    assert ParquetStore(store_dir / "processed").read("gateway", "features")[0].equals(table)


def test_baselines_train_on_the_gateway_s_readings_in_postgres(
    influxd, pg_url, tmp_path, capsys, monkeypatch
):
    w = InfluxWriter(influxd, version=1, database="train")
    w.ensure_retention(0)
    g = Gateway({"device_id": "gw-t", "interval_seconds": 1800, "seed": 5})
    w.write_lines(
        [ln for p in g.points("2025-01-01T00:00Z", "2025-01-15T00:00Z") for ln in point_to_lines(p)]
    )
    sync_influx_to_postgres(
        w, pg_url, interval_minutes=30, until=datetime(2025, 1, 15, tzinfo=UTC), progress=False
    )
    monkeypatch.setenv("SUPABASE_DB_URL", pg_url)
    argv = ["train", "--train", "--source", "gateway", "--site", "gw-t"]
    assert main([*argv, "--data-dir", str(tmp_path), "--model-dir", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert (
        "solar_pv" in out and "load_profile" in out and (tmp_path / "m" / "solar_pv.npz").exists()
    )
