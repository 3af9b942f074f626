"""The agent's runtime settings, built from the one settings model.

:class:`energylib.config.Settings` reads and validates every variable below (the
environment wins over ``.env``); :func:`load_agent_settings` turns them into
:class:`AgentSettings` (a site, a battery and an EV), with the defaults listed here.
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
``ENERGY_AGENT_POLICY``                   ``forecast``, ``price_threshold``, ``self_consumption``
                                          or ``mpc`` (model-predictive control, HiGHS)
``ENERGY_AGENT_SWITCH_THRESHOLD``         mpc policy: a new plan that changes the battery's mode
                                          must beat carrying on by more than this
                                          [currency over the horizon] (0.05)
``ENERGY_AGENT_TARIFF``                   how energy is priced (:data:`energylib.tariff.TARIFF_KINDS`,
                                          as a study's ``tariff: {kind: ...}``): ``amber`` on
                                          ``amber`` (default), ``eu_dynamic`` on ``entsoe``
                                          (default: spot + margin + tax + VAT), ``flat``
``ENERGY_AGENT_TARIFF_OPTIONS``           the tariff's own parameters as JSON, e.g.
                                          ``{"supplier_margin_per_kwh": 0.025}``
``ENERGY_AGENT_CHARGE_BELOW_PER_KWH``     price_threshold policy: charge at or below [cur/kWh]
``ENERGY_AGENT_DISCHARGE_ABOVE_PER_KWH``  price_threshold policy: discharge at or above
``ENERGY_AGENT_BATTERY_KWH``              battery capacity [kWh] (13.5; 0 = no battery)
``ENERGY_AGENT_BATTERY_KW``               battery charge/discharge limit [kW] (5)
``ENERGY_AGENT_EV_CHARGER_KW``            EV charger limit [kW] (0 = no EV)
``ENERGY_AGENT_PV_KW``                    rooftop PV nameplate [kWdc] (0 = no PV, the default);
                                          decisions plan with its forecast output
``ENERGY_AGENT_PV_TILT_DEG``              PV tilt [deg] (20)
``ENERGY_AGENT_PV_AZIMUTH_DEG``           PV azimuth [deg clockwise from north] (facing the
                                          equator)
``ENERGY_AGENT_PV_INVERTER_KW``           PV inverter rating [kWac] (``PV_KW`` / 1.32)
``ENERGY_AGENT_WEATHER``                  ``open-meteo`` (temperature + GHI, no key; default) or
                                          ``clearsky`` (pvlib, offline, GHI only)
``ENERGY_AGENT_WEATHER_URL``              Open-Meteo API root
``ENERGY_AGENT_LATITUDE`` / ``_LONGITUDE`` site location for weather [deg]
``ENERGY_AGENT_KIOSK_HOST`` / ``_PORT``   kiosk bind address (``127.0.0.1``:8080)
``ENERGY_AGENT_CLOUD_SYNC_EVERY_S``       decision log -> Postgres period [s] (300; with
                                          ``SUPABASE_DB_URL``)
``ENERGY_AGENT_MODEL_POLL_EVERY_S``       central-store poll for a new model [s] (900)
``ENERGY_AGENT_MODEL_NAME``               published model name to follow (``forecaster``)
``ENERGY_AGENT_DASHBOARD``                who may open ``/dashboard``: ``loopback`` (default),
                                          ``home`` (private addresses) or ``token``
                                          (``ENERGY_AGENT_DASHBOARD_TOKEN``)
========================================= ===================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from energylib import extras
from energylib.config import PROJECT_ROOT, Settings, load_settings
from energylib.dispatch.assets import EV, POWERWALL_2, Battery
from energylib.site import SYDNEY, Site
from energylib.tariff import TARIFF_KINDS, Tariff

PREFIX = "ENERGY_AGENT_"
MARKETS = ("amber", "entsoe")
#: The agent's policies (the optimum needs perfect foresight: studies only).
AGENT_POLICIES = ("forecast", "price_threshold", "self_consumption", "mpc")
#: The site's market for each agent market (the day-ahead markets are EU-wide; NL by default).
SITE_MARKET = {"amber": "nem", "entsoe": "nl"}
#: The tariffs each market's cached prices can price (Amber's cache holds the all-in
#: ``general`` and ``feed_in`` channels, ENTSO-E's the day-ahead spot), the first the default.
MARKET_TARIFFS = {"amber": ("amber", "flat"), "entsoe": ("eu_dynamic", "flat")}


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
    site : Site
        Where the home is: its ``name`` is the site id in the store (on ``entsoe``, the
        bidding zone; ``default`` = ``NL``), its location feeds the weather, its ``timezone``
        the local-time features and "today" in the kiosk.
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
        Dispatch policy name: ``forecast``, ``price_threshold``, ``self_consumption`` or
        ``mpc`` (:func:`energylib.dispatch.policies.resolve`).
    charge_below_per_kwh, discharge_above_per_kwh : float
        Thresholds of the ``price_threshold`` policy [currency/kWh import price].
    switch_threshold : float
        ``mpc`` policy: a new plan that changes the battery's mode replaces carrying on only
        when it is cheaper by more than this [currency over the horizon].
    tariff : Tariff or None
        How imports and exports are priced from the market's prices, as a study prices them
        (:mod:`energylib.tariff`); None: the market's default (``AmberTariff`` on ``amber``,
        ``DynamicEUTariff`` on ``entsoe``).
    battery : Battery or None
        The home battery (None: no battery).
    ev : EV or None
        The EV and its charger (None: no EV).
    pv_kw : float
        Rooftop PV nameplate [kWdc]; 0: no PV.  With PV, each decision plans with the
        system's forecast output (:meth:`pv_system` through :func:`energylib.solar.pv_forecast_kwh`,
        on the collected weather's irradiance, the clear sky where it has none).
    pv_tilt_deg, pv_azimuth_deg : float, float or None
        PV tilt [deg] and azimuth [deg clockwise from north; None: facing the equator].
    pv_inverter_kw : float or None
        PV inverter rating [kWac]; None: ``pv_kw / 1.32``.
    weather : str
        Weather source: ``open-meteo`` (hourly air temperature and GHI) or ``clearsky``.
    weather_url : str
        Open-Meteo API root (tests point it at a local server).
    kiosk_host : str
        Kiosk bind address; ``127.0.0.1`` by default, ``0.0.0.0`` to serve the LAN.
    kiosk_port : int
        Kiosk TCP port.
    """

    state_dir: Path = PROJECT_ROOT / "data" / "agent"
    models_dir: Path | None = None
    market: str = "amber"
    site: Site = SYDNEY
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
    switch_threshold: float = 0.05
    tariff: Tariff | None = None
    battery: Battery | None = POWERWALL_2
    ev: EV | None = None
    pv_kw: float = 0.0
    pv_tilt_deg: float = 20.0
    pv_azimuth_deg: float | None = None
    pv_inverter_kw: float | None = None
    weather: str = "open-meteo"
    weather_url: str = "https://api.open-meteo.com/v1"
    kiosk_host: str = "127.0.0.1"
    kiosk_port: int = 8080
    cloud_sync_every_s: float = 300.0
    model_poll_every_s: float = 900.0
    model_name: str = "forecaster"
    dashboard: str = "loopback"

    def __post_init__(self) -> None:
        if self.market not in MARKETS:
            raise ValueError(f"{PREFIX}MARKET={self.market!r}: use 'amber' or 'entsoe'")
        if self.weather not in ("open-meteo", "clearsky"):
            raise ValueError(
                f"{PREFIX}WEATHER={self.weather!r}: use 'open-meteo' or 'clearsky' (offline, GHI only)"
            )
        if self.dashboard not in ("loopback", "home", "token"):
            raise ValueError(
                f"{PREFIX}DASHBOARD={self.dashboard!r}: use 'loopback', 'home' or 'token'"
            )
        if self.policy not in AGENT_POLICIES:
            raise ValueError(
                f"{PREFIX}POLICY={self.policy!r}: use one of {', '.join(AGENT_POLICIES)}"
            )
        if self.switch_threshold < 0:
            raise ValueError(f"{PREFIX}SWITCH_THRESHOLD must be >= 0, got {self.switch_threshold}")
        if not self.pv_kw >= 0:
            raise ValueError(f"{PREFIX}PV_KW must be >= 0 kWdc (0: no PV), got {self.pv_kw}")
        # What only some settings need, from the 'study' extra a Pi does not install by default:
        # say so at start-up, not at the first decision.
        needs = {
            f"{PREFIX}POLICY={self.policy!r}": ("numba", "scipy", "highspy")
            if self.policy == "mpc"
            else (),
            f"{PREFIX}WEATHER={self.weather!r}": ("pvlib",) if self.weather == "clearsky" else (),
            # the PV forecast runs energylib.solar on pvlib (a day of steps: numba stays out)
            f"{PREFIX}PV_KW={self.pv_kw:g}": ("pvlib",) if self.pv_kw > 0 else (),
        }
        for setting, modules in needs.items():
            if lacking := extras.missing(*modules):
                raise ValueError(
                    f"{setting} needs {', '.join(lacking)}, from the 'study' extra: "
                    "pip install 'energylib[study]' (or choose another setting)"
                )
        allowed = MARKET_TARIFFS[self.market]
        if self.tariff is None:
            object.__setattr__(self, "tariff", TARIFF_KINDS[allowed[0]]())
        elif self.tariff.name not in allowed:
            raise ValueError(
                f"{PREFIX}TARIFF={self.tariff.name!r} cannot price the {self.market!r} market's "
                f"prices; use one of {', '.join(allowed)}"
            )
        for name in (
            "stale_after_min",
            "collect_every_s",
            "decide_every_s",
            "weather_every_s",
            "cloud_sync_every_s",
            "model_poll_every_s",
        ):
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
        return (
            self.site.name
            if self.site.name != "default"
            else Settings.model_fields["entsoe_zone"].default
        )

    def pv_system(self):
        """The rooftop PV as an :class:`energylib.solar.PVSystem` (None: no PV).

        Imports :mod:`energylib.solar` (pandas, pvlib): call it only with PV."""
        if self.pv_kw <= 0:
            return None
        # Slow (pandas, pvlib, scipy), and only for an agent with PV.
        from energylib.solar import PVSystem

        try:
            return PVSystem(
                self.pv_kw,
                tilt_deg=self.pv_tilt_deg,
                azimuth_deg=self.pv_azimuth_deg,
                inverter_kwac=self.pv_inverter_kw,
            )
        except ValueError as exc:
            raise ValueError(
                f"{exc}; fix {PREFIX}PV_KW / {PREFIX}PV_TILT_DEG / {PREFIX}PV_AZIMUTH_DEG / "
                f"{PREFIX}PV_INVERTER_KW in the environment or .env"
            ) from None

    @property
    def currency(self) -> str:
        """Currency of the market's prices."""
        return "AUD" if self.market == "amber" else "EUR"

    @property
    def policy_options(self) -> dict[str, float]:
        """The policy's options these settings fix (the forecast policy's forecasts come
        with each decision)."""
        if self.policy == "price_threshold":
            return {
                "charge_below_per_kwh": self.charge_below_per_kwh,
                "discharge_above_per_kwh": self.discharge_above_per_kwh,
            }
        if self.policy == "forecast":
            return {"horizon_hours": self.horizon_hours}
        if self.policy == "mpc":  # the forecasts come with each decision, as the forecast's
            return {
                "horizon_hours": self.horizon_hours,
                "switch_threshold": self.switch_threshold,
                "known_intervals": 1,
            }
        return {}

    def replace(self, **changes) -> AgentSettings:
        """A copy with some fields changed (another market without a tariff: its default)."""
        if "market" in changes and "tariff" not in changes and changes["market"] != self.market:
            changes["tariff"] = None
        return replace(self, **changes)


def load_agent_settings(
    env_file: str | Path | None = None, environ: dict | None = None, **overrides
) -> AgentSettings:
    """Build :class:`AgentSettings`: keyword overrides, then environment, then ``.env``.

    Every variable is read, typed and validated by :class:`energylib.config.Settings`
    (a bad value names its variable); unset ones keep :class:`AgentSettings`' defaults.
    The site is assembled from ``ENERGY_AGENT_SITE``, ``_TIMEZONE``, ``_LATITUDE`` and
    ``_LONGITUDE``, the battery from ``_BATTERY_KWH`` and ``_BATTERY_KW`` (capacity 0: no
    battery), the EV from ``_EV_CHARGER_KW`` (0: no EV).

    Parameters
    ----------
    env_file : path, optional
        A dotenv file; defaults to ``.env`` in the working directory, then the project root.
    environ : dict, optional
        Environment to read (default ``os.environ``).
    **overrides
        Field values that win over both (the CLI's options).
    """
    base = load_settings(env_file=env_file, environ=environ)
    values: dict[str, object] = {"state_dir": base.data_dir / "agent"}
    for f in fields(AgentSettings):
        value = getattr(base, f"agent_{f.name}", None)
        if value is not None and f.name not in ("site", "battery", "ev", "tariff"):
            values[f.name] = value
    market = overrides.get("market") or base.agent_market or "amber"
    if market in MARKETS:
        values["site"] = _site(base, market)
        values["tariff"] = _tariff(base, market)
    values["battery"] = _battery(base)
    values["ev"] = _ev(base)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("state_dir", "models_dir"):
        if values.get(name) is not None:
            values[name] = Path(str(values[name])).expanduser()
    return AgentSettings(**values)


def _site(base: Settings, market: str) -> Site:
    # The site of a market without ENERGY_AGENT_SITE: the collector and the decider must agree.
    name = base.agent_site or (base.entsoe_zone if market == "entsoe" else base.amber_site_id)
    try:
        return Site(
            name=name or SYDNEY.name,
            latitude=_or(base.agent_latitude, SYDNEY.latitude),
            longitude=_or(base.agent_longitude, SYDNEY.longitude),
            altitude_m=SYDNEY.altitude_m,
            timezone=base.agent_timezone or SYDNEY.timezone,
            market=SITE_MARKET[market],
        )
    except ValueError as exc:
        raise ValueError(
            f"{exc}; fix {PREFIX}LATITUDE / {PREFIX}LONGITUDE in the environment or .env"
        ) from None


def _battery(base: Settings) -> Battery | None:
    capacity = _or(base.agent_battery_kwh, POWERWALL_2.capacity_kwh)
    kw = _or(base.agent_battery_kw, POWERWALL_2.charge_kw)
    if capacity <= 0:
        return None
    try:
        return replace(POWERWALL_2, capacity_kwh=capacity, charge_kw=kw, discharge_kw=kw)
    except ValueError as exc:
        raise ValueError(
            f"{exc}; fix {PREFIX}BATTERY_KWH / {PREFIX}BATTERY_KW in the environment or .env"
        ) from None


def _tariff(base: Settings, market: str) -> Tariff:
    kind = base.agent_tariff or MARKET_TARIFFS[market][0]
    if kind not in MARKET_TARIFFS[market]:
        raise ValueError(
            f"{PREFIX}TARIFF={kind!r} cannot price the {market!r} market's prices; use one of "
            f"{', '.join(MARKET_TARIFFS[market])} (fix it in the environment or .env)"
        )
    raw = base.agent_tariff_options or "{}"
    try:
        options = json.loads(raw)
        if not isinstance(options, dict):
            raise ValueError("not a JSON object")
        return TARIFF_KINDS[kind](**options)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{PREFIX}TARIFF_OPTIONS={raw!r}: {exc}; give the {kind!r} tariff's parameters as a "
            'JSON object, e.g. {"supplier_margin_per_kwh": 0.025}, in the environment or .env'
        ) from None


def _ev(base: Settings) -> EV | None:
    kw = _or(base.agent_ev_charger_kw, 0.0)
    if kw <= 0:
        return None
    return EV(charger_kw=kw)


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)
