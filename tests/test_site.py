"""Sites and markets (energylib.site)."""

from __future__ import annotations

import pytest
from entsoe import Area

from energylib.site import (
    AMSTERDAM,
    MARKETS,
    SYDNEY,
    Market,
    Site,
    market,
    register_market,
    site_for_market,
)


def test_a_site_in_italy_names_its_own_market():
    milano = Site("milano", 45.46, 9.19, 120.0, "Europe/Rome", "it_nord")
    info = milano.market_info
    assert (info.zone, info.currency, info.price_source) == ("IT_NORD", "EUR", "entsoe")
    assert info.timezone == "Europe/Rome"


def test_the_default_sites_keep_their_markets():
    assert site_for_market("nem") is SYDNEY and SYDNEY.market_info.currency == "AUD"
    assert site_for_market("nl") is AMSTERDAM and AMSTERDAM.market_info.zone == "NL"


def test_every_entsoe_market_is_a_zone_entsoe_py_knows_in_its_time_zone():
    for m in MARKETS.values():
        if m.price_source == "entsoe":
            assert Area[m.zone].tz == m.timezone, m.code
            assert m.code == m.zone.lower()


def test_unknown_market_says_how_to_add_one():
    with pytest.raises(ValueError, match="register_market"):
        Site("x", 0, 0, 0, "UTC", "ercot")
    with pytest.raises(ValueError, match="unknown market 'ercot'"):
        market("ercot")


def test_a_registered_market_can_be_used():
    ercot = Market("ercot", "ERCOT real-time", "USD", "America/Chicago", 15, "ercot")
    try:
        register_market(ercot)
        assert Site("austin", 30.27, -97.74, 150.0, "America/Chicago", "ercot").market_info is ercot
    finally:
        MARKETS.pop("ercot", None)
    with pytest.raises(ValueError, match="lower case"):
        register_market(Market("ERCOT", "x", "USD", "UTC", 15, "x"))


def test_a_market_without_a_default_site_asks_for_a_site():
    with pytest.raises(ValueError, match="no default site") as err:
        site_for_market("it_nord")
    assert "market='it_nord'" in str(err.value)
    with pytest.raises(ValueError, match="unknown market"):
        site_for_market("atlantis")
