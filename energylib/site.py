"""Sites: where a household is (location, time zone, market).

A :class:`Site` is what pvlib needs for solar position and clear-sky irradiance
(latitude, longitude, altitude, time zone) plus the electricity market whose prices apply,
by its code in :data:`MARKETS`:

* ``nem``: Australia's National Electricity Market (5-min, AUD; Amber, AEMO);
* one code per ENTSO-E day-ahead bidding zone, the zone's entsoe-py name in lower case:
  ``nl`` (the Netherlands), ``be``, ``de_lu``, ``fr``, ``it_nord`` ... ``it_sici``, ``es``,
  ``dk_1``, ``se_3``, ``no_1`` ... (15-min day-ahead since 1 October 2025; prices in EUR);
* anything else a user adds with :func:`register_market`.

Only ``nem`` and ``nl`` have a default site (and a simulated default year); for any other
market, describe the home with ``Site(..., market="it_nord")``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Market:
    """An electricity market a site buys from.

    Parameters
    ----------
    code : str
        Key in :data:`MARKETS` (``nem``, ``nl``, ``it_nord`` ...).
    name : str
        What it is, for people.
    currency : str
        Currency of its wholesale prices (ISO 4217).
    timezone : str
        IANA zone of its trading day.
    interval_minutes : int
        Resolution of its prices [min].
    price_source : str
        Where energylib gets its prices: ``amber`` (NEM retail, with AEMO wholesale) or
        ``entsoe`` (day-ahead).
    zone : str or None
        The ENTSO-E bidding zone as entsoe-py names it (``NL``, ``IT_NORD``), or ``None``.
    """

    code: str
    name: str
    currency: str
    timezone: str
    interval_minutes: int
    price_source: str
    zone: str | None = None


# ENTSO-E day-ahead bidding zones: entsoe-py name -> (name, IANA time zone).
_ENTSOE_ZONES = {
    "AT": ("Austria", "Europe/Vienna"),
    "BE": ("Belgium", "Europe/Brussels"),
    "BG": ("Bulgaria", "Europe/Sofia"),
    "CH": ("Switzerland", "Europe/Zurich"),
    "CZ": ("Czechia", "Europe/Prague"),
    "DE_LU": ("Germany-Luxembourg", "Europe/Berlin"),
    "DK_1": ("Denmark West", "Europe/Copenhagen"),
    "DK_2": ("Denmark East", "Europe/Copenhagen"),
    "EE": ("Estonia", "Europe/Tallinn"),
    "ES": ("Spain", "Europe/Madrid"),
    "FI": ("Finland", "Europe/Helsinki"),
    "FR": ("France", "Europe/Paris"),
    "GR": ("Greece", "Europe/Athens"),
    "HR": ("Croatia", "Europe/Zagreb"),
    "HU": ("Hungary", "Europe/Budapest"),
    "IE_SEM": ("Ireland (SEM)", "Europe/Dublin"),
    "IT_NORD": ("Italy North", "Europe/Rome"),
    "IT_CNOR": ("Italy Centre-North", "Europe/Rome"),
    "IT_CSUD": ("Italy Centre-South", "Europe/Rome"),
    "IT_SUD": ("Italy South", "Europe/Rome"),
    "IT_CALA": ("Italy Calabria", "Europe/Rome"),
    "IT_SICI": ("Italy Sicily", "Europe/Rome"),
    "IT_SARD": ("Italy Sardinia", "Europe/Rome"),
    "LT": ("Lithuania", "Europe/Vilnius"),
    "LV": ("Latvia", "Europe/Riga"),
    "NL": ("Netherlands", "Europe/Amsterdam"),
    "NO_1": ("Norway South-East", "Europe/Oslo"),
    "NO_2": ("Norway South-West", "Europe/Oslo"),
    "NO_3": ("Norway Central", "Europe/Oslo"),
    "NO_4": ("Norway North", "Europe/Oslo"),
    "NO_5": ("Norway West", "Europe/Oslo"),
    "PL": ("Poland", "Europe/Warsaw"),
    "PT": ("Portugal", "Europe/Lisbon"),
    "RO": ("Romania", "Europe/Bucharest"),
    "SE_1": ("Sweden Luleå", "Europe/Stockholm"),
    "SE_2": ("Sweden Sundsvall", "Europe/Stockholm"),
    "SE_3": ("Sweden Stockholm", "Europe/Stockholm"),
    "SE_4": ("Sweden Malmö", "Europe/Stockholm"),
    "SI": ("Slovenia", "Europe/Ljubljana"),
    "SK": ("Slovakia", "Europe/Bratislava"),
}

#: Market code -> :class:`Market`.  Extend with :func:`register_market`.
MARKETS: dict[str, Market] = {
    "nem": Market(
        "nem", "Australia's National Electricity Market", "AUD", "Australia/Brisbane", 5, "amber"
    ),
    **{
        zone.lower(): Market(
            zone.lower(), f"{name} day-ahead (ENTSO-E)", "EUR", tz, 15, "entsoe", zone
        )
        for zone, (name, tz) in _ENTSOE_ZONES.items()
    },
}


def register_market(market: Market) -> Market:
    """Add (or replace) a market, so sites may name its code; returns it."""
    if not market.code or market.code != market.code.strip().lower():
        raise ValueError(f"market code {market.code!r} must be lower case without spaces")
    MARKETS[market.code] = market
    return market


def market(code: str) -> Market:
    """The :class:`Market` of a code (``nem``, ``nl``, ``it_nord`` ...)."""
    try:
        return MARKETS[code]
    except KeyError:
        raise ValueError(
            f"unknown market {code!r}; use one of {sorted(MARKETS)} or add it with "
            "energylib.site.register_market(Market(...))"
        ) from None


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
        A code of :data:`MARKETS`: ``nem``, ``nl``, ``it_nord``, ``de_lu`` ...
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
            raise ValueError(
                f"Site {self.name!r}: market {self.market!r} is not one of {sorted(MARKETS)}; "
                "add it with energylib.site.register_market(Market(...))"
            )

    @property
    def southern(self) -> bool:
        """True for a southern-hemisphere site (panels face north there)."""
        return self.latitude < 0

    @property
    def market_info(self) -> Market:
        """The site's :class:`Market` (currency, price resolution, bidding zone)."""
        return MARKETS[self.market]


# The default household.  Its wholesale prices are NEM-shaped (NSW-like region) but
# calibrated to the AEMO VIC1 2025 figures of issue 4 (see energylib.simulate.prices).
SYDNEY = Site("default", -33.87, 151.21, 58.0, "Australia/Sydney", "nem")
AMSTERDAM = Site("nl-default", 52.37, 4.90, 0.0, "Europe/Amsterdam", "nl")

#: Markets with a default site (and a simulated default year).
SITES = {"nem": SYDNEY, "nl": AMSTERDAM}


def site_for_market(market: str) -> Site:
    """The default site of a market (``nem`` -> :data:`SYDNEY`, ``nl`` -> :data:`AMSTERDAM`)."""
    if market in SITES:
        return SITES[market]
    if market in MARKETS:
        raise ValueError(
            f"market {market!r} has no default site (only {sorted(SITES)} do); describe the home "
            f"with Site(name, latitude, longitude, altitude_m, timezone, market={market!r})"
        )
    raise ValueError(f"unknown market {market!r}; use one of {sorted(MARKETS)}")
