"""Fixtures for the forecast tests: a synthetic half-hourly site (see tests/forecast_synthetic.py)."""

from __future__ import annotations

import polars as pl
import pytest
import torch
from forecast_synthetic import synthetic_frame
from threadpoolctl import threadpool_limits

# Tiny models on a shared 2-core machine: one intra-op thread is several times faster than
# two threads spinning against other processes (for numpy's BLAS as for torch: a 223 x 223
# solve took 1.2 s with two BLAS threads under load, 0.04 s with one).
torch.set_num_threads(1)
threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(scope="session")
def frame() -> pl.DataFrame:
    return synthetic_frame()


@pytest.fixture(scope="session")
def trained(frame, tmp_path_factory):
    """A tiny model trained for two short epochs: its TrainResult."""
    from forecast_synthetic import TZ, tiny_config

    from energylib.forecast.train import train

    return train(frame, TZ, tiny_config(), tmp_path_factory.mktemp("ckpt"), progress=False)
