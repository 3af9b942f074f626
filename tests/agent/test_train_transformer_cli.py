"""`energy train --evaluate / --status` cover the exported EnergyTransformer (the model the
agent runs), scored on the test block of its params file's data against seasonal naive."""

from __future__ import annotations

import json
import shutil

import numpy as np
import yaml

from energylib.cli import main
from energylib.forecast.export import load_model
from energylib.forecast.metrics import evaluate
from energylib.forecast.train import load_training_data

PARAMS = {
    "data": "default_year",
    "days": 40,
    "checkpoint_dir": "models/forecast_pi",
    "split": [0.6, 0.2, 0.2],
    "eval_windows": 20,
}


def test_evaluate_and_status_of_the_exported_transformer(model_files, tmp_path, capsys):
    params = tmp_path / "train.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    folder = tmp_path / "data" / "models" / "forecast_pi"
    folder.mkdir(parents=True)
    model = folder / "model.onnx"
    shutil.copy(model_files["a"], model)
    d = ["--params", str(params), "--data-dir", str(tmp_path / "data"),
         "--model-dir", str(tmp_path / "none")]  # fmt: skip

    assert main(["train", "--status", *d]) == 0
    out = capsys.readouterr().out
    assert f"transformer   {model}" in out and "spec TPWT_tiny" in out
    assert "not evaluated yet" in out and "no baseline models" in out

    assert main(["train", "--evaluate", *d]) == 0
    out = capsys.readouterr().out
    assert f"EnergyTransformer {model} (TPWT_tiny)" in out
    record = json.loads((folder / "model.onnx.eval.json").read_text())
    by = {(s["task"], s["horizon"]): s for s in record["scores"]}
    assert set(by) == {(t, h) for t in ("consumption", "price") for h in ("day", "week", "month")}
    # the figures are the library's evaluation of the same model on the same block
    data, tz = load_training_data(PARAMS)
    want = evaluate(data, tz, load_model(model, threads=1), split=(0.6, 0.2, 0.2),
                    baselines=("seasonal_naive_day",), max_anchors=20).table  # fmt: skip
    row = want.filter((want["model"] == "transformer") & (want["task"] == "price")
                      & (want["horizon"] == "day")).row(0, named=True)  # fmt: skip
    np.testing.assert_allclose(by[("price", "day")]["mae"], row["mae"], rtol=1e-9)
    assert f"MAE {row['mae']:.4f}" in out

    assert main(["train", "--status", *d]) == 0
    out = capsys.readouterr().out
    assert f"price/day MAE {row['mae']:.4f}" in out and "changed since" not in out
    shutil.copy(model_files["b"], model)  # a newer model: its old scores are marked stale
    assert main(["train", "--status", *d]) == 0
    assert "the file changed since" in capsys.readouterr().out

    assert main(["train", "--evaluate", "--transformer", str(tmp_path / "missing.onnx"), *d]) == 2
    assert "no such file" in capsys.readouterr().err
    model.unlink()
    assert main(["train", "--evaluate", *d]) == 1
    assert "no exported Transformer" in capsys.readouterr().err
