"""Synthetic study inputs written into a real store, shared by the study tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pvlib

from energylib.schema import TIME, FrameMeta
from energylib.site import SYDNEY
from energylib.store import ParquetStore

DAYS = 14
MINUTES = 30
SOURCE = "testdata"


def synthetic_year_start(
    store: ParquetStore, days: int = DAYS, drop_weather_rows: int = 0, *, ev: bool = True
) -> None:
    """Two summer weeks in Sydney at 30 min: load (with recorded EV charging where ``ev``),
    Amber-like prices, clear-sky weather."""
    times = pd.date_range(
        "2025-01-01", periods=days * 48, freq="30min", tz="Australia/Sydney"
    ).tz_convert("UTC")
    local_hour = times.tz_convert("Australia/Sydney").hour.to_numpy() + times.minute.to_numpy() / 60
    evening = ((local_hour >= 17) & (local_hour < 21)).astype(float)
    midday = ((local_hour >= 10) & (local_hour < 15)).astype(float)
    rng = np.random.default_rng(7)
    load = 0.15 + 0.35 * evening + 0.05 * rng.random(times.size)
    ev_kwh = np.where((local_hour >= 18) & (local_hour < 20), 1.5 if ev else 0.0, 0.0)
    price = 0.28 + 0.25 * evening - 0.20 * midday + 0.02 * rng.random(times.size)
    spot = price - 0.18
    feed_in = -(0.06 + 0.20 * evening - 0.08 * midday)  # Amber's sign: negative when paid
    cs = pvlib.location.Location(
        SYDNEY.latitude, SYDNEY.longitude, SYDNEY.timezone, SYDNEY.altitude_m
    ).get_clearsky(times + pd.Timedelta(minutes=15))
    t = pl.from_pandas(pd.Series(times, name=TIME)).dt.cast_time_unit("us")

    def meta(kind: str, channel: str = "general", currency: str | None = "AUD") -> FrameMeta:
        return FrameMeta(SOURCE, kind, MINUTES, "default", channel, currency, SYDNEY.timezone)

    columns = {"total_kwh": load + ev_kwh, "base_kwh": load}
    if ev:
        columns["ev_charging_kwh"] = ev_kwh
    store.upsert(pl.DataFrame({TIME: t, **columns}), meta("load"))
    store.upsert(
        pl.DataFrame({TIME: t, "price_per_kwh": price, "spot_per_kwh": spot}), meta("prices")
    )
    store.upsert(pl.DataFrame({TIME: t, "price_per_kwh": feed_in}), meta("prices", "feed_in"))
    weather = pl.DataFrame(
        {
            TIME: t,
            "ghi_w_m2": cs["ghi"].to_numpy(),
            "dni_w_m2": cs["dni"].to_numpy(),
            "dhi_w_m2": cs["dhi"].to_numpy(),
            "temp_air_c": np.full(times.size, 24.0),
            "wind_speed_m_s": np.full(times.size, 2.0),
        }
    )
    if drop_weather_rows:
        weather = weather.filter(pl.int_range(pl.len()) % 97 != 5)
    store.upsert(weather, meta("weather", currency=None))
