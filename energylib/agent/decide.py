"""One decision: state from the live cache -> forecaster -> dispatch policy -> set-points.

:class:`Decider` builds the state at ``now`` from the live cache (a
:class:`~energylib.store.SqliteStore`: prices with their forecasts, usage, weather, read
like any store and put on the decision's grid by :func:`energylib.align.values_at`) and
the actuator (battery SoC, EV plugged
in), forecasts price and load over the horizon, prices them through the settings' tariff
(:mod:`energylib.tariff`, as a study bills them: on ENTSO-E, spot + margin + tax + VAT), and
asks the *same* dispatch code the studies use
(:func:`energylib.dispatch.rules.dispatch_rules` with the configured
:class:`~energylib.dispatch.rules.ForecastPolicy` / ``PriceThreshold`` /
``SelfConsumption``, or :class:`~energylib.dispatch.mpc.MPCController` for ``mpc``) what to
do over the horizon on a 5-minute grid; the first interval's battery and EV energy become
the set-points (kWh per 5 min x 12 = kW).

``mpc`` (model-predictive control) re-plans once per 5-minute interval, and again when a
collector has stored new data: the optimum's LP over the horizon, warm-started from the
previous plan, from the battery's state of charge, on this decision's price and load
forecasts; a plan that changes the battery's mode replaces carrying on only when it is
cheaper by more than ``switch_threshold``.  The decisions in between carry the plan on.
Each decision logs the plan (``forecast["plan"]``: horizon, expected cost, the cost of the
alternative it weighed, whether it re-planned, why the mode changed or held).  HiGHS loads
only when ``mpc`` is the policy.

Where the numbers come from, per 5-minute interval of the horizon (first source that has it):

* **price**: the market's own price or forecast in the cache (Amber's current and
  forecast intervals, ENTSO-E's day-ahead) -> the forecaster's price forecast ->
  yesterday's price at the same time -> the latest known price;
* **load**: the forecaster's consumption forecast -> yesterday's metered usage at the
  same time -> the recent mean usage -> ``typical_load_kw``;
* **PV** (with ``pv_kw`` > 0): the site's PV system through the library's PV model
  (:func:`energylib.solar.pv_forecast_kwh`) on the collected weather's global irradiance
  and air temperature (Open-Meteo's forecast, or pvlib's clear sky), the clear-sky
  irradiance where the cache has none.  Computed once per 5-minute interval and data
  version; pvlib loads only for an agent with PV.

The forecaster (the exported model in use, :class:`~energylib.agent.models.ModelWatcher`)
reads the latest complete half-hours of price, usage and weather; when that history
is incomplete or the model fails, the decision says so and uses the fallbacks.  Its
forecast is cached per (model version, anchor half-hour, data version), because the
same inputs give the same forecast; ``use_cache=False`` recomputes it every time.

Safety: when the newest price data is older than ``stale_after_min`` (the price API
has been down that long) or there is no price for the current interval, the decision
is a **safe hold** (battery 0 kW, EV 0 kW) with the reason logged, whatever the policy
would say.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from energylib.agent.actuator import Actuator, DeviceState
from energylib.agent.collect import WEATHER_SOURCES, load_collector_state
from energylib.agent.config import AgentSettings
from energylib.agent.decision_log import Decision
from energylib.align import values_at
from energylib.dates import epoch_us, from_epoch_us
from energylib.dispatch import policies
from energylib.dispatch.rules import dispatch_rules, policy_thresholds
from energylib.forecast.features import history_window
from energylib.schema import TIME
from energylib.store import SqliteStore
from energylib.tariff import Calendar, MarketPrices

log = logging.getLogger(__name__)

STEP_MIN = 5
STEP_US = STEP_MIN * 60 * 1_000_000
STEPS_PER_HOUR = 60 // STEP_MIN
DAY_US = 86_400 * 1_000_000
HALF_HOUR_US = 30 * 60_000_000
#: How much further than a decision needs a read reaches, for the next decisions to reuse.
READ_AHEAD_US = 3_600_000_000


@dataclass(frozen=True)
class Market:
    """Where a market's prices live in the cache.

    ``price_column`` is the import price [currency/kWh]; ``feed_in_channel`` (None where the
    market has none) holds Amber's feed-in price (negative = a credit).
    """

    source: str
    site: str
    channel: str
    price_column: str
    feed_in_channel: str | None
    currency: str
    freshness_collector: str = "prices"

    @classmethod
    def from_settings(cls, s: AgentSettings) -> Market:
        if s.market == "amber":
            return cls("amber", s.site.name, "general", "price_per_kwh", "feed_in", "AUD")
        # Slow, and only for this market: entsoe-py and pandas stay out of an Amber agent.
        from energylib.ingest.entsoe import DAY_AHEAD, zone_area

        return cls(
            "entsoe",
            zone_area(s.entsoe_zone).name,
            DAY_AHEAD,
            "spot_per_kwh",
            None,
            "EUR",
            freshness_collector="day_ahead",
        )


@dataclass(frozen=True)
class Series:
    """One series read from the live cache for a decision: the frame and its interval length."""

    data: pl.DataFrame
    interval_minutes: int

    def at(
        self, column: str, *times_us: np.ndarray, step_minutes: int | None = None
    ) -> list[np.ndarray]:
        """``column`` at each instant of each array (:func:`energylib.align.values_at`, once)."""
        times = np.concatenate(times_us) if len(times_us) > 1 else times_us[0]
        values = values_at(
            self.data, self.interval_minutes, times, [column], step_minutes=step_minutes
        )[column]
        if len(times_us) == 1:
            return [values]
        return np.split(values, np.cumsum([t.size for t in times_us])[:-1])


def read_series(
    store: SqliteStore,
    source: str,
    kind: str,
    start_us: int,
    end_us: int,
    columns: list[str],
    *,
    site: str,
    channel: str | None = None,
) -> Series | None:
    """The rows of one series in ``[start, end)`` at its finest stored resolution (None: none)."""
    try:
        data, meta = store.read(
            source,
            kind,
            from_epoch_us(start_us),
            from_epoch_us(end_us),
            site=site,
            channel=channel,
            resample_to="finest",
            # a coarser interval's energy is spread evenly over the finest one, as the
            # decision spreads it over its 5-min steps
            energy_method="uniform",
            columns=columns,
        )
    except LookupError:
        return None
    return Series(data, meta.interval_minutes)


@dataclass
class State:
    """What a decision sees (prices [currency/kWh], energy [kWh per 5 min])."""

    now: datetime
    grid_us: np.ndarray
    price: np.ndarray
    price_source: np.ndarray  # 0 market, 1 model, 2 yesterday, 3 last known
    feed_in_credit: np.ndarray
    import_per_kwh: np.ndarray  # the market's prices through the tariff
    export_credit_per_kwh: np.ndarray
    load_kwh: np.ndarray
    load_source: str
    pv_kwh: np.ndarray
    pv_source: str
    descriptor: str | None
    data_age_s: float | None
    stale_reason: str | None
    device: DeviceState
    model_version: str
    forecast_note: str


@dataclass
class Decider:
    """Builds the state and decides.  See the module docstring.

    Parameters
    ----------
    settings : AgentSettings
    store : SqliteStore
        The live cache.
    actuator : Actuator
    models : ModelWatcher or None
        Source of the forecaster in use (None: fallbacks only).
    typical_load_kw : float
        Load assumed where no usage has been metered yet [kW].
    use_cache : bool
        Reuse a forecast for unchanged inputs.
    """

    settings: AgentSettings
    store: SqliteStore
    actuator: Actuator
    models: Any = None
    typical_load_kw: float = 0.8
    use_cache: bool = True
    market: Market | None = None
    _fc_key: tuple | None = None
    _fc_val: tuple | None = None
    _reads: dict[tuple, tuple] = field(default_factory=dict)
    _data_version: tuple = ()
    forecast_errors: int = 0
    last_forecast_error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: The mpc policy's controllers (without and with the EV plugged in), the battery's mode
    #: the last decision set, and the last plan's key and outcome.
    _controllers: dict[bool, Any] = field(default_factory=dict)
    _mode_now: str | None = None
    _plan_key: tuple | None = None
    _plan_out: tuple | None = None
    last_plan: dict[str, Any] | None = None
    #: PV output by (first step, steps, data version), and the PV system (built on first use).
    _pv_cache: dict[tuple, tuple[np.ndarray, int]] = field(default_factory=dict)
    _pv_system: Any = None

    def __post_init__(self) -> None:
        if self.market is None:
            self.market = Market.from_settings(self.settings)

    # ----------------------------------------------------------------- state
    def health(self) -> dict[str, tuple[datetime | None, int, int]]:
        """``{collector: (last success (UTC) or None, successes, failures)}`` from the
        collectors' saved state."""
        states = load_collector_state(self.store) or {}
        return {
            n: (st.last_success, st.successes_total, st.fetch_errors_total)
            for n, st in states.items()
        }

    def data_age_s(self, now: datetime, health: dict | None = None) -> float | None:
        """Seconds since the market's collector last succeeded (None: never); ``health`` is
        :meth:`health` when the caller has it already."""
        if health is None:
            health = self.health()
        last = health.get(self.market.freshness_collector, (None, 0))[0]
        return None if last is None else (now - last).total_seconds()

    def _read(
        self, kind: str, start_us: int, end_us: int, columns: list[str], **where: Any
    ) -> Series | None:
        """One series over ``[start, end)``, reused from an earlier decision while no
        collector has run since (the collectors are the live cache's only writers) and that
        read covers the range; a read reaches :data:`READ_AHEAD_US` further, for the next
        minutes' decisions."""
        if not self.use_cache:
            return read_series(
                self.store, kind=kind, start_us=start_us, end_us=end_us, columns=columns, **where
            )
        key = (kind, tuple(columns), tuple(sorted(where.items())))
        cached = self._reads.get(key)
        if cached is not None:
            version, lo, hi, series = cached
            if version == self._data_version and lo <= start_us and end_us <= hi:
                return series
        hi = end_us + READ_AHEAD_US
        series = read_series(
            self.store, kind=kind, start_us=start_us, end_us=hi, columns=columns, **where
        )
        self._reads[key] = (self._data_version, start_us, hi, series)
        return series

    def build_state(self, now: datetime) -> State:
        s, m = self.settings, self.market
        n = int(round(s.horizon_hours * STEPS_PER_HOUR))
        t0 = (epoch_us(now) // STEP_US) * STEP_US
        grid = t0 + np.arange(n, dtype=np.int64) * STEP_US
        health = self.health()  # one read: data age, the forecast's and the reads' cache keys
        # Collectors are the only writers: while none has run, the cache holds what it held.
        self._data_version = tuple(sorted((k, v[1], v[2]) for k, v in health.items()))
        # Where the forecaster will run, the price and usage reads reach back far enough for
        # its history too: one read of each series per decision.
        history_start = self._history_start(health, t0)
        back = t0 - DAY_US - 3_600_000_000
        prices = self._read(
            "prices",
            back if history_start is None else min(back, history_start),
            t0 + n * STEP_US,
            [m.price_column, "descriptor"],
            source=m.source,
            site=m.site,
            channel=m.channel,
        )
        nothing = np.full(n, np.nan)
        if prices:
            price, yesterday = prices.at(m.price_column, grid, grid - DAY_US)
            descriptor = prices.at("descriptor", grid[:1])[0][0]
        else:
            price, yesterday, descriptor = nothing.copy(), nothing.copy(), None
        if isinstance(descriptor, float):  # a frame without descriptors
            descriptor = None
        source = np.where(np.isfinite(price), 0, -1)
        if m.feed_in_channel:
            fi = self._read(
                "prices",
                t0 - DAY_US,
                t0 + n * STEP_US,
                [m.price_column],
                source=m.source,
                site=m.site,
                channel=m.feed_in_channel,
            )
            # Amber bills feed-in negative when exporting earns: the credit is minus the price.
            # Past the published forecast, yesterday's credit at the same time, as for prices.
            credit, credit_y = (
                (-v for v in fi.at(m.price_column, grid, grid - DAY_US))
                if fi
                else (nothing.copy(), nothing.copy())
            )
            credit = np.where(np.isfinite(credit), credit, credit_y)
            credit = np.where(np.isfinite(credit), credit, 0.0)
        else:
            credit = np.where(
                np.isfinite(price), price, 0.0
            )  # day-ahead: export earns the spot price

        usage = None
        if history_start is not None:
            usage = self._read(
                "usage",
                min(t0 - 2 * DAY_US, history_start),
                t0 + n * STEP_US,
                ["energy_kwh"],
                source=m.source,
                site=m.site,
                channel="general",
            )
        device = self.actuator.read_state(now)
        model_price, model_load, version, note = self._forecast(health, t0, grid, prices, usage)
        fill = ~np.isfinite(price) & np.isfinite(model_price)
        price[fill], source[fill] = model_price[fill], 1
        fill = ~np.isfinite(price) & np.isfinite(yesterday)
        price[fill], source[fill] = yesterday[fill], 2
        if (~np.isfinite(price)).any() and np.isfinite(price).any():
            last = price[np.isfinite(price)][-1]
            fill = ~np.isfinite(price)
            price[fill], source[fill] = last, 3

        if np.isfinite(model_load).all():
            load, load_source = model_load, f"forecaster {version}"
        else:
            if history_start is None:  # read only where the forecaster leaves load to fill
                usage = self._read(
                    "usage",
                    t0 - 2 * DAY_US,
                    t0 + n * STEP_US,
                    ["energy_kwh"],
                    source=m.source,
                    site=m.site,
                    channel="general",
                )
            load_y = (
                usage.at("energy_kwh", grid - DAY_US, step_minutes=STEP_MIN)[0]
                if usage
                else nothing.copy()
            )
            metered = np.zeros(0)
            if usage and "energy_kwh" in usage.data.columns:
                starts = usage.data[TIME].to_numpy().astype("datetime64[us]").view(np.int64)
                # the last two days' usage up to the horizon's end (a read may reach further)
                recent_days = (starts >= t0 - 2 * DAY_US) & (starts < t0 + n * STEP_US)
                metered = usage.data["energy_kwh"].to_numpy().astype(float)[recent_days]
            # The meter saw the grid import: add back the PV the home used itself.
            self_used = (
                self._self_used_pv(t0, grid) if s.pv_kw > 0 and np.isfinite(load_y).any() else None
            )
            if self_used is not None:
                load_y = load_y + self_used
            load = model_load.copy()
            fill = ~np.isfinite(load) & np.isfinite(load_y)
            load[fill] = load_y[fill]
            if np.isfinite(metered).any():
                recent = metered * (STEP_MIN / usage.interval_minutes)
                mean = float(np.nanmean(recent[-288:]))
                load_source = (
                    "forecaster + yesterday's usage"
                    if np.isfinite(model_load).any()
                    else "yesterday's usage"
                ) + (" + its self-used PV (modelled)" if self_used is not None else "")
            else:
                mean = self.typical_load_kw / STEPS_PER_HOUR
                load_source = f"typical load {self.typical_load_kw:g} kW (no usage yet)"
            load[~np.isfinite(load)] = mean
            load = np.clip(load, 0.0, None)

        pv, pv_source = self._pv_forecast(t0, grid)
        import_price, export_credit = self._tariff_prices(grid, price, credit)
        age = self.data_age_s(now, health)
        stale = None
        if not np.isfinite(price[0]) or source[0] != 0:
            stale = "no market price for the current interval in the cache"
        elif age is None:
            stale = "no successful price collection recorded yet"
        elif age > s.stale_after_min * 60:
            stale = f"price data is {age / 60:.0f} min old (limit {s.stale_after_min:g} min)"
        return State(
            now,
            grid,
            price,
            source,
            credit,
            import_price,
            export_credit,
            load,
            load_source,
            pv,
            pv_source,
            descriptor,
            age,
            stale,
            device,
            version,
            note,
        )

    def _pv_forecast(self, t0: int, grid: np.ndarray) -> tuple[np.ndarray, str]:
        """The site's PV output over the grid [kWh per 5 min] and where it came from
        (zeros without PV)."""
        s = self.settings
        if s.pv_kw <= 0:
            return np.zeros(grid.size), "no PV"
        try:
            pv, clear = self._pv_on(grid)
        except Exception as exc:  # a PV model failure must not stop the decision
            log.exception("PV forecast failed; planning without PV")
            return np.zeros(grid.size), f"none (PV forecast failed: {type(exc).__name__}: {exc})"
        if clear == grid.size:
            source = f"{s.pv_kw:g} kWdc PV on clear sky (no {s.weather} weather cached)"
        elif clear:
            source = (
                f"{s.pv_kw:g} kWdc PV on {s.weather} weather, clear sky past it ({clear} steps)"
            )
        else:
            source = f"{s.pv_kw:g} kWdc PV on {s.weather} weather"
        return pv, source

    def _pv_on(self, grid: np.ndarray) -> tuple[np.ndarray, int]:
        """The PV system's output over ``grid`` [kWh per 5 min] on the cached weather, and the
        steps that took the clear sky; kept while the grid and the cached data stay the same
        (the horizon's and yesterday's)."""
        s = self.settings
        key = (int(grid[0]), grid.size, self._data_version)
        hit = self._pv_cache.get(key) if self.use_cache else None
        if hit is not None:
            return hit[0].copy(), hit[1]
        # Slow (pandas, pvlib, scipy), and only for an agent with PV; a day of steps runs
        # solar.py's kernels interpreted, so numba stays out.
        from energylib.solar import pv_forecast_kwh

        if self._pv_system is None:
            self._pv_system = s.pv_system()
        t0 = int(grid[0])
        weather = self._read(
            "weather",
            t0,
            t0 + grid.size * STEP_US,
            ["ghi_w_m2", "temp_air_c"],
            source=WEATHER_SOURCES[s.weather],
            site=self.market.site,
            channel="general",
        )
        ghi = temp = None
        if weather is not None and "ghi_w_m2" in weather.data.columns:
            ghi = weather.at("ghi_w_m2", grid)[0]
            if "temp_air_c" in weather.data.columns:
                temp = weather.at("temp_air_c", grid)[0]
        pv, clear = pv_forecast_kwh(s.site, self._pv_system, grid, STEP_MIN, ghi, temp)
        if len(self._pv_cache) >= 4:  # now's and yesterday's, of this and the last version
            self._pv_cache.pop(next(iter(self._pv_cache)))
        self._pv_cache[key] = (pv, clear)
        return pv.copy(), clear

    def _self_used_pv(self, t0: int, grid: np.ndarray) -> np.ndarray | None:
        """PV the home used itself a day before each step [kWh per 5 min]: the modelled
        output less the metered export; None where no export is metered (a meter without a
        feed-in channel: its usage is then taken as the home's consumption)."""
        m = self.market
        n = grid.size
        fi = None
        if m.feed_in_channel:
            fi = self._read(
                "usage",
                t0 - 2 * DAY_US,
                t0 + n * STEP_US,
                ["energy_kwh"],
                source=m.source,
                site=m.site,
                channel=m.feed_in_channel,
            )
        if fi is None:
            return None
        exported = fi.at("energy_kwh", grid - DAY_US, step_minutes=STEP_MIN)[0]
        if not np.isfinite(exported).any():
            return None
        try:
            pv = self._pv_on(grid - DAY_US)[0]
        except Exception:  # a PV model failure must not stop the decision: usage as it is
            log.exception("PV of yesterday failed; taking the metered usage as the load")
            return None
        return np.clip(pv - np.nan_to_num(exported), 0.0, None)

    def _tariff_prices(
        self, grid: np.ndarray, price: np.ndarray, credit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Import price and export credit over the grid through the settings' tariff, as a
        study prices them [currency/kWh]; NaN where the market price is missing (the
        decision is then a safe hold)."""
        s, m = self.settings, self.market
        if not np.isfinite(price).all():
            nan = np.full(grid.size, np.nan)
            return nan, nan.copy()
        cal = Calendar.from_utc(grid.astype("datetime64[us]"), s.site.timezone, STEP_MIN)
        if m.source == "amber":  # Amber's channels, its feed-in sign (negative: exporting earns)
            market = MarketPrices(general_per_kwh=price, feed_in_per_kwh=-credit)
        else:
            market = MarketPrices(spot_per_kwh=price)
        imp, exp = s.tariff.interval_prices(cal, market)
        return np.asarray(imp, dtype=float), np.asarray(exp, dtype=float)

    def _forecast_key(self, cur, health, t0: int) -> tuple:
        # The data version changes whenever a collector stores new data.
        anchor = (t0 // HALF_HOUR_US) * HALF_HOUR_US
        return cur.version, anchor, tuple(sorted((k, v[1]) for k, v in health.items()))

    def _history_start(self, health, t0: int) -> int | None:
        """Where the forecaster's history starts [us] when it runs for this decision; None
        when it does not (no model, or its forecast for these inputs is cached)."""
        cur = self.models.current if self.models is not None else None
        if cur is None:
            return None
        if self.use_cache and self._forecast_key(cur, health, t0) == self._fc_key:
            return None
        try:
            rows = cur.runner.spec.history_rows
        except Exception:  # an unusable model: _forecast says so and falls back
            return None
        end = (t0 // HALF_HOUR_US) * HALF_HOUR_US
        return end - (rows + 8) * HALF_HOUR_US  # slack for usage metered a few hours late

    def _forecast(
        self, health, t0, grid, prices: Series | None = None, usage: Series | None = None
    ) -> tuple[np.ndarray, np.ndarray, str, str]:
        """The forecaster's price and load on the grid; ``prices`` and ``usage`` are the
        decision's reads when they cover the history already."""
        nan = np.full(grid.size, np.nan)
        cur = self.models.current if self.models is not None else None
        if cur is None:
            return nan, nan.copy(), "none", "no model loaded"
        key = self._forecast_key(cur, health, t0)
        if self.use_cache and key == self._fc_key and self._fc_val is not None:
            return self._fc_val
        try:
            runner = cur.runner
            spec = runner.spec
            history = self.history(t0, spec, prices=prices, usage=usage)
            # ForecastRunner.predict() in two steps, keeping only the first (day) horizon
            # instead of building frames for every horizon.
            window, last = history_window(history, spec, runner.timezone)
            outs = runner.predict_array(window)
            hname, steps = spec.horizons[0]
            step_us = spec.interval_minutes * 60_000_000
            first = epoch_us(last) + step_us
            forecast = pl.DataFrame(
                {TIME: _utc(first + np.arange(steps, dtype=np.int64) * step_us)}
                | {
                    target: np.asarray(outs[f"{task}_{hname}"][0], dtype=float)
                    for task, target in zip(spec.tasks, spec.targets, strict=True)
                }
            )
            at = Series(forecast, spec.interval_minutes).at
            mp = at("price_per_kwh", grid)[0]
            ml = np.clip(at("total_kwh", grid, step_minutes=STEP_MIN)[0], 0.0, None)
            val = (
                mp,
                ml,
                cur.version,
                f"forecaster {cur.version} anchored {from_epoch_us(first).isoformat()}",
            )
        except Exception as exc:  # an unusable history or model must not stop the decision
            self.forecast_errors += 1
            self.last_forecast_error = f"{type(exc).__name__}: {exc}"
            msg = str(exc).splitlines()[0][:200]
            val = (
                nan,
                nan.copy(),
                f"none (forecaster {cur.version} failed)",
                f"forecaster failed: {msg}",
            )
        self._fc_key, self._fc_val = key, val
        return val

    def history(
        self, t0: int, spec, *, prices: Series | None = None, usage: Series | None = None
    ) -> pl.DataFrame:
        """The latest complete half-hours of price, usage and weather as a canonical 30-min frame.

        ``prices`` and ``usage``: series already read over the history's span (read here
        otherwise)."""
        m = self.market
        end = (t0 // HALF_HOUR_US) * HALF_HOUR_US
        start = end - (spec.history_rows + 8) * HALF_HOUR_US  # slack for usage metered late
        grid = start + np.arange((end - start) // HALF_HOUR_US, dtype=np.int64) * HALF_HOUR_US
        # Each half-hour is the mean (power, price, weather) or sum (energy) of its six
        # 5-min steps: a half-hour missing any of them stays missing.
        sub = (grid[:, None] + np.arange(6, dtype=np.int64)[None, :] * STEP_US).reshape(-1)
        cols: dict[str, Any] = {TIME: grid}
        if prices is None:
            prices = self._read(
                "prices",
                start,
                end,
                [m.price_column],
                source=m.source,
                site=m.site,
                channel=m.channel,
            )
        p = prices.at(m.price_column, sub)[0] if prices else np.full(sub.size, np.nan)
        cols["price_per_kwh"] = p.reshape(-1, 6).mean(axis=1)
        if usage is None:
            usage = self._read(
                "usage", start, end, ["energy_kwh"], source=m.source, site=m.site, channel="general"
            )
        e = (
            usage.at("energy_kwh", sub, step_minutes=STEP_MIN)[0]
            if usage
            else np.full(sub.size, np.nan)
        )
        cols["total_kwh"] = e.reshape(-1, 6).sum(axis=1)
        weather = self._read(
            "weather",
            start,
            end,
            ["ghi_w_m2", "temp_air_c"],
            source=WEATHER_SOURCES[self.settings.weather],
            site=m.site,
            channel="general",
        )
        for c in ("ghi_w_m2", "temp_air_c"):
            if weather is not None and c in weather.data.columns:
                cols[c] = weather.at(c, sub)[0].reshape(-1, 6).mean(axis=1)
        # Up to the latest complete half-hour (usage is often metered late); a gap inside the
        # window stays NaN for history_window to report, not dropped (that would shift the lags).
        values = np.column_stack([v for k, v in cols.items() if k != TIME])
        complete = np.flatnonzero(np.isfinite(values).all(axis=1))
        n = int(complete[-1]) + 1 if complete.size else 0
        return pl.DataFrame({k: _utc(v[:n]) if k == TIME else v[:n] for k, v in cols.items()})

    # ----------------------------------------------------------------- decision
    def decide(self, now: datetime) -> Decision:
        """Decide for the slot ``now``; never raises (an internal error becomes a safe hold).

        The cyclic garbage collector waits until the decision is made: a decision's
        temporaries die within it, and a collection in its middle would only promote them,
        bringing on the full collections (100 ms and more with the model loaded) that
        otherwise land in later decisions.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._decide(now)
        finally:
            if collecting:
                gc.enable()

    def _decide(self, now: datetime) -> Decision:
        t_start = time.perf_counter()
        try:
            state = self.build_state(now)
        except Exception as exc:
            log.exception("decision at %s: state build failed", now.isoformat())
            reason = f"state build failed: {type(exc).__name__}: {exc}"
            return self._hold(now, reason, None, None, "none", t_start, {}, {})
        t_state = time.perf_counter()
        inputs = self._inputs(state)
        summary = self._summary(state)
        price_now = _f(state.import_per_kwh[0])
        seen = (price_now, state.data_age_s, state.model_version, t_start, inputs, summary)
        if state.stale_reason:
            return self._hold(now, state.stale_reason, *seen, stale=True)
        try:
            action, batt_kw, ev_kw, reason = self._policy(state)
        except Exception as exc:
            log.exception("decision at %s: policy failed", now.isoformat())
            return self._hold(now, f"policy failed: {type(exc).__name__}: {exc}", *seen)
        if self.last_plan is not None:
            summary["plan"] = self.last_plan
        t_end = time.perf_counter()
        self.timings_ms = {"state": (t_state - t_start) * 1e3, "policy": (t_end - t_state) * 1e3}
        d = Decision(
            now,
            action,
            batt_kw,
            ev_kw,
            reason,
            price_now,
            state.data_age_s,
            False,
            state.model_version,
            (t_end - t_start) * 1e3,
            inputs,
            summary,
        )
        self.actuator.apply(now, action, batt_kw, ev_kw, reason)
        return d

    def _hold(
        self, now, why, price, age, version, t_start, inputs, summary, stale=False
    ) -> Decision:
        """A safe hold (battery 0 kW, EV 0 kW), applied to the actuator whatever went wrong."""
        reason = f"safe hold: {why}"
        log.warning("decision at %s: %s", now.isoformat(), reason)
        self._mode_now = "hold"  # what an mpc plan carries on from
        try:
            self.actuator.apply(now, "hold", 0.0, 0.0, reason)
        except Exception:  # the decision is still logged; the next one tries again
            log.exception("decision at %s: the actuator refused the hold", now.isoformat())
        return Decision(
            now,
            "hold",
            0.0,
            0.0,
            reason,
            price,
            age,
            stale,
            version,
            (time.perf_counter() - t_start) * 1e3,
            inputs,
            summary,
        )

    def _policy(self, st: State) -> tuple[str, float, float, str]:
        s = self.settings
        self.last_plan = None
        battery = s.battery
        if battery is not None and st.device.battery_soc_fraction is not None:
            battery = replace(battery, initial_soc_fraction=float(st.device.battery_soc_fraction))
        n = st.grid_us.size
        price = st.import_per_kwh
        options = s.policy_options
        if s.policy == "forecast":  # it plans on this decision's own forecasts
            options |= {"price_forecast_per_kwh": price, "load_forecast_kwh": st.load_kwh}
        ev = s.ev if st.device.ev_plugged_in else None
        ev_kwargs: dict[str, Any] = {}
        if ev is not None:
            local = (
                pl.Series(st.grid_us)
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC")
                .dt.convert_time_zone(s.site.timezone)
                .dt.replace_time_zone(None)
                .to_numpy()
            )
            if st.device.ev_soc_fraction is not None:
                ev = replace(ev, initial_soc_fraction=float(st.device.ev_soc_fraction))
            ev_kwargs = {
                "ev": ev,
                "ev_arrays": ev.arrays(local, STEP_MIN),
                "ev_strategy": "cheapest",
            }
        if s.policy == "mpc":
            return self._mpc(st, battery, ev, ev_kwargs.get("ev_arrays"))
        policy = policies.resolve(s.policy, **options)
        pv = st.pv_kwh
        flows = dispatch_rules(
            st.load_kwh,
            pv,
            price,
            st.export_credit_per_kwh,
            STEP_MIN,
            policy=policy,
            battery=battery,
            **ev_kwargs,
            compiled=False,  # a day of intervals: interpreted, numba never loads on the Pi
        )
        bc, bd = float(flows.battery_charge_kwh[0]), float(flows.battery_discharge_kwh[0])
        ev_kw = float(flows.ev_charge_kwh[0]) * STEPS_PER_HOUR
        cb, da, _ = policy_thresholds(
            policy, n, STEP_MIN, price, st.load_kwh, pv, battery, compiled=False
        )
        p = price[0]
        if bc > 1e-9:
            action, kw = "charge", bc * STEPS_PER_HOUR
            why = (
                f"price {p:.4f} <= charge threshold {cb[0]:.4f}"
                if p <= cb[0]
                else "storing surplus"
            )
        elif bd > 1e-9:
            action, kw = "discharge", -bd * STEPS_PER_HOUR
            why = (
                f"price {p:.4f} >= discharge threshold {da[0]:.4f}, meeting the load"
                if math.isfinite(da[0])
                else "meeting the load"
            )
        else:
            action, kw = "hold", 0.0
            if battery is None:
                why = "no battery"
            elif math.isfinite(cb[0]) and math.isfinite(da[0]):
                why = (
                    f"price {p:.4f} between charge {cb[0]:.4f} and discharge {da[0]:.4f} thresholds"
                )
            else:
                why = "nothing to shift within the battery window"
        reason = f"{s.policy} policy: {why}" + (
            f"; EV {ev_kw:.1f} kW (cheapest)" if ev is not None else ""
        )
        return action, kw, ev_kw, reason

    def _mpc(self, st: State, battery, ev, ev_arrays) -> tuple[str, float, float, str]:
        """The mpc policy: re-plan once per interval (and when new data came in), carry the
        plan on in between; the plan's first step becomes the set-points."""
        s = self.settings
        slot = int(st.grid_us[0] // STEP_US)
        soc = battery.initial_soc_kwh if battery is not None else None
        key = (slot, self._data_version, ev is not None)
        if key == self._plan_key and self._plan_out is not None:
            out, plan = self._plan_out
            self.last_plan = plan | {"replanned": False}
            return out
        ctl = self._controllers.get(ev is not None)
        if ctl is None:
            # Slow (HiGHS and scipy.sparse), and only for the mpc policy: agents on the
            # rule policies never load it.
            from energylib.dispatch.mpc import MPCController

            policy = policies.resolve("mpc", **s.policy_options)
            ctl = MPCController(policy, STEP_MIN, battery=s.battery, ev=s.ev if ev else None)
            self._controllers[ev is not None] = ctl
        step = ctl.decide(
            slot, st.load_kwh, st.pv_kwh, st.import_per_kwh, st.export_credit_per_kwh,
            soc_kwh=soc, ev_soc_kwh=ev.initial_soc_fraction * ev.capacity_kwh if ev else None,
            ev_arrays=ev_arrays, mode_now=self._mode_now,
        )  # fmt: skip
        plan = step.plan
        bc, bd = float(plan.bc[0]), float(plan.bd[0])
        ev_kw = float(plan.evc[0]) * STEPS_PER_HOUR
        if bc > 1e-9:
            action, kw = "charge", bc * STEPS_PER_HOUR
        elif bd > 1e-9:
            action, kw = "discharge", -bd * STEPS_PER_HOUR
        else:
            action, kw = "hold", 0.0
        self._mode_now = step.mode
        hours = step.horizon_steps / STEPS_PER_HOUR
        h = min(step.horizon_steps, len(plan))
        # Charge the plan stores from its own PV surplus (the rest comes from the grid).
        surplus = np.clip(st.pv_kwh[:h] - plan.curt[:h] - st.load_kwh[:h], 0.0, None)
        from_pv = np.minimum(plan.bc[:h], surplus)
        reason = (
            f"mpc policy: {step.reason}; {step.mode} {kw:+.2f} kW; plan over {hours:g} h, "
            f"expected cost {step.expected_cost:.3f} {self.market.currency}"
        ) + (f"; EV {ev_kw:.1f} kW" if ev is not None else "")
        summary = {
            "mode": step.mode,
            "changed": step.changed,
            "why": step.reason,
            "horizon_h": hours,
            "expected_cost": _f(step.expected_cost),
            "alternative_cost": _f(step.alternative_cost),
            "terminal_value_per_kwh": _f(step.terminal_value_per_kwh),
            "charge_kwh": _f(plan.bc.sum()),
            "charge_from_pv_kwh": _f(from_pv.sum()),
            "charge_from_grid_kwh": _f(plan.bc[:h].sum() - from_pv.sum()),
            "discharge_kwh": _f(plan.bd.sum()),
            "pv_kwh": _f(st.pv_kwh[:h].sum()),
            "pv_source": st.pv_source,
            "soc_end_kwh": _f(plan.soc_kwh[step.horizon_steps - 1]),
            "solve_ms": _f(step.solve_ms),
            "planned_at": from_epoch_us(slot * STEP_US).isoformat(),
        }
        out = (action, kw, ev_kw, reason)
        self._plan_key, self._plan_out = key, (out, summary)
        self.last_plan = summary | {"replanned": True}
        return out

    def _inputs(self, st: State) -> dict[str, Any]:
        counts = np.bincount(np.clip(st.price_source, 0, 3), minlength=4)
        return {
            "price_now_per_kwh": _f(st.price[0]),
            "feed_in_credit_now_per_kwh": _f(st.feed_in_credit[0]),
            "import_now_per_kwh": _f(st.import_per_kwh[0]),
            "export_credit_now_per_kwh": _f(st.export_credit_per_kwh[0]),
            "tariff": self.settings.tariff.name,
            "descriptor": st.descriptor,
            "battery_soc_fraction": st.device.battery_soc_fraction,
            "ev_plugged_in": st.device.ev_plugged_in,
            "data_age_s": st.data_age_s,
            "load_source": st.load_source,
            "pv_now_kw": _f(st.pv_kwh[0] * STEPS_PER_HOUR),
            "pv_source": st.pv_source,
            "price_steps": {
                "market": int(counts[0]),
                "forecaster": int(counts[1]),
                "yesterday": int(counts[2]),
                "last_known": int(counts[3]),
            },
        }

    def _summary(self, st: State) -> dict[str, Any]:
        p = st.price
        hourly = (
            p[: (p.size // STEPS_PER_HOUR) * STEPS_PER_HOUR]
            .reshape(-1, STEPS_PER_HOUR)
            .mean(axis=1)
        )
        return {
            "horizon_h": st.grid_us.size / STEPS_PER_HOUR,
            "price_min_per_kwh": _f(np.nanmin(p)) if np.isfinite(p).any() else None,
            "price_mean_per_kwh": _f(np.nanmean(p)) if np.isfinite(p).any() else None,
            "price_max_per_kwh": _f(np.nanmax(p)) if np.isfinite(p).any() else None,
            "hourly_price_per_kwh": [_f(x) for x in hourly[:24]],
            "load_kwh": _f(float(np.sum(st.load_kwh))),
            "pv_kwh": _f(float(np.sum(st.pv_kwh))),
            "model": st.model_version,
            "note": st.forecast_note,
        }


def _utc(us: np.ndarray) -> pl.Series:
    """Microseconds since the epoch as a UTC ``interval_start`` column (a cast: no expression)."""
    return pl.Series(TIME, us).cast(pl.Datetime("us", "UTC"))


def _f(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
