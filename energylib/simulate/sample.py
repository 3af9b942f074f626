"""A small generated sample for showing the pipeline when the store is empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from energylib.schema import FrameMeta, interval_index


def sample(days: int = 7, seed: int = 0) -> tuple[pl.DataFrame, FrameMeta]:
    """A week (by default) of 5-min household load and retail price, Sydney time.

    Columns: ``total_kwh`` [kWh per interval] and ``price_per_kwh`` [AUD/kWh].
    """
    rng = np.random.default_rng(seed)
    start = datetime(2025, 1, 6, 13, tzinfo=UTC)  # local midnight, Sydney (UTC+11)
    t = interval_index(start, start + timedelta(days=days), 5)
    hour = ((np.arange(len(t)) * 5 / 60.0) + 0.0) % 24
    load_kw = 0.35 + 0.9 * np.exp(-((hour - 19) ** 2) / 6) + 0.5 * np.exp(-((hour - 7.5) ** 2) / 2)
    load_kwh = load_kw * rng.lognormal(0.0, 0.25, len(t)) * 5 / 60
    price = 0.30 - 0.22 * np.exp(-((hour - 12.5) ** 2) / 8) + 0.25 * np.exp(-((hour - 18.5) ** 2) / 3)
    price = price + rng.normal(0.0, 0.02, len(t))
    data = pl.DataFrame({"interval_start": t, "total_kwh": load_kwh, "price_per_kwh": price})
    meta = FrameMeta("sample", "load", 5, "default", "general", "AUD", "Australia/Sydney")
    return data, meta
