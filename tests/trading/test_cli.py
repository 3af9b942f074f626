"""`energy market --params FILE [--scheduler ADDRESS]` end to end (small generated communities)."""

from __future__ import annotations

import polars as pl
import pytest
import yaml

from energylib.cli import main

SMALL = {
    "title": "Six generated homes",
    "market": "nl",
    "start_day": 150,
    "days": 2,
    "homes": {"source": "generated", "count": 6, "seed": 3},
    "trading": {"mechanisms": ["uniform_auction", "peer_matching"], "seed": 3},
    "optimum": {"enabled": True, "max_homes": 20},
}


def write(tmp_path, params: dict, name: str = "small.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(params))
    return path


def test_market_runs_a_study_prints_the_table_and_writes_the_frames(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["market", "--params", str(write(tmp_path, SMALL)), "--output", str(out), "--no-progress"]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    for word in ("alone", "uniform", "peer", "optimum", "saving", "self_sufficiency_pct", "EUR"):
        assert word in text
    summary = pl.read_parquet(out / "summary.parquet")
    assert summary["mechanism"].to_list() == [
        "none",
        "uniform_auction",
        "peer_matching",
        "cooperative_optimum",
    ]
    households = pl.read_parquet(out / "households.parquet")
    assert households.height == 6 * 3
    assert pl.read_parquet(out / "homes.parquet").height == 6


def test_market_sends_feeders_to_a_dask_scheduler_by_address(tmp_path, capsys, local_cluster):
    out = tmp_path / "out"
    args = ["market", "--params", str(write(tmp_path, SMALL)), "--scheduler", local_cluster.scheduler_address,
            "--feeder-size", "3", "--output", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "2 feeder(s)" in text
    households = pl.read_parquet(out / "households.parquet")
    assert sorted(households["feeder"].unique()) == ["feeder-0", "feeder-1"]
    assert households.filter(pl.col("mechanism") == "none").height == 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"homes": {"source": "generated", "count": 6, "colour": "red"}},
            "unknown key 'homes.colour'",
        ),
        ({"trading": {"mechanisms": ["sealed_bid"]}}, "trading.mechanisms"),
        ({"battery": {"capacity_kwh": -1}}, "battery: Battery.capacity_kwh must be > 0"),
        (
            {"homes": {"source": "citylearn", "path": "nowhere/citylearn"}},
            "homes.if_missing: generated",
        ),
        ({"interval_minutes": 7}, "interval_minutes must be 5, 15, 30 or 60"),
    ],
)
def test_bad_params_name_the_file_the_key_and_the_fix(tmp_path, capsys, change, message):
    path = write(tmp_path, {**SMALL, **change})
    assert main(["market", "--params", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_a_params_file_that_is_not_yaml_names_its_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("title: x\nhomes: [unclosed\n")
    assert main(["market", "--params", str(path)]) == 2
    assert f"{path}, line" in capsys.readouterr().err


def test_missing_real_homes_fall_back_to_generated_ones_only_when_asked(tmp_path, capsys):
    params = {
        **SMALL,
        "homes": {"source": "sgsc", "path": "nowhere/sgsc", "if_missing": "generated", "count": 3},
    }
    assert main(["market", "--params", str(write(tmp_path, params)), "--no-progress"]) == 0
    assert "is absent: homes.if_missing: generated" in capsys.readouterr().out
