"""Grid carbon intensity [kg CO2-e per kWh consumed] for the simulated markets.

The intensity falls when solar and wind are high: a midday dip that deepens on
clear days, and a link to the wholesale price (cheap intervals are the ones where
renewables set the price).  Levels: NEM NSW/VIC ~0.6-0.8 kg/kWh (2025), the Dutch
grid ~0.27 kg/kWh.
"""

from __future__ import annotations

import numpy as np

from energylib.simulate.weather import ar1, rng_stream

#: (fossil level [kg/kWh], solar dip [kg/kWh], price link [kg/kWh per $/MWh], floor, ceiling)
MARKET_CARBON = {
    "nem": (0.80, 0.32, 0.0006, 0.20, 1.05),
    "nl": (0.36, 0.16, 0.0008, 0.05, 0.60),
}


def carbon_intensity(
    market: str,
    ghi_w_m2: np.ndarray,
    spot_per_mwh: np.ndarray,
    interval_minutes: int,
    seed: int = 0,
) -> np.ndarray:
    """Grid carbon intensity per interval [kg/kWh].

    Parameters
    ----------
    market : str
        ``nem`` or ``nl``.
    ghi_w_m2 : numpy.ndarray
        Global horizontal irradiance at the site [W/m2] (a proxy for grid solar).
    spot_per_mwh : numpy.ndarray
        Wholesale price [currency/MWh] (low prices: renewables at the margin).
    interval_minutes : int
        Interval length [min].
    seed : int
        Random seed.
    """
    if market not in MARKET_CARBON:
        raise ValueError(f"unknown market {market!r}; use one of {tuple(MARKET_CARBON)}")
    level, dip, link, lo, hi = MARKET_CARBON[market]
    sol = np.clip(np.asarray(ghi_w_m2, dtype=float) / 1000.0, 0.0, 1.1)
    price = np.clip(np.asarray(spot_per_mwh, dtype=float), -60.0, 300.0)
    wind = ar1(rng_stream(seed, 41), len(sol), float(np.exp(-interval_minutes / 600.0)), 0.05)
    return np.clip(level - dip * sol + link * (price - 80.0) + wind, lo, hi)
