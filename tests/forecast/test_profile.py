"""The time-of-day price profile the price heads forecast a residual on: fitted on the
training split only, travelling in the checkpoint, and the model's arithmetic around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from forecast_synthetic import SMALL_SPEC, TZ

from energylib.forecast.baselines import week_slots
from energylib.forecast.checkpoint import load_checkpoint
from energylib.forecast.features import TRADING_24, time_encodings
from energylib.forecast.profile import fit_profile, slot_keys, slots_of, time_inputs
from energylib.forecast.train import prepare_data
from energylib.forecast.transformer import EnergyTransformer, ModelConfig
from energylib.schema import interval_index

PRICE = 1
ANGLE = 2 * np.pi * np.arange(48) / 48
#: Unscaled (hour_sin, hour_cos) of each local half-hour slot: the slot keys of a model
#: whose time inputs are not rescaled.
KEYS = np.column_stack([np.sin(ANGLE), np.cos(ANGLE)]).astype(np.float32)


def _profile_config(**changes) -> ModelConfig:
    """A tiny model whose price task (input 3) has a 48-slot profile; inputs 0-1 are the hour."""
    base = dict(
        n_features=4,
        d_model=8,
        n_layers=1,
        n_heads=2,
        d_ff=16,
        sequence_length=8,
        horizons=(4, 8, 12),
        level_inputs=(-1, 3),
        profile_slots=48,
        time_inputs=(0, 1),
    )
    return ModelConfig(**(base | changes))


def _wreck_after(frame: pl.DataFrame, cut: datetime) -> pl.DataFrame:
    numeric = [c for c in frame.columns if c != "interval_start"]
    return frame.with_columns(
        [
            pl.when(pl.col("interval_start") >= cut)
            .then(pl.col(c) * 100 + 7)
            .otherwise(pl.col(c))
            .alias(c)
            for c in numeric
        ]
    )


def test_slot_is_recovered_from_scaled_hour_encodings_in_local_time_across_daylight_saving(frame):
    prep = prepare_data(frame, TZ, SMALL_SPEC)
    idx = time_inputs(SMALL_SPEC)
    assert [SMALL_SPEC.features[i].name for i in idx] == ["hour_sin", "hour_cos"]
    # Sydney leaves daylight saving on 2025-04-06: two days around it, every half-hour.
    start = datetime(2025, 4, 4, 13, tzinfo=UTC)
    times = pl.Series(interval_index(start, start + timedelta(days=3), 30))
    enc = time_encodings(times, TZ)
    raw = np.zeros((len(times), SMALL_SPEC.n_features), dtype=np.float32)
    raw[:, idx[0]], raw[:, idx[1]] = enc["hour_sin"], enc["hour_cos"]
    scaled = prep.scalers.inputs.transform(raw)[:, list(idx)]
    got = slots_of(scaled, slot_keys(prep.scalers, idx))
    assert np.array_equal(got, week_slots(times, TZ) % 48)


def test_profile_is_the_training_blocks_median_per_local_half_hour_and_ignores_later_rows(frame):
    prep = prepare_data(frame, TZ, SMALL_SPEC)
    a, b = prep.blocks["train"]
    idx = time_inputs(SMALL_SPEC)
    profile, _ = fit_profile(prep.matrix, prep.scalers, (a, b), (PRICE,), idx)
    # By hand: the scaled price's median per local half-hour of the training rows.
    price = prep.scalers.targets.transform(prep.matrix.targets[a:b])[:, PRICE]
    slots = week_slots(prep.matrix.times, TZ)[a:b] % 48
    expected = [np.median(price[slots == j]) for j in range(48)]
    assert np.allclose(profile[PRICE], expected, atol=1e-6)
    assert np.all(profile[0] == 0)  # consumption: no profile (no level input)
    # Wreck every value after the training block: scalers and profile do not move.
    other = prepare_data(_wreck_after(frame, prep.matrix.times[b]), TZ, SMALL_SPEC)
    again, _ = fit_profile(other.matrix, other.scalers, other.blocks["train"], (PRICE,), idx)
    assert np.array_equal(again, profile)


def test_trained_checkpoint_carries_the_training_profile(trained, frame):
    state = torch.load(trained.best_checkpoint, weights_only=True)
    cfg = ModelConfig.from_dict(state["meta"]["model_config"])
    assert cfg.profile_slots == 48 and cfg.time_inputs == time_inputs(SMALL_SPEC)
    prep = prepare_data(frame, TZ, SMALL_SPEC)
    profile, keys = fit_profile(
        prep.matrix, prep.scalers, prep.blocks["train"], (PRICE,), cfg.time_inputs
    )
    assert np.allclose(state["model_state"]["profile"].numpy(), profile)
    assert np.allclose(state["model_state"]["slot_keys"].numpy(), keys)
    # ... and the loaded model uses it (it is not left at zero).
    fc = load_checkpoint(trained.best_checkpoint)
    assert torch.equal(fc.model.profile, state["model_state"]["profile"])
    assert float(fc.model.profile.abs().sum()) > 0


def test_price_heads_forecast_a_residual_on_recent_level_plus_profile():
    L, H = 8, (4, 8, 12)
    cfg = _profile_config(sequence_length=L, horizons=H)
    model = EnergyTransformer(cfg).eval()
    without = EnergyTransformer(ModelConfig.from_dict(cfg.to_dict() | {"profile_slots": 0}))
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in without.parameters()
    )
    rng = np.random.default_rng(1)
    profile = np.stack([np.zeros(48), rng.normal(0, 1, 48)]).astype(np.float32)
    model.set_profile(profile, KEYS)
    with torch.no_grad():
        for head in model.heads:  # heads that forecast "no correction"
            head[-1].weight.zero_()
            head[-1].bias.zero_()
    last_slots = np.array([0, 5, 47])  # windows ending at 00:00, 02:30 and 23:30 local
    x = rng.normal(0, 1, (3, L, 4)).astype(np.float32)
    for i, s in enumerate(last_slots):
        window = (s - np.arange(L - 1, -1, -1)) % 48
        x[i, :, 0], x[i, :, 1] = KEYS[window, 0], KEYS[window, 1]
    with torch.no_grad():
        out = model(torch.from_numpy(x))
    for i, s in enumerate(last_slots):
        window = (s - np.arange(L - 1, -1, -1)) % 48
        level = np.median(x[i, :, 3] - profile[PRICE, window])
        for k, h in enumerate(H):
            ahead = (s + np.arange(1, h + 1)) % 48
            expected = level + profile[PRICE, ahead]
            assert np.allclose(out[3 + k][i].numpy(), expected, atol=1e-5)
            assert np.allclose(out[k][i].numpy(), 0.0)  # consumption: no baseline


def test_the_level_is_the_median_over_the_window_and_its_whole_day_lags():
    L = 8
    cfg = _profile_config(n_features=6, level_lags=((), (4, 5)))  # price 1 and 7 days back
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    model = EnergyTransformer(cfg).eval()
    rng = np.random.default_rng(2)
    profile = np.stack([np.zeros(48), rng.normal(0, 1, 48)]).astype(np.float32)
    model.set_profile(profile, KEYS)
    window = (20 - np.arange(L - 1, -1, -1)) % 48
    x = rng.normal(0, 1, (1, L, 6)).astype(np.float32)
    x[0, :, 0], x[0, :, 1] = KEYS[window, 0], KEYS[window, 1]
    x[0, :, 4] += 3.0  # the lagged days ran higher than today
    x[0, :, 5] += 3.0
    with torch.no_grad():
        base = model._baselines(torch.from_numpy(x))[PRICE][0].numpy()
    resid = x[0, :, 3:6] - profile[PRICE, window][:, None]
    ahead = (20 + np.arange(1, 13)) % 48
    assert np.allclose(base, np.median(resid) + profile[PRICE, ahead], atol=1e-5)
    # two of three days ran 3 higher: the level moves most of the way up, not a third
    assert np.median(resid) - np.median(resid[:, 0]) > 1.5


def test_profile_needs_hour_inputs_and_a_level_input():
    with pytest.raises(ValueError, match="time_inputs"):
        ModelConfig(n_features=4, d_model=8, n_heads=2, level_inputs=(-1, 3), profile_slots=48)
    assert time_inputs(TRADING_24) == (
        TRADING_24.feature_names.index("hour_sin"),
        TRADING_24.feature_names.index("hour_cos"),
    )


def test_an_untrained_model_forecasts_exactly_the_price_baseline():
    cfg = _profile_config()
    torch.manual_seed(0)
    model = EnergyTransformer(cfg).eval()
    x = torch.randn(2, 8, 4)
    with torch.no_grad():
        out = model(x)
        base = model._baselines(x)
    for k, h in enumerate((4, 8, 12)):
        assert torch.equal(out[3 + k], base[1][:, :h])  # price: the baseline, no correction yet
        assert out[k].abs().sum() > 0  # consumption heads start from their usual random init
