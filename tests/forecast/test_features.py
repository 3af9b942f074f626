"""Feature specs, local-time encodings, chronological splits, windows, scalers, no leakage."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
import torch
from forecast_synthetic import SMALL_SPEC, TZ, synthetic_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.forecast.features import (
    TOTAL_PRICE_WEATHER_TIME,
    TRADING_24,
    FeatureSpec,
    Scaler,
    assemble_frame,
    chronological_split,
    feature_matrix,
    history_window,
    input_windows,
    inverse_target,
    time_encodings,
    transform_targets,
    window_anchors,
)
from energylib.forecast.train import batch_tensors, prepare_data
from energylib.forecast.transformer import model_config
from energylib.schema import FrameMeta, interval_index


def test_trading_24_has_the_trading_systems_feature_groups():
    names = TRADING_24.feature_names
    assert TRADING_24.n_features == 24
    assert len([n for n in names[:9] if n.endswith("_kwh")]) == 9
    assert names[9:13] == ["soc_pct", "soh_change_pct", "battery_charge", "cycles_per_interval"]
    assert names[13:15] == ["temp_air_c", "ghi_w_m2"]
    assert names[15:19] == ["hour_sin", "hour_cos", "dow_sin", "dow_cos"]
    assert names[19:] == ["price", "price_lag_48", "price_lag_96", "price_lag_144", "price_lag_336"]
    # the same half-hour 1, 2, 3 and 7 days back
    assert [f.lag // 48 for f in TRADING_24.features[20:]] == [1, 2, 3, 7]
    assert TRADING_24.horizon_steps == (48, 336, 1440) and TRADING_24.sequence_length == 48


def test_appliance_features_add_up_to_total_load(frame):
    fm = feature_matrix(frame, TRADING_24, TZ)
    assert np.allclose(fm.inputs[:, :9].sum(axis=1), frame["total_kwh"].to_numpy(), rtol=1e-5)


def test_sequences_become_batch_by_48_by_24_tensors():
    data = synthetic_frame(days=35)
    fm = feature_matrix(data, TRADING_24, TZ)
    anchors = np.array([60, 61, 62])
    assert input_windows(fm.inputs, anchors, 48).shape == (3, 48, 24)
    cfg = model_config("pi", 24)
    x, targets = batch_tensors(
        torch.as_tensor(fm.inputs), torch.as_tensor(fm.targets), anchors, cfg
    )
    assert tuple(x.shape) == (3, 48, 24)
    assert [tuple(t.shape) for t in targets] == [(3, 48), (3, 336), (3, 1440)] * 2


def test_time_features_come_from_site_local_time_across_daylight_saving():
    # Sydney: 2025-04-06 03:00 AEDT -> 02:00 AEST.  Local 02:00 happens twice.
    times = pl.Series(
        [
            datetime(2025, 1, 5, 13, tzinfo=UTC),
            datetime(2025, 4, 5, 15, tzinfo=UTC),
            datetime(2025, 4, 5, 16, tzinfo=UTC),
            datetime(2025, 7, 1, 14, tzinfo=UTC),
        ]
    )
    enc = time_encodings(times, TZ)
    hours = np.degrees(np.arctan2(enc["hour_sin"], enc["hour_cos"])) % 360 / 15
    assert np.allclose(hours, [0, 2, 2, 0], atol=1e-9)
    # 2025-01-06 local is a Monday (weekday 0): angle 0.
    assert enc["dow_sin"][0] == pytest.approx(0.0) and enc["dow_cos"][0] == pytest.approx(1.0)


def test_battery_charge_falls_back_to_change_of_state_of_charge(frame):
    fm = feature_matrix(frame, TRADING_24, TZ)
    k = TRADING_24.feature_names.index("battery_charge")
    soc = frame["soc_pct"].to_numpy()
    assert np.isnan(fm.inputs[0, k])
    assert np.allclose(fm.inputs[1:, k], np.diff(soc), atol=1e-4)
    with_charge = frame.with_columns(pl.lit(0.25).alias("charge_kwh"))
    assert np.allclose(feature_matrix(with_charge, TRADING_24, TZ).inputs[:, k], 0.25)


def test_total_price_weather_time_spec_runs_on_real_style_columns(frame):
    real = frame.select("interval_start", "total_kwh", "price_per_kwh", "temp_air_c", "ghi_w_m2")
    fm = feature_matrix(real, TOTAL_PRICE_WEATHER_TIME, TZ)
    assert fm.inputs.shape == (real.height, TOTAL_PRICE_WEATHER_TIME.n_features)
    with pytest.raises(KeyError, match="soc_pct"):
        feature_matrix(real, TRADING_24, TZ)


def test_spec_round_trips_through_a_plain_dict():
    for spec in (TRADING_24, TOTAL_PRICE_WEATHER_TIME, SMALL_SPEC):
        assert FeatureSpec.from_dict(spec.to_dict()) == spec


@settings(max_examples=40, deadline=None)
@given(n=st.integers(10, 5000), a=st.floats(0.3, 0.8), b=st.floats(0.05, 0.3))
def test_chronological_split_is_ordered_contiguous_and_covers_every_row(n, a, b):
    blocks = (
        chronological_split(n, (a, b, 1 - a - b))
        if a + b < 0.99
        else chronological_split(n, (0.7, 0.15, 0.15))
    )
    (s0, e0), (s1, e1), (s2, e2) = blocks["train"], blocks["val"], blocks["test"]
    assert s0 == 0 and e0 == s1 and e1 == s2 and e2 == n
    assert e0 <= e1 <= e2


def test_every_window_lies_inside_its_own_block_so_splits_never_share_an_interval(frame):
    prep = prepare_data(frame, TZ, SMALL_SPEC)
    L, H = SMALL_SPEC.sequence_length, SMALL_SPEC.max_horizon
    used = {}
    for name, anchors in prep.anchors.items():
        a, b = prep.blocks[name]
        assert len(anchors) > 0
        assert anchors.min() - L + 1 >= a and anchors.max() + H < b
        used[name] = set(np.concatenate([np.arange(i - L + 1, i + H + 1) for i in anchors]))
    assert max(used["train"]) < min(used["val"]) and max(used["val"]) < min(used["test"])


def test_scalers_are_fitted_on_training_rows_only(frame):
    prep = prepare_data(frame, TZ, SMALL_SPEC)
    a, b = prep.blocks["train"]
    med = np.nanmedian(prep.matrix.inputs[a:b], axis=0)
    # a price lag is scaled as the price itself (one quantity, one set of units)
    source = [
        SMALL_SPEC.feature_names.index("price") if f.kind == "lag" else i
        for i, f in enumerate(SMALL_SPEC.features)
    ]
    assert np.allclose(prep.scalers.inputs.center, med[source], rtol=1e-5, atol=1e-6)
    lags = [i for i, f in enumerate(SMALL_SPEC.features) if f.kind == "lag"]
    assert not np.allclose(med[lags], med[source][lags], rtol=1e-5, atol=1e-6)  # not trivially so
    y = prep.matrix.targets[a:b]
    # consumption: mean of ln(y + 0.01); price: median
    assert prep.scalers.targets.center[0] == pytest.approx(np.log(y[:, 0] + 0.01).mean(), rel=1e-5)
    assert prep.scalers.targets.center[1] == pytest.approx(np.median(y[:, 1]), rel=1e-5)
    # Wreck everything after the training block: the scalers do not move.
    cut = prep.matrix.times[b]
    numeric = [c for c in frame.columns if c != "interval_start"]
    wrecked = frame.with_columns(
        [
            pl.when(pl.col("interval_start") >= cut)
            .then(pl.col(c) * 100 + 7)
            .otherwise(pl.col(c))
            .alias(c)
            for c in numeric
        ]
    )
    other = prepare_data(wrecked, TZ, SMALL_SPEC)
    assert np.array_equal(other.scalers.inputs.center, prep.scalers.inputs.center)
    assert np.array_equal(other.scalers.inputs.scale, prep.scalers.inputs.scale)
    assert np.array_equal(other.scalers.targets.scale, prep.scalers.targets.scale)


@settings(max_examples=30, deadline=None)
@given(anchor=st.integers(60, 1300), spec=st.sampled_from([TRADING_24, TOTAL_PRICE_WEATHER_TIME]))
def test_inputs_never_contain_a_value_from_after_the_anchor(frame, anchor, spec):
    fm = feature_matrix(frame, spec, TZ)
    numeric = [c for c in frame.columns if c != "interval_start"]
    future = (
        frame.with_row_index("_r")
        .with_columns(
            [
                pl.when(pl.col("_r") > anchor).then(pl.col(c) * 3 + 1).otherwise(pl.col(c)).alias(c)
                for c in numeric
            ]
        )
        .drop("_r")
    )
    fm2 = feature_matrix(future, spec, TZ)
    win = input_windows(fm.inputs, np.array([anchor]), spec.sequence_length)
    win2 = input_windows(fm2.inputs, np.array([anchor]), spec.sequence_length)
    assert np.array_equal(win, win2, equal_nan=True)
    # ... while every target of that window did change: targets are strictly after it.
    assert (
        fm2.targets[anchor + 1 : anchor + 1 + 48] != fm.targets[anchor + 1 : anchor + 1 + 48]
    ).all()


def test_windows_touching_a_gap_are_never_used(frame):
    gap = frame.filter(pl.col("interval_start").dt.day() != 15)
    fm = feature_matrix(gap, SMALL_SPEC, TZ)
    assert fm.n_rows == frame.height  # the gap is re-inserted as rows, not squeezed out
    anchors = window_anchors(fm, (0, fm.n_rows))
    missing = np.flatnonzero(~fm.row_ok)
    L, H = SMALL_SPEC.sequence_length, SMALL_SPEC.max_horizon
    for i in anchors:
        assert not ((missing >= i - L + 1) & (missing <= i + H)).any()


def test_assemble_frame_resamples_5_min_series_to_half_hours():
    t = interval_index(
        datetime(2025, 1, 5, 13, tzinfo=UTC), datetime(2025, 1, 6, 13, tzinfo=UTC), 5
    )
    load = pl.DataFrame({"interval_start": t, "total_kwh": np.full(len(t), 0.1)})
    price = pl.DataFrame(
        {"interval_start": t, "price_per_kwh": np.full(len(t), 0.3), "descriptor": ["low"] * len(t)}
    )
    frames = {
        "load": (load, FrameMeta("simulated", "load", 5, timezone=TZ)),
        "prices/general": (price, FrameMeta("simulated", "prices", 5, currency="AUD", timezone=TZ)),
    }
    data, tz = assemble_frame(frames)
    assert tz == TZ and data.height == 48
    assert data.columns == ["interval_start", "total_kwh", "price_per_kwh"]
    assert np.allclose(data["total_kwh"].to_numpy(), 0.6) and np.allclose(
        data["price_per_kwh"].to_numpy(), 0.3
    )


def test_history_window_says_what_is_missing_when_history_is_too_short(frame):
    with pytest.raises(ValueError, match="needs the latest 384"):
        history_window(frame.head(20), TRADING_24, TZ)
    # 60 rows hold a whole window, but not the week-old price its lags need
    with pytest.raises(ValueError, match="fewer than 384 rows for lags"):
        history_window(frame.head(60), TRADING_24, TZ)
    n = TRADING_24.history_rows + 10
    holey = frame.head(n).filter(pl.col("interval_start") != frame["interval_start"][n - 10])
    with pytest.raises(ValueError, match="incomplete row"):
        history_window(holey, TRADING_24, TZ)
    window, anchor = history_window(frame.head(n), TRADING_24, TZ)
    assert window.shape == (1, 48, 24) and anchor == frame["interval_start"][n - 1]


def test_small_spec_keeps_trading_features():
    assert dataclasses.replace(TRADING_24, sequence_length=8).n_features == 24


def test_robust_scaling_keeps_everyday_prices_visible_despite_spikes():
    rng = np.random.default_rng(1)
    price = rng.normal(0.3, 0.05, 5000)
    price[::250] = 15.0  # spikes, as the NEM has
    robust = Scaler.fit(price[:, None], "robust", clip=10.0)
    standard = Scaler.fit(price[:, None], "standard")
    assert robust.scale[0] == pytest.approx(0.05, rel=0.1)
    assert standard.scale[0] > 10 * robust.scale[0]
    z = robust.transform(price[:, None])
    assert z.max() == 10.0  # clipped
    assert np.allclose(robust.inverse(robust.transform(np.array([[0.31]]))), 0.31)


def test_target_transform_round_trips_and_keeps_zero_load_finite():
    y = np.array([[0.0, -0.2], [0.5, 0.3], [3.0, 12.0]], dtype=np.float32)
    z = transform_targets(y, TRADING_24)
    assert np.isfinite(z).all() and np.array_equal(z[:, 1], y[:, 1])  # price untouched
    assert np.allclose(inverse_target(z[:, 0], TRADING_24, 0), y[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match="unknown"):
        dataclasses.replace(TRADING_24, target_transforms=("sqrt", "none"))


def test_inputs_past_the_training_range_are_held_at_its_edge(frame):
    # a temperature that falls all month: later values are new
    frame = frame.with_columns(temp_air_c=pl.Series(np.linspace(30.0, 10.0, frame.height)))
    prep = prepare_data(frame, TZ, SMALL_SPEC)
    a, b = prep.blocks["train"]
    k = SMALL_SPEC.feature_names.index("temp_air_c")
    later = prep.matrix.inputs[b:, k]
    assert later.max() < np.nanmin(prep.matrix.inputs[a:b, k])
    scaled = prep.scalers.inputs.transform(prep.matrix.inputs)[:, k]
    assert np.allclose(scaled[b:], scaled[a:b].min())
    assert (
        Scaler.from_dict(prep.scalers.inputs.to_dict()).low.tolist()
        == prep.scalers.inputs.low.tolist()
    )
