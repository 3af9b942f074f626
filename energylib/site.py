"""Sites: where a household is (location, time zone, market).

A :class:`Site` is what pvlib needs for solar position and clear-sky irradiance
(latitude, longitude, altitude, time zone) plus the electricity market whose
prices apply (``nem``: Australia's National Electricity Market, 5-min, AUD;
``nl``: the Dutch day-ahead market, EUR).
"""

from __future__ import annotations

from dataclasses import dataclass

MARKETS = ("nem", "nl")


@dataclass(frozen=True)
class Site:
    """A household's location and market.

    Parameters
    ----------
    name : str
        Identifier, used as the store's ``site`` unless a caller overrides it.
    latitude : float
        Latitude [degrees north; negative in the southern hemisphere].
    longitude : float
        Longitude [degrees east].
    altitude_m : float
        Altitude above sea level [m].
    timezone : str
        IANA time zone (``Australia/Sydney``).
    market : str
        ``nem`` or ``nl``.
    """

    name: str
    latitude: float
    longitude: float
    altitude_m: float
    timezone: str
    market: str

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(
                f"Site {self.name!r}: latitude {self.latitude} is outside [-90, 90] degrees"
            )
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(
                f"Site {self.name!r}: longitude {self.longitude} is outside [-180, 180] degrees"
            )
        if self.market not in MARKETS:
            raise ValueError(f"Site {self.name!r}: market {self.market!r} is not one of {MARKETS}")

    @property
    def southern(self) -> bool:
        """True for a southern-hemisphere site (panels face north there)."""
        return self.latitude < 0


# The default household.  Its wholesale prices are NEM-shaped (NSW-like region) but
# calibrated to the AEMO VIC1 2025 figures of issue 4 (see energylib.simulate.prices).
SYDNEY = Site("default", -33.87, 151.21, 58.0, "Australia/Sydney", "nem")
AMSTERDAM = Site("nl-default", 52.37, 4.90, 0.0, "Europe/Amsterdam", "nl")

SITES = {"nem": SYDNEY, "nl": AMSTERDAM}


def site_for_market(market: str) -> Site:
    """The default site of a market (``nem`` -> :data:`SYDNEY`, ``nl`` -> :data:`AMSTERDAM`)."""
    try:
        return SITES[market]
    except KeyError:
        raise ValueError(f"unknown market {market!r}; use one of {MARKETS}") from None
