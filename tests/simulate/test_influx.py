"""InfluxDB sink: line protocol, HTTP v2/v1 writes (local HTTP server), and a real InfluxDB 1.x."""

from __future__ import annotations

import socket

import pandas as pd
import pytest
import requests

from energylib.cli import main
from energylib.simulate.gateway import Gateway
from energylib.simulate.influx import (
    InfluxWriteError,
    InfluxWriter,
    escape_key,
    escape_measurement,
    format_field,
    line,
    point_to_lines,
)


def test_line_protocol_escapes_and_types():
    assert escape_measurement("my meas,x") == "my\\ meas\\,x"
    assert escape_key("a=b c,d") == "a\\=b\\ c\\,d"
    assert format_field(1.5) == "1.5" and format_field(3) == "3i" and format_field(True) == "true"
    assert format_field('say "hi"') == '"say \\"hi\\""'
    assert (
        line("m", {"z": "1", "a": "x y"}, {"v": 2.0, "s": "ok"}, 10)
        == 'm,a=x\\ y,z=1 v=2.0,s="ok" 10'
    )


def test_line_protocol_rejects_non_finite_and_empty():
    with pytest.raises(ValueError, match="non-finite"):
        format_field(float("nan"))
    with pytest.raises(ValueError, match="at least one field"):
        line("m", {}, {}, 0)


def test_a_reading_becomes_one_line_per_block():
    p = Gateway({"device_id": "gw 1"}).point("2025-01-15T12:00")
    lines = point_to_lines(p)
    assert [ln.split(",")[0] for ln in lines] == [
        "solar",
        "battery",
        "home_load",
        "grid_price",
        "grid",
    ]  # the last: the reading's top-level numbers (net_grid_flow_kw)
    assert all(
        ln.split(" ")[0].endswith("device_id=gw\\") for ln in lines
    )  # escaped space in the tag
    ts = lines[0].rsplit(" ", 1)[1]
    assert ts == "1736902800000000000"  # 2025-01-15T01:00:00Z in ns
    assert 'time_of_use_period="' in lines[3] and "capacity_kw=6.6" in lines[0]
    assert f"net_grid_flow_kw={p['net_grid_flow_kw']!r}" in lines[4]


def test_v2_write_sends_token_org_bucket(httpserver):
    httpserver.expect_request(
        "/api/v2/write",
        method="POST",
        query_string={"org": "home", "bucket": "der", "precision": "ns"},
        headers={"Authorization": "Token s3cret"},
    ).respond_with_data("", status=204)
    w = InfluxWriter(httpserver.url_for("/"), version=2, token="s3cret", org="home", bucket="der")
    assert w.write_lines(["m v=1.0 1", "m v=2.0 2"]) == 2
    req, _ = httpserver.log[0]
    assert req.get_data(as_text=True) == "m v=1.0 1\nm v=2.0 2"
    assert "s3cret" not in repr(w)


def test_v1_write_uses_db_and_reports_refusal(httpserver):
    httpserver.expect_request(
        "/write", method="POST", query_string={"db": "gw", "precision": "ns"}
    ).respond_with_data('{"error":"database not found: \\"gw\\""}', status=404)
    w = InfluxWriter(httpserver.url_for("/"), version=1, database="gw")
    with pytest.raises(InfluxWriteError, match="HTTP 404.*database not found"):
        w.write_lines(["m v=1.0 1"])


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = InfluxWriter(f"http://127.0.0.1:{port}", version=1, database="x", timeout_s=2)
    with pytest.raises(InfluxWriteError, match="could not reach"):
        w.write_lines(["m v=1.0 1"])


def test_writer_needs_its_target():
    with pytest.raises(ValueError, match="org and bucket"):
        InfluxWriter("http://127.0.0.1:1", version=2)
    with pytest.raises(ValueError, match="database"):
        InfluxWriter("http://127.0.0.1:1", version=1)


def test_readings_land_in_a_real_influxdb(influxd):
    requests.post(
        f"{influxd}/query", data={"q": "CREATE DATABASE gw"}, timeout=5
    ).raise_for_status()
    g = Gateway({"device_id": "gw-1"})
    w = InfluxWriter(influxd, version=1, database="gw")
    points = list(g.points("2025-01-15T12:00", "2025-01-15T12:15"))
    for p in points:
        w(p)
    r = requests.get(
        f"{influxd}/query",
        params={"db": "gw", "q": "SELECT generation_kw, device_id FROM solar"},
        timeout=5,
    )
    values = r.json()["results"][0]["series"][0]["values"]
    assert [v[1] for v in values] == [p["solar"]["generation_kw"] for p in points]
    assert {v[2] for v in values} == {"gw-1"}
    r = requests.get(
        f"{influxd}/query",
        params={"db": "gw", "q": "SELECT time_of_use_period FROM grid_price"},
        timeout=5,
    )
    assert (
        r.json()["results"][0]["series"][0]["values"][0][1]
        == points[0]["grid_price"]["time_of_use_period"]
    )


def test_v1_retention_creates_the_database_and_a_default_policy(influxd):
    w = InfluxWriter(influxd, version=1, database="der-data")
    assert "created retention policy 'energylib_7d'" in w.ensure_retention(7)
    g = Gateway({"device_id": "gw-1"})
    w(g.point(pd.Timestamp.now(tz="UTC").floor("5min") - pd.Timedelta(hours=1)))
    with pytest.raises(InfluxWriteError, match="beyond retention policy"):
        w(g.point("2025-01-15T12:00"))  # older than 7 days: the server refuses it, and says so
    r = requests.get(
        f"{influxd}/query", params={"q": 'SHOW RETENTION POLICIES ON "der-data"'}, timeout=5
    ).json()
    rows = {v[0]: v for v in r["results"][0]["series"][0]["values"]}
    assert rows["energylib_7d"][1] == "168h0m0s" and rows["energylib_7d"][-1] is True
    # the write went to the policy; running again keeps it; a new length alters it
    r = requests.get(
        f"{influxd}/query",
        params={"db": "der-data", "q": 'SELECT count(generation_kw) FROM "energylib_7d".solar'},
        timeout=5,
    ).json()
    assert r["results"][0]["series"][0]["values"][0][1] == 1
    assert "kept" in InfluxWriter(influxd, version=1, database="der-data").ensure_retention(7)
    InfluxWriter(influxd, version=1, database="der-data").ensure_retention(0)
    r = requests.get(
        f"{influxd}/query", params={"q": 'SHOW RETENTION POLICIES ON "der-data"'}, timeout=5
    ).json()
    rows = {v[0]: v for v in r["results"][0]["series"][0]["values"]}
    assert rows["energylib_forever"][1] == "0s" and rows["energylib_forever"][-1] is True


def test_v2_retention_updates_an_existing_bucket(httpserver):
    httpserver.expect_request("/api/v2/orgs").respond_with_json(
        {"orgs": [{"id": "o1", "name": "home"}]}
    )
    httpserver.expect_request(
        "/api/v2/buckets", query_string={"name": "der", "orgID": "o1"}
    ).respond_with_json(
        {
            "buckets": [
                {
                    "id": "b9",
                    "name": "der",
                    "retentionRules": [{"type": "expire", "everySeconds": 86400}],
                }
            ]
        }
    )
    httpserver.expect_request("/api/v2/buckets/b9", method="PATCH").respond_with_json({})
    w = InfluxWriter(httpserver.url_for("/"), version=2, token="t", org="home", bucket="der")
    assert w.ensure_retention(30) == "set bucket 'der' retention to 30 d"
    patch = [r for r, _ in httpserver.log if r.method == "PATCH"][0]
    assert patch.get_json() == {"retentionRules": [{"type": "expire", "everySeconds": 30 * 86400}]}
    assert patch.headers["Authorization"] == "Token t"
    with pytest.raises(ValueError, match="retention-days must be >= 0"):
        w.ensure_retention(-1)


def test_v2_unknown_org_and_refusals_are_named(httpserver):
    httpserver.expect_request("/api/v2/orgs").respond_with_json({"orgs": []})
    w = InfluxWriter(httpserver.url_for("/"), version=2, token="t", org="nope", bucket="der")
    with pytest.raises(InfluxWriteError, match="no org 'nope'.*--influxdb-org"):
        w.ensure_retention(7)
    httpserver.clear()
    httpserver.expect_request("/api/v2/orgs").respond_with_data("unauthorized", status=401)
    with pytest.raises(InfluxWriteError, match="HTTP 401.*INFLUXDB_TOKEN"):
        w.ensure_retention(7)


def test_historical_cli_writes_a_day_into_influxdb_in_batches(influxd, tmp_path, capsys):
    argv = ["simulate", "--historical", "--start", "2025-03-01", "--end", "2025-03-02"]
    argv += ["--output", str(tmp_path / "day.jsonl"), "--no-store", "--enable-influxdb"]
    argv += ["--influxdb-url", influxd, "--influxdb-database", "hist"]
    argv += ["--influxdb-retention-days", "0"]
    assert main(argv) == 0
    assert "created retention policy 'energylib_forever'" in capsys.readouterr().err
    r = requests.get(
        f"{influxd}/query",
        params={"db": "hist", "q": "SELECT count(generation_kw) FROM solar"},
        timeout=5,
    ).json()
    assert r["results"][0]["series"][0]["values"][0][1] == 288  # every reading, in 2 requests
