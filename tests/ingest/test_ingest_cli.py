"""``energy backfill ...`` and ``energy import powerpal ...`` end to end, against loopback servers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from amber_fake import prices_for_days
from werkzeug import Request, Response

from energylib.cli import main
from energylib.store import ParquetStore

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "psk_cli_secret_42"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for k in (
        "AMBER_TOKEN",
        "AMBER_SITE_ID",
        "AMBER_BASE_URL",
        "ENTSOE_API_KEY",
        "ENERGYLIB_DATA_DIR",
    ):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ENERGYLIB_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def store_of(tmp_path) -> ParquetStore:
    return ParquetStore(tmp_path / "data" / "processed")


def test_import_powerpal_merges_overlapping_files(env, tmp_path, capsys):
    files = [
        str(FIX / "powerpal" / "powerpal_30min_a.csv"),
        str(FIX / "powerpal" / "powerpal_30min_b.csv"),
    ]
    assert main(["import", "powerpal", *files]) == 0
    out = capsys.readouterr().out
    assert "58 intervals" in out and "58 inserted" in out and "1 gap(s)" in out
    assert main(["import", "powerpal", *files]) == 0
    assert "0 inserted, 0 updated, 58 unchanged" in capsys.readouterr().out
    data, meta = store_of(tmp_path).read("powerpal", "usage", site="home")
    assert data.height == 58 and meta.interval_minutes == 30


def test_import_powerpal_stores_each_resolution_as_its_own_series(env, tmp_path, capsys):
    files = [
        str(FIX / "powerpal" / "powerpal_30min_a.csv"),
        str(FIX / "powerpal" / "powerpal_60min.csv"),
        str(FIX / "powerpal" / "powerpal_30min_b.csv"),
    ]
    assert main(["import", "powerpal", *files]) == 0
    out = capsys.readouterr().out
    assert "powerpal 30-min usage for home: 58 intervals" in out and "from 2 file(s)" in out
    assert "powerpal 60-min usage for home: 24 intervals" in out and "from 1 file(s)" in out
    store = store_of(tmp_path)
    assert store.read("powerpal", "usage", site="home", interval_minutes=30)[0].height == 58
    assert store.read("powerpal", "usage", site="home", interval_minutes=60)[0].height == 24


def test_import_powerpal_bad_file_stores_nothing(env, tmp_path, capsys):
    files = [
        str(FIX / "powerpal" / "powerpal_60min.csv"),
        str(FIX / "powerpal" / "bad_negative.csv"),
    ]
    assert main(["import", "powerpal", *files]) == 1
    err = capsys.readouterr().err
    assert "bad_negative.csv, line 7" in err and "nothing stored" in err
    assert store_of(tmp_path).datasets() == []


def test_backfill_amber_from_environment(env, httpserver, tmp_path, capsys):
    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = prices_for_days(
            date.fromisoformat(request.args["startDate"]),
            date.fromisoformat(request.args["endDate"]),
        )
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/sites/S1/prices").respond_with_handler(handler)
    env.setenv("AMBER_TOKEN", TOKEN)
    env.setenv("AMBER_SITE_ID", "S1")
    env.setenv("AMBER_BASE_URL", httpserver.url_for("/v1"))
    assert (
        main(["backfill", "amber", "--start", "2025-02-01", "--end", "2025-02-10", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "2 window(s)" in out and "960 inserted" in out
    assert TOKEN not in out
    data, _ = store_of(tmp_path).read("amber", "prices", site="S1", channel="feed_in")
    assert data.height == 480


def test_backfill_amber_without_token_says_what_to_set(env, capsys):
    assert main(["backfill", "amber", "--start", "2025-02-01", "--end", "2025-02-02"]) == 2
    assert "AMBER_TOKEN" in capsys.readouterr().err


def test_backfill_amber_failure_prints_resume_command(env, httpserver, tmp_path, capsys):
    def handler(request: Request) -> Response:
        first = date.fromisoformat(request.args["startDate"])
        if first >= date(2025, 2, 8):
            return Response("Unauthorized", status=401)
        body = prices_for_days(first, date.fromisoformat(request.args["endDate"]))
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/sites/S1/prices").respond_with_handler(handler)
    env.setenv("AMBER_TOKEN", TOKEN)
    rc = main(
        [
            "backfill",
            "amber",
            "--start",
            "2025-02-01",
            "--end",
            "2025-02-20",
            "--site",
            "S1",
            "--base-url",
            httpserver.url_for("/v1"),
            "--no-progress",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "token rejected" in err and "stored through 2025-02-07" in err
    assert (
        "energy backfill amber --kind prices --start 2025-02-01 --end 2025-02-20 --site S1 --resume"
        in err
    )
    assert (
        store_of(tmp_path).read("amber", "prices", site="S1", channel="general")[0].height == 7 * 48
    )


def test_backfill_aemo(env, httpserver, tmp_path, capsys):
    csv = (FIX / "aemo" / "PRICE_AND_DEMAND_202401_NSW1.csv").read_bytes()
    httpserver.expect_request("/pd/PRICE_AND_DEMAND_202401_NSW1.csv").respond_with_data(
        csv, content_type="text/csv"
    )
    rc = main(
        [
            "backfill",
            "aemo",
            "--region",
            "NSW1",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
            "--base-url",
            httpserver.url_for("/pd"),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "12 inserted" in capsys.readouterr().out
    data, meta = store_of(tmp_path).read("aemo", "prices", site="NSW1")
    assert data.height == 12 and meta.interval_minutes == 5


def test_backfill_entsoe_uses_part_b_backfill(env, httpserver, tmp_path, capsys):
    doc = (FIX / "entsoe" / "A44_NL_2025-03-10_PT60M_A03.xml").read_bytes()
    httpserver.expect_request("/api").respond_with_data(doc, content_type="text/xml")
    env.setenv("ENTSOE_API_KEY", "entsoe-test-token")
    rc = main(
        [
            "backfill",
            "entsoe",
            "--zone",
            "NL",
            "--start",
            "2025-03-10",
            "--end",
            "2025-03-10",
            "--base-url",
            httpserver.url_for("/api"),
            "--no-progress",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert "entsoe NL" in capsys.readouterr().out
    data, meta = store_of(tmp_path).read("entsoe", "prices", site="NL")
    assert data.height == 24 and meta.interval_minutes == 60


def test_backfill_end_before_start_is_rejected(env, capsys):
    assert main(["backfill", "aemo", "--start", "2024-02-01", "--end", "2024-01-01"]) == 2
    assert "before --start" in capsys.readouterr().err


def test_import_saved_amber_responses(env, tmp_path, capsys):
    saved = []
    for i, (a, b) in enumerate(
        [(date(2025, 3, 1), date(2025, 3, 7)), (date(2025, 3, 7), date(2025, 3, 10))]
    ):
        p = tmp_path / f"prices_{i}.json"
        p.write_text(json.dumps(prices_for_days(a, b)))
        saved.append(str(p))
    assert main(["import", "amber", *saved, "--site", "S9"]) == 0
    # 2025-03-07 is in both files: stored once
    assert f"{2 * 10 * 48} inserted" in capsys.readouterr().out
    data, _ = store_of(tmp_path).read("amber", "prices", site="S9", channel="general")
    assert data.height == 10 * 48


def test_import_aemo_csvs_saved_locally(env, tmp_path, capsys):
    files = [str(FIX / "aemo" / "PRICE_AND_DEMAND_202401_NSW1.csv")]
    assert main(["import", "aemo", *files]) == 0
    out = capsys.readouterr().out
    data, meta = store_of(tmp_path).read("aemo", "prices", site="NSW1")
    assert meta.interval_minutes == 5 and meta.channel == "wholesale"
    assert f"{data.height} intervals" in out and f"{data.height} inserted" in out
    assert main(["import", "aemo", *files]) == 0  # again: nothing changes
    assert f"0 inserted, 0 updated, {data.height} unchanged" in capsys.readouterr().out


def test_import_aemo_bad_file_stores_nothing(env, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\nNSW1,not a date,1,2,TRADE\n")
    good = str(FIX / "aemo" / "PRICE_AND_DEMAND_202401_NSW1.csv")
    assert main(["import", "aemo", good, str(bad)]) == 1
    assert "nothing stored" in capsys.readouterr().err
    assert store_of(tmp_path).datasets() == []


def test_import_entsoe_csv_from_entsoe_py(env, tmp_path, capsys):
    import pandas as pd

    # What entsoe-py's query_day_ahead_prices returns, saved as a user would: series.to_csv().
    index = pd.date_range(
        "2025-09-30 00:00", "2025-10-01 23:45", freq="15min", tz="Europe/Amsterdam"
    )
    hourly = index[index < pd.Timestamp("2025-10-01", tz="Europe/Amsterdam")][::4]
    quarter = index[index >= pd.Timestamp("2025-10-01", tz="Europe/Amsterdam")]
    series = pd.Series(range(len(hourly) + len(quarter)), index=hourly.append(quarter), dtype=float)
    path = tmp_path / "nl.csv"
    series.to_csv(path)
    assert main(["import", "entsoe", str(path), "--zone", "NL"]) == 0
    store = store_of(tmp_path)
    hourly_data, _ = store.read("entsoe", "prices", site="NL", interval_minutes=60)
    quarter_data, _ = store.read("entsoe", "prices", site="NL", interval_minutes=15)
    assert hourly_data.height == 24 and quarter_data.height == 96
    assert hourly_data["spot_per_kwh"][1] == pytest.approx(0.001)  # 1 EUR/MWh
    assert str(hourly_data["interval_start"][0]) == "2025-09-29 22:00:00+00:00"


def test_import_entsoe_csv_without_offsets_names_the_line(env, tmp_path, capsys):
    path = tmp_path / "naive.csv"
    path.write_text(",0\n2025-01-01 00:00:00+01:00,80.5\n2025-01-01 01:00:00,81.0\n")
    assert main(["import", "entsoe", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 3" in err and "UTC offset" in err and "nothing stored" in err


def test_import_sgsc_and_citylearn_homes(env, tmp_path, capsys, shared_data):
    sgsc = shared_data / "sgsc_households" / "sgsc_40_households_30min.parquet"
    assert main(["import", "sgsc", str(sgsc), "--customers", "10006414"]) == 0
    buildings = [str(shared_data / "citylearn_2022" / "Building_1.csv")]
    assert main(["import", "citylearn", *buildings]) == 0
    store = store_of(tmp_path)
    usage, meta = store.read("sgsc", "usage", site="sgsc-10006414")
    assert meta.interval_minutes == 30 and usage.height > 17000
    load, _ = store.read("citylearn", "load", site="citylearn-1")
    pv, _ = store.read("citylearn", "pv", site="citylearn-1")
    assert load.height == pv.height == 8760
