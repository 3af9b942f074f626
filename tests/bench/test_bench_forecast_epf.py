"""Forecasting benchmark (issue 18): the open day-ahead benchmark on Nord Pool by its rules, the
SGSC household load table and the CityLearn rooftop PV table.

    .venv/bin/python -m pytest tests/bench/test_bench_forecast_epf.py -s -q --override-ini norecursedirs=

NP (Lago et al. 2021, epftoolbox protocol): the 728 days of the published test period
(2016-12-27 to 2018-12-24), each forecast from the day before, models recalibrated every day
(the transformer fine-tunes weekly); MAE, rMAE, sMAPE, RMSE in EUR/MWh, calibration time,
and the DM test against the published-reference model.  Targets: LEAR ensemble within 3% of
the published 1.738; the library's best below the published DNN ensemble's 1.667.  The
transformer's and the DNN's settings and the ensembles (equal-weight averages) were chosen on
2016, before the test period (``test_np_models_chosen_on_2016``), and fixed before the test
period was scored; each model's test score is reported once.

Each model's forecasts are cached in ``tests/artifacts/bench_forecast_epf/cache`` by its
settings, the data and the protocol: the first run of LEAR's full protocol takes hours on two
shared cores; later runs read the cache (delete the folder to recompute).  It asserts only
correctness, never times; every figure is printed with the machine's load.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from energylib.forecast.benchmark import (
    NP_TEST,
    PUBLISHED_NP_MAE,
    RidgeDayAhead,
    SeasonalNaive,
    TransformerDayAhead,
    add_average,
    benchmark_table,
    read_epftoolbox_csv,
    run_protocol,
)
from energylib.forecast.dayahead import DayAheadData
from energylib.forecast.dnn import DNN
from energylib.forecast.lear import LEAR

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "bench_forecast_epf"
CACHE = ARTIFACTS / "cache"
NP_INPUTS = ["grid_load_forecast_mw", "wind_power_forecast_mw"]
LEAR_TARGET = 1.738
DNN_TARGET = 1.667
#: The transformer's settings, chosen on 2016 (test_np_models_chosen_on_2016): a small model
#: (d_model 32) on a 2-day window with the price a week back as an input and the day's load and
#: wind forecasts as future tokens, trained on the midnight windows, fine-tuned weekly.
TRANSFORMER = dict(
    model={"d_model": 32, "n_heads": 4, "d_ff": 64},
    sequence_days=2,
    lag_days=(7,),
    origins="daily",
    max_epochs=60,
    early_stopping_patience=6,
    finetune_epochs=2,
    seeds=(2025, 2026),
)
N_JOBS = int(os.environ.get("BENCH_EPF_JOBS", 2))
#: Processes over blocks of test days for the models whose calibrations are independent
#: (LEAR, the naive forecasts, the ridge): NP's daily protocol for LEAR is ~3 s of one core a
#: day, 728 days; with blocks LEAR itself runs inline (``n_jobs=1``).
WORKERS = int(os.environ.get("BENCH_EPF_WORKERS", N_JOBS))
#: The test period's recalibration: ``daily`` is the published protocol; ``weekly`` (LEAR refits
#: every 7th day, the DNN and the transformer keep their own schedules) is the subset that fits
#: on two shared cores in under an hour.
RECALIBRATION = os.environ.get("BENCH_EPF_RECALIBRATION", "daily")
#: Models left out of the test-period table (comma-separated names, e.g. ``transformer``).
SKIP = {m.strip() for m in os.environ.get("BENCH_EPF_SKIP", "").split(",") if m.strip()}

#: AEMO VIC1's test period (the NEM's local dates).
AEMO_TEST = ("2024-07-01", "2024-12-31")


def _line(text: str) -> None:
    print(f"[bench forecast epf] {text}", flush=True)


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} CPUs)"


def _show(table: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=60, tbl_cols=14, tbl_width_chars=200, float_precision=3):
        print(table)


@pytest.fixture(scope="module")
def np_data(shared_data) -> DayAheadData:
    frame, _ = read_epftoolbox_csv(shared_data / "epftoolbox" / "NP.csv")
    return DayAheadData.from_frame(frame, "price_per_kwh", NP_INPUTS)


#: The DNN's settings, chosen on 2016 under the daily protocol (``test_np_models_chosen_on_2016``):
#: 4 seeds, retrained from scratch every 7 days, early-stopped on 91 days drawn at random from
#: the training days (MAE 1.422), against the last 91 days (1.460; also retrained every day:
#: 1.487; with 8 seeds: 1.466).  (Retraining every 28 days, the last 91 days validating: 1.492,
#: measured last stop with the networks trained one by one.)
DNN_SETTINGS = dict(seeds=(1, 2, 3, 4), recalibrate_every_days=7, validation="random")
#: The alternatives it was chosen against.
DNN_CANDIDATES = {
    "DNN (last 91 days validate)": {"validation": "last"},
    "DNN (last 91 days, every day)": {"validation": "last", "recalibrate_every_days": 1},
    "DNN (last 91 days, 8 seeds)": {"validation": "last", "seeds": tuple(range(1, 9))},
}
#: AEMO VIC1's DNN keeps the settings its table was measured with (retrained every 28 days,
#: the last 91 days validating).
AEMO_DNN_SETTINGS = dict(seeds=(1, 2, 3, 4), recalibrate_every_days=28, validation="last")
#: The library's ensembles, fixed on 2016 before the test period was scored: equal weights.
ENSEMBLES = {
    "ensemble: LEAR + transformer + DNN": ["LEAR ensemble", "transformer", "DNN"],
    "ensemble: LEAR + transformer": ["LEAR ensemble", "transformer"],
    "ensemble: LEAR + DNN": ["LEAR ensemble", "DNN"],
}
#: The library's best, chosen on 2016 (the lowest MAE there, 1.364): the one its test score
#: is claimed for; whichever is lowest on the test period is shown, never chosen.
CHOSEN = "ensemble: LEAR + transformer + DNN"


def _ensembles(result) -> None:
    """Every ensemble whose members all ran (a skipped model leaves out its ensembles)."""
    for name, members in ENSEMBLES.items():
        if all(m in result.forecasts for m in members):
            add_average(result, name, members)


def test_np_models_chosen_on_2016(np_data):
    """Model selection before the test period: the transformer (one seed), the DNN and the
    ensembles scored on 2016-01-01 .. 2016-12-26 by the same protocol, every model
    calibrated on the days before 2016 and recalibrated weekly (LEAR refits every week;
    the transformer fine-tunes weekly); the DNN and its alternatives under the daily
    protocol (the weekly one would call a DNN retrained every day only weekly).  The DNN's
    candidates take ~1.3 h of CPU uncached (retraining every day: 357 x 4 seeds, 2,430 s)."""
    models = [
        SeasonalNaive(1),
        SeasonalNaive(7),
        RidgeDayAhead(),
        LEAR(n_jobs=1 if WORKERS > 1 else N_JOBS),
        TransformerDayAhead(**(TRANSFORMER | {"seeds": (2025,)})),
    ]
    dnns = [DNN(**DNN_SETTINGS)] + [
        DNN(**(DNN_SETTINGS | change), name=name) for name, change in DNN_CANDIDATES.items()
    ]
    period = ("2016-01-01", "2016-12-26")
    t0 = time.perf_counter()
    result = run_protocol(
        np_data, models, *period, recalibration="weekly", cache_dir=CACHE, workers=WORKERS
    )
    daily = run_protocol(
        np_data, dnns, *period, recalibration="daily", cache_dir=CACHE, workers=WORKERS
    )
    result.forecasts |= daily.forecasts
    _ensembles(result)
    _line(
        f"validation year 2016 (before the test period), weekly recalibration (the DNNs: daily), "
        f"{time.perf_counter() - t0:.0f} s, {_load()}"
    )
    _show(benchmark_table(result, "LEAR ensemble"))
    _show(pl.concat([result.timings, daily.timings], how="diagonal_relaxed"))
    assert result.table()["mae"].is_finite().all()


def test_np_full_protocol_table(np_data):
    models = [
        SeasonalNaive(1),
        SeasonalNaive(7),
        SeasonalNaive("standard"),
        RidgeDayAhead(window=1092),
        LEAR(n_jobs=1 if WORKERS > 1 else N_JOBS),
        DNN(**DNN_SETTINGS),
        TransformerDayAhead(**TRANSFORMER),
    ]
    models = [m for m in models if not SKIP & {m.names[0], type(m).__name__}]
    t0 = time.perf_counter()
    result = run_protocol(
        np_data, models, *NP_TEST, recalibration=RECALIBRATION, cache_dir=CACHE, workers=WORKERS
    )
    wall = time.perf_counter() - t0
    _ensembles(result)
    table = benchmark_table(result, "LEAR ensemble", published=PUBLISHED_NP_MAE)
    _line(
        f"NP, {len(result.days)} test days {NP_TEST[0]} .. {NP_TEST[1]}, {RECALIBRATION} recalibration "
        f"(the transformer fine-tunes weekly, the DNN retrains every 7 days); run {wall:.0f} s "
        f"(cached models read, not rerun); left out: {sorted(SKIP) or 'none'}; {_load()}"
    )
    _show(table)
    _show(result.timings)
    mae = dict(zip(table["model"], table["mae"], strict=True))
    lear = mae["LEAR ensemble"]
    _line(
        f"LEAR ensemble MAE {lear:.3f} vs published {LEAR_TARGET} ({100 * (lear / LEAR_TARGET - 1):+.1f}%; "
        f"target within 3%: {'met' if abs(lear / LEAR_TARGET - 1) <= 0.03 else 'NOT met'})"
    )
    own = table.filter(pl.col("source") == "this run")
    if CHOSEN in mae:
        chosen = own.filter(pl.col("model") == CHOSEN).row(0, named=True)
        _line(
            f"library's best (chosen on 2016): {CHOSEN} MAE {chosen['mae']:.4f} vs published DNN "
            f"ensemble {DNN_TARGET} (target below it: "
            f"{'met' if chosen['mae'] < DNN_TARGET else 'NOT met'}); DM p-value that it is not more "
            f"accurate than the LEAR ensemble: {chosen['dm_p_better']:.2g}; lowest on the test period "
            f"(shown, not chosen): {own['model'][0]} {own['mae'][0]:.4f}"
        )
    assert own["mae"].is_finite().all() and len(result.days) == 728


#: The ``seed`` preset on a GPU (issue 18 asks for its time and score where one is available):
#: the 2016-chosen settings of the small model with the preset's sizes, trained once on every
#: day before the test period or fine-tuned every 28 days; and on every hourly origin (not
#: only midnights: ~35,000 windows for ~19.5M weights) at two learning rates.  These four
#: were scored on the test period for this figure alone, after the library's models and
#: ensembles were fixed: none of them is a candidate for the library's best.
SEED_VARIANTS = {
    "once": dict(finetune_epochs=0),
    "finetuned every 28 days": dict(finetune_epochs=2, recalibrate_every_days=28),
    "every origin": dict(finetune_epochs=0, origins="all", batch_size=256),
    "every origin, rate 3e-4": dict(
        finetune_epochs=0, origins="all", batch_size=256, learning_rate=3e-4
    ),
}


@pytest.mark.parametrize("variant", list(SEED_VARIANTS))
def test_np_seed_preset_on_a_gpu(np_data, variant):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("the seed preset's figure needs a CUDA GPU (none here)")
    model = TransformerDayAhead(
        **(TRANSFORMER | {"model": {}, "seeds": (2025,)}),
        preset="seed",
        name=f"transformer seed ({variant})",
    )
    model = replace(model, **SEED_VARIANTS[variant])
    t0 = time.perf_counter()
    result = run_protocol(
        np_data,
        [model],
        *NP_TEST,
        recalibration="never" if variant != "finetuned every 28 days" else "daily",
        cache_dir=CACHE,
        progress=False,
    )
    params = sum(p.numel() for p in model._runners[0].model.parameters())
    row = result.table().row(0, named=True)
    _line(
        f"seed preset ({params / 1e6:.1f}M weights, {torch.cuda.get_device_name(0)}), {variant}: "
        f"MAE {row['mae']:.3f} rMAE {row['rmae']:.3f} sMAPE {row['smape_pct']:.2f} RMSE {row['rmse']:.3f}; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    _show(result.timings)
    assert np.isfinite(result.forecasts[model.name]).all()


def _previous_training(model: DNN, x, y, x_val, y_val) -> int:
    """The reference for the DNN's speed: its training before the seeds were batched
    (8cfa183): one ``nn.Sequential`` per seed, torch's dropout, AdamW's defaults, early
    stopping on the validation rows.  Returns the epochs run over all seeds."""
    import torch
    from torch import nn

    x, y, x_val, y_val = (torch.as_tensor(a, dtype=torch.float32) for a in (x, y, x_val, y_val))
    epochs = 0
    for seed in model.seeds:
        torch.manual_seed(seed)
        layers, n_in = [], x.shape[1]
        for width in model.hidden:
            layers += [nn.Linear(n_in, width), nn.SiLU(), nn.Dropout(model.dropout)]
            n_in = width
        net = nn.Sequential(*layers, nn.Linear(n_in, y.shape[1]))
        opt = torch.optim.AdamW(
            net.parameters(), lr=model.learning_rate, weight_decay=model.weight_decay
        )
        gen = torch.Generator().manual_seed(seed)
        best, bad = float("inf"), 0
        for _ in range(model.max_epochs):
            epochs += 1
            net.train()
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), model.batch_size):
                b = order[i : i + model.batch_size]
                loss = (net(x[b]) - y[b]).abs().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val = float((net(x_val) - y_val).abs().mean())
            best, bad = (val, 0) if val < best else (best, bad + 1)
            if bad >= model.patience:
                break
    return epochs


def test_np_dnn_members_trained_together(np_data):
    """The DNN's retraining on the days before NP's test period (4 seeds, one core): the DNN
    as it is (``calibrate``); then on its rows, with the last 91 days validating, the seeds
    trained together (``fit_members``), one by one, and by the previous implementation (the
    reference, measured in this run).  Epochs differ between runs (other random draws), so
    the time per member-epoch is the like-for-like figure."""
    from energylib.forecast.dnn import Members, fit_members

    view = np_data.information_for(np_data.day_index(NP_TEST[0]))
    together = DNN(**DNN_SETTINGS)
    t0 = time.perf_counter()
    together.calibrate(view)
    t_dnn = time.perf_counter() - t0
    x, y = together._rows(view, 0, view.n_days - 1)  # the rows and scaling it trained on
    xs, ys = together._scaled(x, y)
    cut = len(xs) - together.val_days
    split = (xs[:cut], ys[:cut], xs[cut:], ys[cut:])
    fit = dict(
        epochs=together.max_epochs, learning_rate=together.learning_rate,
        weight_decay=together.weight_decay, batch_size=together.batch_size,
        patience=together.patience,
    )  # fmt: skip
    seeds = together.seeds

    def members(chosen):
        return Members(xs.shape[1], together.hidden, ys.shape[1], together.dropout, chosen)

    t0 = time.perf_counter()
    ran = fit_members(members(seeds), *split, seeds=seeds, **fit)
    t_together = time.perf_counter() - t0
    t0 = time.perf_counter()
    ran_alone = [fit_members(members([s]), *split, seeds=[s], **fit)[0] for s in seeds]
    t_alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    previous = _previous_training(together, *split)
    t_previous = time.perf_counter() - t0
    per_epoch = {  # ms per member-epoch; members trained together all run to the last one's stop
        "together": 1000 * t_together / (max(ran) * len(seeds)),
        "one by one": 1000 * t_alone / sum(ran_alone),
        "previous": 1000 * t_previous / previous,
    }
    _line(
        f"DNN retraining before {NP_TEST[0]} ({len(xs)} days, {len(seeds)} seeds, 1 thread): "
        f"calibrate {t_dnn:.1f} s; last 91 days validating: together {t_together:.1f} s "
        f"(epochs {ran}), one by one {t_alone:.1f} s (epochs {ran_alone}), previous "
        f"implementation {t_previous:.1f} s ({previous} epochs in all); ms per member-epoch "
        + ", ".join(f"{k} {v:.0f}" for k, v in per_epoch.items())
        + f": together {per_epoch['previous'] / per_epoch['together']:.2f}x faster than the "
        f"previous; {_load()}"
    )
    assert np.isfinite(together.forecast(view)["DNN"]).all()


def test_np_lear_path_shortcut_picks_the_full_paths_penalty(np_data):
    """LEAR follows the LARS path to its end only when the AIC minimum is not well inside its
    first 100 steps; on sampled test days it gives the full path's forecasts exactly."""
    days = ["2017-01-16", "2017-07-03", "2018-02-12", "2018-08-27"]
    worst = 0.0
    t_short = t_full = 0.0
    for day in days:
        t0 = time.perf_counter()
        a = run_protocol(np_data, [LEAR(path_steps=100)], day, day, progress=False)
        t1 = time.perf_counter()
        b = run_protocol(np_data, [LEAR(path_steps=None)], day, day, progress=False)
        t2 = time.perf_counter()
        t_short += t1 - t0
        t_full += t2 - t1
        worst = max(
            worst, max(float(np.abs(a.forecasts[k] - b.forecasts[k]).max()) for k in a.forecasts)
        )
    _line(
        f"LEAR on {len(days)} sampled days: largest difference shortcut vs full path {worst:.2e} EUR/kWh; "
        f"calibration {t_short / len(days):.1f} s vs {t_full / len(days):.1f} s per day ({t_full / t_short:.1f}x), {_load()}"
    )
    assert worst < 1e-9


def test_sgsc_household_load_table(shared_data):
    from energylib.forecast.household_load import household_benchmark
    from energylib.ingest.households import read_sgsc_households

    homes = read_sgsc_households(shared_data / "sgsc_households")
    t0 = time.perf_counter()
    bench = household_benchmark(homes, progress=True)
    summary = bench.summary()
    _line(
        f"SGSC: {bench.per_home['home'].n_unique()} homes, the last quarter of each home's days, weekly recalibration, {time.perf_counter() - t0:.0f} s, {_load()}"
    )
    for home, why in bench.skipped:
        _line(f"left out {home}: {why}")
    _show(summary)
    best = summary.row(0, named=True)
    _line(
        f"best: {best['model']}, MAE {best['mean_improvement_pct']:.1f}% below the better seasonal naive on "
        f"average over homes (target >= 25%: {'met' if best['mean_improvement_pct'] >= 25 else 'NOT met'}); "
        f"better on {best['homes_better']} of {best['homes']} homes"
    )
    assert summary.height == 4


def test_citylearn_pv_table(shared_data):
    from energylib.forecast.solar_forecast import pv_benchmark
    from energylib.ingest.households import read_citylearn_buildings

    buildings = read_citylearn_buildings(shared_data / "citylearn_2022")
    t0 = time.perf_counter()
    per_home = pv_benchmark(buildings)
    summary = (
        per_home.group_by("model")
        .agg(
            pl.col("mae").mean().alias("mean_mae_kwh"),
            pl.col("skill_pct").mean().alias("mean_skill_pct"),
            (pl.col("skill_pct") > 0).sum().alias("homes_better"),
        )
        .sort("mean_mae_kwh")
    )
    _line(
        f"CityLearn PV: {per_home['home'].n_unique()} homes, 2016-10-01 to the end, weekly recalibration, {time.perf_counter() - t0:.0f} s, {_load()}"
    )
    _show(summary)
    _show(per_home.filter(pl.col("model") == "PV model + learned correction"))
    assert summary.height == 3


def test_aemo_vic1_table(shared_data):
    """Real AEMO VIC1 prices (2023-2024, 5-min settled, averaged to half-hours), each day of
    the second half of 2024 forecast from the NEM day before (UTC+10), weekly recalibration
    (the whole of 2024 did not fit in the session's time on two shared cores): the seasonal naive
    forecasts, ridge on the last week (plain and on LEAR's asinh scale), LEAR on the windows the two years allow (56, 84 and
    364 days: no 1,092-day history) and the DNN with NP's settings.  AUD/MWh."""
    from energylib import align
    from energylib.ingest.aemo import read_aemo_price_csv

    files = sorted((shared_data / "aemo_vic1").glob("PRICE_AND_DEMAND_202*_VIC1.csv"))
    frames = [read_aemo_price_csv(f) for f in files]
    frame = pl.concat([f for f, _ in frames]).sort("interval_start")
    half_hourly, _ = align.resample(frame.drop("interval_type"), frames[0][1], 30)
    data = DayAheadData.from_frame(half_hourly, "spot_per_kwh", timezone="Australia/Brisbane")
    models = [
        SeasonalNaive(1),
        SeasonalNaive(7),
        RidgeDayAhead(window=364),
        RidgeDayAhead(window=364, transform="asinh", name="ridge (asinh)"),
        LEAR(windows=(56, 84, 364), n_jobs=N_JOBS),
        DNN(**AEMO_DNN_SETTINGS),
    ]
    t0 = time.perf_counter()
    result = run_protocol(data, models, *AEMO_TEST, recalibration="weekly", cache_dir=CACHE)
    _ensembles(result)
    table = benchmark_table(result, "naive day", unit_factor=1000.0)
    _line(
        f"AEMO VIC1, {len(result.days)} days {AEMO_TEST[0]} .. {AEMO_TEST[1]} (half-hourly, NEM days), weekly recalibration, "
        f"{time.perf_counter() - t0:.0f} s (cached models read), {_load()}"
    )
    _show(table)
    _show(result.timings)
    mae = dict(zip(table["model"], table["mae"], strict=True))
    best = table.row(0, named=True)
    _line(
        f"best: {best['model']} MAE {best['mae']:.2f} AUD/MWh, "
        f"{100 * (1 - best['mae'] / mae['naive day']):.0f}% below yesterday's prices"
    )
    assert table["mae"].is_finite().all() and len(result.days) == 184
