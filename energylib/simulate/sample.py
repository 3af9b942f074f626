"""A small generated sample for showing the pipeline when the store is empty."""

from __future__ import annotations

import pandas as pd
import polars as pl

from energylib.schema import FrameMeta
from energylib.simulate.default_year import frames_from_range, generate_range
from energylib.site import SYDNEY


def sample(days: int = 7, seed: int = 0) -> tuple[pl.DataFrame, FrameMeta]:
    """``days`` of 5-min household load, PV and retail price for the default Sydney site.

    A slice from the same generator as the default year, starting Monday 2025-01-06 local.

    Parameters
    ----------
    days : int
        Length [days].
    seed : int
        Random seed.

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        Columns ``total_kwh`` [kWh per interval], ``pv_kwh`` [kWh per interval, the
        reference 6.6 kWdc system] and ``price_per_kwh`` [AUD/kWh, all-in].
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    start = pd.Timestamp("2025-01-06", tz=SYDNEY.timezone)
    rd = generate_range(SYDNEY, start, start + pd.Timedelta(days=days), 5, seed)
    frames = frames_from_range(rd, seed)
    data = (
        frames["load"][0]
        .select("interval_start", "total_kwh")
        .join(frames["pv"][0], on="interval_start")
        .join(
            frames["prices/general"][0].select("interval_start", "price_per_kwh"),
            on="interval_start",
        )
    )
    meta = FrameMeta("simulated", "load", 5, "default", "general", "AUD", SYDNEY.timezone)
    return data, meta
