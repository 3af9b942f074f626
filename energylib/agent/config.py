"""Agent settings from the environment and ``.env`` (environment wins).

Tokens (``AMBER_TOKEN``, ``ENTSOE_API_KEY``) stay in :class:`energylib.config.Settings`,
which masks them; :class:`AgentSettings` holds no secret, so it can be logged whole.

Environment variables (all optional):

========================================= ===================================================
``ENERGY_AGENT_STATE_DIR``                folder of the live cache, decision log, models
                                          (default ``<data_dir>/agent``)
``ENERGY_AGENT_MODELS_DIR``               models folder (default ``<state_dir>/models``)
``ENERGY_AGENT_MARKET``                   ``amber`` or ``entsoe`` (default ``amber``)
``ENERGY_AGENT_SITE``                     site id in the store (default ``AMBER_SITE_ID`` on
                                          ``amber``, ``ENTSOE_ZONE`` on ``entsoe``)
``ENERGY_AGENT_TIMEZONE``                 site IANA zone (default ``Australia/Sydney``)
``ENERGY_AGENT_STALE_AFTER_MIN``          price data older than this -> safe hold [min] (30)
``ENERGY_AGENT_COLLECT_EVERY_S``          price collection period [s] (300)
``ENERGY_AGENT_DECIDE_EVERY_S``           decision period [s] (60)
``ENERGY_AGENT_WEATHER_EVERY_S``          weather period [s] (3600)
``ENERGY_AGENT_BACKOFF_MAX_S``            longest wait between failed collections [s] (900)
``ENERGY_AGENT_FORECAST_INTERVALS``       Amber forecast intervals fetched per call (48)
``ENERGY_AGENT_HORIZON_HOURS``            decision horizon [h] (24)
``ENERGY_AGENT_POLICY``                   ``forecast``, ``price_threshold`` or ``self_consumption``
``ENERGY_AGENT_CHARGE_BELOW_PER_KWH``     price_threshold policy: charge at or below [cur/kWh]
``ENERGY_AGENT_DISCHARGE_ABOVE_PER_KWH``  price_threshold policy: discharge at or above
``ENERGY_AGENT_BATTERY_KWH``              battery capacity [kWh] (13.5; 0 = no battery)
``ENERGY_AGENT_BATTERY_KW``               battery charge/discharge limit [kW] (5)
``ENERGY_AGENT_EV_CHARGER_KW``            EV charger limit [kW] (0 = no EV)
``ENERGY_AGENT_WEATHER``                  ``open-meteo`` (temperature + GHI, no key; default) or
                                          ``clearsky`` (pvlib, offline, GHI only)
``ENERGY_AGENT_WEATHER_URL``              Open-Meteo API root
``ENERGY_AGENT_LATITUDE`` / ``_LONGITUDE`` site location for weather [deg]
``ENERGY_AGENT_KIOSK_HOST`` / ``_PORT``   kiosk bind address (``127.0.0.1``:8080)
========================================= ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from energylib.config import PROJECT_ROOT, Settings, load_settings, read_environment

PREFIX = "ENERGY_AGENT_"


@dataclass(frozen=True)
class AgentSettings:
    """Settings of the live agent and the kiosk.  Build with :func:`load_agent_settings`.

    Parameters
    ----------
    state_dir : Path
        Folder holding ``live.sqlite`` (price cache), ``decisions.sqlite`` and ``models/``.
    models_dir : Path or None
        Models folder; ``None`` means ``state_dir / "models"``.
    market : str
        ``amber`` (5-min retail prices, AUD) or ``entsoe`` (day-ahead, EUR).
    site : str
        Site id used in the store; on ``entsoe``, the bidding zone (``default`` = ``NL``).
    timezone : str
        IANA zone of the site (local-time features, "today" in the kiosk).
    stale_after_min : float
        Price data older than this is stale: the agent holds, the kiosk warns [min].
    collect_every_s, decide_every_s, weather_every_s : float
        Job periods [s], aligned to the clock (every 5 min on :00, :05, ...).
    backoff_max_s : float
        Longest wait between two failed collections [s].
    forecast_intervals : int
        Forecast intervals asked of Amber per collection.
    horizon_hours : float
        Look-ahead of each decision [h].
    policy : str
        Dispatch policy name: ``forecast``, ``price_threshold`` or ``self_consumption``.
    charge_below_per_kwh, discharge_above_per_kwh : float
        Thresholds of the ``price_threshold`` policy [currency/kWh].
    battery_kwh, battery_kw : float
        Battery capacity [kWh] and power limit [kW]; capacity 0 means no battery.
    ev_charger_kw : float
        EV charger limit [kW]; 0 means no EV.
    weather : str
        Weather source: ``open-meteo`` (hourly air temperature and GHI) or ``clearsky``.
    weather_url : str
        Open-Meteo API root (tests point it at a local server).
    latitude, longitude : float
        Site location [deg] for the weather.
    kiosk_host : str
        Kiosk bind address; ``127.0.0.1`` by default, ``0.0.0.0`` to serve the LAN.
    kiosk_port : int
        Kiosk TCP port.
    """

    state_dir: Path = PROJECT_ROOT / "data" / "agent"
    models_dir: Path | None = None
    market: str = "amber"
    site: str = "default"
    timezone: str = "Australia/Sydney"
    stale_after_min: float = 30.0
    collect_every_s: float = 300.0
    decide_every_s: float = 60.0
    weather_every_s: float = 3600.0
    backoff_max_s: float = 900.0
    forecast_intervals: int = 48
    horizon_hours: float = 24.0
    policy: str = "forecast"
    charge_below_per_kwh: float = 0.10
    discharge_above_per_kwh: float = 0.30
    battery_kwh: float = 13.5
    battery_kw: float = 5.0
    ev_charger_kw: float = 0.0
    weather: str = "open-meteo"
    weather_url: str = "https://api.open-meteo.com/v1"
    latitude: float = -33.87
    longitude: float = 151.21
    kiosk_host: str = "127.0.0.1"
    kiosk_port: int = 8080

    def __post_init__(self) -> None:
        if self.market not in ("amber", "entsoe"):
            raise ValueError(f"{PREFIX}MARKET={self.market!r}: use 'amber' or 'entsoe'")
        if self.weather not in ("open-meteo", "clearsky"):
            raise ValueError(
                f"{PREFIX}WEATHER={self.weather!r}: use 'open-meteo' or 'clearsky' (offline, GHI only)"
            )
        if self.policy not in ("forecast", "price_threshold", "self_consumption"):
            raise ValueError(
                f"{PREFIX}POLICY={self.policy!r}: use 'forecast', 'price_threshold' or 'self_consumption'"
            )
        for name in ("stale_after_min", "collect_every_s", "decide_every_s", "weather_every_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{PREFIX}{name.upper()} must be > 0, got {getattr(self, name)}")

    @property
    def live_db(self) -> Path:
        """The live price / usage / weather cache (SQLite, WAL)."""
        return self.state_dir / "live.sqlite"

    @property
    def decisions_db(self) -> Path:
        """The decision log (SQLite, WAL)."""
        return self.state_dir / "decisions.sqlite"

    @property
    def models_path(self) -> Path:
        """The watched models folder."""
        return self.models_dir if self.models_dir is not None else self.state_dir / "models"

    @property
    def entsoe_zone(self) -> str:
        """ENTSO-E bidding zone of the ``entsoe`` market: the site, ``NL`` when it is ``default``."""
        return self.site if self.site != "default" else Settings.entsoe_zone

    @property
    def currency(self) -> str:
        """Currency of the market's prices."""
        return "AUD" if self.market == "amber" else "EUR"

    def replace(self, **changes) -> AgentSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)


def load_agent_settings(
    env_file: str | Path | None = None, environ: dict | None = None, **overrides
) -> AgentSettings:
    """Read :class:`AgentSettings`: keyword overrides, then environment, then ``.env``.

    Parameters
    ----------
    env_file : path, optional
        A dotenv file; defaults to ``.env`` in the working directory, then the project root.
    environ : dict, optional
        Environment to read (default ``os.environ``).
    **overrides
        Field values that win over both (the CLI's options).
    """
    env = read_environment(env_file, environ)
    base = load_settings(env_file=env_file, environ=environ)
    values: dict[str, object] = {"state_dir": base.data_dir / "agent"}
    # The site of a market without ENERGY_AGENT_SITE: the collector and the decider must agree.
    market = overrides.get("market") or env.get(PREFIX + "MARKET") or "amber"
    site = base.entsoe_zone if market == "entsoe" else base.amber_site_id
    if site:
        values["site"] = site
    for f in fields(AgentSettings):
        key = PREFIX + f.name.upper()
        raw = env.get(key)
        if not raw:
            continue
        values[f.name] = _convert(f.name, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("state_dir", "models_dir"):
        if values.get(name) is not None:
            values[name] = Path(str(values[name])).expanduser()
    return AgentSettings(**values)


_FLOATS = {
    "stale_after_min", "collect_every_s", "decide_every_s", "weather_every_s", "backoff_max_s",
    "horizon_hours", "charge_below_per_kwh", "discharge_above_per_kwh", "battery_kwh", "battery_kw",
    "ev_charger_kw", "latitude", "longitude",
}  # fmt: skip
_INTS = {"forecast_intervals", "kiosk_port"}


def _convert(name: str, raw: str) -> object:
    try:
        if name in _FLOATS:
            return float(raw)
        if name in _INTS:
            return int(raw)
    except ValueError as exc:
        raise ValueError(
            f"{PREFIX}{name.upper()}={raw!r} is not a number; fix it in the environment or .env"
        ) from exc
    return raw
