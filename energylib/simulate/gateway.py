"""The edge-gateway DER simulator: a JSON config in, JSON readings out, as documented.

A gateway reports, every ``interval_seconds``, its solar, battery, home-load and
grid-price readings and the net grid flow.  The readings come from the same models
as the default year (pvlib weather and PV, the household load model, the battery
model); each local day is generated from ``(seed, day)``, so a reading at a given
time is the same whichever mode asked for it, and the battery state chains from
one day to the next.

Config: the gateway's documented ``config.json`` (``seeds/002``, "Configuration"), read
as it is; every field optional (:data:`DEFAULT_CONFIG` fills the rest); an unknown key,
a wrong type or an out-of-range value raises :class:`GatewayConfigError` naming the key
and the allowed range.

=================  ==========================================================================
block              fields
=================  ==========================================================================
(top level)        ``device_id`` (the store's site), ``interval_seconds``, ``output_file``
                   (JSONL file the readings go to when ``--output`` is not given; ``null``:
                   stdout), ``seed`` (``null``: a fresh random seed per run)
``solar``          ``capacity_kw`` [kWdc], ``latitude`` [deg] (its sign picks the climate:
                   south Sydney-like, north Amsterdam-like), ``panel_efficiency`` [0-1] at
                   25 degC, ``temp_coefficient`` [1/degC]; library additions ``longitude``
                   [deg], ``timezone``, ``tilt_deg``
``battery``        ``capacity_kwh``, ``max_charge_rate_kw``, ``max_discharge_rate_kw``,
                   ``round_trip_efficiency`` [0-1], ``initial_soc``/``min_soc``/``max_soc``
                   [%, 0-100]
``home_load``      ``base_load_kw`` (always-on), ``peak_load_kw`` (cap on the non-EV load;
                   the mean load is base + 12 % of the span), ``has_ev``, ``ev_charging_kw``,
                   ``hvac_capacity_kw`` [kW electrical]
``grid_price``     ``off_peak_price``/``shoulder_price``/``peak_price`` [currency/kWh] (peak
                   16-21 h, shoulder 07-16 and 21-22 h), ``base_feed_in_tariff``
                   [currency/kWh paid], ``demand_charge`` [currency/kW/month, reported],
                   ``volatility`` (sd of log price noise); library addition ``currency``
=================  ==========================================================================

Reading (the documented "Output Format", every field with its documented name and unit)::

    {"timestamp": "2024-06-15T04:30:00Z", "device_id": "edge-gateway-001",
     "solar": {"generation_kw", "irradiance_w_m2", "panel_temp_celsius", "efficiency_percent"},
     "battery": {"soc_percent", "capacity_kwh", "power_kw", "voltage_v",
                 "temperature_celsius", "cycles", "health_percent"},
     "home_load": {"total_load_kw", "hvac_kw", "appliances_kw", "lighting_kw",
                   "ev_charging_kw", "other_kw"},
     "grid_price": {"price_per_kwh", "feed_in_tariff", "demand_charge",
                    "time_of_use_period", "carbon_intensity_g_kwh"},
     "net_grid_flow_kw": ...}

``timestamp`` is ISO 8601 in UTC (``Z``); ``battery.power_kw`` > 0 charges;
``net_grid_flow_kw`` = load - solar + battery charge (> 0 imports, < 0 exports); the
home-load parts sum to ``total_load_kw`` (appliances: fridge, washing machine,
dishwasher, stove, water heater, computers; other: always-on base and misc).  Library
additions beside them: ``interval_seconds``, ``solar.capacity_kw``,
``solar.air_temp_celsius``, ``grid_price.currency``.  ``panel_temp_celsius`` is the
Faiman cell temperature (pvlib) with the global horizontal irradiance as the plane's;
``efficiency_percent`` is ``panel_efficiency`` derated by ``temp_coefficient`` at that
temperature.

Each day starts the battery at ``initial_soc`` unless the previous day was generated
first (``points``/historical runs go in time order, so the state chains).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from pvlib.temperature import faiman
from tqdm.auto import tqdm

from energylib.schema import FrameMeta
from energylib.simulate.battery import LFP_HOME_BATTERY, GatewayBattery
from energylib.simulate.carbon import carbon_intensity
from energylib.simulate.default_year import WEATHER_COLUMNS, _frame, generate_range
from energylib.simulate.load import CHANNELS, HOUSEHOLDS, Household
from energylib.simulate.prices import network_period
from energylib.simulate.weather import ar1, rng_stream
from energylib.site import Site
from energylib.solar import PVSystem
from energylib.store import Store

DEFAULT_CONFIG: dict[str, Any] = {
    "device_id": "gateway-001",
    "interval_seconds": 300,
    "output_file": None,
    "seed": 42,
    "solar": {
        "capacity_kw": 6.6,
        "latitude": -33.87,
        "longitude": 151.21,
        "timezone": "Australia/Sydney",
        "tilt_deg": 20.0,
        "panel_efficiency": 0.21,
        "temp_coefficient": -0.0037,
    },
    "battery": {
        "capacity_kwh": 13.5,
        "max_charge_rate_kw": 5.0,
        "max_discharge_rate_kw": 5.0,
        "round_trip_efficiency": 0.90,
        "initial_soc": 50.0,
        "min_soc": 10.0,
        "max_soc": 100.0,
    },
    "home_load": {
        "base_load_kw": 0.3,
        "peak_load_kw": 5.0,
        "has_ev": True,
        "ev_charging_kw": 7.0,
        "hvac_capacity_kw": 2.5,
    },
    "grid_price": {
        "off_peak_price": 0.18,
        "shoulder_price": 0.27,
        "peak_price": 0.45,
        "base_feed_in_tariff": 0.05,
        "demand_charge": 0.0,
        "volatility": 0.10,
        "currency": "AUD",
    },
}

# Keys that may be null, and the type they hold otherwise.
_NULLABLE: dict[str, type] = {"output_file": str, "seed": int}

# The library's earlier names, refused with the documented name to use instead.
_RENAMED = {
    "battery.max_charge_kw": "battery.max_charge_rate_kw",
    "battery.max_discharge_kw": "battery.max_discharge_rate_kw",
    "home_load.base_kw": "home_load.base_load_kw",
    "home_load.peak_kw": "home_load.peak_load_kw",
    "grid_price.off_peak": "grid_price.off_peak_price",
    "grid_price.shoulder": "grid_price.shoulder_price",
    "grid_price.peak": "grid_price.peak_price",
    "grid_price.feed_in": "grid_price.base_feed_in_tariff",
}

# (min, max, unit) per numeric key: physical bounds, every one finite.
_RANGES: dict[str, tuple[float, float, str]] = {
    "interval_seconds": (1, 86_400, "s"),
    "seed": (0, 2**63 - 1, ""),
    "solar.capacity_kw": (0, 1_000, "kW"),
    "solar.latitude": (-90, 90, "deg"),
    "solar.longitude": (-180, 180, "deg"),
    "solar.tilt_deg": (0, 90, "deg"),
    "solar.panel_efficiency": (0.01, 0.5, ""),
    "solar.temp_coefficient": (-0.02, 0, "1/degC"),
    "battery.capacity_kwh": (0, 10_000, "kWh"),
    "battery.max_charge_rate_kw": (0, 5_000, "kW"),
    "battery.max_discharge_rate_kw": (0, 5_000, "kW"),
    "battery.round_trip_efficiency": (0.01, 1, ""),
    "battery.initial_soc": (0, 100, "%"),
    "battery.min_soc": (0, 100, "%"),
    "battery.max_soc": (0, 100, "%"),
    "home_load.base_load_kw": (0, 100, "kW"),
    "home_load.peak_load_kw": (0, 1_000, "kW"),
    "home_load.ev_charging_kw": (0, 350, "kW"),
    "home_load.hvac_capacity_kw": (0, 100, "kW"),
    "grid_price.off_peak_price": (-20, 20, "per kWh"),
    "grid_price.shoulder_price": (-20, 20, "per kWh"),
    "grid_price.peak_price": (-20, 20, "per kWh"),
    "grid_price.base_feed_in_tariff": (-20, 20, "per kWh"),
    "grid_price.demand_charge": (0, 1_000, "per kW per month"),
    "grid_price.volatility": (0, 5, ""),
}

# Home-load parts of the documented reading -> the load model's channels.
LOAD_PARTS: dict[str, tuple[str, ...]] = {
    "hvac_kw": ("air_conditioning",),
    "appliances_kw": (
        "fridge",
        "washing_machine",
        "dishwasher",
        "stove",
        "water_heater",
        "computers",
    ),
    "lighting_kw": ("lighting",),
    "ev_charging_kw": ("ev_charging",),
    "other_kw": ("base", "misc"),
}
assert sorted(c for parts in LOAD_PARTS.values() for c in parts) == sorted(CHANNELS)

#: Deepest nesting a config may have (top level, block, value).
MAX_DEPTH = 3


def _show(value: Any) -> str:
    """A value as the user wrote it in JSON (cut to 40 characters)."""
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


def _r(x: float, digits: int) -> float:
    """Round for JSON output, without a negative zero."""
    return round(float(x), digits) + 0.0


class GatewayConfigError(ValueError):
    """A gateway config is invalid; the message names the key and what to do."""


def _merge(defaults: dict, given: Any, path: str = "") -> dict:
    if not isinstance(given, dict):
        what = f"config key {path!r}" if path else "a config"
        raise GatewayConfigError(
            f"{what} must be a JSON object {{...}}, got {_show(given)} "
            f"({type(given).__name__}); write {{}} for the defaults"
        )
    out = dict(defaults)
    for key, value in given.items():
        full = f"{path}.{key}" if path else key
        if full in _RENAMED:
            raise GatewayConfigError(
                f"config key {full!r} is called {_RENAMED[full]!r} (the gateway's documented name); rename it"
            )
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise GatewayConfigError(
                f"unknown config key {full!r}; known keys{' in ' + repr(path) if path else ''}: {known}"
            )
        if isinstance(defaults[key], dict):
            out[key] = _merge(defaults[key], value, full)
        else:
            out[key] = value
    return out


def _range_text(full: str) -> str:
    lo, hi, unit = _RANGES[full]
    return f"[{lo:g}, {hi:g}]{' ' + unit if unit else ''}"


def _check_number(full: str, value: Any, whole: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GatewayConfigError(
            f"config key {full!r} must be a number in {_range_text(full)}, got {_show(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise GatewayConfigError(
            f"config key {full!r} must be a finite number in {_range_text(full)}, got {value}"
        )
    lo, hi, _ = _RANGES[full]
    if not lo <= value <= hi:
        shown = f"{value:g}" if isinstance(value, float) or abs(value) < 10**15 else f"{value:.3e}"
        raise GatewayConfigError(
            f"config key {full!r} = {shown} is out of range {_range_text(full)}"
        )
    if whole and not (isinstance(value, int) or float(value).is_integer()):
        raise GatewayConfigError(f"config key {full!r} must be a whole number, got {value}")


def _check_types(cfg: dict, defaults: dict, path: str = "") -> None:
    for key, default in defaults.items():
        full = f"{path}.{key}" if path else key
        value = cfg[key]
        if full in _NULLABLE:
            if value is None:
                continue
            if _NULLABLE[full] is int:
                _check_number(full, value, whole=True)
                cfg[key] = int(value)
            elif not isinstance(value, str) or not value:
                raise GatewayConfigError(
                    f"config key {full!r} must be null or a file name, got {_show(value)}"
                )
        elif isinstance(default, dict):
            _check_types(value, default, full)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise GatewayConfigError(
                    f"config key {full!r} must be true or false, got {_show(value)}"
                )
        elif isinstance(default, (int, float)):
            _check_number(full, value, whole=isinstance(default, int))
            if isinstance(default, int):
                cfg[key] = int(value)
        elif isinstance(default, str) and (not isinstance(value, str) or not value):
            raise GatewayConfigError(
                f"config key {full!r} must be a non-empty string, got {_show(value)}"
            )


def validate_config(given: dict | None = None) -> dict:
    """Fill ``given`` with defaults and check it (``None``: the defaults).

    Raises
    ------
    GatewayConfigError
        Naming the key: not a JSON object, unknown or renamed keys, wrong types,
        out-of-range values (with the allowed range), ``battery.min_soc`` not below
        ``battery.max_soc``, SoC keys written as fractions, no ``battery.capacity_kwh``,
        ``battery.initial_soc`` outside the window, ``home_load.peak_load_kw`` below
        ``home_load.base_load_kw``, an unknown ``solar.timezone``.
    """
    cfg = _merge(DEFAULT_CONFIG, {} if given is None else given)
    cfg = copy.deepcopy(cfg)  # validation normalises in place
    _check_types(cfg, DEFAULT_CONFIG)
    b = cfg["battery"]
    if b["max_soc"] <= 1:
        raise GatewayConfigError(
            f"config key 'battery.max_soc' is {b['max_soc']}: SoC keys are percent (0-100), as "
            f"documented; write {b['max_soc'] * 100:g} for a fraction of {b['max_soc']}"
        )
    if b["min_soc"] >= b["max_soc"]:
        raise GatewayConfigError(
            f"config key 'battery.min_soc' ({b['min_soc']}) is not below 'battery.max_soc' ({b['max_soc']}); lower it"
        )
    if b["capacity_kwh"] <= 0:
        raise GatewayConfigError(
            f"config key 'battery.capacity_kwh' is {b['capacity_kwh']}; a gateway reports a battery, "
            "give its usable capacity [kWh]"
        )
    if not b["min_soc"] <= b["initial_soc"] <= b["max_soc"]:
        raise GatewayConfigError(
            f"config key 'battery.initial_soc' ({b['initial_soc']}) must lie within "
            f"[battery.min_soc, battery.max_soc] = [{b['min_soc']}, {b['max_soc']}] %"
        )
    h = cfg["home_load"]
    if h["peak_load_kw"] < h["base_load_kw"]:
        raise GatewayConfigError(
            f"config key 'home_load.peak_load_kw' ({h['peak_load_kw']}) is below "
            f"'home_load.base_load_kw' ({h['base_load_kw']})"
        )
    if h["has_ev"] and h["ev_charging_kw"] <= 0:
        raise GatewayConfigError(
            "config key 'home_load.ev_charging_kw' must be > 0 when home_load.has_ev is true"
        )
    try:
        pd.Timestamp("2025-01-01", tz=cfg["solar"]["timezone"])
    except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise different types
        raise GatewayConfigError(
            f"config key 'solar.timezone' {cfg['solar']['timezone']!r} is not an IANA time zone"
        ) from exc
    return cfg


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def load_config(path: str | Path | None) -> dict:
    """Read and validate a JSON config file (``None``: the defaults).

    Raises
    ------
    GatewayConfigError
        Naming the file: missing, a directory, unreadable, not UTF-8, not JSON, nested
        deeper than a config can be, not a JSON object (``null``, ``0``, ``[]``), or a
        key that :func:`validate_config` refuses.
    """
    if path is None:
        return validate_config(None)
    p = Path(path)
    name = str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise GatewayConfigError(
            f"config file {name!r} not found; create one with --generate-config --config {name}"
        ) from None
    except IsADirectoryError:
        raise GatewayConfigError(
            f"config file {name!r} is a directory; give the JSON file inside it "
            f"(e.g. --config {p / 'config.json'})"
        ) from None
    except PermissionError:
        raise GatewayConfigError(
            f"config file {name!r} cannot be read: permission denied"
        ) from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise GatewayConfigError(
            f"config file {name!r} is UTF-16 text (byte-order mark {raw[:2].hex()}); save it as UTF-8"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GatewayConfigError(
            f"config file {name!r} is not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1].hex()}); "
            "save it as UTF-8"
        ) from None
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GatewayConfigError(
            f"config file {name!r} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise GatewayConfigError(
            f"config file {name!r} nests objects or arrays thousands deep; a config is a JSON object "
            f"of at most {MAX_DEPTH} levels (see --generate-config)"
        ) from None
    except ValueError as exc:  # e.g. an integer literal of more than 4300 digits
        raise GatewayConfigError(f"config file {name!r}: {exc}") from None
    if given is None:
        raise GatewayConfigError(
            f"config file {name!r} holds null; a config is a JSON object: write {{}} for the defaults"
        )
    if _depth(given) > MAX_DEPTH:
        raise GatewayConfigError(
            f"config file {name!r} nests {_depth(given)} levels deep; a config is a JSON object of "
            f"at most {MAX_DEPTH} levels (see --generate-config)"
        )
    try:
        return validate_config(given)
    except GatewayConfigError as exc:
        key = re.search(r"config key '([^']+)'", str(exc))
        line = _key_line(text, key.group(1)) if key else None
        where = f"config file {name!r}" + (f" line {line}" if line else "")
        raise GatewayConfigError(f"{where}: {exc}") from None


def _key_line(text: str, key: str) -> int | None:
    """The line (1-based) where a dotted key is written in a JSON text, or None."""
    lines, at = text.splitlines(), 0
    for part in key.split("."):
        quoted = json.dumps(part)
        found = next((i for i in range(at, len(lines)) if quoted in lines[i]), None)
        if found is None:
            return None
        at = found
    return at + 1


def write_default_config(path: str | Path) -> Path:
    """Write :data:`DEFAULT_CONFIG` as pretty JSON to ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(DEFAULT_CONFIG, indent=2) + "\n")
    return p


@dataclass
class _Day:
    start: pd.Timestamp  # local midnight
    index: pd.DatetimeIndex
    weather: pd.DataFrame
    load: dict[str, np.ndarray]  # kWh per 5 min
    pv_kwh: np.ndarray
    battery: dict[str, np.ndarray]
    price: np.ndarray
    period: np.ndarray
    panel_temp_c: np.ndarray
    carbon_g_kwh: np.ndarray
    ghi: np.ndarray  # [W/m2]
    temp_air: np.ndarray  # [degC]
    parts_kw: dict[str, np.ndarray]  # the reading's home-load parts (LOAD_PARTS) [kW]


class Gateway:
    """A simulated gateway.  ``point(t)`` gives the reading at ``t``.

    Parameters
    ----------
    config : dict
        A config as returned by :func:`validate_config` (validated here if not).
        A ``null`` seed draws a fresh one (kept in :attr:`seed`).
    """

    STEP_MIN = 5  # the underlying models run on 5-min intervals

    def __init__(self, config: dict | None = None):
        self.config = validate_config(config)
        c = self.config
        seed = c["seed"]
        self.seed: int = (
            int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
            if seed is None
            else int(seed)
        )
        sol = c["solar"]
        market = "nem" if sol["latitude"] < 0 else "nl"
        self.market = market
        self.site = Site(
            c["device_id"], sol["latitude"], sol["longitude"], 0.0, sol["timezone"], market
        )
        self.pv = PVSystem(
            sol["capacity_kw"], tilt_deg=sol["tilt_deg"], temp_coefficient=sol["temp_coefficient"]
        )
        b = c["battery"]
        self.battery = GatewayBattery(
            replace(
                LFP_HOME_BATTERY,
                capacity_kwh=b["capacity_kwh"],
                charge_kw=b["max_charge_rate_kw"],
                discharge_kw=b["max_discharge_rate_kw"],
                round_trip_efficiency=b["round_trip_efficiency"],
                initial_soc_fraction=b["initial_soc"] / 100.0,
                soc_min_fraction=b["min_soc"] / 100.0,
                soc_max_fraction=b["max_soc"] / 100.0,
            )
        )
        h = c["home_load"]
        base = HOUSEHOLDS[market]
        mean_kw = h["base_load_kw"] + 0.12 * (h["peak_load_kw"] - h["base_load_kw"])
        self.household = Household(
            annual_kwh=mean_kw * 8760.0,
            base_kw=h["base_load_kw"],
            has_ev=h["has_ev"],
            ev_charging_kw=h["ev_charging_kw"],
            hvac_capacity_kw=h["hvac_capacity_kw"],
            electric_heating=base.electric_heating,
            water_heater_kw=base.water_heater_kw,
            ev_in_annual=False,
        )
        self._days: dict[date, _Day] = {}

    # ------------------------------------------------------------------ days
    def _day_seed(self, d: date) -> int:
        return int(np.random.SeedSequence([self.seed, d.toordinal()]).generate_state(1)[0])

    def day(self, d: date) -> _Day:
        """The generated local day ``d`` (cached); battery state chains from day ``d - 1`` if known."""
        if d in self._days:
            return self._days[d]
        tz = self.site.timezone
        start = pd.Timestamp(d, tz=tz)
        end = pd.Timestamp(d + timedelta(days=1), tz=tz)
        seed = self._day_seed(d)
        rd = generate_range(
            self.site, start, end, self.STEP_MIN, seed, household=self.household, pv_system=self.pv
        )
        load = dict(rd.load)
        peak = self.config["home_load"]["peak_load_kw"]
        non_ev_kw = (load["total_kwh"] - load["ev_charging_kwh"]) * 60 / self.STEP_MIN
        factor = np.where(non_ev_kw > peak, peak / np.maximum(non_ev_kw, 1e-12), 1.0)
        for ch in CHANNELS:
            if ch != "ev_charging":
                load[f"{ch}_kwh"] = load[f"{ch}_kwh"] * factor
        load["total_kwh"] = sum(load[f"{ch}_kwh"] for ch in CHANNELS)
        prev = self._days.get(d - timedelta(days=1))
        if prev is not None:
            state = {
                "initial_soc": prev.battery["soc_pct"][-1] / 100.0,
                "initial_soh_pct": prev.battery["soh_pct"][-1],
                "initial_cycles": prev.battery["cycles_count"][-1],
            }
        else:
            state = {}
        temp_air = rd.weather["temp_air"].to_numpy()
        ghi = rd.weather["ghi"].to_numpy()
        bat = self.battery.simulate(rd.pv_kwh, load["total_kwh"], temp_air, self.STEP_MIN, **state)
        hour = np.asarray(rd.index.hour + rd.index.minute / 60.0, dtype=float)
        period = network_period(hour)
        gp = self.config["grid_price"]
        tou = np.select(
            [period == "peak", period == "shoulder"],
            [gp["peak_price"], gp["shoulder_price"]],
            gp["off_peak_price"],
        )
        noise = ar1(rng_stream(seed, 51), len(hour), float(np.exp(-self.STEP_MIN / 60.0)))
        relative = np.exp(gp["volatility"] * noise - 0.5 * gp["volatility"] ** 2)
        price = tou * relative
        # a wholesale proxy for the carbon model: 80 /MWh moved by the same noise
        carbon = carbon_intensity(self.market, ghi, 80.0 * relative, self.STEP_MIN, seed) * 1000.0
        panel = faiman(ghi, temp_air, rd.weather["wind_speed"].to_numpy())
        day = _Day(
            start,
            rd.index.as_unit("ns"),
            rd.weather,
            load,
            rd.pv_kwh,
            bat,
            price,
            period,
            np.asarray(panel, dtype=float),
            carbon,
            ghi,
            temp_air,
            {
                name: sum(load[f"{ch}_kwh"] for ch in channels) * (60.0 / self.STEP_MIN)
                for name, channels in LOAD_PARTS.items()
            },
        )
        self._days[d] = day
        return day

    # ------------------------------------------------------------------ points
    def _utc(self, t: datetime | pd.Timestamp | str) -> pd.Timestamp:
        ts = pd.Timestamp(t)
        ts = ts.tz_localize(self.site.timezone) if ts.tzinfo is None else ts
        return ts.tz_convert("UTC").as_unit("ns")

    def point(self, t: datetime | pd.Timestamp) -> dict:
        """The reading at time ``t`` (tz-aware; naive means the site's local time): the
        documented reading, JSON-ready (see the module docstring)."""
        ts = self._utc(t)
        local = ts.tz_convert(self.site.timezone)
        day = self.day(local.date())
        i = max(int(day.index.searchsorted(local, side="right")) - 1, 0)
        to_kw = 60.0 / self.STEP_MIN
        c = self.config
        sol, gp = c["solar"], c["grid_price"]
        parts = {name: _r(kw[i], 4) for name, kw in day.parts_kw.items()}
        solar_kw = _r(day.pv_kwh[i] * to_kw, 4)
        load_kw = _r(sum(parts.values()), 4)
        bat_kw = _r(day.battery["power_kw"][i], 4)
        panel_c = float(day.panel_temp_c[i])
        efficiency = sol["panel_efficiency"] * (1.0 + sol["temp_coefficient"] * (panel_c - 25.0))
        return {
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "device_id": c["device_id"],
            "solar": {
                "generation_kw": solar_kw,
                "irradiance_w_m2": _r(day.ghi[i], 2),
                "panel_temp_celsius": _r(panel_c, 2),
                "efficiency_percent": _r(100.0 * efficiency, 3),
                "capacity_kw": float(sol["capacity_kw"]),
                "air_temp_celsius": _r(day.temp_air[i], 2),
            },
            "battery": {
                "soc_percent": _r(day.battery["soc_pct"][i], 3),
                "capacity_kwh": float(c["battery"]["capacity_kwh"]),
                "power_kw": bat_kw,
                "voltage_v": _r(day.battery["voltage_v"][i], 3),
                "temperature_celsius": _r(day.battery["temp_c"][i], 2),
                "cycles": int(day.battery["cycles_count"][i]),
                "health_percent": _r(day.battery["soh_pct"][i], 4),
            },
            "home_load": {"total_load_kw": load_kw, **parts},
            "grid_price": {
                "price_per_kwh": _r(day.price[i], 5),
                "feed_in_tariff": float(gp["base_feed_in_tariff"]),
                "demand_charge": float(gp["demand_charge"]),
                "time_of_use_period": str(day.period[i]),
                "carbon_intensity_g_kwh": _r(day.carbon_g_kwh[i], 1),
                "currency": gp["currency"],
            },
            "net_grid_flow_kw": _r(load_kw - solar_kw + bat_kw, 4),
            "interval_seconds": c["interval_seconds"],
        }

    def times(
        self, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
    ) -> pd.DatetimeIndex:
        """Reading times in ``[start, end)`` on the ``interval_seconds`` grid (UTC); naive
        times are the site's local time."""
        s, e = self._utc(start), self._utc(end)
        step = pd.Timedelta(seconds=self.config["interval_seconds"])
        first = s.ceil(step) if s != s.floor(step) else s
        return pd.date_range(first, e, freq=step, inclusive="left")

    def points(self, start, end) -> Iterator[dict]:
        """Readings over ``[start, end)`` in time order (days generated in order, so battery state chains)."""
        for t in self.times(start, end):
            yield self.point(t)

    # ------------------------------------------------------------------ store
    def frames(self, start, end) -> dict[str, tuple[pl.DataFrame, FrameMeta]]:
        """Canonical 5-min frames over the local days covering ``[start, end)``, cut to the range."""
        s, e = self._utc(start), self._utc(end)
        if s >= e:
            return {}
        tz = self.site.timezone
        d0, d1 = s.tz_convert(tz).date(), (e - pd.Timedelta(microseconds=1)).tz_convert(tz).date()
        days = [self.day(d0 + timedelta(days=k)) for k in range((d1 - d0).days + 1)]
        index = days[0].index.append([d.index for d in days[1:]])
        cat = lambda get: np.concatenate([get(d) for d in days])  # noqa: E731
        keep = (index >= s.floor("5min")) & (index < e)
        index = index[keep]
        cur = self.config["grid_price"]["currency"]
        name = self.config["device_id"]

        def meta(kind, channel="general", currency=None):
            return FrameMeta("simulated", kind, self.STEP_MIN, name, channel, currency, tz)

        load = {"total_kwh": cat(lambda d: d.load["total_kwh"])[keep]}
        load.update({f"{c}_kwh": cat(lambda d, c=c: d.load[f"{c}_kwh"])[keep] for c in CHANNELS})
        pv = cat(lambda d: d.pv_kwh)[keep]
        bat_kw = cat(lambda d: d.battery["power_kw"])[keep]
        net_kwh = load["total_kwh"] - pv + bat_kw * self.STEP_MIN / 60.0
        price = cat(lambda d: d.price)[keep]
        out = {
            "load": (_frame(index, load), meta("load")),
            "pv": (_frame(index, {"pv_kwh": pv}), meta("pv")),
            "weather": (
                _frame(
                    index,
                    {
                        v: cat(lambda d, k=k: d.weather[k].to_numpy())[keep]
                        for k, v in WEATHER_COLUMNS.items()
                    },
                ),
                meta("weather"),
            ),
            "battery": (
                _frame(
                    index,
                    {
                        k: cat(lambda d, k=k: d.battery[k])[keep]
                        for k in ("soc_pct", "soh_pct", "cycles_count", "voltage_v", "temp_c")
                    },
                ),
                meta("battery"),
            ),
            "grid": (
                _frame(
                    index,
                    {
                        "import_kwh": np.clip(net_kwh, 0, None),
                        "export_kwh": np.clip(-net_kwh, 0, None),
                        "net_grid_kwh": net_kwh,
                    },
                ),
                meta("grid"),
            ),
            "prices/general": (
                _frame(
                    index, {"price_per_kwh": price, "tariff_period": cat(lambda d: d.period)[keep]}
                ),
                meta("prices", currency=cur),
            ),
            "prices/feed_in": (
                _frame(
                    index,
                    {
                        "price_per_kwh": np.full(
                            len(index), -float(self.config["grid_price"]["base_feed_in_tariff"])
                        )
                    },
                ),
                meta("prices", "feed_in", cur),
            ),
        }
        return out


# ---------------------------------------------------------------------- modes
Sink = Callable[[dict], None]


def run_once(gateway: Gateway, sinks: list[Sink], at: datetime | None = None) -> dict:
    """Emit the reading at ``at`` (default: now, floored to the interval)."""
    t = gateway._utc(at if at is not None else datetime.now(UTC))
    p = gateway.point(t.floor(f"{gateway.config['interval_seconds']}s"))
    for sink in sinks:
        sink(p)
    return p


def run_continuous(
    gateway: Gateway,
    sinks: list[Sink],
    interval_s: float,
    count: int | None = None,
    *,
    scheduled: bool = False,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Emit a reading every ``interval_s`` seconds, ``count`` times (forever if None).

    ``scheduled=True`` aligns every reading to a clock boundary (a multiple of
    ``interval_s`` since the Unix epoch: 10:05:00, 10:10:00 ...); otherwise the
    first reading is immediate and later ones follow at ``interval_s`` spacing.
    """
    clock = clock or time.time
    sleep = sleep or time.sleep
    if interval_s <= 0:
        raise ValueError(f"--interval must be > 0 seconds, got {interval_s}")
    emitted = 0
    next_t = clock()
    if scheduled:
        next_t = math.ceil(next_t / interval_s) * interval_s
    while count is None or emitted < count:
        wait = next_t - clock()
        if wait > 0:
            sleep(wait)
        p = gateway.point(datetime.fromtimestamp(next_t, UTC))
        if scheduled:
            p["timestamp"] = datetime.fromtimestamp(next_t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for sink in sinks:
            sink(p)
        emitted += 1
        next_t += interval_s
    return emitted


def run_historical(
    gateway: Gateway,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    output: str | Path,
    *,
    store: Store | None = None,
    sinks: list[Sink] = (),
    progress: bool = False,
) -> int:
    """Write readings over ``[start, end)`` to a JSONL file (and ``sinks``), and canonical
    frames into ``store`` when given, so the simulated site reads like a real one.

    Returns the number of readings written.
    """
    times = gateway.times(start, end)
    if len(times) == 0:
        raise ValueError(f"no readings between {start} and {end}: --start must be before --end")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "w") as fh:
        for t in tqdm(times, desc="historical", unit="pt", disable=not progress):
            p = gateway.point(t)
            fh.write(json.dumps(p, separators=(",", ":")) + "\n")
            for sink in sinks:
                sink(p)
            n += 1
    for sink in sinks:
        flush = getattr(sink, "flush", None)  # batching sinks send what they hold
        if flush is not None:
            flush()
    if store is not None:
        for frame, meta in gateway.frames(start, end).values():
            store.upsert(frame, meta)
    return n
