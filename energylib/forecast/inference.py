"""One forecast from live history: shared by the eager model, TorchScript and ONNX.

Nothing here needs the training code or torch: a runner only has to map a
standardised ``(batch, L, F)`` float32 array to the model's outputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime

import numpy as np
import polars as pl

from energylib.forecast.features import (
    FeatureSpec,
    Scalers,
    forecast_frames,
    history_window,
    inverse_target,
)


class ForecastRunner(ABC):
    """Base of every loaded forecaster.

    Subclasses implement :meth:`run_scaled`.  Attributes: ``spec``
    (:class:`FeatureSpec`), ``scalers`` (:class:`Scalers`), ``timezone`` (the
    site's IANA zone), ``output_names`` (``<task>_<horizon>``) and ``meta``
    (the whole metadata dictionary).
    """

    def __init__(self, meta: Mapping):
        self.meta = dict(meta)
        self.spec = FeatureSpec.from_dict(meta["feature_spec"])
        self.scalers = Scalers.from_dict(meta["scalers"])
        self.timezone = str(meta["timezone"])
        self.output_names = list(meta["output_names"])

    @abstractmethod
    def run_scaled(self, x: np.ndarray) -> list[np.ndarray]:
        """Model outputs (standardised) for standardised inputs ``(batch, L, F)``."""

    def predict_array(self, windows: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Forecasts in physical units for raw (unscaled) input windows ``(batch, L, F)``.

        Returns ``{"<task>_<horizon>": (batch, H)}``: ``total_kwh`` [kWh per interval]
        for consumption, ``price_per_kwh`` [currency/kWh] for price.
        """
        windows = np.asarray(windows, dtype=np.float32)
        chunks: list[list[np.ndarray]] = []
        for i in range(0, max(len(windows), 1), batch_size):
            x = self.scalers.inputs.transform(windows[i : i + batch_size])
            chunks.append(self.run_scaled(np.ascontiguousarray(x, dtype=np.float32)))
        center, scale = self.scalers.targets.center, self.scalers.targets.scale
        result = {}
        for k, name in enumerate(self.output_names):
            t = self.spec.tasks.index(name.rsplit("_", 1)[0])
            y = np.concatenate([np.asarray(c[k], dtype=np.float32) for c in chunks], axis=0)
            result[name] = inverse_target(y * scale[t] + center[t], self.spec, t)
        return result

    def predict(self, history: pl.DataFrame) -> dict[str, pl.DataFrame]:
        """Day, week and month forecasts from the latest intervals of ``history``.

        Parameters
        ----------
        history : polars.DataFrame
            Canonical half-hourly frame (UTC ``interval_start``) with the spec's columns;
            at least the latest ``spec.history_rows`` intervals (48 + 336 for ``TRADING_24``)
            must be present.

        Returns
        -------
        dict of str to polars.DataFrame
            ``{"day": ..., "week": ..., "month": ...}``, each with ``interval_start`` (the
            intervals after the last one in ``history``), ``total_kwh`` [kWh per interval]
            and ``price_per_kwh`` [currency/kWh].
        """
        window, anchor = history_window(history, self.spec, self.timezone)
        outs = self.predict_array(window)
        return forecast_frames(_as_datetime(anchor), {k: v[0] for k, v in outs.items()}, self.spec)


def _as_datetime(t) -> datetime:
    return t if isinstance(t, datetime) else datetime.fromisoformat(str(t))
