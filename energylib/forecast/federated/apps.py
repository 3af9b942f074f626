"""The Flower apps: a ClientApp per household and a ServerApp running FedAvg / FedProx.

One code path for both runtimes.  :data:`client_app` and :data:`server_app` are what
a deployment runs (``pi_agent/federation/pyproject.toml`` names them): the SuperNode's
``--node-config`` says where its household's data is, the run config carries the
params.  :func:`make_client_app` / :func:`make_server_app` build the same apps for the
simulation runtime, where partition ``i`` is the ``i``-th household and the results
come back in memory.

What travels (and a test checks every reply a client sends):

* server -> client: the global model's parameters (an ``ArrayRecord``) and a
  ``ConfigRecord``: the feature spec and model config (JSON), local training options,
  the round, FedProx's ``proximal-mu``;
* client -> server: after training, its updated parameters (``ArrayRecord``) and a
  ``MetricRecord`` of :data:`TRAIN_METRICS`; after evaluation, a ``MetricRecord`` of
  :data:`EVALUATE_METRICS`.  Nothing else: no rows, no scalers (they stay local, see
  :mod:`energylib.forecast.federated.training`), no buffers.

Aggregation is Flower's: :class:`flwr.serverapp.strategy.FedAvg` or ``FedProx``
(weighted by each client's ``num-examples``).  :class:`RecordingGrid` wraps the grid
the strategy talks through, to time each phase and keep what every reply carried.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from logging import INFO
from pathlib import Path

import numpy as np
import polars as pl
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.common import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedProx

from energylib.forecast.features import FeatureSpec
from energylib.forecast.federated.households import HouseholdRef
from energylib.forecast.federated.params import (
    FederationParams,
    params_from_run_config,
    resolve_out_dir,
)
from energylib.forecast.federated.training import (
    HouseholdData,
    LocalOptions,
    build_model,
    cached_household,
    export_household_model,
    fit,
    initial_model,
    load_shared,
    model_config_for,
    score,
    shared_state,
    validation_loss,
)
from energylib.forecast.transformer import ModelConfig

TRAIN_METRICS = ("train-loss", "num-examples", "steps", "train-seconds", "handler-seconds")
EVALUATE_METRICS = (
    "val-loss",
    "num-examples",
    "mae-kwh",
    "rmse-kwh",
    "naive-mae-kwh",
    "test-windows",
    "handler-seconds",
)


ROUND_MARK = "FEDERATED-ROUND"  # marks the per-round line a deployment's ServerApp logs


class FederationError(RuntimeError):
    """A federated run could not proceed (every client failed a round, no node joined ...)."""


# --------------------------------------------------------------------------- what the server sends
@dataclass(frozen=True)
class RoundSetup:
    """The instructions in every training / evaluation message (no data of anyone's).

    Parameters
    ----------
    spec_json, model_json : str
        The feature spec and the :class:`ModelConfig`, as JSON.
    options : LocalOptions
        Local training options (FedProx's mu is added by the strategy).
    local_epochs : int
        Epochs per round.
    seed : int
        Base seed of local runs.
    split : tuple of float
        Chronological train / validation / test fractions.
    eval_windows : int
        Test windows a client scores (0: all).
    """

    spec_json: str
    model_json: str
    options: LocalOptions
    local_epochs: int
    seed: int
    split: tuple[float, float, float]
    eval_windows: int

    @classmethod
    def from_params(cls, params: FederationParams) -> RoundSetup:
        spec = params.spec()
        return cls(
            json.dumps(spec.to_dict()),
            json.dumps(model_config_for(spec, params.preset, params.model).to_dict()),
            LocalOptions(
                params.learning_rate,
                params.weight_decay,
                params.batch_size,
                params.max_train_batches,
                params.grad_clip,
                0.0,
                params.cpu_threads,
                params.window_stride,
            ),
            params.local_epochs,
            params.seed,
            tuple(params.split),
            params.eval_windows or 0,
        )

    @property
    def spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(json.loads(self.spec_json))

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(json.loads(self.model_json))

    def to_config(self) -> ConfigRecord:
        o = self.options
        return ConfigRecord(
            {
                "feature-spec": self.spec_json,
                "model-config": self.model_json,
                "learning-rate": float(o.learning_rate),
                "weight-decay": float(o.weight_decay),
                "batch-size": int(o.batch_size),
                "max-train-batches": int(o.max_train_batches or 0),
                "grad-clip": float(o.grad_clip),
                "cpu-threads": int(o.cpu_threads),
                "window-stride": int(o.window_stride),
                "local-epochs": int(self.local_epochs),
                "seed": int(self.seed),
                "split": [float(s) for s in self.split],
                "eval-windows": int(self.eval_windows),
            }
        )

    @classmethod
    def from_config(cls, cfg: ConfigRecord) -> RoundSetup:
        options = LocalOptions(
            float(cfg["learning-rate"]),
            float(cfg["weight-decay"]),
            int(cfg["batch-size"]),
            int(cfg["max-train-batches"]) or None,
            float(cfg["grad-clip"]),
            float(cfg.get("proximal-mu", 0.0)),
            int(cfg["cpu-threads"]),
            int(cfg["window-stride"]),
        )
        return cls(
            str(cfg["feature-spec"]),
            str(cfg["model-config"]),
            options,
            int(cfg["local-epochs"]),
            int(cfg["seed"]),
            tuple(float(s) for s in cfg["split"]),
            int(cfg["eval-windows"]),
        )


# --------------------------------------------------------------------------- the client
def _household(
    context: Context, households: Sequence[HouseholdRef] | None, setup: RoundSetup
) -> HouseholdData:
    """This node's household: named by its node config (a deployment) or its partition
    (a simulation)."""
    node = context.node_config
    if "dataset" in node:
        ref = HouseholdRef.from_node_config(node)
    elif households is not None and "partition-id" in node:
        ref = households[int(node["partition-id"])]
    else:
        ref = HouseholdRef.from_node_config(node)  # raises, saying what the node config lacks
    return cached_household(ref, setup.spec_json, setup.split)


def client_train(
    msg: Message, context: Context, households: Sequence[HouseholdRef] | None
) -> Message:
    """Train the global model on this household's windows; reply with weights and metrics."""
    t0 = time.perf_counter()
    setup = RoundSetup.from_config(msg.content["config"])
    household = _household(context, households, setup)
    model = build_model(setup.model_config, household)
    load_shared(model, msg.content["arrays"].to_torch_state_dict())
    server_round = int(msg.content["config"].get("server-round", 0))
    stats = fit(
        model,
        [household],
        setup.options,
        setup.local_epochs,
        seed=setup.seed + 7919 * server_round + context.node_id % 10_007,
    )
    metrics = MetricRecord(
        {
            "train-loss": stats.train_loss,
            "num-examples": stats.windows,
            "steps": stats.steps,
            "train-seconds": stats.seconds,
            "handler-seconds": time.perf_counter() - t0,
        }
    )
    content = RecordDict({"arrays": ArrayRecord(shared_state(model)), "metrics": metrics})
    return Message(content=content, reply_to=msg)


def client_evaluate(
    msg: Message, context: Context, households: Sequence[HouseholdRef] | None
) -> Message:
    """Score the global model on this household's validation and test blocks; reply with
    metrics only.  A node whose config names a ``model-dir`` also exports the model there
    (with its own scalers) for the agent to swap in."""
    t0 = time.perf_counter()
    setup = RoundSetup.from_config(msg.content["config"])
    household = _household(context, households, setup)
    torch.set_num_threads(setup.options.cpu_threads)
    model = build_model(setup.model_config, household)
    load_shared(model, msg.content["arrays"].to_torch_state_dict())
    val_loss, n_val = validation_loss(model, household, setup.eval_windows or None)
    scores = score(model, household, setup.eval_windows or None)
    model_dir = str(context.node_config.get("model-dir", "") or "")
    if model_dir:
        fmt = str(context.node_config.get("model-format", "onnx"))
        suffix = ".onnx" if fmt == "onnx" else ".pt"
        export_household_model(model, household, Path(model_dir) / f"federated{suffix}", fmt)
    metrics = MetricRecord(
        {
            "val-loss": val_loss,
            "num-examples": n_val,
            "mae-kwh": scores["mae_kwh"],
            "rmse-kwh": scores["rmse_kwh"],
            "naive-mae-kwh": scores["naive_mae_kwh"],
            "test-windows": scores["test_windows"],
            "handler-seconds": time.perf_counter() - t0,
        }
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)


def make_client_app(households: Sequence[HouseholdRef] | None = None) -> ClientApp:
    """A ClientApp; ``households`` maps a simulation's partition ids to households (None:
    each node's config names its own, as on a Pi)."""
    app = ClientApp()
    refs = list(households) if households is not None else None

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return client_train(msg, context, refs)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return client_evaluate(msg, context, refs)

    return app


#: The deployment's ClientApp: each SuperNode's --node-config names its household.
client_app = make_client_app()


# --------------------------------------------------------------------------- the server
@dataclass
class Phase:
    """One send-and-receive of the grid: a round's training or evaluation."""

    strategy: str
    round: int
    kind: str
    started: float
    ended: float
    sent: int
    sent_bytes: int


class RecordingGrid(Grid):
    """The grid a strategy talks through, keeping every reply and timing every phase.

    Delegates to Flower's own grid; nothing about sending or aggregation changes.
    """

    def __init__(self, grid: Grid):
        self.inner = grid
        self.strategy = ""
        self.replies: list[tuple[str, int, Message]] = []  # (strategy, round, reply)
        self.phases: list[Phase] = []

    def set_run(self, run) -> None:
        self.inner.set_run(run)

    @property
    def run(self):
        return self.inner.run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        kind, rnd = "none", self.phases[-1].round if self.phases else 0
        if messages:
            kind = messages[0].metadata.message_type
            rnd = int(messages[0].content["config"].get("server-round", rnd))
        size = max((sum(r.count_bytes() for r in m.content.values()) for m in messages), default=0)
        started = time.perf_counter()
        replies = list(self.inner.send_and_receive(messages, timeout=timeout))
        ended = time.perf_counter()
        self.phases.append(Phase(self.strategy, rnd, kind, started, ended, len(messages), size))
        self.replies += [(self.strategy, rnd, r) for r in replies]
        return replies


def reply_summary(strategy: str, server_round: int, reply: Message) -> dict:
    """What one reply carried: its records by kind, array names, metrics, bytes."""
    content = reply.content if not reply.has_error() else RecordDict()
    arrays = content.array_records
    metrics = content.metric_records
    return {
        "strategy": strategy,
        "round": server_round,
        "kind": reply.metadata.message_type,
        "node_id": int(reply.metadata.src_node_id),
        "error": reply.error.reason if reply.has_error() else "",
        "records": sorted(f"{k}:{type(v).__name__}" for k, v in content.items()),
        "array_names": sorted(n for rec in arrays.values() for n in rec),
        "metrics": json.dumps({k: v for rec in metrics.values() for k, v in rec.items()}),
        "bytes": int(sum(rec.count_bytes() for rec in content.values())),
        "array_bytes": int(sum(rec.count_bytes() for rec in arrays.values())),
    }


@dataclass
class FederationRun:
    """The outcome of a federated run.

    ``rounds``: one row per strategy and round (losses, errors, phase times, bytes);
    ``messages``: one row per client reply (see :func:`reply_summary`); ``weights``: the
    final global parameters per strategy; ``replies``: the reply messages themselves
    (in memory only, for inspection).
    """

    params: FederationParams
    rounds: pl.DataFrame
    messages: pl.DataFrame
    weights: dict[str, dict[str, np.ndarray]]
    seconds: float
    replies: list = field(default_factory=list, repr=False)

    def save(self, folder: str | Path) -> Path:
        """Write ``rounds.parquet``, ``messages.parquet``, ``params.json`` and
        ``<strategy>.npz`` (global weights) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.rounds.write_parquet(folder / "rounds.parquet")
        self.messages.write_parquet(folder / "messages.parquet")
        (folder / "params.json").write_text(
            json.dumps(self.params.to_dict() | {"seconds": self.seconds})
        )
        for name, w in self.weights.items():
            np.savez(folder / f"{name}.npz", **w)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FederationRun:
        folder = Path(folder)
        meta = json.loads((folder / "params.json").read_text())
        seconds = float(meta.pop("seconds", 0.0))
        params = FederationParams.from_dict(meta)
        weights = {}
        for name in params.strategies:
            with np.load(folder / f"{name}.npz") as z:
                weights[name] = {k: z[k] for k in z.files}
        return cls(
            params,
            pl.read_parquet(folder / "rounds.parquet"),
            pl.read_parquet(folder / "messages.parquet"),
            weights,
            seconds,
        )


def make_strategy(name: str, params: FederationParams, n_nodes: int) -> FedAvg:
    """Flower's FedAvg or FedProx with the params' sampling (at least one node a round)."""
    common = dict(
        fraction_train=params.fraction_train,
        fraction_evaluate=params.fraction_evaluate,
        min_train_nodes=1,
        min_evaluate_nodes=1 if params.fraction_evaluate > 0 else 0,
        min_available_nodes=n_nodes,
    )
    if name == "fedprox":
        return FedProx(proximal_mu=params.proximal_mu, **common)
    return FedAvg(**common)


def expected_nodes(params: FederationParams) -> int:
    """How many households must be connected before a round starts."""
    if params.min_nodes:
        return int(params.min_nodes)
    return params.households if isinstance(params.households, int) else len(params.households)


def _round_rows(grid: RecordingGrid, strategy: str, concurrency: int) -> list[dict]:
    """One row per round of ``strategy`` from the grid's records."""
    rows = []
    phases = [p for p in grid.phases if p.strategy == strategy]
    replies = [reply_summary(s, r, m) for s, r, m in grid.replies if s == strategy]
    for rnd in sorted({p.round for p in phases if p.round > 0}):
        train = next((p for p in phases if p.round == rnd and p.kind == "train"), None)
        after = [p for p in phases if train is not None and p.started >= train.ended]
        nxt = after[0] if after else None
        evaluation = next((p for p in phases if p.round == rnd and p.kind == "evaluate"), None)
        tr = [x for x in replies if x["round"] == rnd and x["kind"] == "train" and not x["error"]]
        ev = [
            x for x in replies if x["round"] == rnd and x["kind"] == "evaluate" and not x["error"]
        ]
        failed = [x for x in replies if x["round"] == rnd and x["error"]]
        tm = [json.loads(x["metrics"]) for x in tr]
        em = [json.loads(x["metrics"]) for x in ev]

        def weighted(ms: list[dict], key: str) -> float:
            n = sum(m["num-examples"] for m in ms)
            return float(sum(m[key] * m["num-examples"] for m in ms) / n) if n else float("nan")

        def mean(ms: list[dict], key: str) -> float:
            return float(np.mean([m[key] for m in ms])) if ms else float("nan")

        handler = sum(m["handler-seconds"] for m in tm)
        train_wall = (train.ended - train.started) if train else float("nan")
        rows.append(
            {
                "strategy": strategy,
                "round": rnd,
                "clients_train": len(tr),
                "clients_evaluate": len(ev),
                "failures": len(failed),
                "train_loss": weighted(tm, "train-loss"),
                "val_loss": weighted(em, "val-loss"),
                "mae_kwh": mean(em, "mae-kwh"),
                "naive_mae_kwh": mean(em, "naive-mae-kwh"),
                "train_phase_s": train_wall,
                "client_train_s_sum": float(sum(m["train-seconds"] for m in tm)),
                "client_train_s_max": float(max((m["train-seconds"] for m in tm), default=0.0)),
                "client_handler_s_sum": float(handler),
                # What the train phase took beyond the clients' own work, run `concurrency`
                # at a time: sending the model, queueing, replying (serialisation included).
                "transfer_s": max(train_wall - handler / max(min(concurrency, len(tm)), 1), 0.0)
                if tm
                else float("nan"),
                "aggregation_s": (nxt.started - train.ended) if (train and nxt) else float("nan"),
                "evaluate_phase_s": (evaluation.ended - evaluation.started) if evaluation else 0.0,
                "bytes_per_client": float(np.mean([x["bytes"] for x in tr]))
                if tr
                else float("nan"),
                "bytes_to_client": float(train.sent_bytes) if train else float("nan"),
            }
        )
    return rows


def serve(
    grid: Grid,
    params: FederationParams,
    progress: Callable[[str, int, dict], None] | None = None,
    concurrency: int | None = None,
    initial: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> FederationRun:
    """The ServerApp's work: run each strategy for ``params.rounds`` rounds on ``grid``.

    Each strategy starts from the same fresh weights (``params.seed``), or from
    ``initial[strategy]`` where given (a federation continuing its global model).

    ``progress(strategy, round, row)`` is called after every round with that round's row
    of :attr:`FederationRun.rounds`.  Raises :class:`FederationError` when every client
    failed a training round (with the first client's error).
    """
    started = time.perf_counter()
    random.seed(params.seed)  # Flower samples nodes with the random module
    setup = RoundSetup.from_params(params)
    config = setup.model_config
    fresh = shared_state(initial_model(config, params.seed))
    recording = RecordingGrid(grid)
    n_nodes = expected_nodes(params)
    concurrency = concurrency or n_nodes
    weights: dict[str, dict[str, np.ndarray]] = {}
    rows: list[dict] = []
    for name in params.strategies:
        recording.strategy = name
        strategy = make_strategy(name, params, n_nodes)
        start = (initial or {}).get(name)
        start_arrays = ArrayRecord(
            {k: torch.as_tensor(np.asarray(v)) for k, v in start.items()}
            if start is not None
            else fresh
        )

        def after_round(server_round: int, arrays: ArrayRecord, name: str = name) -> None:
            if server_round == 0:
                return None
            row = next(
                (
                    r
                    for r in _round_rows(recording, name, concurrency)
                    if r["round"] == server_round
                ),
                None,
            )
            if row is not None:
                if row["clients_train"] == 0 and row["failures"]:
                    first = next(
                        reply_summary(s, r, m)
                        for s, r, m in recording.replies
                        if s == name and r == server_round and m.has_error()
                    )
                    raise FederationError(
                        f"{name} round {server_round}: every client failed; the first said: {first['error']}"
                    )
                if progress is not None:
                    progress(name, server_round, row)
            return None

        result = strategy.start(
            grid=recording,
            initial_arrays=start_arrays,
            num_rounds=params.rounds,
            timeout=params.round_timeout_s,
            train_config=setup.to_config(),
            evaluate_config=setup.to_config(),
            evaluate_fn=after_round,
        )
        weights[name] = {k: v.numpy() for k, v in result.arrays.items()}
        rows += _round_rows(recording, name, concurrency)
    messages = pl.DataFrame(
        [reply_summary(s, r, m) for s, r, m in recording.replies],
        schema_overrides={"records": pl.List(pl.String), "array_names": pl.List(pl.String)},
    )
    return FederationRun(
        params,
        pl.DataFrame(rows),
        messages,
        weights,
        time.perf_counter() - started,
        [m for _, _, m in recording.replies],
    )


def make_server_app(
    params: FederationParams,
    sink: list,
    progress: Callable[[str, int, dict], None] | None = None,
    concurrency: int | None = None,
) -> ServerApp:
    """A ServerApp that runs :func:`serve` with ``params`` and appends the
    :class:`FederationRun` to ``sink`` (the simulation runtime runs it in this process)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        sink.append(serve(grid, params, progress, concurrency))

    return app


#: The deployment's ServerApp: params from the run config (``params`` JSON and/or
#: ``params-file``); results and global weights written to ``out-dir`` (or the params').
server_app = ServerApp()


@server_app.main()
def _deployment_main(grid: Grid, context: Context) -> None:
    params = params_from_run_config(context.run_config)

    def log_round(strategy: str, server_round: int, row: dict) -> None:
        # Through Flower's logger, which `flwr run --stream` relays: one machine-readable line
        # per round (LoopbackFederation reads it), then one for people.
        log(INFO, "%s %s %d %s", ROUND_MARK, strategy, server_round, json.dumps(row))
        log(
            INFO,
            "[%s] round %d/%d: %d client(s), train loss %.4f, val loss %.4f",
            strategy,
            server_round,
            params.rounds,
            row["clients_train"],
            row["train_loss"],
            row["val_loss"],
        )

    current = resolve_out_dir(params) / "global"
    initial = {}
    if params.resume:
        for name in params.strategies:
            if (current / f"{name}.npz").is_file():
                with np.load(current / f"{name}.npz") as z:
                    initial[name] = {k: z[k] for k in z.files}
                log(INFO, "%s continues from %s", name, current / f"{name}.npz")
    run = serve(grid, params, log_round, initial=initial)
    out = str(context.run_config.get("out-dir") or "") or str(resolve_out_dir(params))
    run.save(out)
    current.mkdir(parents=True, exist_ok=True)
    for name, w in run.weights.items():  # the federation's current global model
        tmp = current / f"{name}.tmp.npz"
        np.savez(tmp, **w)
        tmp.replace(current / f"{name}.npz")
    log(INFO, "federated run written to %s", out)
