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
    future_window,
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
    def run_scaled(self, x: np.ndarray, future: np.ndarray | None = None) -> list[np.ndarray]:
        """Model outputs (standardised) for standardised inputs ``(batch, L, F)`` and, for a
        model with known-future inputs, their standardised values ``(batch, H, n_future)``."""

    def predict_array(
        self, windows: np.ndarray, future: np.ndarray | None = None, batch_size: int = 256
    ) -> dict[str, np.ndarray]:
        """Forecasts in physical units for raw (unscaled) input windows ``(batch, L, F)``
        and, where the spec has known-future inputs, their raw values at the forecast
        intervals ``(batch, H, n_future)`` (H: the longest horizon).

        Returns ``{"<task>_<horizon>": (batch, H)}`` in each target's unit (``total_kwh``
        [kWh per interval] for consumption, ``price_per_kwh`` [currency/kWh] for price).
        """
        windows = np.asarray(windows, dtype=np.float32)
        if self.spec.n_future:
            if future is None:
                raise ValueError(
                    f"the model reads known-future inputs {self.spec.future_names}: pass their "
                    f"values at the forecast intervals, shape (batch, {self.spec.max_horizon}, "
                    f"{self.spec.n_future})"
                )
            future = np.asarray(future, dtype=np.float32)
        chunks: list[list[np.ndarray]] = []
        for i in range(0, max(len(windows), 1), batch_size):
            x = self.scalers.inputs.transform(windows[i : i + batch_size])
            f = None
            if self.spec.n_future:
                f = self.scalers.future.transform(future[i : i + batch_size])
                f = np.ascontiguousarray(f, dtype=np.float32)
            chunks.append(self.run_scaled(np.ascontiguousarray(x, dtype=np.float32), f))
        center, scale = self.scalers.targets.center, self.scalers.targets.scale
        result = {}
        for k, name in enumerate(self.output_names):
            t = self.spec.tasks.index(name.rsplit("_", 1)[0])
            y = np.concatenate([np.asarray(c[k], dtype=np.float32) for c in chunks], axis=0)
            result[name] = inverse_target(y * scale[t] + center[t], self.spec, t)
        return result

    def predict(
        self, history: pl.DataFrame, future: pl.DataFrame | None = None
    ) -> dict[str, pl.DataFrame]:
        """Forecasts at every horizon of the spec from the latest intervals of ``history``.

        Parameters
        ----------
        history : polars.DataFrame
            Canonical frame at the spec's interval (UTC ``interval_start``) with the spec's
            columns; at least the latest ``spec.history_rows`` intervals (48 + 336 for
            ``TRADING_24``) must be present.
        future : polars.DataFrame, optional
            For a model with known-future inputs: their columns at the intervals after
            the last one of ``history`` (as far as the longest horizon).

        Returns
        -------
        dict of str to polars.DataFrame
            ``{"day": ..., "week": ..., "month": ...}``, each with ``interval_start`` (the
            intervals after the last one in ``history``), ``total_kwh`` [kWh per interval]
            and ``price_per_kwh`` [currency/kWh].
        """
        window, anchor = history_window(history, self.spec, self.timezone)
        ahead = None
        if self.spec.n_future:
            if future is None:
                raise ValueError(
                    f"the model reads known-future inputs {self.spec.future_names}: pass "
                    "future= a frame of them for the intervals after the history"
                )
            ahead = future_window(future, self.spec, self.timezone, _as_datetime(anchor))
        outs = self.predict_array(window, ahead)
        return forecast_frames(_as_datetime(anchor), {k: v[0] for k, v in outs.items()}, self.spec)


def _as_datetime(t) -> datetime:
    return t if isinstance(t, datetime) else datetime.fromisoformat(str(t))
