"""``energy train --train / --evaluate / --status``: baseline load and solar forecasters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from energylib.cli import main
from energylib.forecast import gateway_baselines as gb
from energylib.schema import TIME
from energylib.store import ParquetStore

CUT = datetime(2025, 10, 1, tzinfo=UTC)  # three months of the default year


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, nem_year):
    root = tmp_path_factory.mktemp("baselines_data")
    store = ParquetStore(root / "processed")
    for key in ("load", "pv", "weather"):
        frame, meta = nem_year[key]
        store.upsert(frame.filter(pl.col(TIME) >= CUT), meta)
    return root


def test_training_sees_only_the_training_block(data_dir):
    d = gb.load_site(ParquetStore(data_dir / "processed"), test_size=0.25)
    assert d.split == round(d.n * 0.75)
    assert gb._targets(d.load, d.anchors("train")).shape[1] == 48
    assert d.anchors("train").max() + 48 < d.split <= d.anchors("test").min()
    before = gb.train_models(d)
    d.load, d.pv = d.load.copy(), d.pv.copy()
    d.load[d.split :] = d.pv[d.split :] = 1e6  # the test block changes; the models must not
    after = gb.train_models(d)
    for name in before:
        for key in before[name]:
            np.testing.assert_array_equal(before[name][key], after[name][key])


def test_the_solar_model_beats_yesterday_and_is_zero_at_night(data_dir):
    d = gb.load_site(ParquetStore(data_dir / "processed"))
    models = gb.train_models(d)
    score = gb.evaluate_model("solar_pv", models["solar_pv"], d)
    assert score["skill_vs_naive"] > 0.3  # weather known: far better than yesterday's PV
    fc = gb.predict("solar_pv", models["solar_pv"], d, d.anchors("test"))
    ghi = gb._targets(d.ghi, d.anchors("test"))
    assert (fc >= 0).all() and (fc[ghi <= 0] == 0).all()
    profile = gb.evaluate_model("load_profile", models["load_profile"], d)
    assert profile["skill_vs_naive"] > 0  # the week profile beats yesterday's load


def test_cli_train_status_evaluate(data_dir, tmp_path, capsys):
    models = tmp_path / "trained_models"
    d = ["--data-dir", str(data_dir), "--model-dir", str(models)]
    assert main(["train", "--status", *d]) == 0
    assert "no baseline models" in capsys.readouterr().out
    assert main(["train", "--train", *d]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in gb.MODELS) and "skill" in out
    meta = json.loads((models / "solar_pv.json").read_text())
    assert meta["test_size"] == 0.2 and meta["test"]["mae_kwh"] > 0
    assert main(["train", "--status", *d]) == 0
    assert capsys.readouterr().out.count("trained 20") == 3
    assert main(["train", "--evaluate", *d]) == 0
    evaluated = capsys.readouterr().out
    # the same data and split: the same scores as at training
    assert f"MAE {meta['test']['mae_kwh']:.4f} kWh" in evaluated
    assert main(["train", "--train", "--site", "nowhere", *d]) == 1
    assert "site='nowhere'" in capsys.readouterr().err


def test_forecast_test_size_is_read_and_checked(data_dir, tmp_path, capsys, monkeypatch):
    d = ["--data-dir", str(data_dir), "--model-dir", str(tmp_path / "m")]
    monkeypatch.setenv("FORECAST_TEST_SIZE", "1.5")
    assert main(["train", "--train", *d]) == 2
    err = capsys.readouterr().err
    assert (
        "FORECAST_TEST_SIZE='1.5'" in err
        and "less than 1" in err
        and "fix FORECAST_TEST_SIZE" in err
    )
    monkeypatch.setenv("FORECAST_TEST_SIZE", "0.3")
    monkeypatch.setenv("FORECAST_MODEL_DIR", str(tmp_path / "from_env"))
    assert main(["train", "--train", "--data-dir", str(data_dir)]) == 0
    assert "last 30%" in capsys.readouterr().out
    assert json.loads((tmp_path / "from_env" / "load_ridge.json").read_text())["test_size"] == 0.3
