"""Any series: a spec in one call, any interval length, task names and horizons, date splits,
inputs known in advance, daily forecast origins, and clear errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

from energylib.forecast.checkpoint import load_checkpoint
from energylib.forecast.features import (
    TOTAL_PRICE_WEATHER_TIME,
    FeatureSpec,
    daily_origins,
    feature_matrix,
    future_windows,
    input_windows,
    level_inputs,
    level_lag_inputs,
    split_blocks,
    window_anchors,
)
from energylib.forecast.train import TrainConfig, _structure_defaults, train
from energylib.forecast.transformer import (
    EnergyTransformer,
    ModelConfig,
    horizon_weights_for,
    multitask_loss,
)
from energylib.schema import interval_index

START = datetime(2024, 1, 1, tzinfo=UTC)
TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}


def series(days: int = 40, minutes: int = 60, seed: int = 0, future: bool = False) -> pl.DataFrame:
    """A price series with a daily shape (and a load forecast that drives it, if ``future``)."""
    rng = np.random.default_rng(seed)
    t = interval_index(START, START + timedelta(days=days), minutes)
    n = len(t)
    hour = (np.arange(n) * minutes / 60) % 24
    load = 40 + 8 * np.sin(2 * np.pi * (hour - 6) / 24) + rng.normal(0, 2, n)
    price = 0.05 + 0.002 * load + rng.normal(0, 0.003, n)
    cols = {"interval_start": t, "price_per_kwh": price}
    if future:
        cols["load_forecast_mw"] = load
    return pl.DataFrame(cols)


def test_for_series_makes_a_spec_for_a_price_only_hourly_series(tmp_path):
    frame = series()
    spec = FeatureSpec.for_series(frame, target="price_per_kwh")
    assert spec.interval_minutes == 60 and spec.per_day == 24
    assert spec.tasks == ("price",) and spec.targets == ("price_per_kwh",)
    assert spec.horizons == (("day", 24),) and spec.sequence_length == 24
    assert [f.lag for f in spec.features if f.kind == "lag"] == [24, 48, 72, 168]  # 1, 2, 3, 7 days
    assert spec.target_transforms == ("none",) and FeatureSpec.from_dict(spec.to_dict()) == spec
    # the price's level and its whole-day lags feed the baseline, with one slot per hour
    defaults = _structure_defaults(spec)
    assert defaults["profile_slots"] == 24 and defaults["task_losses"] == ("mae",)
    assert len(defaults["level_lags"][0]) == 4 and level_inputs(spec) == (0,)
    config = TrainConfig(
        feature_spec=spec,
        model=TINY,
        max_epochs=1,
        max_train_batches=5,
        learning_rate=1e-3,
        split=("2024-01-25", "2024-02-01"),
    )
    result = train(frame, "UTC", config, tmp_path, progress=False)
    out = load_checkpoint(result.best_checkpoint).predict(frame)
    assert list(out) == ["day"] and out["day"].height == 24
    assert out["day"]["interval_start"][0] == frame["interval_start"][-1] + timedelta(hours=1)


@pytest.mark.parametrize("minutes", [15, 60])
def test_time_of_day_slots_and_lags_follow_the_interval_length(minutes):
    frame = series(days=10, minutes=minutes)
    spec = FeatureSpec.for_series(frame, "price_per_kwh", horizons={"day": 1440 // minutes})
    per_day = 1440 // minutes
    assert spec.per_day == per_day
    assert [f.lag for f in spec.features if f.kind == "lag"] == [per_day * k for k in (1, 2, 3, 7)]
    assert _structure_defaults(spec)["profile_slots"] == per_day
    assert len(level_lag_inputs(spec)[0]) == 4  # every whole-day lag, at this interval
    assert feature_matrix(frame, spec, "UTC").n_rows == frame.height


def test_a_spec_moves_to_another_interval_keeping_its_durations():
    hourly = TOTAL_PRICE_WEATHER_TIME.at_interval(60)
    assert hourly.interval_minutes == 60 and hourly.sequence_length == 24
    assert [f.lag for f in hourly.features if f.kind == "lag"] == [24, 48, 72, 168]
    assert "price_lag_24" in hourly.feature_names and "price_lag_48" in hourly.feature_names
    assert hourly.horizons == (("day", 24), ("week", 168), ("month", 720))
    assert len(level_lag_inputs(hourly)[1]) == 4  # the day lags still join the price level
    assert TOTAL_PRICE_WEATHER_TIME.at_interval(30) is TOTAL_PRICE_WEATHER_TIME


def test_hourly_data_with_a_half_hourly_spec_says_both_resolutions():
    frame = series(days=3).with_columns(
        total_kwh=pl.lit(0.5), temp_air_c=pl.lit(20.0), ghi_w_m2=pl.lit(0.0)
    )
    with pytest.raises(ValueError) as err:
        feature_matrix(frame, TOTAL_PRICE_WEATHER_TIME, "UTC")
    msg = str(err.value)
    assert "the data is hourly" in msg and "half-hourly" in msg and "at_interval(60)" in msg


def test_task_names_are_free_and_a_tasks_kind_follows_its_target():
    frame = series().with_columns(energy_kwh=pl.lit(0.4), other_kwh=pl.lit(0.1))
    spec = FeatureSpec.for_series(frame, ["price_per_kwh", "energy_kwh"], tasks=["np", "home"])
    assert spec.tasks == ("np", "home") and spec.task_kinds == ("price", "consumption")
    assert spec.target_transforms == ("none", "log")
    assert _structure_defaults(spec)["task_losses"] == ("mae", "mse")
    assert level_inputs(spec)[0] == 0 and level_inputs(spec)[1] == -1
    cfg = ModelConfig(n_features=3, d_model=8, n_heads=2, horizons=(2,), horizon_names=("day",), tasks=("np", "home"), task_losses=("mae", "mse"))  # fmt: skip
    out = [torch.zeros(1, 2), torch.zeros(1, 2)]
    target = [torch.full((1, 2), 2.0), torch.full((1, 2), 2.0)]
    total, parts = multitask_loss(out, target, cfg)
    assert parts == {"np_day": 2.0, "home_day": 4.0} and total.item() == pytest.approx(
        6.0
    )  # weight 1
    with pytest.raises(ValueError, match="repeat"):
        dataclasses.replace(spec, tasks=("np", "np"))


def test_any_number_of_horizons():
    frame = series()
    spec = FeatureSpec.for_series(frame, "price_per_kwh", horizons=[6, 12, 24, 48, 96])
    assert spec.horizon_names == ("h6", "h12", "day", "h48", "h96")
    assert horizon_weights_for(5) == (1.0, 0.5, 0.25, 0.125, 0.0625)
    cfg = ModelConfig(n_features=spec.n_features, **TINY, sequence_length=24, horizons=spec.horizon_steps, horizon_names=spec.horizon_names, tasks=spec.tasks)  # fmt: skip
    outs = EnergyTransformer(cfg)(torch.zeros(2, 24, spec.n_features))
    assert [tuple(o.shape) for o in outs] == [(2, h) for h in (6, 12, 24, 48, 96)]
    total, parts = multitask_loss(outs, [torch.zeros_like(o) for o in outs], cfg)
    assert len(parts) == 5 and torch.isfinite(total)


def test_splits_by_date():
    times = pl.Series(interval_index(START, START + timedelta(days=40), 60))
    blocks = split_blocks(times, ["2024-01-25", "2024-02-01"])
    assert blocks["train"] == (0, 24 * 24) and blocks["val"] == (24 * 24, 31 * 24)
    assert blocks["test"] == (31 * 24, 40 * 24)
    ends = split_blocks(times, ["2024-01-25", "2024-02-01", "2024-02-05"])
    assert ends["test"] == (31 * 24, 35 * 24)
    assert split_blocks(times, [0.5, 0.25, 0.25])["val"] == (480, 720)  # fractions still work
    with pytest.raises(ValueError, match="increasing"):
        split_blocks(times, ["2024-02-01", "2024-01-25"])
    with pytest.raises(ValueError, match="empty"):
        split_blocks(times, ["2024-03-01", "2024-03-05"])


def test_known_future_inputs_are_read_at_the_forecast_intervals_and_history_only_behind():
    frame = series(future=True)
    spec = FeatureSpec.for_series(frame, "price_per_kwh", known_future=["load_forecast_mw"])
    assert spec.future_names == ["load_forecast_mw", "hour_sin", "hour_cos", "dow_sin", "dow_cos"]
    fm = feature_matrix(frame, spec, "UTC")
    anchor = np.array([300])
    ahead = future_windows(fm.future, anchor, 24)
    assert np.array_equal(
        ahead[0, :, 0], frame["load_forecast_mw"].to_numpy()[301:325].astype(np.float32)
    )
    # change everything after the anchor: the window is unchanged, the future reads the change
    later = (
        frame.with_row_index("r")
        .with_columns(
            pl.when(pl.col("r") > 300).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
            for c in ("price_per_kwh", "load_forecast_mw")
        )
        .drop("r")
    )
    fm2 = feature_matrix(later, spec, "UTC")
    assert np.array_equal(
        input_windows(fm.inputs, anchor, 24), input_windows(fm2.inputs, anchor, 24)
    )
    assert not np.array_equal(ahead, future_windows(fm2.future, anchor, 24))


def test_an_untrained_model_with_known_future_inputs_forecasts_its_baseline_and_then_learns_them():
    # a price task with a level + profile baseline: its heads, and the known-future
    # read-out, start at zero, so training begins at the baseline whatever the future holds
    cfg = ModelConfig(n_features=4, d_model=8, n_layers=1, n_heads=2, d_ff=16, sequence_length=8, horizons=(4,), horizon_names=("day",), tasks=("price",), level_inputs=(3,), profile_slots=24, time_inputs=(0, 1), n_future=2)  # fmt: skip
    model = EnergyTransformer(cfg).eval()
    x, f = torch.randn(2, 8, 4), torch.randn(2, 4, 2)
    with torch.no_grad():
        base = model._baselines(x)[0][:, :4]
        assert torch.allclose(model(x, f)[0], base) and torch.allclose(model(x, f + 5.0)[0], base)
        torch.nn.init.normal_(model.future_heads[0].weight)  # once it has learned to read them
        assert not torch.allclose(model(x, f + 5.0)[0], model(x, f)[0])
    with pytest.raises(ValueError, match="known-future"):
        model(x)


def test_evaluate_scores_each_day_of_a_test_period_once_and_the_ridge_reads_known_future(tmp_path):
    from energylib.forecast.metrics import evaluate

    frame = series(future=True)
    spec = FeatureSpec.for_series(frame, "price_per_kwh", known_future=["load_forecast_mw"])
    ev = evaluate(frame, "UTC", spec=spec, split=("2024-01-25", "2024-02-01"), origins="daily")
    day = ev.anchors["day"]
    assert len(day) == 8  # 1 Feb .. 8 Feb: the last day's forecast ends at the data's end
    starts = ev.matrix.times.to_numpy()[day + 1]
    assert all(np.datetime64(s, "h").astype(object).hour == 0 for s in starts)
    rows = {r["model"]: r for r in ev.table.iter_rows(named=True)}
    # the load forecast drives the price: the ridge that reads it does better than without
    blind = FeatureSpec.for_series(frame.drop("load_forecast_mw"), "price_per_kwh")
    without = evaluate(
        frame, "UTC", spec=blind, split=("2024-01-25", "2024-02-01"), origins="daily"
    )
    ridge_blind = without.table.filter(pl.col("model") == "ridge")["mae"][0]
    assert rows["ridge"]["mae"] < 0.9 * ridge_blind
    assert rows["ridge"]["mae"] < rows["seasonal_naive_day"]["mae"]
    fm = feature_matrix(frame, spec, "UTC")
    origins = daily_origins(fm, window_anchors(fm, (0, fm.n_rows)))
    assert len(origins) == 39 - 7 and (origins % 24 == 23).all()  # the last hour of each day


def test_a_model_with_known_future_inputs_exports_and_loads_with_a_thread_option(tmp_path):
    import onnxruntime

    from energylib.forecast.export import export_onnx, export_parity, export_torchscript, load_model

    frame = series(future=True)
    spec = FeatureSpec.for_series(frame, "price_per_kwh", known_future=["load_forecast_mw"])
    config = TrainConfig(feature_spec=spec, model=TINY, max_epochs=1, max_train_batches=3, split=("2024-01-25", "2024-02-01"))  # fmt: skip
    result = train(frame, "UTC", config, tmp_path / "ck", progress=False)
    onnx_path = export_onnx(result.best_checkpoint, tmp_path / "m.onnx")
    ts_path = export_torchscript(result.best_checkpoint, tmp_path / "m.pt")
    assert export_parity(result.best_checkpoint, onnx_path) <= 1e-5
    assert export_parity(result.best_checkpoint, ts_path) <= 1e-5
    runner = load_model(onnx_path, threads=1)
    assert isinstance(runner.session, onnxruntime.InferenceSession)
    assert runner.session.get_session_options().intra_op_num_threads == 1
    history, ahead = frame.head(600), frame.slice(600, 24)
    got = runner.predict(history, future=ahead)["day"]
    eager = load_checkpoint(result.best_checkpoint).predict(history, future=ahead)["day"]
    assert np.allclose(
        got["price_per_kwh"].to_numpy(), eager["price_per_kwh"].to_numpy(), atol=1e-5
    )
    with pytest.raises(ValueError, match="known-future"):
        runner.predict(history)
    with pytest.raises(ValueError, match="missing for 4"):
        runner.predict(history, future=ahead.head(20))
    with pytest.raises(ValueError, match="threads"):
        load_model(onnx_path, threads=0)


def test_aemo_spot_price_is_a_price_target_without_renaming(shared_data):
    from energylib.ingest.aemo import read_aemo_price_csv

    frame, meta = read_aemo_price_csv(
        shared_data / "aemo_vic1" / "PRICE_AND_DEMAND_202401_VIC1.csv"
    )
    spec = FeatureSpec.for_series(frame, "spot_per_kwh", horizons={"day": 288}, lag_days=(1,))
    assert spec.tasks == ("price",) and spec.interval_minutes == meta.interval_minutes == 5
    assert spec.per_day == 288 and level_inputs(spec) == (0,)
    fm = feature_matrix(frame, spec, meta.timezone)
    assert fm.targets[:, 0] == pytest.approx(frame["spot_per_kwh"].to_numpy(), nan_ok=True)
