"""Federated forecasting benchmark (issue 16), on the real SGSC households.

    .venv/bin/python -m pytest tests/bench/test_bench_federated.py -s -q --override-ini norecursedirs=

1. 10 SGSC households x 5 rounds x 1 local epoch of the ``pi`` preset in Flower's simulation
   runtime on this CPU (target: <= 5 minutes wall for a FedAvg federation), each round's time
   split into client training, transfer (and scheduling) and aggregation; FedProx runs after
   FedAvg on the same nodes.
2. The accuracy table: local-only, FedAvg, FedProx and centralised, each against seasonal
   naive (yesterday), on the households' own test blocks (the last 15 % of each one's rows).
3. The deployment runtime: a SuperLink and 3 SuperNode processes on loopback, 2 rounds:
   rounds completed, bytes each client sent and received per round.
4. Scale: 50 generated homes in one simulation (1 round, a few steps each).

Two of the ten SGSC homes are "new" (28 days of training history before their validation
block) to show who gains from federation.

Prints the figures (with the load average: the machine is shared) and writes them to
``tests/artifacts/bench_federated/figures.json``; asserts only correctness, never times.
An epoch visits every 4th training window (``window_stride: 4``, 2-hourly anchors).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import polars as pl
import pytest

from energylib.forecast.federated import FederationParams
from energylib.forecast.federated.deployment import LoopbackFederation
from energylib.forecast.federated.study import run_federation, run_study

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "bench_federated"
TARGET_S = 300.0
FIGURES: dict = {}


def _line(text: str) -> None:
    print(f"[bench federated] {text}", flush=True)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def _params(shared: Path, out: Path, **changes) -> FederationParams:
    base = dict(
        dataset="sgsc",
        data_path=str(shared / "sgsc_households"),
        households=10,
        new_households=(8, 9),  # two homes that joined 28 days before their validation block
        new_history_days=28,
        preset="pi",
        feature_spec="CONSUMPTION_TIME",
        horizons={"day": 48},
        rounds=5,
        local_epochs=1,
        strategies=("fedavg", "fedprox"),
        proximal_mu=0.01,
        batch_size=64,
        window_stride=4,
        max_train_batches=None,
        fraction_evaluate=1.0,
        eval_windows=300,
        compare=("local", "centralised"),
        parallel_clients=2,
        client_cpus=1,
        cpu_threads=1,
        out_dir=str(out),
    )
    return FederationParams(**(base | changes))


@pytest.fixture(scope="module")
def study(shared_data):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _line(f"start: {_load()}")
    t0 = time.perf_counter()
    result = run_study(_params(shared_data, ARTIFACTS / "study"), progress=True)
    FIGURES["study_wall_s"] = time.perf_counter() - t0
    _line(f"study done in {FIGURES['study_wall_s']:.0f} s ({result.seconds}); {_load()}")
    return result


def test_ten_households_five_rounds_and_where_a_round_goes(study):
    rounds = study.run.rounds
    assert (
        rounds.height == 10
        and (rounds["clients_train"] == 10).all()
        and (rounds["failures"] == 0).all()
    )
    per_strategy = rounds.group_by("strategy", maintain_order=True).agg(
        (pl.col("train_phase_s") + pl.col("aggregation_s") + pl.col("evaluate_phase_s"))
        .sum()
        .alias("rounds_s")
    )
    round_s = dict(per_strategy.iter_rows())
    startup = study.seconds["federation"] - sum(round_s.values())
    fedavg_wall = startup + round_s["fedavg"]
    _line(
        f"simulation start (Ray, actors) {startup:.0f} s; FedAvg 10 homes x 5 rounds x 1 epoch: "
        f"{round_s['fedavg']:.0f} s of rounds, {fedavg_wall:.0f} s with the start "
        f"({fedavg_wall / TARGET_S:.2f} x the {TARGET_S:.0f} s target); FedProx {round_s['fedprox']:.0f} s"
    )
    table = rounds.select(
        "strategy",
        "round",
        "train_phase_s",
        (pl.col("client_train_s_sum") / pl.col("clients_train")).alias("client_train_s_mean"),
        "client_train_s_max",
        "transfer_s",
        "aggregation_s",
        "evaluate_phase_s",
        "train_loss",
        "val_loss",
    )
    with pl.Config(tbl_rows=20, tbl_cols=12, float_precision=3, tbl_width_chars=200):
        print(table)
    FIGURES["federation"] = {
        "startup_s": startup,
        "rounds_s": round_s,
        "fedavg_wall_s": fedavg_wall,
        "per_round": table.to_dicts(),
        "load": _load(),
    }
    assert rounds["train_loss"].is_finite().all()


def test_accuracy_table_against_seasonal_naive(study):
    overall = study.overall()
    gains = study.gains()
    with pl.Config(tbl_rows=60, tbl_cols=14, float_precision=4, tbl_width_chars=220):
        print(overall)
        print(gains)
    FIGURES["accuracy"] = {"overall": overall.to_dicts(), "households": gains.to_dicts()}
    assert set(overall["method"]) == {"naive", "local", "fedavg", "fedprox", "centralised"}
    assert (
        study.scores.group_by("household").agg(pl.col("test_windows").n_unique())["test_windows"]
        == 1
    ).all()


def test_deployment_runtime_three_supernodes(shared_data, tmp_path):
    params = _params(
        shared_data,
        tmp_path / "out",
        households=3,
        new_households=(),
        days=120,
        rounds=2,
        strategies=("fedavg",),
        compare=(),
        eval_windows=100,
    )
    refs = params.household_refs()
    t0 = time.perf_counter()
    with LoopbackFederation(refs, tmp_path / "federation") as fed:
        started = time.perf_counter() - t0
        run = fed.run(params)
    wall = time.perf_counter() - t0
    rounds = run.rounds
    with pl.Config(tbl_cols=12, float_precision=2, tbl_width_chars=200):
        print(
            rounds.select(
                "round",
                "clients_train",
                "bytes_per_client",
                "bytes_to_client",
                "train_phase_s",
                "evaluate_phase_s",
            )
        )
    sent = run.messages.group_by("kind").agg(pl.col("bytes").mean())
    _line(
        f"deployment: SuperLink + 3 SuperNodes up in {started:.1f} s; {rounds.height} rounds completed in "
        f"{run.seconds:.0f} s ({wall:.0f} s with start and stop); per client per round: sent "
        f"{rounds['bytes_per_client'].mean():,.0f} B (weights and metrics), received "
        f"{rounds['bytes_to_client'].mean():,.0f} B; {_load()}"
    )
    FIGURES["deployment"] = {
        "rounds_completed": rounds.height,
        "bytes_sent_per_client_per_round": float(rounds["bytes_per_client"].mean()),
        "bytes_received_per_client_per_round": float(rounds["bytes_to_client"].mean()),
        "reply_bytes_by_kind": dict(sent.iter_rows()),
        "startup_s": started,
        "run_s": run.seconds,
        "load": _load(),
    }
    assert rounds.height == 2 and (rounds["clients_train"] == 3).all()
    (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES, indent=1, default=str))


def test_fifty_generated_homes_in_one_simulation(tmp_path):
    params = FederationParams(
        dataset="simulated",
        households=50,
        days=60,
        horizons={"day": 48},
        rounds=1,
        max_train_batches=3,
        fraction_evaluate=0.2,
        compare=(),
        eval_windows=50,
        out_dir=str(tmp_path),
    )
    t0 = time.perf_counter()
    run = run_federation(params, progress=True)
    wall = time.perf_counter() - t0
    row = run.rounds.row(0, named=True)
    _line(
        f"50 generated homes, 1 round of 3 steps each: {row['clients_train']} trained, "
        f"{row['clients_evaluate']} evaluated, {wall:.0f} s ({row['train_phase_s']:.0f} s training phase); {_load()}"
    )
    FIGURES["fifty_homes"] = {"wall_s": wall, "round": row, "load": _load()}
    (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES, indent=1, default=str))
    assert row["clients_train"] == 50 and row["failures"] == 0
