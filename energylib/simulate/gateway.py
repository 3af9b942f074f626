"""The edge-gateway DER simulator: a JSON config in, JSON points out.

A gateway reports, every ``interval_seconds``, its solar, battery, home-load and
grid-price readings and the net grid flow.  The readings come from the same models
as the default year (pvlib weather and PV, the household load model, the battery
model); each local day is generated from ``(seed, day)``, so a reading at a given
time is the same whichever mode asked for it, and the battery state chains from
one day to the next.

Config: every field optional (:data:`DEFAULT_CONFIG` fills the rest); an unknown
key or an out-of-range value raises :class:`GatewayConfigError` naming the key.

=================  ==========================================================================
block              fields
=================  ==========================================================================
(top level)        ``device_id`` (the store's site), ``interval_seconds``, ``seed``
``solar``          ``capacity_kw`` [kWdc], ``latitude``/``longitude`` [deg] (the sign of the
                   latitude picks the climate: south Sydney-like, north Amsterdam-like),
                   ``timezone``, ``tilt_deg``, ``panel_efficiency`` [0-1] (reported panel
                   area only: PVWatts needs no efficiency), ``temp_coefficient`` [1/degC]
``battery``        ``capacity_kwh``, ``max_charge_kw``, ``max_discharge_kw``,
                   ``round_trip_efficiency``, ``initial_soc``, ``min_soc``, ``max_soc`` [0-1]
``home_load``      ``base_kw`` (always-on), ``peak_kw`` (cap on the non-EV load; the mean load
                   is base + 12 % of the span), ``has_ev``, ``ev_charging_kw``,
                   ``hvac_capacity_kw`` [kW electrical]
``grid_price``     ``off_peak``/``shoulder``/``peak`` [currency/kWh] (peak 16-21 h, shoulder
                   07-16 and 21-22 h), ``feed_in`` [currency/kWh paid], ``demand_charge``
                   [currency/kW/month, reported], ``volatility`` (sd of log price noise),
                   ``currency``
=================  ==========================================================================

Each day starts the battery at ``initial_soc`` unless the previous day was generated
first (``points``/historical runs go in time order, so the state chains).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from tqdm.auto import tqdm

from energylib.schema import FrameMeta
from energylib.simulate.battery import LFP_HOME_BATTERY, GatewayBattery
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
        "max_charge_kw": 5.0,
        "max_discharge_kw": 5.0,
        "round_trip_efficiency": 0.90,
        "initial_soc": 0.5,
        "min_soc": 0.1,
        "max_soc": 1.0,
    },
    "home_load": {
        "base_kw": 0.3,
        "peak_kw": 5.0,
        "has_ev": True,
        "ev_charging_kw": 7.0,
        "hvac_capacity_kw": 2.5,
    },
    "grid_price": {
        "off_peak": 0.18,
        "shoulder": 0.27,
        "peak": 0.45,
        "feed_in": 0.05,
        "demand_charge": 0.0,
        "volatility": 0.10,
        "currency": "AUD",
    },
}

# (min, max) per numeric key; None = unbounded on that side.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "interval_seconds": (1, 86_400),
    "seed": (0, None),
    "solar.capacity_kw": (0, 1_000),
    "solar.latitude": (-90, 90),
    "solar.longitude": (-180, 180),
    "solar.tilt_deg": (0, 90),
    "solar.panel_efficiency": (0.01, 1),
    "solar.temp_coefficient": (-0.02, 0),
    "battery.capacity_kwh": (0, 10_000),
    "battery.max_charge_kw": (0, None),
    "battery.max_discharge_kw": (0, None),
    "battery.round_trip_efficiency": (0.01, 1),
    "battery.initial_soc": (0, 1),
    "battery.min_soc": (0, 1),
    "battery.max_soc": (0, 1),
    "home_load.base_kw": (0, None),
    "home_load.peak_kw": (0, None),
    "home_load.ev_charging_kw": (0, None),
    "home_load.hvac_capacity_kw": (0, None),
    "grid_price.off_peak": (None, None),
    "grid_price.shoulder": (None, None),
    "grid_price.peak": (None, None),
    "grid_price.feed_in": (None, None),
    "grid_price.demand_charge": (0, None),
    "grid_price.volatility": (0, 5),
}


def _r(x: float, digits: int) -> float:
    """Round for JSON output, without a negative zero."""
    return round(float(x), digits) + 0.0


class GatewayConfigError(ValueError):
    """A gateway config is invalid; the message names the key and what to do."""


def _merge(defaults: dict, given: dict, path: str = "") -> dict:
    if not isinstance(given, dict):
        raise GatewayConfigError(
            f"config{' key ' + repr(path) if path else ''} must be a JSON object, got {type(given).__name__}"
        )
    out = dict(defaults)
    for key, value in given.items():
        full = f"{path}.{key}" if path else key
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


def _check_types(cfg: dict, defaults: dict, path: str = "") -> None:
    for key, default in defaults.items():
        full = f"{path}.{key}" if path else key
        value = cfg[key]
        if isinstance(default, dict):
            _check_types(value, default, full)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise GatewayConfigError(
                    f"config key {full!r} must be true or false, got {value!r}"
                )
        elif isinstance(default, (int, float)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise GatewayConfigError(f"config key {full!r} must be a number, got {value!r}")
            lo, hi = _RANGES.get(full, (None, None))
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise GatewayConfigError(
                    f"config key {full!r} = {value!r} is out of range [{'-inf' if lo is None else lo}, "
                    f"{'inf' if hi is None else hi}]"
                )
            if isinstance(default, int) and not isinstance(value, int):
                raise GatewayConfigError(
                    f"config key {full!r} must be a whole number, got {value!r}"
                )
        elif isinstance(default, str) and (not isinstance(value, str) or not value):
            raise GatewayConfigError(
                f"config key {full!r} must be a non-empty string, got {value!r}"
            )


def validate_config(given: dict | None = None) -> dict:
    """Fill ``given`` with defaults and check it.

    Raises
    ------
    GatewayConfigError
        Naming the key: unknown keys, wrong types, out-of-range values, ``battery.min_soc``
        not below ``battery.max_soc``, no ``battery.capacity_kwh``, ``battery.initial_soc``
        outside the window, ``home_load.peak_kw``
        below ``home_load.base_kw``, an unknown ``solar.timezone``.
    """
    cfg = _merge(DEFAULT_CONFIG, given or {})
    _check_types(cfg, DEFAULT_CONFIG)
    b = cfg["battery"]
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
            f"config key 'battery.initial_soc' ({b['initial_soc']}) must lie within [battery.min_soc, battery.max_soc]"
        )
    h = cfg["home_load"]
    if h["peak_kw"] < h["base_kw"]:
        raise GatewayConfigError(
            f"config key 'home_load.peak_kw' ({h['peak_kw']}) is below 'home_load.base_kw' ({h['base_kw']})"
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


def load_config(path: str | Path | None) -> dict:
    """Read and validate a JSON config file (``None``: the defaults)."""
    if path is None:
        return validate_config({})
    p = Path(path)
    try:
        given = json.loads(p.read_text())
    except FileNotFoundError:
        raise GatewayConfigError(
            f"config file {str(p)!r} not found; create one with --generate-config"
        ) from None
    except json.JSONDecodeError as exc:
        raise GatewayConfigError(f"config file {str(p)!r} is not valid JSON: {exc}") from None
    return validate_config(given)


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


class Gateway:
    """A simulated gateway.  ``point(t)`` gives the reading at ``t``.

    Parameters
    ----------
    config : dict
        A config as returned by :func:`validate_config` (validated here if not).
    """

    STEP_MIN = 5  # the underlying models run on 5-min intervals

    def __init__(self, config: dict | None = None):
        self.config = validate_config(config or {})
        c = self.config
        sol = c["solar"]
        market = "nem" if sol["latitude"] < 0 else "nl"
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
                charge_kw=b["max_charge_kw"],
                discharge_kw=b["max_discharge_kw"],
                round_trip_efficiency=b["round_trip_efficiency"],
                initial_soc_fraction=b["initial_soc"],
                soc_min_fraction=b["min_soc"],
                soc_max_fraction=b["max_soc"],
            )
        )
        h = c["home_load"]
        base = HOUSEHOLDS[market]
        mean_kw = h["base_kw"] + 0.12 * (h["peak_kw"] - h["base_kw"])
        self.household = Household(
            annual_kwh=mean_kw * 8760.0,
            base_kw=h["base_kw"],
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
        return int(
            np.random.SeedSequence([int(self.config["seed"]), d.toordinal()]).generate_state(1)[0]
        )

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
        peak = self.config["home_load"]["peak_kw"]
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
        bat = self.battery.simulate(
            rd.pv_kwh, load["total_kwh"], rd.weather["temp_air"].to_numpy(), self.STEP_MIN, **state
        )
        hour = np.asarray(rd.index.hour + rd.index.minute / 60.0, dtype=float)
        period = network_period(hour)
        gp = self.config["grid_price"]
        tou = np.select(
            [period == "peak", period == "shoulder"], [gp["peak"], gp["shoulder"]], gp["off_peak"]
        )
        noise = ar1(rng_stream(seed, 51), len(hour), float(np.exp(-self.STEP_MIN / 60.0)))
        price = tou * np.exp(gp["volatility"] * noise - 0.5 * gp["volatility"] ** 2)
        day = _Day(start, rd.index.as_unit("ns"), rd.weather, load, rd.pv_kwh, bat, price, period)
        self._days[d] = day
        return day

    # ------------------------------------------------------------------ points
    def _utc(self, t: datetime | pd.Timestamp | str) -> pd.Timestamp:
        ts = pd.Timestamp(t)
        ts = ts.tz_localize(self.site.timezone) if ts.tzinfo is None else ts
        return ts.tz_convert("UTC").as_unit("ns")

    def point(self, t: datetime | pd.Timestamp) -> dict:
        """The reading at time ``t`` (tz-aware; naive means the site's local time) as a JSON-ready dict."""
        ts = self._utc(t)
        local = ts.tz_convert(self.site.timezone)
        day = self.day(local.date())
        i = max(int(day.index.searchsorted(local, side="right")) - 1, 0)
        to_kw = 60.0 / self.STEP_MIN
        c = self.config
        secs = c["interval_seconds"]
        solar_kw = float(day.pv_kwh[i] * to_kw)
        load_kw = float(day.load["total_kwh"][i] * to_kw)
        bat_kw = float(day.battery["power_kw"][i])
        net_kw = load_kw - solar_kw + bat_kw
        h = secs / 3600.0
        gp = c["grid_price"]
        eff = c["solar"]["panel_efficiency"]
        return {
            "device_id": c["device_id"],
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "interval_seconds": secs,
            "solar": {
                "power_kw": _r(solar_kw, 4),
                "energy_kwh": _r(solar_kw * h, 5),
                "irradiance_w_m2": _r(float(day.weather["ghi"].iloc[i]), 2),
                "temp_air_c": _r(float(day.weather["temp_air"].iloc[i]), 2),
                "capacity_kw": float(c["solar"]["capacity_kw"]),
                "panel_area_m2": _r(c["solar"]["capacity_kw"] / eff, 2),
            },
            "battery": {
                "power_kw": _r(bat_kw, 4),
                "soc_pct": _r(float(day.battery["soc_pct"][i]), 3),
                "soh_pct": _r(float(day.battery["soh_pct"][i]), 4),
                "cycles_count": _r(float(day.battery["cycles_count"][i]), 4),
                "voltage_v": _r(float(day.battery["voltage_v"][i]), 3),
                "temp_c": _r(float(day.battery["temp_c"][i]), 2),
                "capacity_kwh": float(c["battery"]["capacity_kwh"]),
            },
            "home_load": {
                "power_kw": _r(load_kw, 4),
                "energy_kwh": _r(load_kw * h, 5),
                "ev_charging_kw": _r(float(day.load["ev_charging_kwh"][i] * to_kw), 4),
                "hvac_kw": _r(float(day.load["air_conditioning_kwh"][i] * to_kw), 4),
                "base_kw": _r(float(day.load["base_kwh"][i] * to_kw), 4),
            },
            "grid_price": {
                "price_per_kwh": _r(float(day.price[i]), 5),
                "feed_in_per_kwh": float(gp["feed_in"]),
                "period": str(day.period[i]),
                "demand_charge_per_kw": float(gp["demand_charge"]),
                "currency": gp["currency"],
            },
            "grid": {
                "net_power_kw": _r(net_kw, 4),
                "import_kw": _r(max(net_kw, 0.0), 4),
                "export_kw": _r(max(-net_kw, 0.0), 4),
                "net_energy_kwh": _r(net_kw * h, 5),
            },
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
                            len(index), -float(self.config["grid_price"]["feed_in"])
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
    if store is not None:
        for frame, meta in gateway.frames(start, end).values():
            store.upsert(frame, meta)
    return n
