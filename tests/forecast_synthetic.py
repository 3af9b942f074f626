"""A small synthetic half-hourly site with every column the forecast specs read."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from energylib.forecast.dayahead import DayAheadData
from energylib.forecast.features import TRADING_24
from energylib.schema import interval_index

TZ = "Australia/Sydney"
APPLIANCES = (
    "fridge", "washing_machine", "dishwasher", "ev_charging", "air_conditioning", "stove",
    "water_heater", "computers", "misc", "lighting", "base",
)  # fmt: skip


def synthetic_frame(days: int = 30, seed: int = 0, start: datetime | None = None) -> pl.DataFrame:
    """Half-hourly load (11 channels + total), price, weather and battery state."""
    rng = np.random.default_rng(seed)
    start = start or datetime(2025, 1, 5, 13, tzinfo=UTC)  # local midnight in Sydney (UTC+11)
    t = interval_index(start, start + np.timedelta64(days, "D").astype(object), 30)
    n = len(t)
    hour = (np.arange(n) * 0.5) % 24
    daily = 0.3 + 0.8 * np.exp(-((hour - 19) ** 2) / 6) + 0.4 * np.exp(-((hour - 7.5) ** 2) / 2)
    cols = {"interval_start": t}
    total = np.zeros(n)
    for k, a in enumerate(APPLIANCES):
        v = daily * (0.02 + 0.01 * k) * rng.lognormal(0.0, 0.3, n)
        cols[f"{a}_kwh"] = v
        total += v
    cols["total_kwh"] = total
    cols["price_per_kwh"] = (
        0.3
        - 0.2 * np.exp(-((hour - 12.5) ** 2) / 8)
        + 0.25 * np.exp(-((hour - 18.5) ** 2) / 3)
        + rng.normal(0, 0.02, n)
    )
    cols["ghi_w_m2"] = np.clip(900 * np.sin(np.pi * (hour - 6) / 14), 0, None)
    cols["temp_air_c"] = 22 + 6 * np.sin(np.pi * (hour - 9) / 12) + rng.normal(0, 0.5, n)
    cols["soc_pct"] = 50 + 40 * np.sin(2 * np.pi * hour / 24)
    cols["soh_pct"] = np.linspace(100, 99.5, n)
    cols["cycles_count"] = np.arange(n) / 48.0
    return pl.DataFrame(cols)


SMALL_SPEC = dataclasses.replace(
    TRADING_24,
    name="TRADING_24_small",
    sequence_length=8,
    horizons=(("day", 4), ("week", 8), ("month", 12)),
)

TINY_MODEL = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}


def tiny_config(**changes):
    """A seconds-long training run of a tiny model on SMALL_SPEC."""
    from energylib.forecast.train import TrainConfig

    base = {
        "feature_spec": SMALL_SPEC,
        "model": dict(TINY_MODEL),
        "max_epochs": 2,
        "max_train_batches": 8,
        "learning_rate": 1e-3,
    }
    return TrainConfig(**(base | changes))


def market(days: int = 120, seed: int = 0) -> DayAheadData:
    """A synthetic hourly market: a daily and weekly price shape driven by load and wind."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    t = interval_index(start, start + timedelta(days=days), 60)
    n = len(t)
    h = np.arange(n) % 24
    dow = (np.arange(n) // 24) % 7
    load = 40 + 8 * np.sin(2 * np.pi * (h - 6) / 24) - 4 * (dow >= 5) + rng.normal(0, 1, n)
    wind = np.clip(3 + np.cumsum(rng.normal(0, 0.2, n)) % 5, 0, None)
    price = 0.5 * load - 2.0 * wind + rng.normal(0, 0.8, n)
    frame = pl.DataFrame(
        {
            "interval_start": t,
            "price_per_kwh": price / 1000,
            "load_forecast_mw": load,
            "wind_forecast_mw": wind,
        }
    )
    return DayAheadData.from_frame(frame, "price_per_kwh", ["load_forecast_mw", "wind_forecast_mw"])
