"""Forecasting: feature specs, the EnergyTransformer, training, baselines, metrics, export.

Modules (import what you need; ``features``, ``inference``, ``baselines`` and
``metrics`` do not import torch, so an ONNX-only device stays light):

* :mod:`~energylib.forecast.features`: ``TRADING_24``, ``TOTAL_PRICE_WEATHER_TIME``,
  feature matrices, chronological splits, windows, scalers;
* :mod:`~energylib.forecast.transformer`: ``EnergyTransformer``, presets ``seed`` / ``pi``,
  the multi-task loss;
* :mod:`~energylib.forecast.profile`: the training split's time-of-day price profile the
  price heads forecast a residual on (no torch);
* :mod:`~energylib.forecast.train`: ``train``;
* :mod:`~energylib.forecast.checkpoint`: ``load_checkpoint``, a trained ``Forecaster``;
* :mod:`~energylib.forecast.baselines`: seasonal naive, ridge, hour-of-week profile;
* :mod:`~energylib.forecast.metrics`: MAE, RMSE, sMAPE, ``evaluation_table``;
* :mod:`~energylib.forecast.export`: TorchScript / ONNX export, ``load_model``, ``predict``.
"""

from energylib.forecast.features import (
    TOTAL_PRICE_WEATHER_TIME,
    TRADING_24,
    FeatureSpec,
    assemble_frame,
    default_year_frame,
    feature_matrix,
    get_spec,
)

__all__ = [
    "TOTAL_PRICE_WEATHER_TIME",
    "TRADING_24",
    "FeatureSpec",
    "assemble_frame",
    "default_year_frame",
    "feature_matrix",
    "get_spec",
]
