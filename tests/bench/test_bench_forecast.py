"""Forecasting benchmark (issue 7): preset sizes, accuracy against baselines on the default
year, CPU training time to early stop, single-thread inference latency and peak memory.

    .venv/bin/python -m pytest tests/bench/test_bench_forecast.py -s -q --override-ini norecursedirs=

Prints the figures next to the issue's targets; it asserts only correctness, never times
(the machine is shared, so timings vary with its load).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pytest

from energylib.forecast.features import TRADING_24, default_year_frame
from energylib.forecast.metrics import evaluate
from energylib.forecast.train import TrainConfig, load_checkpoint, train
from energylib.forecast.transformer import EnergyTransformer, model_config, parameter_count

TARGET_SKILL_PCT = 15.0
TARGET_TRAIN_S = 600.0
TARGETS_MS = {"pi": (5.0, 20.0), "seed": (None, 100.0)}


def _line(text: str) -> None:
    print(f"[bench forecast] {text}", flush=True)


@pytest.fixture(scope="module")
def year():
    data, tz = default_year_frame("nem", 2025)
    _line(
        f"default year: {data.height} half-hours, {tz}, load: {os.getloadavg()[0]:.1f} (1-min load average, {os.cpu_count()} CPUs)"
    )
    return data, tz


@pytest.fixture(scope="module")
def trained_pi(year, tmp_path_factory):
    data, tz = year
    out = tmp_path_factory.mktemp("pi")
    cfg = TrainConfig(preset="pi", cpu_threads=1)
    t0 = time.perf_counter()
    result = train(data, tz, cfg, out, progress=True)
    seconds = time.perf_counter() - t0
    _line(
        f"train pi on one year of half-hours, CPU, 1 thread: {seconds:.0f} s for {result.history.height} epochs "
        f"(best epoch {result.best_epoch}, early stop: {result.stopped_early}); target <= {TARGET_TRAIN_S:.0f} s to early stop"
    )
    return result


def test_parameter_counts_of_both_presets():
    for preset in ("seed", "pi"):
        n = parameter_count(EnergyTransformer(model_config(preset, TRADING_24.n_features)))
        _line(f"{preset} preset: {n:,} parameters")
        assert n > 0


def test_pi_day_ahead_mae_against_seasonal_naive_and_ridge(year, trained_pi):
    data, tz = year
    ev = evaluate(data, tz, load_checkpoint(trained_pi.best_checkpoint))
    with pl.Config(tbl_rows=40, tbl_cols=12, tbl_width_chars=160):
        print(ev.table)
    day = ev.table.filter(pl.col("horizon") == "day")
    for task in ("consumption", "price"):
        rows = {r["model"]: r for r in day.filter(pl.col("task") == task).iter_rows(named=True)}
        t, naive, ridge = rows["transformer"], rows["seasonal_naive_day"], rows["ridge"]
        _line(
            f"{task} day-ahead MAE over {len(ev.anchors)} test windows: pi {t['mae']:.4f}, seasonal naive {naive['mae']:.4f}, "
            f"ridge {ridge['mae']:.4f}, profile {rows['profile']['mae']:.4f}; pi better than seasonal naive by "
            f"{t['skill_pct']:.1f}% (target >= {TARGET_SKILL_PCT:.0f}%: {'met' if t['skill_pct'] >= TARGET_SKILL_PCT else 'NOT met'}), "
            f"than ridge by {100 * (1 - t['mae'] / ridge['mae']):.1f}%"
        )
        assert np.isfinite(t["mae"])


_LATENCY_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if kind == "seed":
    from energylib.forecast.transformer import EnergyTransformer, model_config
    model = EnergyTransformer(model_config("seed", 24)).eval()
    x = torch.randn(1, 48, 24)
    def once():
        with torch.inference_mode():
            model(x)
else:
    import polars as pl
    from energylib.forecast.export import load_model
    runner = load_model(path)
    history = pl.read_parquet(sys.argv[4])
    def once():
        runner.predict(history)
for _ in range(10):
    once()
times = []
for _ in range(n):
    t = time.perf_counter(); once(); times.append((time.perf_counter() - t) * 1000)
t = np.array(times)
print(json.dumps({"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99)), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "before_model_rss_mb": base / 1024}))
"""


def _latency(kind: str, path: str, n: int, history: str = "") -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _LATENCY_SCRIPT, kind, path, str(n), history],
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_single_thread_inference_latency_and_peak_memory(year, trained_pi, tmp_path):
    from energylib.forecast.export import export_onnx, export_torchscript

    data, _ = year
    history = tmp_path / "history.parquet"
    data.tail(TRADING_24.history_rows).write_parquet(history)
    files = {
        "pi TorchScript": export_torchscript(trained_pi.best_checkpoint, tmp_path / "pi.pt"),
        "pi ONNX": export_onnx(trained_pi.best_checkpoint, tmp_path / "pi.onnx"),
    }
    for label, path in files.items():
        r = _latency("pi", str(path), 1000, str(history))
        _line(
            f"{label}: one forecast (predict(history): features + model, 1 thread) p50 {r['p50']:.2f} ms, "
            f"p99 {r['p99']:.2f} ms (target 5 / 20 ms); peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    r = _latency("seed", "", 200)
    _line(
        f"seed eager model forward, 1 thread: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms (target p99 <= 100 ms); "
        f"peak RSS {r['peak_rss_mb']:.0f} MB (before building the model {r['before_model_rss_mb']:.0f} MB)"
    )
