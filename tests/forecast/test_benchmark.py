"""The open benchmark's protocol: the day-before rule, recalibration, scores, the DM test."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
import pytest
from forecast_synthetic import market
from scipy import stats

from energylib.forecast.benchmark import (
    RecentMedian,
    RidgeDayAhead,
    SeasonalNaive,
    TransformerDayAhead,
    add_average,
    block_days,
    dm_test,
    read_epftoolbox_csv,
    run_protocol,
    score_day_ahead,
    weekly_naive_mae,
)
from energylib.forecast.dayahead import DayAheadData
from energylib.forecast.dnn import DNN
from energylib.forecast.lear import LEAR


@dataclass
class Spy:
    """A model that records, for each call, the last day with a known target it was shown."""

    seen: list = field(default_factory=list)
    names: tuple = ("spy",)

    def config(self) -> dict:
        return {"model": "spy"}

    def calibrate(self, data: DayAheadData) -> None:
        self.seen.append(("calibrate", data.n_days - 1, self._last_known(data)))

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        self.seen.append(("forecast", data.n_days - 1, self._last_known(data)))
        return {"spy": np.zeros(data.per_day)}

    @staticmethod
    def _last_known(data: DayAheadData) -> int:
        known = np.flatnonzero(np.isfinite(data.target).any(axis=1))
        return int(known[-1]) if len(known) else -1


def test_no_model_is_shown_a_target_value_of_its_own_day_or_later():
    data = market()
    spy = Spy()
    run_protocol(data, [spy], "2024-03-01", "2024-03-20", progress=False)
    days = {d for _, d, _ in spy.seen}
    assert len(days) == 20
    for _, day, last_known in spy.seen:
        assert last_known == day - 1  # everything up to the day before, nothing of the day


TINY_DNN = dict(hidden=(16,), seeds=(1,), max_epochs=15, val_days=10, finetune_epochs=1)
TINY_TRANSFORMER = dict(
    model={"d_model": 8, "n_heads": 2, "d_ff": 16, "n_layers": 1},
    sequence_days=1,
    lag_days=(7,),
    origins="daily",
    max_epochs=1,
    val_days=7,
    finetune_epochs=1,
)


MODELS = {
    "naive_day": lambda: SeasonalNaive(1),
    "naive_week": lambda: SeasonalNaive(7),
    "ridge": lambda: RidgeDayAhead(window=60),
    "lear": lambda: LEAR(windows=(56,), path_steps=40),
    "dnn": lambda: DNN(**TINY_DNN),
    "median": lambda: RecentMedian(7),
    "ridge_asinh": lambda: RidgeDayAhead(window=60, transform="asinh"),
    "transformer": lambda: TransformerDayAhead(**TINY_TRANSFORMER),
}


@pytest.mark.parametrize("make", list(MODELS.values()), ids=list(MODELS))
def test_a_forecast_never_changes_when_its_own_days_target_changes(make):
    """Changing the last test day's target changes no forecast, that day's own included;
    changing the last day's known-future inputs changes no forecast of an earlier day.
    (A fresh model for each run: nothing carries over between them.)"""
    data = market()
    period = ("2024-04-22", "2024-04-24")
    last = data.day_index(period[1])
    a = run_protocol(data, [make()], *period, progress=False)
    target, exog = data.target.copy(), data.exog.copy()
    target[last:] += 50.0
    b = run_protocol(replace(data, target=target), [make()], *period, progress=False)
    exog[last:] *= 1.5
    c = run_protocol(replace(data, exog=exog), [make()], *period, progress=False)
    name = make().names[0]
    assert np.array_equal(a.forecasts[name], b.forecasts[name])
    assert not np.array_equal(a.actual, b.actual)  # the change was real
    assert np.array_equal(a.forecasts[name][:-1], c.forecasts[name][:-1])


def test_recalibration_every_day_every_week_or_never():
    data = market()
    for how, expected in (("daily", 14), ("weekly", 2), ("never", 1)):
        spy = Spy()
        res = run_protocol(
            data, [spy], "2024-03-01", "2024-03-14", recalibration=how, progress=False
        )
        calibrated = [d for kind, d, _ in spy.seen if kind == "calibrate"]
        assert len(calibrated) == expected == res.timings["calibrations"][0]
        assert calibrated[0] == data.day_index("2024-03-01")
    with pytest.raises(ValueError, match="recalibration"):
        run_protocol(data, [Spy()], "2024-03-01", "2024-03-02", recalibration="hourly")


@pytest.mark.parametrize("recalibration", ["daily", "weekly"])
def test_models_with_independent_calibrations_run_in_parallel_blocks_with_the_serial_forecasts(
    recalibration,
):
    """LEAR, the ridge and a DNN retrained every 7 days, split into blocks of whole
    recalibration periods (three worker processes), forecast exactly what one serial run
    does; a stateful model (the spy, as the fine-tuned transformer) stays serial and still
    sees every day."""
    data = market()
    period = ("2024-03-01", "2024-03-14")
    lear = [LEAR(windows=(56,), path_steps=40)] if recalibration == "weekly" else []  # ~1 s a fit
    models = lambda: [  # noqa: E731
        RidgeDayAhead(window=60),
        DNN(**(TINY_DNN | {"finetune_epochs": 0, "recalibrate_every_days": 7})),
        *deepcopy(lear),
    ]
    serial = run_protocol(data, models(), *period, recalibration=recalibration, progress=False)
    spy = Spy()
    blocks = run_protocol(
        data, [*models(), spy], *period, recalibration=recalibration, progress=False, workers=3
    )
    for name in serial.forecasts:
        assert np.array_equal(serial.forecasts[name], blocks.forecasts[name])
    timings = {r["model"]: r for r in blocks.timings.iter_rows(named=True)}
    assert set(serial.forecasts) == {"ridge", "DNN"} | ({"LEAR 56"} if lear else set())
    assert timings["ridge"]["blocks"] == {"daily": 3, "weekly": 2}[recalibration]  # whole weeks
    assert timings["DNN"]["blocks"] == 2  # whole 7-day retraining periods
    assert timings["spy"]["blocks"] is None
    assert timings["ridge"]["calibrations"] == serial.timings["calibrations"][0]
    fine_tuned = DNN(**TINY_DNN)  # finetune_epochs=1: each calibration builds on the last
    assert block_days(fine_tuned, 1) == 0 and block_days(models()[1], 1) == 7
    assert block_days(DNN(finetune_epochs=0, recalibrate_every_days=28), 7) == 28
    assert [d for kind, d, _ in spy.seen if kind == "forecast"] == list(
        range(data.day_index(period[0]), data.day_index(period[1]) + 1)
    )
    with pytest.raises(ValueError, match="workers"):
        run_protocol(data, models(), *period, progress=False, workers=0)


def test_models_beat_the_naive_forecasts_on_a_market_they_can_learn():
    data = market()
    res = run_protocol(
        data,
        [
            SeasonalNaive(1),
            SeasonalNaive(7),
            RidgeDayAhead(window=60),
            LEAR(windows=(56, 84), path_steps=40),
        ],
        "2024-04-01",
        "2024-04-28",
        recalibration="weekly",
        progress=False,
    )
    add_average(res, "LEAR + ridge", ["LEAR ensemble", "ridge"])
    dnn = run_protocol(
        data,
        [DNN(**(TINY_DNN | {"hidden": (32,), "max_epochs": 60}))],
        "2024-04-01",
        "2024-04-28",
        recalibration="weekly",
        progress=False,
    )
    assert (
        dnn.table()["mae"][0] < 0.6 * res.table().filter(pl.col("model") == "naive day")["mae"][0]
    )
    table = res.table()
    mae = dict(zip(table["model"], table["mae"], strict=True))
    assert mae["LEAR ensemble"] < 0.5 * mae["naive day"]
    assert mae["ridge"] < 0.5 * mae["naive day"]
    assert set(table.columns) == {"model", "days", "mae", "rmae", "smape_pct", "rmse"}
    assert table["days"].to_list() == [28] * table.height
    # the ensemble is the mean of its members
    assert np.allclose(
        res.forecasts["LEAR + ridge"], (res.forecasts["LEAR ensemble"] + res.forecasts["ridge"]) / 2
    )
    assert res.forecast_frame().height == 28 * 24 * len(res.forecasts)


def test_ridge_on_lears_asinh_scale_is_not_dragged_by_price_spikes():
    """Spikes of a thousand times the usual price on a few calibration days (as the NEM has)
    pull the plain ridge's least squares; on LEAR's asinh scale they barely move it."""
    data = market()
    target = data.target.copy()
    spikes = np.random.default_rng(1).choice(
        np.arange(10, data.day_index("2024-03-15")), 8, replace=False
    )
    target[spikes, 18] += (
        15.0  # 15,000 per MWh in the calibration window, none in the test days' inputs
    )
    res = run_protocol(
        replace(data, target=target),
        [RidgeDayAhead(window=90), RidgeDayAhead(window=90, transform="asinh", name="ridge asinh")],
        "2024-04-01",
        "2024-04-14",
        recalibration="never",
        progress=False,
    )
    mae = dict(res.table().select("model", "mae").iter_rows())
    assert mae["ridge asinh"] < 0.5 * mae["ridge"]
    with pytest.raises(ValueError, match="transform 'log' unknown; use none or asinh"):
        RidgeDayAhead(transform="log")


def test_scores_match_hand_computed_values_and_rmae_uses_the_weekly_naive_inside_the_period():
    rng = np.random.default_rng(3)
    actual = rng.normal(30, 5, (14, 24))
    fc = actual + 2.0
    naive = np.abs(actual[7:] - actual[:-7]).mean()
    assert weekly_naive_mae(actual) == pytest.approx(naive)
    row = score_day_ahead(actual, {"m": fc}, unit_factor=1000.0).row(0, named=True)
    assert row["mae"] == pytest.approx(2000.0) and row["rmse"] == pytest.approx(2000.0)
    assert row["rmae"] == pytest.approx(2.0 / naive)
    assert row["smape_pct"] == pytest.approx(100 * np.mean(2 * 2.0 / (np.abs(actual) + np.abs(fc))))


def test_dm_test_on_a_case_worked_by_hand():
    # forecast 1 is off by 1 at every slot; forecast 2 is exact on days 0 and 2, off by 1 on 1 and 3:
    # d = [1, 0, 1, 0], mean 0.5, variance 0.25, N = 4: statistic 0.5 / sqrt(0.25 / 4) = 2.
    actual = np.zeros((4, 24))
    f1 = np.ones((4, 24))
    f2 = np.zeros((4, 24))
    f2[[1, 3]] = 1.0
    r = dm_test(actual, f1, f2)
    assert r["statistic"] == pytest.approx(2.0)
    assert r["p_one_sided"] == pytest.approx(1 - stats.norm.cdf(2.0))  # 0.0228: forecast 2 better
    assert r["p_two_sided"] == pytest.approx(2 * (1 - stats.norm.cdf(2.0)))
    assert r["days"] == 4
    swapped = dm_test(actual, f2, f1)
    assert swapped["statistic"] == pytest.approx(-2.0) and swapped["p_one_sided"] == pytest.approx(
        stats.norm.cdf(2.0)
    )
    # norm 2 on errors of 2: d = [4, 0, 4, 0] -> the same statistic
    assert dm_test(actual, 2 * f1, 2 * f2, norm=2)["statistic"] == pytest.approx(2.0)
    uni = dm_test(actual, f1, f2, version="univariate")
    assert uni["statistic"].shape == (24,) and np.allclose(uni["statistic"], 2.0)


def test_recent_median_is_each_slots_median_with_its_neighbours():
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-06"))
    target = np.arange(5 * 4, dtype=float).reshape(5, 4)
    data = DayAheadData(days, target, np.zeros((5, 4, 0)), "energy_kwh", (), 360, "UTC")
    view = data.information_for(4)
    got = RecentMedian(days=3, neighbours=0).forecast(view)["median 3 days"]
    assert np.array_equal(got, target[2])  # median of days 1, 2, 3
    pooled = RecentMedian(days=1, neighbours=1).forecast(view)["median 1 days"]
    assert pooled[1] == np.median(target[3, 0:3])
    assert pooled[0] == np.median([target[3, 3], target[3, 0], target[3, 1]])  # the day wraps


def test_forecasts_are_cached_by_model_data_and_protocol(tmp_path):
    data = market(days=80)
    first = run_protocol(
        data,
        [RidgeDayAhead(window=40)],
        "2024-03-01",
        "2024-03-05",
        cache_dir=tmp_path,
        progress=False,
    )
    again = run_protocol(
        data,
        [RidgeDayAhead(window=40)],
        "2024-03-01",
        "2024-03-05",
        cache_dir=tmp_path,
        progress=False,
    )
    assert again.timings["cached"][0] and not first.timings["cached"][0]
    assert np.array_equal(first.forecasts["ridge"], again.forecasts["ridge"])
    other = run_protocol(
        data,
        [RidgeDayAhead(window=41)],
        "2024-03-01",
        "2024-03-05",
        cache_dir=tmp_path,
        progress=False,
    )
    assert not other.timings["cached"][0]


def test_np_dataset_reads_as_a_canonical_frame(shared_data):
    frame, meta = read_epftoolbox_csv(shared_data / "epftoolbox" / "NP.csv")
    assert frame.columns == [
        "interval_start",
        "price_per_kwh",
        "grid_load_forecast_mw",
        "wind_power_forecast_mw",
    ]
    assert frame.height == 52416 and meta.interval_minutes == 60 and meta.currency == "EUR"
    assert frame["price_per_kwh"][0] == pytest.approx(31.05 / 1000)  # EUR/MWh -> EUR/kWh
    data = DayAheadData.from_frame(
        frame, "price_per_kwh", ["grid_load_forecast_mw", "wind_power_forecast_mw"]
    )
    assert (data.n_days, data.per_day) == (2184, 24) and np.isfinite(data.target).all()
    assert data.day_index("2016-12-27") == 1456  # the test period starts after 1,456 days
