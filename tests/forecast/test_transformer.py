"""EnergyTransformer shapes, preset sizes and the multi-task loss."""

from __future__ import annotations

import math

import pytest
import torch

from energylib.forecast.transformer import (
    EnergyTransformer,
    ModelConfig,
    SinusoidalPositionalEncoding,
    model_config,
    multitask_loss,
    parameter_count,
)


def test_seed_preset_has_the_trading_systems_25_8_million_parameters():
    model = EnergyTransformer(model_config("seed", 24))  # built once, never trained here
    n = parameter_count(model)
    print(f"seed preset: {n:,} parameters")
    assert 25.5e6 < n < 26.1e6
    cfg = model.config
    assert (cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff) == (512, 6, 8, 2048)


def test_pi_preset_is_well_under_one_million_parameters():
    n = parameter_count(EnergyTransformer(model_config("pi", 24)))
    print(f"pi preset: {n:,} parameters")
    assert n < 500_000


def test_forward_gives_one_output_per_task_and_horizon():
    cfg = ModelConfig(n_features=24, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    model = EnergyTransformer(cfg).eval()
    out = model(torch.randn(5, 48, 24))
    assert cfg.output_names == [
        f"{t}_{h}" for t in ("consumption", "price") for h in ("day", "week", "month")
    ]
    assert [tuple(o.shape) for o in out] == [(5, 48), (5, 336), (5, 1440)] * 2
    assert set(model.as_dict(out)) == set(cfg.output_names)


def test_positional_encoding_is_the_fixed_sinusoid():
    pe = SinusoidalPositionalEncoding(8, 48)
    out = pe(torch.zeros(1, 48, 8))[0]
    pos = 5
    assert out[pos, 0].item() == pytest.approx(math.sin(pos))
    assert out[pos, 1].item() == pytest.approx(math.cos(pos))
    assert out[pos, 2].item() == pytest.approx(math.sin(pos / 10000 ** (2 / 8)), rel=1e-5)
    assert not any(p.requires_grad for p in pe.parameters())


def test_loss_is_consumption_mse_and_price_mae_weighted_by_task_and_horizon():
    cfg = ModelConfig(n_features=3, d_model=8, n_layers=1, n_heads=2, d_ff=16, horizons=(2, 3, 4))
    outputs = [torch.zeros(1, h) for h in (2, 3, 4)] * 2
    # errors of 2 everywhere: MSE 4 for consumption, MAE 2 for price
    targets = [torch.full((1, h), 2.0) for h in (2, 3, 4)] * 2
    total, parts = multitask_loss(outputs, targets, cfg)
    expected = 0.6 * 4 * (1.0 + 0.5 + 0.25) + 0.4 * 2 * (1.0 + 0.5 + 0.25)
    assert total.item() == pytest.approx(expected)
    assert parts["consumption_week"] == pytest.approx(4.0) and parts[
        "price_month"
    ] == pytest.approx(2.0)
    # only the month price output wrong: its weight is 0.4 * 0.25
    targets = [torch.zeros(1, h) for h in (2, 3, 4)] * 2
    targets[5] = torch.full((1, 4), 1.0)
    total, _ = multitask_loss(outputs, targets, cfg)
    assert total.item() == pytest.approx(0.4 * 0.25)


def test_heads_must_divide_the_model_width():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        ModelConfig(n_features=4, d_model=10, n_heads=3)
    with pytest.raises(KeyError, match="preset"):
        model_config("huge", 24)


def test_mean_pooling_adds_no_parameters_and_sees_the_whole_window():
    base = ModelConfig(n_features=4, d_model=8, n_layers=1, n_heads=2, d_ff=16, horizons=(2, 3, 4))
    pooled = ModelConfig.from_dict(base.to_dict() | {"pooling": "last_mean"})
    torch.manual_seed(0)
    a = EnergyTransformer(base).eval()
    b = EnergyTransformer(pooled).eval()
    b.load_state_dict(a.state_dict())
    assert parameter_count(a) == parameter_count(b)
    x = torch.randn(2, 48, 4)
    x2 = x.clone()
    x2[:, 0, :] += 5.0  # change only the oldest step
    assert not torch.allclose(b(x)[0], b(x2)[0])
    with pytest.raises(ValueError, match="pooling"):
        ModelConfig(n_features=4, d_model=8, n_heads=2, pooling="max")


def test_level_input_makes_the_forecast_follow_the_window_mean():
    from energylib.forecast.features import TRADING_24, level_inputs, level_lag_inputs

    names = TRADING_24.feature_names
    assert level_inputs(TRADING_24) == (-1, names.index("price"))
    # every price lag is whole days, so all four join the price level
    lags = tuple(names.index(f"price_lag_{k}") for k in (48, 96, 144, 336))
    assert level_lag_inputs(TRADING_24, 48) == ((), lags)
    assert level_lag_inputs(TRADING_24, 96) == ((), (names.index("price_lag_96"),))
    cfg = ModelConfig(
        n_features=4,
        d_model=8,
        n_layers=1,
        n_heads=2,
        d_ff=16,
        horizons=(2, 3, 4),
        level_inputs=(-1, 3),
    )
    model = EnergyTransformer(cfg).eval()
    without = EnergyTransformer(ModelConfig.from_dict(cfg.to_dict() | {"level_inputs": []}))
    assert parameter_count(model) == parameter_count(without)
    with torch.no_grad():
        for head in model.heads:  # heads that forecast "no deviation"
            head[-1].weight.zero_()
            head[-1].bias.zero_()
        x = torch.randn(2, 48, 4)
        out = model(x)
    level = x[:, :, 3].mean(dim=1, keepdim=True)
    for k in range(3):
        assert torch.allclose(out[k], torch.zeros_like(out[k]))  # consumption: no level input
        assert torch.allclose(out[3 + k], level.expand_as(out[3 + k]))  # price: the window's mean
