"""TorchScript and ONNX export: parity with the eager model, predict(), loading without training code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
from forecast_synthetic import SMALL_SPEC

from energylib.forecast.checkpoint import load_checkpoint
from energylib.forecast.export import (
    ModelFileError,
    export_onnx,
    export_parity,
    export_torchscript,
    load_model,
    predict,
    validate_model_file,
)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    return {
        "torchscript": export_torchscript(trained.best_checkpoint, d / "model.pt"),
        "onnx": export_onnx(trained.best_checkpoint, d / "model.onnx"),
    }


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_model_matches_the_eager_model_within_1e_5(trained, exported, fmt):
    assert export_parity(trained.best_checkpoint, exported[fmt], n=16) <= 1e-5


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_forecasts_equal_eager_forecasts_in_physical_units(trained, exported, frame, fmt):
    history = frame.head(400)
    eager = load_checkpoint(trained.best_checkpoint).predict(history)
    other = load_model(exported[fmt]).predict(history)
    for name in eager:
        for col in ("total_kwh", "price_per_kwh"):
            assert np.allclose(eager[name][col].to_numpy(), other[name][col].to_numpy(), atol=1e-5)


def test_predict_takes_history_and_returns_day_week_month_forecasts(exported, frame):
    history = frame.head(500)
    out = predict(history, exported["onnx"])
    assert list(out) == ["day", "week", "month"]
    for name, steps in SMALL_SPEC.horizons:
        assert out[name].height == steps
        assert out[name]["interval_start"][0] == history["interval_start"][-1] + timedelta(
            minutes=30
        )
    # only the latest window matters: older history changes nothing
    again = predict(history.tail(SMALL_SPEC.history_rows), exported["onnx"])
    assert np.allclose(again["day"]["total_kwh"].to_numpy(), out["day"]["total_kwh"].to_numpy())


def test_loader_runs_without_the_training_code(exported, frame, tmp_path):
    hist = tmp_path / "h.parquet"
    frame.head(SMALL_SPEC.history_rows + 4).write_parquet(hist)
    code = f"""
import sys
for m in ("energylib.forecast.train", "energylib.forecast.transformer"):
    sys.modules[m] = None  # importing either now fails
import polars as pl
from energylib.forecast.export import predict
for path in ({str(exported["torchscript"])!r}, {str(exported["onnx"])!r}):
    out = predict(pl.read_parquet({str(hist)!r}), path)
    print(out["week"].height)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["8", "8"]


def test_validate_model_file_accepts_a_good_model(exported, frame):
    report = validate_model_file(exported["torchscript"], frame.head(SMALL_SPEC.history_rows + 4))
    assert report["feature_spec"] == SMALL_SPEC.name and report["horizons"] == {
        "day": 4,
        "week": 8,
        "month": 12,
    }


def test_validate_model_file_rejects_broken_and_foreign_files(exported, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="cannot load as ONNX"):
        validate_model_file(junk)
    with pytest.raises(ModelFileError, match="does not exist"):
        validate_model_file(tmp_path / "missing.pt")
    import onnx

    model = onnx.load(str(exported["onnx"]))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ModelFileError, match="without energylib metadata"):
        validate_model_file(bare)


def test_validate_model_file_rejects_metadata_that_disagrees_with_the_graph(exported, tmp_path):
    import onnx

    model = onnx.load(str(exported["onnx"]))
    meta = json.loads(model.metadata_props[0].value)
    meta["feature_spec"]["horizons"] = [["day", 4], ["week", 9], ["month", 12]]
    model.metadata_props[0].value = json.dumps(meta)
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ModelFileError, match="shape"):
        validate_model_file(bad)
