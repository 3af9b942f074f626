"""Training: checkpoints that load alone, resume, early stopping, seeds, devices."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import torch
import yaml
from forecast_synthetic import SMALL_SPEC, TZ, tiny_config

from energylib.forecast.checkpoint import checkpoint_history, load_checkpoint
from energylib.forecast.features import FeatureSpec
from energylib.forecast.train import TrainConfig, select_device, train


def test_checkpoint_carries_config_scalers_and_feature_spec(trained):
    state = torch.load(trained.best_checkpoint, weights_only=True)
    meta = state["meta"]
    assert FeatureSpec.from_dict(meta["feature_spec"]) == SMALL_SPEC
    assert (
        len(meta["scalers"]["inputs"]["center"]) == 24
        and len(meta["scalers"]["targets"]["scale"]) == 2
    )
    assert meta["model_config"]["d_model"] == 16 and meta["timezone"] == TZ
    assert state["train_config"]["learning_rate"] == 1e-3


def test_checkpoint_alone_loads_and_forecasts_the_next_intervals(trained, frame):
    fc = load_checkpoint(trained.best_checkpoint)
    history = frame.head(SMALL_SPEC.history_rows + 50)
    out = fc.predict(history)
    assert list(out) == ["day", "week", "month"]
    for name, steps in SMALL_SPEC.horizons:
        f = out[name]
        assert f.columns == ["interval_start", "total_kwh", "price_per_kwh"] and f.height == steps
        assert (f["interval_start"].diff().drop_nulls().dt.total_minutes() == 30).all()
        assert f["interval_start"][0] == history["interval_start"][-1] + timedelta(minutes=30)
        assert np.isfinite(f["total_kwh"].to_numpy()).all()


def test_best_checkpoint_is_the_epoch_with_lowest_validation_loss(trained):
    hist = trained.history
    assert hist.height == 2
    assert trained.best_val_loss == pytest.approx(hist["val_loss"].min())
    assert trained.best_epoch == hist["epoch"][int(np.argmin(hist["val_loss"].to_numpy()))]
    assert (
        checkpoint_history(trained.last_checkpoint)["val_loss"].to_list()
        == hist["val_loss"].to_list()
    )


def test_resumed_run_matches_an_unbroken_run(frame, tmp_path):
    full = train(
        frame, TZ, tiny_config(max_epochs=3, max_train_batches=4), tmp_path / "a", progress=False
    )
    train(frame, TZ, tiny_config(max_epochs=1, max_train_batches=4), tmp_path / "b", progress=False)
    resumed = train(
        frame,
        TZ,
        tiny_config(max_epochs=3, max_train_batches=4),
        tmp_path / "b",
        resume=tmp_path / "b" / "last.pt",
        progress=False,
    )
    assert resumed.history["epoch"].to_list() == [1, 2, 3]
    assert np.allclose(
        resumed.history["val_loss"].to_numpy(), full.history["val_loss"].to_numpy(), rtol=1e-5
    )
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model_state"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model_state"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_same_seed_same_model(frame, tmp_path):
    r1 = train(
        frame, TZ, tiny_config(max_epochs=1, max_train_batches=3), tmp_path / "1", progress=False
    )
    r2 = train(
        frame, TZ, tiny_config(max_epochs=1, max_train_batches=3), tmp_path / "2", progress=False
    )
    assert r1.history["val_loss"].to_list() == r2.history["val_loss"].to_list()


def test_early_stopping_ends_training_after_patience_epochs_without_improvement(frame, tmp_path):
    # learning rate 0: the validation loss never improves after the first epoch
    cfg = tiny_config(learning_rate=0.0, max_epochs=20, max_train_batches=1, max_eval_batches=1)
    result = train(frame, TZ, cfg, tmp_path, progress=False)
    assert result.stopped_early
    assert result.history["epoch"].to_list() == list(range(1, 1 + 1 + cfg.early_stopping_patience))
    assert result.best_epoch == 1


def test_training_lowers_the_validation_loss(frame, tmp_path):
    result = train(
        frame,
        TZ,
        tiny_config(max_epochs=3, max_train_batches=10, learning_rate=3e-3),
        tmp_path,
        progress=False,
    )
    val = result.history["val_loss"].to_numpy()
    assert val[-1] < val[0]


def test_defaults_follow_the_trading_system():
    cfg = TrainConfig()
    assert (cfg.learning_rate, cfg.weight_decay, cfg.batch_size, cfg.max_epochs) == (
        1e-4,
        0.01,
        32,
        50,
    )
    assert (cfg.lr_patience, cfg.early_stopping_patience, cfg.grad_clip) == (3, 5, 1.0)
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"learnin_rate": 1})


def test_device_is_cpu_without_an_accelerator():
    dev = select_device()
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    elif torch.backends.mps.is_available():
        assert dev.type == "mps"
    else:
        assert dev.type == "cpu"
    assert select_device("cpu").type == "cpu"


def test_too_little_data_says_how_much_is_needed(frame):
    with pytest.raises(ValueError, match="1488 consecutive present intervals"):
        train(frame, TZ, TrainConfig(max_epochs=1), progress=False)


def test_energy_train_command_trains_from_a_params_file(frame, tmp_path, capsys):
    from energylib.cli import main
    from energylib.schema import FrameMeta
    from energylib.store import ParquetStore

    store = ParquetStore(tmp_path / "store")
    loads = frame.select("interval_start", *[c for c in frame.columns if c.endswith("_kwh")])
    store.upsert(loads, FrameMeta("simulated", "load", 30, currency="AUD", timezone=TZ))
    store.upsert(
        frame.select("interval_start", "price_per_kwh"),
        FrameMeta("simulated", "prices", 30, currency="AUD", timezone=TZ),
    )
    store.upsert(
        frame.select("interval_start", "ghi_w_m2", "temp_air_c"),
        FrameMeta("simulated", "weather", 30, channel="all", timezone=TZ),
    )
    store.upsert(
        frame.select("interval_start", "soc_pct", "soh_pct", "cycles_count"),
        FrameMeta("simulated", "battery", 30, channel="all", timezone=TZ),
    )
    params = {
        "data": "store",
        "store_dir": str(tmp_path / "store"),
        "feature_spec": SMALL_SPEC.to_dict(),
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
        "max_epochs": 1,
        "max_train_batches": 2,
        "checkpoint_dir": str(tmp_path / "ck"),
        "export": ["onnx"],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    assert main(["train", "--params", str(tmp_path / "p.yaml"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best validation loss" in out and (tmp_path / "ck" / "model.onnx").is_file()
    assert (
        main(
            [
                "train",
                "--params",
                str(tmp_path / "p.yaml"),
                "--quiet",
                "--resume",
                str(tmp_path / "ck" / "last.pt"),
            ]
        )
        == 0
    )
