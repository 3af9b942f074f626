"""Training the EnergyTransformer: AdamW, plateau LR schedule, early stopping, checkpoints.

A checkpoint is self-contained: the model's weights and config, the feature
spec, the scalers and the site's time zone travel in it, so
:func:`energylib.forecast.checkpoint.load_checkpoint` alone gives a forecaster that runs on
fresh history.
Two files are written in the checkpoint folder: ``best.pt`` (lowest validation
loss so far) and ``last.pt`` (the latest epoch, with optimizer and scheduler
state, for ``resume``).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from energylib.config import load_settings
from energylib.forecast.checkpoint import CHECKPOINT_FORMAT
from energylib.forecast.export import export_onnx, export_torchscript
from energylib.forecast.features import (
    TARGET_SCALING,
    FeatureMatrix,
    FeatureSpec,
    Scalers,
    daily_origins,
    default_year_frame,
    feature_matrix,
    get_spec,
    history_from_store,
    level_inputs,
    level_lag_inputs,
    split_blocks,
    transform_targets,
    window_anchors,
)
from energylib.forecast.profile import fit_profile, time_inputs
from energylib.forecast.transformer import (
    EnergyTransformer,
    ModelConfig,
    model_config,
    multitask_loss,
    parameter_count,
)
from energylib.store import ParquetStore

ORIGINS = ("all", "daily")


@dataclass
class TrainConfig:
    """How to train.

    Parameters
    ----------
    preset : str
        Model preset (``pi``, ``seed``); ``model`` overrides its sizes.
    feature_spec : str, FeatureSpec or dict
        A feature spec or its name (``TRADING_24``, ``TOTAL_PRICE_WEATHER_TIME``).
    model : dict
        Overrides of :class:`ModelConfig` fields (``d_model``, ``n_layers`` ...).
    learning_rate : float
        AdamW learning rate.
    weight_decay : float
        AdamW weight decay.
    batch_size : int
        Windows per optimisation step.
    max_epochs : int
        Upper bound on epochs.
    lr_patience : int
        Epochs without validation improvement before ReduceLROnPlateau halves the rate.
    early_stopping_patience : int
        Epochs without validation improvement before training stops.
    grad_clip : float
        Maximum gradient norm.
    seed : int
        Seed of every random number generator (weights, dropout, batch order).
    split : tuple of float or of dates
        Chronological train / validation / test fractions of the rows, or dates
        ``(val_start, test_start)`` / ``(val_start, test_start, end)`` (``YYYY-MM-DD`` or
        ISO times, UTC): training rows come before ``val_start``.
    device : str
        ``auto`` (CUDA, then MPS, then CPU), or a torch device name.
    max_train_batches : int or None
        Cap on training batches per epoch (a random subset of training windows each
        epoch): for quick runs.  None: every window every epoch.
    max_eval_batches : int or None
        Cap on validation batches (the first ones, in time order).
    cpu_threads : int or None
        Intra-op threads for CPU training (``torch.set_num_threads``); None leaves
        torch's default.
    origins : str
        Which windows train and validate: ``all`` (one per interval) or ``daily`` (the
        windows whose forecast starts at local midnight: day-ahead forecasting).
    horizon_weights : tuple of float or None
        Loss weight per horizon; None: 1, 0.5, 0.25, ...
    task_weights : dict or None
        Loss weight per task name; None: 0.6 consumption, 0.4 price, 1 otherwise.
    """

    preset: str = "pi"
    feature_spec: str | FeatureSpec | dict = "TRADING_24"
    model: dict = field(default_factory=dict)
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    batch_size: int = 32
    max_epochs: int = 50
    lr_patience: int = 3
    early_stopping_patience: int = 5
    grad_clip: float = 1.0
    seed: int = 2025
    split: tuple = (0.7, 0.15, 0.15)
    device: str = "auto"
    max_train_batches: int | None = None
    max_eval_batches: int | None = None
    cpu_threads: int | None = None
    origins: str = "all"
    horizon_weights: tuple[float, ...] | None = None
    task_weights: dict | None = None

    def __post_init__(self) -> None:
        if self.origins not in ORIGINS:
            raise ValueError(f"origins {self.origins!r} unknown; use one of {ORIGINS}")

    def to_dict(self) -> dict:
        spec = self.feature_spec
        spec = spec.to_dict() if isinstance(spec, FeatureSpec) else spec
        hw = self.horizon_weights
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "split": list(self.split),
            "model": dict(self.model),
            "feature_spec": spec,
            "horizon_weights": list(hw) if hw is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "split" in d:
            d["split"] = tuple(
                float(x) if isinstance(x, int | float) else str(x) for x in d["split"]
            )
        if d.get("horizon_weights") is not None:
            d["horizon_weights"] = tuple(float(x) for x in d["horizon_weights"])
        return cls(**d)


@dataclass
class TrainResult:
    """What :func:`train` did.

    ``history`` has one row per epoch: ``epoch``, ``train_loss``, ``val_loss``,
    ``learning_rate``, ``seconds`` and the validation loss of every output.
    """

    history: pl.DataFrame
    best_epoch: int
    best_val_loss: float
    best_checkpoint: Path
    last_checkpoint: Path
    stopped_early: bool
    seconds: float
    parameters: int
    device: str


def select_device(preference: str = "auto") -> torch.device:
    """CUDA or MPS where present, else CPU (``preference='auto'``); or the named device."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class PreparedData:
    """Feature matrix, chronological blocks, window anchors per split and scalers."""

    matrix: FeatureMatrix
    blocks: dict[str, tuple[int, int]]
    anchors: dict[str, np.ndarray]
    scalers: Scalers

    def scaled(self) -> tuple[np.ndarray, np.ndarray]:
        """Standardised inputs and targets; NaN rows become 0 (never inside a used window)."""
        x = np.nan_to_num(self.scalers.inputs.transform(self.matrix.inputs), nan=0.0)
        y = self.scalers.targets.transform(transform_targets(self.matrix.targets, self.matrix.spec))
        y = np.nan_to_num(y, nan=0.0)
        return x, y

    def scaled_future(self) -> np.ndarray:
        """Standardised known-future inputs ``(n_rows, n_future)`` (NaN as 0)."""
        f = self.matrix.future
        if self.scalers.future is None:
            return np.zeros_like(f)
        return np.nan_to_num(self.scalers.future.transform(f), nan=0.0)


def prepare_data(
    data: pl.DataFrame,
    timezone: str,
    spec: FeatureSpec | str,
    split: Sequence = (0.7, 0.15, 0.15),
    scalers: Scalers | None = None,
    origins: str = "all",
) -> PreparedData:
    """Features, chronological split (fractions or dates), windows and scalers (fitted on
    the training block only, unless given) for a frame at the spec's interval.
    ``origins='daily'`` keeps the windows whose forecast starts at local midnight."""
    fm = feature_matrix(data, get_spec(spec), timezone)
    blocks = split_blocks(fm.times, split)
    anchors = {name: window_anchors(fm, block) for name, block in blocks.items()}
    if origins == "daily":
        anchors = {name: daily_origins(fm, a) for name, a in anchors.items()}
    need = fm.spec.sequence_length + fm.spec.max_horizon
    for name in ("train", "val"):
        if len(anchors[name]) == 0:
            a, b = blocks[name]
            raise ValueError(
                f"the {name} block (rows {a}-{b}, {b - a} intervals) holds no complete window: each needs "
                f"{need} consecutive present intervals ({fm.spec.sequence_length} in, {fm.spec.max_horizon} ahead); "
                "use more data or shorter horizons"
            )
    return PreparedData(fm, blocks, anchors, scalers or Scalers.fit(fm, blocks["train"]))


def batch_tensors(
    x: torch.Tensor, y: torch.Tensor, anchors: np.ndarray, config: ModelConfig
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Input windows ``(B, L, F)`` and targets (one ``(B, H)`` per output) for ``anchors``."""
    a = torch.as_tensor(anchors, device=x.device)
    L, hmax = config.sequence_length, max(config.horizons)
    xb = x[a[:, None] + torch.arange(-L + 1, 1, device=x.device)[None, :]]
    yb = y[a[:, None] + torch.arange(1, hmax + 1, device=x.device)[None, :]]
    targets = [yb[:, :h, t] for t in range(len(config.tasks)) for h in config.horizons]
    return xb, targets


def future_batch(f: torch.Tensor, anchors: np.ndarray, config: ModelConfig) -> torch.Tensor | None:
    """Known-future inputs ``(B, H, n_future)`` of the forecast intervals of ``anchors``
    (None for a model without them)."""
    if not config.n_future:
        return None
    a = torch.as_tensor(anchors, device=f.device)
    return f[a[:, None] + torch.arange(1, max(config.horizons) + 1, device=f.device)[None, :]]


def _evaluate(
    model, x, y, f, anchors, config, batch_size, max_batches, weights
) -> tuple[float, dict[str, float]]:
    model.eval()
    total, n, parts_sum = 0.0, 0, {}
    with torch.no_grad():
        for k, i in enumerate(range(0, len(anchors), batch_size)):
            if max_batches is not None and k >= max_batches:
                break
            xb, tb = batch_tensors(x, y, anchors[i : i + batch_size], config)
            fb = future_batch(f, anchors[i : i + batch_size], config)
            loss, parts = multitask_loss(model(xb, fb), tb, config, *weights)
            m = xb.shape[0]
            total += float(loss) * m
            n += m
            for key, v in parts.items():
                parts_sum[key] = parts_sum.get(key, 0.0) + v * m
    return total / max(n, 1), {k: v / max(n, 1) for k, v in parts_sum.items()}


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def checkpoint_meta(
    spec: FeatureSpec, scalers: Scalers, timezone: str, config: ModelConfig
) -> dict:
    """The metadata every checkpoint and exported model carries."""
    return {
        "format": CHECKPOINT_FORMAT,
        "feature_spec": spec.to_dict(),
        "scalers": scalers.to_dict(),
        "timezone": timezone,
        "model_config": config.to_dict(),
        "output_names": config.output_names,
    }


def _structure_defaults(spec: FeatureSpec) -> dict:
    """Model options that follow from the spec: level inputs, the time-of-day profile
    (residual forecasting, one slot per interval of the day) where the spec has a level
    input and hour encodings, known-future inputs and each task's loss."""
    levels, times = level_inputs(spec), time_inputs(spec)
    losses = tuple("mae" if TARGET_SCALING[k] == "robust" else "mse" for k in spec.task_kinds)
    out: dict = {"level_inputs": levels, "n_future": spec.n_future, "task_losses": losses}
    if times and any(col >= 0 for col in levels):
        out |= {
            "profile_slots": spec.per_day,
            "time_inputs": times,
            "level_lags": level_lag_inputs(spec, spec.per_day),
        }
    return out


def train(
    data: pl.DataFrame,
    timezone: str,
    config: TrainConfig | None = None,
    checkpoint_dir: str | Path = "data/models/forecast",
    *,
    resume: str | Path | None = None,
    warm_start: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train an EnergyTransformer on a half-hourly frame, chronologically split.

    Parameters
    ----------
    data : polars.DataFrame
        Canonical 30-min frame with the spec's columns (see
        :func:`energylib.forecast.features.assemble_frame`).
    timezone : str
        The site's IANA time zone [for local-time features].
    config : TrainConfig, optional
    checkpoint_dir : str or Path
        Folder for ``best.pt`` and ``last.pt``.
    resume : str or Path, optional
        A checkpoint written by this function: training continues after its epoch with
        its weights, optimizer, scheduler, scalers and history.
    warm_start : str or Path, optional
        A checkpoint whose weights, spec, scalers and model config (with its profile)
        this run starts from, with a fresh optimizer, schedule and early stopping:
        recalibrating a trained model on newer data (``config.feature_spec`` is ignored).
    progress : bool
        Show a progress bar with live losses.
    """
    config = config or TrainConfig()
    started = time.perf_counter()
    out_dir = Path(checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = None
    if resume is not None and warm_start is not None:
        raise ValueError(
            "pass resume (continue a run) or warm_start (start from its weights), not both"
        )
    source = resume if resume is not None else warm_start
    if source is not None:
        state = torch.load(source, map_location="cpu", weights_only=True)
        if state.get("meta", {}).get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"{source} is not an energylib forecast checkpoint (format {state.get('meta', {}).get('format')!r})"
            )
    spec = get_spec(state["meta"]["feature_spec"] if state else config.feature_spec)
    scalers = Scalers.from_dict(state["meta"]["scalers"]) if state else None
    prepared = prepare_data(data, timezone, spec, config.split, scalers, config.origins)
    mcfg = (
        ModelConfig.from_dict(state["meta"]["model_config"])
        if state
        else model_config(
            config.preset,
            spec.n_features,
            sequence_length=spec.sequence_length,
            horizons=spec.horizon_steps,
            horizon_names=spec.horizon_names,
            tasks=spec.tasks,
            **(_structure_defaults(spec) | dict(config.model)),
        )
    )
    device = select_device(config.device)
    if config.cpu_threads:
        torch.set_num_threads(int(config.cpu_threads))
    seed_everything(config.seed)
    model = EnergyTransformer(mcfg)
    if mcfg.profile_slots and state is None:  # a resumed model brings its profile in its weights
        profile, keys = fit_profile(
            prepared.matrix,
            prepared.scalers,
            prepared.blocks["train"],
            tuple(t for t, col in enumerate(mcfg.level_inputs) if col >= 0),
            mcfg.time_inputs,
            mcfg.profile_slots,
        )
        model.set_profile(profile, keys)
    model = model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", patience=config.lr_patience
    )
    meta = checkpoint_meta(spec, prepared.scalers, timezone, mcfg)
    history: list[dict] = []
    start_epoch, best_val, best_epoch, bad_epochs = 1, float("inf"), 0, 0
    if state and warm_start is not None:
        model.load_state_dict(state["model_state"])
    elif state:
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        t = state["training"]
        start_epoch, best_val, best_epoch, bad_epochs = (
            t["epoch"] + 1,
            t["best_val_loss"],
            t["best_epoch"],
            t["bad_epochs"],
        )
        history = list(t["history"])

    xs, ys = prepared.scaled()
    x = torch.as_tensor(xs, device=device)
    y = torch.as_tensor(ys, device=device)
    f = torch.as_tensor(prepared.scaled_future(), device=device)
    weights = (config.task_weights, config.horizon_weights)
    train_anchors, val_anchors = prepared.anchors["train"], prepared.anchors["val"]
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"
    stopped_early = bad_epochs >= config.early_stopping_patience
    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.max_epochs + 1):
        if stopped_early:
            break
        t0 = time.perf_counter()
        # Per-epoch seeds make a resumed run take the same batches and dropout as an unbroken one.
        torch.manual_seed(config.seed + epoch)
        order = np.random.default_rng(config.seed + epoch).permutation(train_anchors)
        n_batches = -(-len(order) // config.batch_size)
        if config.max_train_batches is not None:
            n_batches = min(n_batches, config.max_train_batches)
        model.train()
        running, seen = 0.0, 0
        bar = tqdm(
            range(n_batches),
            desc=f"epoch {epoch}/{config.max_epochs}",
            disable=not progress,
            leave=False,
        )
        for b in bar:
            batch = order[b * config.batch_size : (b + 1) * config.batch_size]
            xb, tb = batch_tensors(x, y, batch, mcfg)
            loss, _ = multitask_loss(model(xb, future_batch(f, batch, mcfg)), tb, mcfg, *weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            running += float(loss.detach()) * xb.shape[0]
            seen += xb.shape[0]
            if b % 10 == 0 or b == n_batches - 1:
                bar.set_postfix(train_loss=f"{running / seen:.4f}", best_val=f"{best_val:.4f}")
        bar.close()
        val_loss, parts = _evaluate(
            model, x, y, f, val_anchors, mcfg, 256, config.max_eval_batches, weights
        )
        scheduler.step(val_loss)
        improved = val_loss < best_val
        if improved:
            best_val, best_epoch, bad_epochs = val_loss, epoch, 0
        else:
            bad_epochs += 1
        row = {
            "epoch": epoch,
            "train_loss": running / max(seen, 1),
            "val_loss": val_loss,
            "learning_rate": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        } | {f"val_{k}": v for k, v in parts.items()}
        history.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch}: train {row['train_loss']:.4f}  val {val_loss:.4f}"
                f"{'  *best*' if improved else ''}  lr {row['learning_rate']:.2e}  {row['seconds']:.1f}s"
            )
        cpu_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        training = {
            "epoch": epoch,
            "best_val_loss": best_val,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "history": history,
        }
        ckpt = {
            "meta": meta,
            "model_state": cpu_state,
            "train_config": config.to_dict(),
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict(),
            "training": training,
        }
        if improved:
            _atomic_save(ckpt, best_path)
        _atomic_save(ckpt, last_path)
        stopped_early = bad_epochs >= config.early_stopping_patience

    return TrainResult(
        history=pl.DataFrame(history) if history else pl.DataFrame(),
        best_epoch=best_epoch,
        best_val_loss=best_val,
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - started,
        parameters=parameter_count(model),
        device=str(device),
    )


# --------------------------------------------------------------------------- params files
# Params-file keys that are not TrainConfig fields (data selection, export, notebook options).
DATA_KEYS = (
    "data",
    "market",
    "data_seed",
    "days",
    "store_dir",
    "source",
    "site",
    "export",
    "eval_windows",
)


def load_training_data(params: Mapping) -> tuple[pl.DataFrame, str]:
    """The half-hourly frame a params file asks for.

    ``data``: ``store`` (read ``source``/``site`` from the store at ``store_dir``, empty
    for the configured one), ``default_year`` (generate it with ``market`` and
    ``data_seed``) or ``auto`` (the store, else generate).  ``days`` keeps only the
    first so many days.
    """
    how = params.get("data", "auto")
    if how not in ("auto", "store", "default_year"):
        raise ValueError(f"data: {how!r} unknown; use auto, store or default_year")
    days = params.get("days")
    if how in ("auto", "store"):
        root = params.get("store_dir") or load_settings().processed_dir
        try:
            data, tz = history_from_store(
                ParquetStore(root), params.get("source", "simulated"), params.get("site", "default")
            )
        except LookupError:
            if how == "store":
                raise
        else:
            if days:
                data = data.filter(
                    pl.col("interval_start") < data["interval_start"].min() + timedelta(days=days)
                )
            return data, tz
    return default_year_frame(params.get("market", "nem"), int(params.get("data_seed", 2025)), days)


def train_from_params(
    params: Mapping,
    *,
    frame: tuple[pl.DataFrame, str] | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
) -> tuple[TrainResult, dict[str, Path]]:
    """Train as a params file says (data keys, :class:`TrainConfig` fields,
    ``checkpoint_dir``, relative to the data folder unless absolute, and ``export``:
    a list of ``torchscript`` / ``onnx``).

    ``frame``: the ``(data, timezone)`` to train on, when already loaded with
    :func:`load_training_data`.  Returns the training result and the exported
    files by format.
    """
    params = dict(params)
    # A relative checkpoint folder lives in the configured data folder, not the working
    # directory: ENERGYLIB_DATA_DIR moves the models with the rest of the data.
    checkpoint_dir = load_settings().data_dir / params.pop("checkpoint_dir", "models/forecast")
    config = TrainConfig.from_dict({k: v for k, v in params.items() if k not in DATA_KEYS})
    data, tz = frame if frame is not None else load_training_data(params)
    result = train(data, tz, config, checkpoint_dir, resume=resume, progress=progress)
    exported: dict[str, Path] = {}
    formats = params.get("export") or []
    if formats:
        for fmt in formats:
            if fmt == "torchscript":
                exported[fmt] = export_torchscript(
                    result.best_checkpoint, Path(checkpoint_dir) / "model.pt"
                )
            elif fmt == "onnx":
                exported[fmt] = export_onnx(
                    result.best_checkpoint, Path(checkpoint_dir) / "model.onnx"
                )
            else:
                raise ValueError(f"export format {fmt!r} unknown; use torchscript or onnx")
    return result, exported
