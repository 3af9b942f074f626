"""EnergyTransformer: a multi-task, multi-horizon forecaster for consumption and price.

Linear input projection -> sinusoidal positional encoding -> Transformer encoder
-> the last position's state -> one head per (task, horizon): a two-layer MLP
(``d_model -> d_ff / 2 -> H``).  With the ``seed`` preset (d_model 512, 6
layers, 8 heads, feed-forward 2048) and 24 features over 48 steps this is the
trading system's ~25.8M parameters; ``pi`` is small enough for a Raspberry Pi.

Price is forecast as a residual: where the spec has the price as an input and hour
encodings (both shipped specs do), the price heads add their output to a baseline
built from buffers fitted on the training split only: the training split's median
scaled price per local half-hour of the day, shifted by the window's median level
(see :mod:`energylib.forecast.profile`).  The buffers are part of the weights, so
checkpoints and TorchScript / ONNX exports carry them; the input stays the
``(batch, 48, F)`` window.

Inputs known in advance (``n_future > 0``: day-ahead load and wind forecasts,
weather forecasts, calendar): ``forward(x, future)`` also takes their values at the
forecast's own intervals ``(batch, max horizon, n_future)``.  Each forecast interval
becomes a token (its inputs projected to ``d_model`` plus the positional code that
continues after the window) appended to the window's tokens, so the encoder relates
history and the known future in both directions; a per-task linear read-out of each
future token adds a per-interval term to the heads' output (zero at initialisation,
so an untrained model still forecasts its baseline).

The loss follows the trading system: consumption MSE and price MAE (on
standardised targets), task weights 0.6 / 0.4, horizon weights 1.0 / 0.5 / 0.25
(day / week / month), summed.  Tasks of other names take the loss of their kind
(``task_losses``: MAE for prices, MSE otherwise) and weight 1; any number of
horizons weighs ``0.5 ** k`` (1, 0.5, 0.25, ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

TASK_WEIGHTS = {"consumption": 0.6, "price": 0.4}
TASK_LOSSES = {"consumption": "mse", "price": "mae"}
HORIZON_WEIGHTS = (1.0, 0.5, 0.25)


def horizon_weights_for(n: int) -> tuple[float, ...]:
    """Default weights of ``n`` horizons: 1, 0.5, 0.25, ... (the trading system's three)."""
    return tuple(0.5**k for k in range(n))


PRESETS: dict[str, dict] = {
    "seed": {"d_model": 512, "n_layers": 6, "n_heads": 8, "d_ff": 2048, "dropout": 0.1},
    # The small model overfits the price noise of one year at 0.1; 0.3 holds it back.
    "pi": {"d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 128, "dropout": 0.3},
}


TUPLE_FIELDS = (
    "horizons",
    "horizon_names",
    "tasks",
    "level_inputs",
    "time_inputs",
    "task_losses",
)


@dataclass(frozen=True)
class ModelConfig:
    """Size and shape of an :class:`EnergyTransformer`.

    Parameters
    ----------
    n_features : int
        Inputs per step (24 for ``TRADING_24``).
    d_model, n_layers, n_heads, d_ff : int
        Encoder width, depth, attention heads and feed-forward width.
    dropout : float
        Dropout probability in the encoder and heads.
    sequence_length : int
        Input steps [intervals].
    horizons : tuple of int
        Forecast lengths [intervals], e.g. (48, 336, 1440).
    horizon_names : tuple of str
        Their names, e.g. ("day", "week", "month").
    tasks : tuple of str
        Forecast tasks, e.g. ("consumption", "price").
    head_hidden : int
        Hidden width of each head; 0 means ``d_ff // 2``.
    pooling : str
        What the heads read: ``last`` (the last position's state) or ``last_mean``
        (last plus the mean over positions: the window's level, without extra weights).
    level_inputs : tuple of int
        Per task, an input column (index) in the same scaled units as the task's target,
        or -1.  Where given, the task's heads forecast the deviation from that column's
        mean over the input window, which is added back: the forecast follows the recent
        level (prices drift from month to month) instead of extrapolating it.  No weights.
    profile_slots : int
        Slots per day of a time-of-day profile (48), or 0: with one, a task's baseline is
        ``level + profile[slot]``, ``level`` the median of ``input - profile`` over the
        window (see :mod:`energylib.forecast.profile`).
    time_inputs : tuple of int
        The ``hour_sin`` and ``hour_cos`` input columns (which slot a step is in).
    level_lags : tuple of tuple of int
        Per task, input columns holding the level input a whole number of days earlier
        (same slot as their row); their ``input - profile`` joins the window's in the
        level's median, which then spans several days.  ``()``: the window alone.
    n_future : int
        Known-future inputs per forecast interval (0: none; ``forward(x)`` alone).
    task_losses : tuple of str
        Per task, ``mae`` or ``mse``; ``()``: by task name (:data:`TASK_LOSSES`, else ``mse``).
    """

    n_features: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    dropout: float = 0.1
    sequence_length: int = 48
    horizons: tuple[int, ...] = (48, 336, 1440)
    horizon_names: tuple[str, ...] = ("day", "week", "month")
    tasks: tuple[str, ...] = ("consumption", "price")
    head_hidden: int = 0
    pooling: str = "last"
    level_inputs: tuple[int, ...] = ()
    profile_slots: int = 0
    time_inputs: tuple[int, ...] = ()
    level_lags: tuple[tuple[int, ...], ...] = ()
    n_future: int = 0
    task_losses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be a multiple of n_heads {self.n_heads}")
        if self.pooling not in ("last", "last_mean"):
            raise ValueError(f"pooling {self.pooling!r} unknown; use 'last' or 'last_mean'")
        if self.level_inputs and len(self.level_inputs) != len(self.tasks):
            raise ValueError(
                f"level_inputs {self.level_inputs} needs one entry per task {self.tasks}"
            )
        if self.profile_slots and (len(self.time_inputs) != 2 or not self.level_inputs):
            raise ValueError(
                f"profile_slots {self.profile_slots} needs time_inputs (hour_sin, hour_cos columns, "
                f"got {self.time_inputs}) and level_inputs (got {self.level_inputs})"
            )
        if self.level_lags and len(self.level_lags) != len(self.tasks):
            raise ValueError(f"level_lags {self.level_lags} needs one entry per task {self.tasks}")
        if len(self.horizons) != len(self.horizon_names):
            raise ValueError(
                f"horizons {self.horizons} and horizon_names {self.horizon_names} differ in length"
            )
        if self.task_losses and (
            len(self.task_losses) != len(self.tasks)
            or any(x not in ("mae", "mse") for x in self.task_losses)
        ):
            raise ValueError(
                f"task_losses {self.task_losses} needs one of 'mae' / 'mse' per task {self.tasks}"
            )

    def loss_of(self, task: int) -> str:
        """``mae`` or ``mse`` for task ``task`` (an index)."""
        if self.task_losses:
            return self.task_losses[task]
        return TASK_LOSSES.get(self.tasks[task], "mse")

    @property
    def output_names(self) -> list[str]:
        """Names of the forward outputs, in order: ``<task>_<horizon>``."""
        return [f"{t}_{h}" for t in self.tasks for h in self.horizon_names]

    def to_dict(self) -> dict:
        d = asdict(self)
        return (
            d
            | {k: list(d[k]) for k in TUPLE_FIELDS}
            | {"level_lags": [list(t) for t in self.level_lags]}
        )

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelConfig:
        d = dict(d)
        for k in TUPLE_FIELDS:
            if k in d:
                d[k] = tuple(d[k])
        if "level_lags" in d:
            d["level_lags"] = tuple(tuple(t) for t in d["level_lags"])
        return cls(**d)


def model_config(preset: str, n_features: int, **overrides) -> ModelConfig:
    """A :class:`ModelConfig` from a preset name (``seed``, ``pi``) with overrides."""
    if preset not in PRESETS:
        raise KeyError(
            f"model preset {preset!r} unknown; use one of {sorted(PRESETS)} or pass sizes as overrides"
        )
    return ModelConfig(n_features=n_features, **(PRESETS[preset] | overrides))


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed sin/cos position code of Vaswani et al., added to the input."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        div = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model)
        )
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe[None, :, :], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, : x.shape[1], :]


class EnergyTransformer(nn.Module):
    """Forecast every task at every horizon from one input window.

    ``forward(x)`` takes ``(batch, sequence_length, n_features)`` standardised inputs and
    returns a tuple of ``(batch, H)`` tensors in the order of ``config.output_names``
    (tuples export cleanly to TorchScript and ONNX; :meth:`as_dict` names them).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        hidden = c.head_hidden or c.d_ff // 2
        self.input_projection = nn.Linear(c.n_features, c.d_model)
        n_pos = c.sequence_length + (max(c.horizons) if c.n_future else 0)
        self.positional_encoding = SinusoidalPositionalEncoding(c.d_model, n_pos)
        if c.n_future:
            self.future_projection = nn.Linear(c.n_future, c.d_model)
            # One read-out per task of each forecast interval's token, zero at the start.
            self.future_heads = nn.ModuleList(nn.Linear(c.d_model, 1) for _ in c.tasks)
            for head in self.future_heads:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
        layer = nn.TransformerEncoderLayer(
            c.d_model, c.n_heads, c.d_ff, c.dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(c.d_model, hidden), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(hidden, h)
            )
            for _ in c.tasks
            for h in c.horizons
        )
        if c.profile_slots:
            # Heads with a baseline start at "no correction": training begins at the
            # baseline's forecast and learns only what improves on it.
            n_h = len(c.horizons)
            for k, head in enumerate(self.heads):
                if c.level_inputs[k // n_h] >= 0:
                    nn.init.zeros_(head[-1].weight)
                    nn.init.zeros_(head[-1].bias)
            s = c.profile_slots
            # Set by training from the training split (profile.fit_profile); saved with the weights.
            self.register_buffer("profile", torch.zeros(len(c.tasks), s))
            self.register_buffer("slot_keys", torch.zeros(s, 2))
            # Offsets of the window's and the forecast's intervals from the window's last one,
            # shifted by whole days so that every slot index stays non-negative.
            days = -(-c.sequence_length // s)
            offsets = torch.arange(-c.sequence_length + 1, max(c.horizons) + 1) + days * s
            self.register_buffer("slot_offsets", offsets, persistent=False)

    def set_profile(self, profile, keys) -> None:
        """Install a fitted profile ``(n_tasks, slots)`` and slot keys ``(slots, 2)``."""
        with torch.no_grad():
            self.profile.copy_(torch.as_tensor(profile, dtype=torch.float32))
            self.slot_keys.copy_(torch.as_tensor(keys, dtype=torch.float32))

    def _baselines(self, x: torch.Tensor) -> list[torch.Tensor | None]:
        """Per task: the ``(batch, max horizon)`` baseline the heads add to, or None."""
        c = self.config
        out: list[torch.Tensor | None] = []
        if not c.level_inputs:
            return [None] * len(c.tasks)
        L = c.sequence_length
        if c.profile_slots:
            last = x[:, -1, list(c.time_inputs)]  # (B, 2) scaled hour_sin, hour_cos
            d = ((last[:, None, :] - self.slot_keys[None, :, :]) ** 2).sum(dim=-1)
            slot0 = d.argmin(dim=1)
            idx = (slot0[:, None] + self.slot_offsets[None, :]) % c.profile_slots
        for t, col in enumerate(c.level_inputs):
            if col < 0:
                out.append(None)
                continue
            v = x[:, :, col]
            if not c.profile_slots:
                out.append(v.mean(dim=1, keepdim=True))
                continue
            prof = self.profile[t][idx]  # (B, L + max horizon)
            lags = c.level_lags[t] if c.level_lags else ()
            resid = torch.cat([x[:, :, j] - prof[:, :L] for j in (col, *lags)], dim=1)
            resid = resid.sort(dim=1).values
            n = resid.shape[1]
            level = 0.5 * (resid[:, (n - 1) // 2] + resid[:, n // 2])  # the median
            out.append(level[:, None] + prof[:, L:])
        return out

    def forward(
        self, x: torch.Tensor, future: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        c = self.config
        L = c.sequence_length
        tokens = self.input_projection(x)
        if c.n_future:
            if future is None:
                raise ValueError(
                    f"this model reads {c.n_future} known-future input(s): pass future "
                    f"(batch, {max(c.horizons)}, {c.n_future})"
                )
            tokens = torch.cat([tokens, self.future_projection(future)], dim=1)
        z = self.encoder(self.positional_encoding(tokens))
        window = z[:, :L, :]
        pooled = window[:, -1, :]
        if c.pooling == "last_mean":
            pooled = pooled + window.mean(dim=1)
        outputs = []
        n_h = len(c.horizons)
        base = self._baselines(x)
        ahead = [head(z[:, L:, :]).squeeze(-1) for head in self.future_heads] if c.n_future else []
        for k, head in enumerate(self.heads):
            y = head(pooled)
            b = base[k // n_h]
            if b is not None:
                y = y + b[:, : y.shape[1]]
            if c.n_future:
                y = y + ahead[k // n_h][:, : y.shape[1]]
            outputs.append(y)
        return tuple(outputs)

    def as_dict(self, outputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        return dict(zip(self.config.output_names, outputs, strict=True))


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def multitask_loss(
    outputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    config: ModelConfig,
    task_weights: Mapping[str, float] | None = None,
    horizon_weights: Sequence[float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum over tasks and horizons.

    Parameters
    ----------
    outputs, targets : sequences of tensors
        ``(batch, H)`` each, in ``config.output_names`` order, standardised units.
    config : ModelConfig
    task_weights : mapping, optional
        Per task; default 0.6 consumption, 0.4 price, 1 for any other task.
    horizon_weights : sequence of float, optional
        Per horizon, default 1.0 / 0.5 / 0.25 / ... (:func:`horizon_weights_for`).

    Returns
    -------
    (torch.Tensor, dict)
        The total loss and each part's unweighted value by output name.
    """
    tw = TASK_WEIGHTS if task_weights is None else task_weights
    if horizon_weights is None:
        horizon_weights = horizon_weights_for(len(config.horizons))
    if len(horizon_weights) != len(config.horizons):
        raise ValueError(
            f"{len(horizon_weights)} horizon weights for {len(config.horizons)} horizons"
        )
    total = outputs[0].new_zeros(())
    parts: dict[str, float] = {}
    k = 0
    for t, task in enumerate(config.tasks):
        kind = config.loss_of(t)
        for j, name in enumerate(config.horizon_names):
            diff = outputs[k] - targets[k]
            part = (diff * diff).mean() if kind == "mse" else diff.abs().mean()
            total = total + tw.get(task, 1.0) * horizon_weights[j] * part
            parts[f"{task}_{name}"] = float(part.detach())
            k += 1
    return total, parts
