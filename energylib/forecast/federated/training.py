"""Local training and scoring of the EnergyTransformer on one household, or several pooled.

What a federated client does between two messages, and what the local-only and
centralised reference runs do, is the same code: :func:`fit` over the training
windows of one household (a client, a local-only run) or of many (the centralised
run), with the proximal term of FedProx when ``mu > 0``.

Scaling is local: each household fits its own input and target scalers on its own
training block (:class:`HouseholdData`), and only the model's *parameters* (never its
buffers, never a scaler) are exchanged (:func:`shared_state`).  A household's
forecaster is the shared parameters plus its own scalers (:func:`household_forecaster`),
exported for its Pi by :func:`export_household_model`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import torch

from energylib.forecast.checkpoint import Forecaster
from energylib.forecast.features import FeatureSpec
from energylib.forecast.federated.households import HouseholdRef, load_household
from energylib.forecast.metrics import evaluate
from energylib.forecast.profile import fit_profile
from energylib.forecast.train import (
    PreparedData,
    _structure_defaults,
    batch_tensors,
    checkpoint_meta,
    prepare_data,
)
from energylib.forecast.transformer import (
    HORIZON_WEIGHTS,
    EnergyTransformer,
    ModelConfig,
    model_config,
    multitask_loss,
)

SCORED_HORIZON = "day"


@dataclass(frozen=True)
class LocalOptions:
    """How a client (or a reference run) trains locally.

    Parameters
    ----------
    learning_rate, weight_decay : float
        AdamW settings (a fresh optimizer each round, as in FedAvg).
    batch_size : int
        Windows per step.
    max_train_batches : int or None
        Cap on steps per epoch and household (None: every window).
    grad_clip : float
        Largest gradient norm.
    proximal_mu : float
        FedProx's mu (0: plain local SGD, FedAvg's client).
    cpu_threads : int
        Torch intra-op threads.
    window_stride : int
        An epoch visits every ``window_stride``-th window, from a random offset.
    """

    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    max_train_batches: int | None = None
    grad_clip: float = 1.0
    proximal_mu: float = 0.0
    cpu_threads: int = 1
    window_stride: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FitStats:
    """What one :func:`fit` did: mean task loss (standardised units, no proximal term),
    windows seen, optimisation steps and seconds."""

    train_loss: float
    windows: int
    steps: int
    seconds: float


@dataclass
class HouseholdData:
    """One household's frame, features, chronological blocks, local scalers and tensors.

    Everything here stays on the household's machine.
    """

    ref: HouseholdRef
    frame: pl.DataFrame
    timezone: str
    prepared: PreparedData
    x: torch.Tensor
    y: torch.Tensor
    split: tuple[float, float, float]

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def spec(self) -> FeatureSpec:
        return self.prepared.matrix.spec

    @property
    def train_anchors(self) -> np.ndarray:
        return self.prepared.anchors["train"]

    @property
    def val_anchors(self) -> np.ndarray:
        return self.prepared.anchors["val"]

    def summary(self) -> dict:
        """Size of the household (kept by the study driver, never sent by a client)."""
        kwh = self.frame["total_kwh"].drop_nulls()
        per_day = 24 * 60 // self.spec.interval_minutes
        return {
            "household": self.name,
            "train_windows": int(len(self.train_anchors)),
            "train_days": round(len(self.train_anchors) / per_day, 1),
            "mean_daily_kwh": float(kwh.mean() * per_day) if kwh.len() else float("nan"),
            "new": self.ref.history_days is not None,
        }


def prepare_household(
    ref: HouseholdRef, spec: FeatureSpec, split: Sequence[float] = (0.7, 0.15, 0.15)
) -> HouseholdData:
    """Read a household and build its windows and scalers (fitted on its training block only)."""
    frame, tz = load_household(ref, spec.interval_minutes, split)
    try:
        prepared = prepare_data(frame, tz, spec, split)
    except ValueError as err:
        raise ValueError(f"household {ref.name}: {err}") from None
    xs, ys = prepared.scaled()
    return HouseholdData(
        ref, frame, tz, prepared, torch.as_tensor(xs), torch.as_tensor(ys), tuple(split)
    )


@lru_cache(maxsize=64)
def cached_household(ref: HouseholdRef, spec_json: str, split: tuple[float, ...]) -> HouseholdData:
    """:func:`prepare_household`, once per process (a simulated client serves many rounds)."""
    return prepare_household(ref, FeatureSpec.from_dict(json.loads(spec_json)), split)


def model_config_for(
    spec: FeatureSpec, preset: str = "pi", overrides: Mapping | None = None
) -> ModelConfig:
    """The EnergyTransformer's config for ``spec``, as :func:`energylib.forecast.train.train` builds it."""
    return model_config(
        preset,
        spec.n_features,
        sequence_length=spec.sequence_length,
        horizons=spec.horizon_steps,
        horizon_names=spec.horizon_names,
        tasks=spec.tasks,
        **(_structure_defaults(spec) | dict(overrides or {})),
    )


def initial_model(config: ModelConfig, seed: int) -> EnergyTransformer:
    """The starting weights every run (federated or not) shares."""
    torch.manual_seed(seed)
    return EnergyTransformer(config)


def build_model(config: ModelConfig, household: HouseholdData | None = None) -> EnergyTransformer:
    """A model for ``household``: a price spec's time-of-day profile is fitted on the
    household's own training block (a buffer: it stays local like the scalers)."""
    model = EnergyTransformer(config)
    if config.profile_slots and household is not None:
        p = household.prepared
        profile, keys = fit_profile(
            p.matrix,
            p.scalers,
            p.blocks["train"],
            tuple(t for t, col in enumerate(config.level_inputs) if col >= 0),
            config.time_inputs,
            config.profile_slots,
        )
        model.set_profile(profile, keys)
    return model


def shared_state(model: torch.nn.Module) -> OrderedDict[str, torch.Tensor]:
    """The parameters a client sends: trainable weights only, by name (no buffers)."""
    return OrderedDict((k, v.detach().cpu().clone()) for k, v in model.named_parameters())


def load_shared(model: torch.nn.Module, state: Mapping[str, torch.Tensor | np.ndarray]) -> None:
    """Set the model's parameters from ``state``: every parameter, by name and shape."""
    params = dict(model.named_parameters())
    if set(state) != set(params):
        missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        raise ValueError(
            f"the weights do not fit this model: missing {missing[:3]}, unexpected {extra[:3]}; "
            "client and server must use the same preset, model overrides and feature spec"
        )
    with torch.no_grad():
        for k, p in params.items():
            v = torch.as_tensor(np.asarray(state[k]) if not torch.is_tensor(state[k]) else state[k])
            if tuple(v.shape) != tuple(p.shape):
                raise ValueError(
                    f"weight {k}: shape {tuple(v.shape)}, the model has {tuple(p.shape)}"
                )
            p.copy_(v.to(p.dtype))


def horizon_weights(n: int) -> tuple[float, ...]:
    """The trading system's horizon weights (1, 0.5, 0.25) for ``n`` horizons."""
    return tuple(HORIZON_WEIGHTS[min(i, len(HORIZON_WEIGHTS) - 1)] for i in range(n))


def _pooled(households: Sequence[HouseholdData], key: str):
    """One tensor pair and anchor list over several households (anchors offset by rows)."""
    if len(households) == 1:
        h = households[0]
        return h.x, h.y, h.prepared.anchors[key]
    offsets = np.cumsum([0] + [h.x.shape[0] for h in households[:-1]])
    x = torch.cat([h.x for h in households])
    y = torch.cat([h.y for h in households])
    anchors = np.concatenate(
        [h.prepared.anchors[key] + o for h, o in zip(households, offsets, strict=True)]
    )
    return x, y, anchors


def fit(
    model: EnergyTransformer,
    households: Sequence[HouseholdData],
    options: LocalOptions,
    epochs: int = 1,
    seed: int = 0,
) -> FitStats:
    """Train ``model`` in place on the households' training windows.

    With ``options.proximal_mu > 0`` the loss gets FedProx's ``mu / 2 * ||w - w0||^2``,
    ``w0`` the weights on entry (the global model the server sent).  Windows of several
    households are pooled (shuffled together); the step cap is per household.
    """
    t0 = time.perf_counter()
    torch.set_num_threads(int(options.cpu_threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = model.config
    weights = horizon_weights(len(cfg.horizons))
    x, y, anchors = _pooled(households, "train")
    anchor_params = [p.detach().clone() for p in model.parameters()] if options.proximal_mu else []
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
    )
    bs = int(options.batch_size)
    cap = (
        None
        if options.max_train_batches is None
        else int(options.max_train_batches) * len(households)
    )
    model.train()
    total, seen, steps = 0.0, 0, 0
    stride = max(int(options.window_stride), 1)
    for _ in range(int(epochs)):
        order = rng.permutation(anchors[int(rng.integers(stride)) :: stride])
        n_batches = -(-len(order) // bs)
        if cap is not None:
            n_batches = min(n_batches, cap)
        for b in range(n_batches):
            xb, tb = batch_tensors(x, y, order[b * bs : (b + 1) * bs], cfg)
            loss, _ = multitask_loss(model(xb), tb, cfg, horizon_weights=weights)
            task_loss = float(loss.detach())
            if options.proximal_mu:
                prox = sum(
                    ((p - a) ** 2).sum()
                    for p, a in zip(model.parameters(), anchor_params, strict=True)
                )
                loss = loss + 0.5 * options.proximal_mu * prox
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            optimizer.step()
            total += task_loss * xb.shape[0]
            seen += xb.shape[0]
            steps += 1
    model.eval()
    return FitStats(total / max(seen, 1), seen, steps, time.perf_counter() - t0)


def validation_loss(
    model: EnergyTransformer, household: HouseholdData, max_windows: int | None = None
) -> tuple[float, int]:
    """Mean loss on the validation windows (every k-th, at most ``max_windows``) and their count."""
    cfg = model.config
    anchors = household.val_anchors
    if max_windows is not None and len(anchors) > max_windows:
        anchors = anchors[:: -(-len(anchors) // max_windows)]
    weights = horizon_weights(len(cfg.horizons))
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(anchors), 256):
            xb, tb = batch_tensors(household.x, household.y, anchors[i : i + 256], cfg)
            loss, _ = multitask_loss(model(xb), tb, cfg, horizon_weights=weights)
            total += float(loss) * xb.shape[0]
    return total / max(len(anchors), 1), int(len(anchors))


def household_meta(model: EnergyTransformer, household: HouseholdData) -> dict:
    """Checkpoint metadata: the spec, *this household's* scalers and time zone."""
    return checkpoint_meta(
        household.spec, household.prepared.scalers, household.timezone, model.config
    )


def household_forecaster(model: EnergyTransformer, household: HouseholdData) -> Forecaster:
    """The shared weights with this household's scalers: a forecaster for this home."""
    return Forecaster(model, household_meta(model, household))


def score(
    model: EnergyTransformer, household: HouseholdData, eval_windows: int | None = 200
) -> dict[str, float]:
    """Day-ahead consumption errors on the household's test block [kWh per interval]:
    the model's and seasonal naive's (yesterday) MAE and RMSE on the same windows."""
    ev = evaluate(
        household.frame,
        household.timezone,
        household_forecaster(model, household),
        split=household.split,
        baselines=("seasonal_naive_day",),
        max_anchors=eval_windows,
    )
    t = ev.table.filter((pl.col("task") == "consumption") & (pl.col("horizon") == SCORED_HORIZON))
    model_row = t.filter(pl.col("model") == "transformer").row(0, named=True)
    naive_row = t.filter(pl.col("model") == "seasonal_naive_day").row(0, named=True)
    return {
        "mae_kwh": model_row["mae"],
        "rmse_kwh": model_row["rmse"],
        "naive_mae_kwh": naive_row["mae"],
        "naive_rmse_kwh": naive_row["rmse"],
        "test_windows": int(model_row["windows"]),
    }


def write_checkpoint(model: EnergyTransformer, household: HouseholdData, path: str | Path) -> Path:
    """A checkpoint :func:`energylib.forecast.train.load_checkpoint` and the exporters read:
    the federated weights (and local buffers) with this household's metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"meta": household_meta(model, household), "model_state": state}, tmp)
    os.replace(tmp, path)
    return path


def export_household_model(
    model: EnergyTransformer, household: HouseholdData, path: str | Path, fmt: str | None = None
) -> Path:
    """Export the federated model for one household's Pi (``onnx`` or ``torchscript``,
    by default from the suffix); written atomically, so the agent's watcher never sees
    half a file."""
    from energylib.forecast.export import export_onnx, export_torchscript

    path = Path(path)
    fmt = fmt or ("onnx" if path.suffix == ".onnx" else "torchscript")
    if fmt not in ("onnx", "torchscript"):
        raise ValueError(f"export format {fmt!r} unknown; use onnx or torchscript")
    # The checkpoint goes to a private folder: a *.pt beside the models would be a candidate
    # for the agent's watcher.
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = write_checkpoint(model, household, Path(tmp) / "federated.pt")
        return export_onnx(ckpt, path) if fmt == "onnx" else export_torchscript(ckpt, path)
