"""Random and hand-made communities for the trading tests (small: a few homes, a few days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import strategies as st

from energylib.dispatch.assets import Battery, GridLimits
from energylib.schema import interval_index
from energylib.site import SYDNEY
from energylib.tariff import Calendar, FlatTariff
from energylib.trading.homes import Community, MarketYear


def market_year_from(
    imp: np.ndarray, exp: np.ndarray, minutes: int, start_day: int = 0
) -> MarketYear:
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=start_day)
    t = interval_index(start, start + timedelta(minutes=minutes * imp.size), minutes)
    cal = Calendar.from_utc(t, SYDNEY.timezone, minutes)
    return MarketYear(
        cal, imp, exp, SYDNEY, "AUD", FlatTariff(daily_supply_per_day=1.0, monthly_fee=10.0)
    )


def day_shape(n: int, minutes: int) -> np.ndarray:
    """0 at night, a sine bump by day (hour 6-18 local-ish)."""
    hour = (np.arange(n) * minutes / 60.0) % 24
    return np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)


@st.composite
def communities(draw, max_homes: int = 5, max_days: int = 2, minutes=(30, 5)):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    m = draw(st.sampled_from(minutes))
    # 30-min: 1 .. max_days days; 5-min: half a day (the same kernels, more steps)
    n_t = draw(st.integers(1, max_days)) * 48 if m == 30 else 144
    n = draw(st.integers(1, max_homes))
    scale = m / 30.0
    load = rng.gamma(2.0, 0.25, (n_t, n)) * rng.uniform(0.3, 2.0, n) * scale
    pv = (
        day_shape(n_t, m)[:, None]
        * rng.uniform(0, 3.0, n)
        * np.where(rng.random(n) < 0.7, 1, 0)
        * scale
    )
    pv = pv * rng.uniform(0.5, 1.0, (n_t, 1))  # clouds
    imp = rng.uniform(0.05, 0.6, n_t)
    imp[rng.random(n_t) < 0.02] = -0.02  # an odd negative price
    exp = imp * rng.uniform(0.0, 0.7, n_t) - rng.choice([0.0, 0.08], n_t)
    batteries = []
    for _ in range(n):
        if rng.random() < 0.25:
            batteries.append(None)
            continue
        lo = rng.uniform(0.0, 0.4)
        batteries.append(
            Battery(
                capacity_kwh=float(rng.uniform(2.0, 15.0)),
                charge_kw=float(rng.uniform(0.5, 6.0)),
                discharge_kw=float(rng.uniform(0.5, 6.0)),
                round_trip_efficiency=float(rng.uniform(0.8, 1.0)),
                soc_min_fraction=lo,
                soc_max_fraction=float(rng.uniform(lo + 0.2, 1.0)),
                initial_soc_fraction=float(rng.uniform(0.0, 1.0)),
            )
        )
    grid = GridLimits(
        import_kwh_per_interval=float(rng.uniform(1.0, 10.0)),
        export_kwh_per_interval=float(rng.choice([0.5, 2.0, 4.0])),
        per_interval_minutes=30,
    )
    year = market_year_from(imp, exp, m)
    return Community(year, tuple(f"h{i}" for i in range(n)), load, pv, tuple(batteries), grid)


def trading_pair(minutes: int = 30, days: int = 2) -> Community:
    """A home with a full battery and a sunny roof, and one with an empty battery and an
    evening load, under prices that peak in the evening."""
    n_t = days * 1440 // minutes
    hour = (np.arange(n_t) * minutes / 60.0) % 24
    sun = day_shape(n_t, minutes)
    scale = minutes / 30.0
    load = (
        np.column_stack([np.full(n_t, 0.2), np.where((hour >= 17) & (hour < 22), 3.0, 0.3)]) * scale
    )
    pv = np.column_stack([sun * 3.0, np.zeros(n_t)]) * scale
    imp = np.where((hour >= 17) & (hour < 22), 0.5, 0.2)
    exp = np.full(n_t, 0.05)
    full = Battery(13.5, 5.0, 5.0, 0.9, 0.1, 0.8, initial_soc_fraction=0.8)
    empty = Battery(13.5, 5.0, 5.0, 0.9, 0.1, 0.8, initial_soc_fraction=0.1)
    return Community(
        market_year_from(imp, exp, minutes),
        ("sunny", "evening"),
        load,
        pv,
        (full, empty),
        GridLimits(import_kwh_per_interval=10.0, export_kwh_per_interval=4.0),
    )
