"""Grid carbon intensity of the simulated markets."""

from __future__ import annotations

import numpy as np
import pytest

from energylib.simulate.carbon import MARKET_CARBON, carbon_intensity


def test_default_year_intensity_is_nem_like_and_dips_at_sunny_midday(nem_year):
    frame, meta = nem_year["carbon"]
    ghi = nem_year["weather"][0]["ghi_w_m2"].to_numpy()
    ci = frame["intensity_kg_per_kwh"].to_numpy()
    assert meta.kind == "carbon" and meta.currency is None
    assert 0.5 < ci.mean() < 0.85  # NSW/VIC 2025: ~0.6-0.8 kg/kWh
    assert ci[ghi > 800].mean() < ci[ghi == 0].mean() - 0.15


def test_cheap_intervals_are_cleaner():
    ghi = np.zeros(1000)
    cheap = carbon_intensity("nem", ghi, np.full(1000, -30.0), 5, 1)
    dear = carbon_intensity("nem", ghi, np.full(1000, 250.0), 5, 1)
    assert cheap.mean() < dear.mean()


@pytest.mark.parametrize("market", sorted(MARKET_CARBON))
def test_intensity_stays_within_market_bounds(market):
    rng = np.random.default_rng(0)
    ci = carbon_intensity(market, rng.uniform(0, 1200, 5000), rng.uniform(-1000, 17500, 5000), 5, 2)
    _, _, _, lo, hi = MARKET_CARBON[market]
    assert (ci >= lo).all() and (ci <= hi).all()


def test_unknown_market_is_named():
    with pytest.raises(ValueError, match="'xx'"):
        carbon_intensity("xx", np.zeros(3), np.zeros(3), 5)
