"""``energy simulate``: every mode through the real CLI entry point."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from energylib.cli import main
from energylib.store import ParquetStore


def _lines(text):
    return [json.loads(x) for x in text.splitlines() if x.startswith("{")]


def test_once_prints_one_json_reading(capsys):
    assert main(["simulate", "--once", "--at", "2025-01-15T12:00"]) == 0
    (p,) = _lines(capsys.readouterr().out)
    assert p["timestamp"] == "2025-01-15T01:00:00Z"
    assert {"solar", "battery", "home_load", "grid_price", "net_grid_flow_kw"} <= set(p)


def test_continuous_stops_after_count(capsys):
    assert main(["simulate", "--continuous", "--interval", "1", "--count", "2"]) == 0
    pts = _lines(capsys.readouterr().out)
    assert len(pts) == 2
    dt = (pd.Timestamp(pts[1]["timestamp"]) - pd.Timestamp(pts[0]["timestamp"])).total_seconds()
    assert dt in (1.0, 2.0)  # one second apart (second-resolution timestamps)


def test_scheduled_readings_sit_on_clock_boundaries(capsys):
    assert main(["simulate", "--scheduled", "--interval", "2", "--count", "2"]) == 0
    pts = _lines(capsys.readouterr().out)
    secs = [pd.Timestamp(p["timestamp"]).timestamp() for p in pts]
    assert all(s % 2 == 0 for s in secs) and secs[1] - secs[0] == 2


def test_generate_config_then_use_it(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    assert main(["simulate", "--generate-config", "--config", str(cfg)]) == 0
    data = json.loads(cfg.read_text())
    data["device_id"] = "from-file"
    cfg.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["simulate", "--once", "--config", str(cfg), "--at", "2025-02-02T10:00"]) == 0
    assert _lines(capsys.readouterr().out)[0]["device_id"] == "from-file"


def test_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"battery": {"min_soc": 80, "max_soc": 20}}))
    assert main(["simulate", "--once", "--config", str(cfg)]) == 2
    assert "battery.min_soc" in capsys.readouterr().err


def test_no_mode_is_a_usage_error(capsys):
    assert main(["simulate"]) == 2
    assert "choose a mode" in capsys.readouterr().err


def test_historical_writes_jsonl_and_store(tmp_path, capsys):
    out = tmp_path / "h.jsonl"
    rc = main(
        [
            "simulate",
            "--historical",
            "--start",
            "2025-03-01",
            "--end",
            "2025-03-02",
            "--output",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
        ]
    )
    assert rc == 0
    assert len(out.read_text().splitlines()) == 288
    load, _ = ParquetStore(tmp_path / "data" / "processed").read(
        "simulated", "load", site="gateway-001"
    )
    assert load.height == 288


def test_historical_needs_its_arguments(capsys):
    assert main(["simulate", "--historical", "--start", "2025-03-01"]) == 2
    assert "--end" in capsys.readouterr().err


def test_once_writes_to_influx_v2_with_the_documented_options(httpserver, capsys, monkeypatch):
    monkeypatch.delenv("INFLUXDB_TOKEN", raising=False)
    httpserver.expect_request(
        "/api/v2/orgs", query_string={"org": "edge-gateway"}
    ).respond_with_json({"orgs": [{"id": "o1", "name": "edge-gateway"}]})
    httpserver.expect_request("/api/v2/buckets", method="GET").respond_with_json({"buckets": []})
    httpserver.expect_request("/api/v2/buckets", method="POST").respond_with_json({}, status=201)
    httpserver.expect_request(
        "/api/v2/write",
        method="POST",
        query_string={"org": "edge-gateway", "bucket": "der-data", "precision": "ns"},
        headers={"Authorization": "Token edge-gateway-dev-token"},
    ).respond_with_data("", status=204)
    argv = ["simulate", "--once", "--at", "2025-01-15T12:00", "--enable-influxdb"]
    argv += ["--influxdb-url", httpserver.url_for("/").rstrip("/")]
    assert main([*argv, "--influxdb-token", "edge-gateway-dev-token"]) == 0
    bodies = {r.path + r.method: r for r, _ in httpserver.log}
    assert bodies["/api/v2/bucketsPOST"].get_json() == {
        "orgID": "o1",
        "name": "der-data",
        "retentionRules": [{"type": "expire", "everySeconds": 7 * 86400}],
    }
    body = bodies["/api/v2/writePOST"].get_data(as_text=True)
    assert body.splitlines()[0].startswith("solar,device_id=gateway-001 generation_kw=")
    assert "edge-gateway-dev-token" not in capsys.readouterr().err


def test_enable_influxdb_without_a_token_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("INFLUXDB_TOKEN", raising=False)
    assert main(["simulate", "--once", "--enable-influxdb"]) == 2
    assert "--influxdb-token or INFLUXDB_TOKEN" in capsys.readouterr().err


@pytest.mark.slow
def test_default_year_command_writes_the_store(tmp_path, capsys):
    rc = main(
        ["simulate", "default-year", "--markets", "nl", "--seed", "5", "--data-dir", str(tmp_path)]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "nl:load" in out and "105120" in out
    store = ParquetStore(tmp_path / "processed")
    prices, meta = store.read("simulated", "prices", site="nl-default", interval_minutes=15)
    assert meta.currency == "EUR" and prices.height == 8836


def test_default_year_rejects_unknown_market(tmp_path, capsys):
    assert main(["simulate", "default-year", "--markets", "xx", "--data-dir", str(tmp_path)]) == 2
    assert "xx" in capsys.readouterr().err
