"""A trained forecaster from its checkpoint alone: weights, model config, spec, scalers.

:func:`energylib.forecast.train.train` writes checkpoints; :func:`load_checkpoint` turns one
into a :class:`Forecaster` that runs on fresh history (eager torch), and the exporters in
:mod:`energylib.forecast.export` start from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
import torch

from energylib.forecast.inference import ForecastRunner
from energylib.forecast.transformer import EnergyTransformer, ModelConfig

CHECKPOINT_FORMAT = "energylib.forecast.checkpoint/1"


class Forecaster(ForecastRunner):
    """An eager EnergyTransformer with its spec, scalers and time zone."""

    def __init__(self, model: EnergyTransformer, meta: Mapping, device: str | torch.device = "cpu"):
        super().__init__(meta)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def run_scaled(self, x: np.ndarray, future: np.ndarray | None = None) -> list[np.ndarray]:
        with torch.no_grad():
            fut = None if future is None else torch.as_tensor(future, device=self.device)
            out = self.model(torch.as_tensor(x, device=self.device), fut)
        return [o.cpu().numpy() for o in out]


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Forecaster:
    """A ready :class:`Forecaster` from a checkpoint alone (weights, config, spec, scalers)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    meta = state.get("meta") if isinstance(state, dict) else None
    if not meta or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an energylib forecast checkpoint; train one with energylib.forecast.train.train"
        )
    model = EnergyTransformer(ModelConfig.from_dict(meta["model_config"]))
    model.load_state_dict(state["model_state"])
    return Forecaster(model, meta, device)


def checkpoint_history(path: str | Path) -> pl.DataFrame:
    """The per-epoch learning curve stored in a checkpoint."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return pl.DataFrame(state["training"]["history"])
