"""Error metrics on hand-computed values and the evaluation table."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from forecast_synthetic import SMALL_SPEC, TZ

from energylib.forecast.metrics import (
    evaluate,
    evaluation_table,
    mae,
    relative_mae,
    rmse,
    score_table,
    smape,
)


def test_metrics_match_hand_computed_values():
    y, f = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])
    assert mae(y, f) == pytest.approx(1.0)
    assert rmse(y, f) == pytest.approx(math.sqrt(5 / 3))
    # 200|f-a|/(|a|+|f|): 200/3, 0, 400/8
    assert smape(y, f) == pytest.approx((200 / 3 + 0 + 50) / 3)
    assert relative_mae(y, f, np.array([1.0, 0.0, 3.0])) == pytest.approx(1.0 / (2 / 3))


def test_smape_counts_zero_over_zero_as_no_error_and_skips_missing_pairs():
    assert smape(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.0
    assert mae(np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, 3.0])) == pytest.approx(0.5)


def test_score_table_has_every_model_task_and_horizon():
    actual = {("consumption", "day"): np.ones((2, 3)), ("price", "day"): np.ones((2, 3))}
    preds = {
        "seasonal_naive_day": {k: np.full((2, 3), 2.0) for k in actual},
        "good": {k: np.full((2, 3), 1.5) for k in actual},
    }
    table = score_table(actual, preds, {"day": 3})
    assert table.height == 4
    good = table.filter((pl.col("model") == "good") & (pl.col("task") == "price"))
    assert good["mae_vs_naive"][0] == pytest.approx(0.5) and good["skill_pct"][0] == pytest.approx(
        50.0
    )


def test_evaluation_table_scores_baselines_on_the_test_split(frame):
    table = evaluation_table(frame, TZ, spec=SMALL_SPEC)
    assert set(table["model"]) == {"seasonal_naive_day", "seasonal_naive_week", "ridge", "profile"}
    assert table.height == 4 * 2 * 3
    assert table.columns == [
        "model",
        "task",
        "horizon",
        "steps",
        "windows",
        "mae",
        "rmse",
        "smape_pct",
        "mae_vs_naive",
        "skill_pct",
    ]
    assert (
        table.filter(pl.col("model") == "seasonal_naive_day")["mae_vs_naive"].to_list() == [1.0] * 6
    )


def test_evaluation_uses_only_test_block_targets(frame):
    ev = evaluate(frame, TZ, spec=SMALL_SPEC)
    first_test_row = int(round(ev.matrix.n_rows * 0.85))
    for name, steps in SMALL_SPEC.horizons:
        at = ev.anchors[name]
        assert at.min() - SMALL_SPEC.sequence_length + 1 >= first_test_row
        assert at.max() + steps < ev.matrix.n_rows
        # every window whose forecast of this length fits in the block is scored
        assert at.max() + steps == ev.matrix.n_rows - 1
    day, month = ev.anchors["day"], ev.anchors["month"]
    assert len(day) > len(month) and set(month) <= set(day)
    assert ev.table.filter(pl.col("horizon") == "day")["windows"].unique().to_list() == [len(day)]
    by_hour = ev.error_by_hour("day")
    assert set(by_hour["hour"]) <= set(range(24)) and by_hour["mae"].min() >= 0
    # each hour's MAE is the mean error of the forecasts of intervals in that local hour
    zone = ZoneInfo(TZ)
    target_rows = day[:, None] + np.arange(1, 5)[None, :]
    local_hour = np.vectorize(lambda i: ev.matrix.times[int(i)].astimezone(zone).hour)(target_rows)
    err = np.abs(
        ev.predictions["seasonal_naive_day"][("price", "day")] - ev.actual[("price", "day")]
    )
    got = by_hour.filter((pl.col("model") == "seasonal_naive_day") & (pl.col("task") == "price"))
    assert got.height == len(np.unique(local_hour))
    for hour, mae_h in got.select("hour", "mae").iter_rows():
        assert mae_h == pytest.approx(err[local_hour == hour].mean(), rel=1e-9)
