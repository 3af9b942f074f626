"""Federated against local-only and centralised, on the same households and test blocks.

:func:`run_federation` runs the Flower federation (simulation or loopback deployment);
:func:`run_study` adds the two references and scores every method on each
household's own test block (the last ``split[2]`` of its rows), with seasonal naive
(yesterday) on the same windows:

* ``local``: each household trains alone, from the same initial weights, for as many
  epochs as a client makes in the whole federation (``rounds * local_epochs``);
* ``fedavg`` / ``fedprox``: the federation's final global model, with each household's
  own scalers;
* ``centralised``: one model on every household's windows pooled (each still scaled by
  its own scalers), the same number of epochs: the upper bound that privacy forbids.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from tqdm import tqdm

from energylib.forecast.federated.apps import (
    FederationError,
    FederationRun,
    RoundSetup,
    make_client_app,
    make_server_app,
)
from energylib.forecast.federated.households import HouseholdRef
from energylib.forecast.federated.params import FederationParams, describe, resolve_out_dir
from energylib.forecast.federated.training import (
    HouseholdData,
    build_model,
    export_household_model,
    fit,
    initial_model,
    load_shared,
    prepare_household,
    score,
    shared_state,
)

METHOD_ORDER = ("local", "fedavg", "fedprox", "centralised")


def _not_the_run_simulation_notice(record: logging.LogRecord) -> bool:
    # Flower 1.42 deprecates run_simulation in favour of `flwr run` on a simulation SuperLink;
    # the notice would sit in every report.  Other warnings pass.
    return "`run_simulation` function is deprecated" not in record.getMessage()


def _quiet_flower() -> Callable[[], None]:
    """Lower Flower's per-message INFO logging while a progress bar shows the rounds."""
    logger = logging.getLogger("flwr")
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addFilter(_not_the_run_simulation_notice)

    def restore() -> None:
        logger.setLevel(level)
        logger.removeFilter(_not_the_run_simulation_notice)

    return restore


def round_progress(params: FederationParams, enabled: bool = True):
    """A tqdm bar over every strategy's rounds, and the ``progress`` callback that moves it
    (one line per round: loss, clients, seconds)."""
    bar = tqdm(
        total=len(params.strategies) * params.rounds,
        desc="federated rounds",
        unit="round",
        disable=not enabled,
    )

    def update(strategy: str, server_round: int, row: dict) -> None:
        bar.update(1)
        bar.set_postfix(strategy=strategy, train_loss=f"{row['train_loss']:.4f}")
        if enabled:
            tqdm.write(
                f"[{strategy}] round {server_round}/{params.rounds}: {row['clients_train']} client(s) "
                f"trained, loss {row['train_loss']:.4f}, validation {row['val_loss']:.4f}, "
                f"round {row['train_phase_s'] + row['evaluate_phase_s']:.1f} s"
            )

    return bar, update


def start_ray(cpus: int, attempts: int = 3) -> None:
    """Start the local Ray instance Flower's simulation runtime runs the ClientApps on.

    Flower would start it too (with the same ``PYTHONPATH`` hand-over to the workers); it
    is started here so that a Ray that cannot come up (its raylet has 30 s, which a
    heavily loaded machine can exceed) is retried and then reported before the ServerApp
    starts waiting for clients.  Flower's backend shuts it down at the end of the run.
    """
    import ray  # the simulation extra: loaded only for a simulation (run_federation loads it first)

    if ray.is_initialized():
        return
    pythonpath = os.pathsep.join(p for p in [*sys.path, os.environ.get("PYTHONPATH", "")] if p)
    os.environ["PYTHONPATH"] = pythonpath
    last: Exception | None = None
    for _ in range(attempts):
        try:
            ray.init(
                num_cpus=cpus,
                num_gpus=0,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
            )
            return
        except Exception as err:  # noqa: BLE001 - Ray raises a bare Exception on a startup timeout
            last = err
            ray.shutdown()
    load = os.getloadavg()[0]
    raise FederationError(
        f"Ray (Flower's simulation runtime) did not start after {attempts} tries: "
        f"{str(last).rstrip('.')}. "
        f"The load average is {load:.1f} on {os.cpu_count()} CPU(s); retry when the machine is "
        "less busy, or run the deployment runtime instead (runtime: loopback)"
    )


def run_federation(
    params: FederationParams,
    households: Sequence[HouseholdRef] | None = None,
    *,
    progress: bool = True,
) -> FederationRun:
    """Run the federation as ``params.runtime`` says: ``simulation`` (Flower's simulation
    runtime, Ray, one virtual SuperNode per household) or ``loopback`` (a SuperLink and
    one SuperNode process per household on this machine)."""
    households = list(households) if households is not None else params.household_refs()
    if len(households) != _count(params):
        params = dataclasses.replace(params, households=tuple(h.key for h in households))
    bar, update = round_progress(params, progress)
    restore = _quiet_flower()
    try:
        if params.runtime == "loopback":
            from energylib.forecast.federated.deployment import LoopbackFederation

            with LoopbackFederation(households) as federation:
                return federation.run(params, progress=update)
        with warnings.catch_warnings():
            # Flower's simulation loads Ray, which imports tqdm.auto: it warns in a notebook
            # without ipywidgets.
            warnings.simplefilter("ignore", category=Warning)
            from flwr.simulation import run_simulation  # the simulation extra, Ray included

        sink: list[FederationRun] = []
        concurrency = max(int(params.parallel_clients // params.client_cpus), 1)
        start_ray(params.parallel_clients)
        run_simulation(
            server_app=make_server_app(params, sink, update, concurrency),
            client_app=make_client_app(households),
            num_supernodes=len(households),
            backend_config={"client_resources": {"num_cpus": params.client_cpus, "num_gpus": 0.0}},
        )
        if not sink:
            raise RuntimeError("the simulation ended without a result; see the log above")
        return sink[0]
    finally:
        restore()
        bar.close()


def _count(params: FederationParams) -> int:
    return params.households if isinstance(params.households, int) else len(params.households)


@dataclass
class FederatedStudy:
    """Every method scored on every household's test block.

    ``households``: one row per household (training windows and days, mean daily kWh,
    whether it is new); ``scores``: one row per household and method (``naive`` included):
    ``mae_kwh``, ``rmse_kwh`` [kWh per interval], ``mae_vs_naive``; ``run``: the
    federation (per-round losses, messages, weights); ``seconds``: wall time per stage.
    """

    params: FederationParams
    households: pl.DataFrame
    scores: pl.DataFrame
    run: FederationRun
    seconds: dict[str, float]

    def overall(self) -> pl.DataFrame:
        """Per method: mean MAE and RMSE over households, mean MAE ratio to seasonal naive,
        and on how many households it beats seasonal naive."""
        return (
            self.scores.group_by("method")
            .agg(
                pl.col("mae_kwh").mean(),
                pl.col("rmse_kwh").mean(),
                pl.col("mae_vs_naive").mean(),
                (pl.col("mae_vs_naive") < 1).sum().alias("beats_naive"),
                pl.len().alias("households"),
            )
            .with_columns(pl.col("method").replace_strict(_ORDER, default=99).alias("_o"))
            .sort("_o")
            .drop("_o")
        )

    def gains(self) -> pl.DataFrame:
        """Per household: each federated strategy's MAE against local-only, as the percent
        lower (``gain_pct_<strategy>``), with the household's size."""
        wide = self.scores.pivot(on="method", index="household", values="mae_kwh")
        out = self.households.join(wide, on="household")
        if "local" in wide.columns:
            out = out.with_columns(
                (100.0 * (1.0 - pl.col(s) / pl.col("local"))).alias(f"gain_pct_{s}")
                for s in self.params.strategies
            )
        return out.sort("train_windows")

    def save(self, folder: str | Path) -> Path:
        """``households.parquet``, ``scores.parquet`` and the run (``run/``) under ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.households.write_parquet(folder / "households.parquet")
        self.scores.write_parquet(folder / "scores.parquet")
        self.run.save(folder / "run")
        return folder


_ORDER = {m: i for i, m in enumerate(("naive", *METHOD_ORDER))}


def _score_rows(
    method: str, model, households: Sequence[HouseholdData], eval_windows
) -> list[dict]:
    rows = []
    for h in households:
        s = score(model(h), h, eval_windows)
        rows.append(
            {
                "household": h.name,
                "method": method,
                "mae_kwh": s["mae_kwh"],
                "rmse_kwh": s["rmse_kwh"],
                "naive_mae_kwh": s["naive_mae_kwh"],
                "naive_rmse_kwh": s["naive_rmse_kwh"],
                "test_windows": s["test_windows"],
            }
        )
    return rows


def run_study(
    params: FederationParams,
    households: Sequence[HouseholdRef] | None = None,
    *,
    progress: bool = True,
) -> FederatedStudy:
    """Federate, train the references, score everything on the same test blocks.

    ``households``: the federation's households (default: the params' dataset).

    Writes the study to ``params.out_dir`` (relative to the data folder), and with
    ``params.export`` each household's federated model (its own scalers) to
    ``out_dir/models/<household>.<onnx|pt>``.
    """
    seconds: dict[str, float] = {}
    refs = list(households) if households is not None else params.household_refs()
    if progress:
        tqdm.write(describe(params, refs))
    t0 = time.perf_counter()
    setup = RoundSetup.from_params(params)
    spec, config = params.spec(), setup.model_config
    households = [
        prepare_household(r, spec, params.split)
        for r in tqdm(refs, desc="households", disable=not progress, leave=False)
    ]
    seconds["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = run_federation(params, refs, progress=progress)
    seconds["federation"] = time.perf_counter() - t0

    start = shared_state(initial_model(config, params.seed))
    options = setup.options
    epochs = params.rounds * params.local_epochs

    def fresh(h: HouseholdData | None):
        m = build_model(config, h)
        load_shared(m, start)
        return m

    rows: list[dict] = []
    for name in params.strategies:

        def federated(h: HouseholdData, w=run.weights[name]):
            m = build_model(config, h)
            load_shared(m, w)
            return m

        rows += _score_rows(name, federated, households, params.eval_windows)
    if "local" in params.compare:
        t0 = time.perf_counter()
        local = {}
        for h in tqdm(households, desc="local-only", disable=not progress, leave=False):
            m = fresh(h)
            fit(m, [h], options, epochs, seed=params.seed)
            local[h.name] = m
        rows += _score_rows("local", lambda h: local[h.name], households, params.eval_windows)
        seconds["local"] = time.perf_counter() - t0
    if "centralised" in params.compare:
        if config.profile_slots:
            raise ValueError(
                "compare: centralised pools households into one model, but this spec fits a price "
                "profile per household; use a consumption spec or compare: [local]"
            )
        t0 = time.perf_counter()
        pooled = fresh(None)
        fit(pooled, households, options, epochs, seed=params.seed)
        rows += _score_rows("centralised", lambda h: pooled, households, params.eval_windows)
        seconds["centralised"] = time.perf_counter() - t0
    scores = pl.DataFrame(rows)
    naive = (
        scores.group_by("household", maintain_order=True)
        .agg(
            pl.col("naive_mae_kwh").first().alias("mae_kwh"),
            pl.col("naive_rmse_kwh").first().alias("rmse_kwh"),
            pl.col("naive_mae_kwh").first(),
            pl.col("naive_rmse_kwh").first(),
            pl.col("test_windows").first(),
        )
        .with_columns(pl.lit("naive").alias("method"))
        .select(scores.columns)
    )
    scores = pl.concat([scores, naive]).with_columns(
        (pl.col("mae_kwh") / pl.col("naive_mae_kwh")).alias("mae_vs_naive")
    )
    study = FederatedStudy(
        params, pl.DataFrame([h.summary() for h in households]), scores, run, seconds
    )
    out = resolve_out_dir(params)
    study.save(out)
    if params.export:
        final = params.strategies[0]
        for h in households:
            m = build_model(config, h)
            load_shared(m, run.weights[final])
            for fmt in params.export:
                suffix = ".onnx" if fmt == "onnx" else ".pt"
                export_household_model(m, h, out / "models" / f"{h.name}{suffix}", fmt)
    return study
