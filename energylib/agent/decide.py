"""One decision: state from the live cache -> forecaster -> dispatch policy -> set-points.

:class:`Decider` builds the state at ``now`` from the live SQLite cache (prices
with their forecasts, usage, weather) and the actuator (battery SoC, EV plugged
in), forecasts price and load over the horizon, and asks the *same* dispatch code
the studies use (:func:`energylib.dispatch.rules.dispatch_rules` with the configured
:class:`~energylib.dispatch.rules.ForecastPolicy` / ``PriceThreshold`` /
``SelfConsumption``) what to do over the horizon on a 5-minute grid; the first
interval's battery and EV energy become the set-points (kWh per 5 min x 12 = kW).

Where the numbers come from, per 5-minute interval of the horizon (first source that has it):

* **price**: the market's own price or forecast in the cache (Amber's current and
  forecast intervals, ENTSO-E's day-ahead) -> the forecaster's price forecast ->
  yesterday's price at the same time -> the latest known price;
* **load**: the forecaster's consumption forecast -> yesterday's metered usage at the
  same time -> the recent mean usage -> ``typical_load_kw``.

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

import logging
import math
import sqlite3
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from energylib.agent.actuator import Actuator, DeviceState
from energylib.agent.config import AgentSettings
from energylib.agent.decision_log import Decision
from energylib.dispatch.assets import EV, Battery
from energylib.dispatch.rules import (
    ForecastPolicy,
    PriceThreshold,
    SelfConsumption,
    dispatch_rules,
    policy_thresholds,
)
from energylib.forecast.features import history_window

log = logging.getLogger(__name__)

STEP_MIN = 5
STEP_US = STEP_MIN * 60 * 1_000_000
STEPS_PER_HOUR = 60 // STEP_MIN
DAY_US = 86_400 * 1_000_000


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
            return cls("amber", s.site, "general", "price_per_kwh", "feed_in", "AUD")
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


def _us(t: datetime) -> int:
    return int(round(t.timestamp() * 1_000_000))


class LiveCache:
    """Fast reads of the live SQLite cache for the decision path (a read-only connection
    kept open; WAL lets it read while the collector writes)."""

    def __init__(self, path):
        from energylib.store import SqliteStore

        self.path = path
        self.store = SqliteStore(path)  # creates the file in WAL mode if missing
        self._indexed: set[str] = set()
        self._con: sqlite3.Connection | None = None
        self.ensure_indexes()

    def ensure_indexes(self) -> None:
        """Index each series table by time (the store's key puts ``interval_minutes`` first, so a
        time range within one series would otherwise scan it whole).  Cheap once done."""
        todo = [t for t in ("prices", "usage", "weather") if t not in self._indexed]
        if not todo:
            return
        try:
            con = self.store.connect()
            try:
                for table in todo:
                    if con.execute(
                        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
                    ).fetchone():
                        con.execute(
                            f'CREATE INDEX IF NOT EXISTS "agent_{table}_time" ON "{table}" '
                            "(source, site, channel, interval_start)"
                        )
                        self._indexed.add(table)
            finally:
                con.close()
        except sqlite3.Error as exc:  # a full disk or a lock: the reads still work, only slower
            log.warning("live cache %s: cannot create time indexes: %s", self.path, exc)

    def con(self) -> sqlite3.Connection:
        if self._con is None:
            self._con = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=2.0, check_same_thread=False
            )
            self._con.execute("PRAGMA busy_timeout=2000")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def collector_health(self) -> dict[str, tuple[datetime | None, int]]:
        """``{collector: (last success (UTC) or None, successes)}`` from ``agent_collectors``."""
        try:
            rows = (
                self.con()
                .execute("SELECT name, last_success, successes_total FROM agent_collectors")
                .fetchall()
            )
        except sqlite3.OperationalError:  # no collector has run yet
            return {}
        return {
            n: (None if t is None else datetime.fromtimestamp(t / 1e6, UTC), int(k))
            for n, t, k in rows
        }

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self.con().execute(f'PRAGMA table_info("{table}")')}

    def series(
        self,
        table: str,
        columns: list[str],
        start_us: int,
        end_us: int,
        *,
        source: str | None = None,
        site: str | None = None,
        channel: str | None = None,
    ) -> dict[str, np.ndarray] | None:
        """Rows of one table in ``[start, end)``: ``interval_start`` [us], ``interval_minutes`` and the
        asked columns that exist (None where the table does not exist or no row matches)."""
        have = self._columns(table)
        if not have:
            return None
        cols = [c for c in columns if c in have]
        where, args = ["interval_start >= ?", "interval_start < ?"], [start_us, end_us]
        for name, val in (("source", source), ("site", site), ("channel", channel)):
            if val is not None:
                where.append(f"{name} = ?")
                args.append(val)
        sel = ", ".join(["interval_start", "interval_minutes", *[f'"{c}"' for c in cols]])
        rows = (
            self.con()
            .execute(
                f'SELECT {sel} FROM "{table}" WHERE {" AND ".join(where)} ORDER BY interval_start',
                args,
            )
            .fetchall()
        )
        if not rows:
            return None
        out: dict[str, np.ndarray] = {
            "interval_start": np.fromiter((r[0] for r in rows), np.int64, len(rows)),
            "interval_minutes": np.fromiter((r[1] for r in rows), np.int64, len(rows)),
        }
        for i, c in enumerate(cols, start=2):
            vals = [r[i] for r in rows]
            if c in ("descriptor", "spike_status", "interval_type", "tariff_period", "quality"):
                out[c] = np.array(vals, dtype=object)
            else:
                out[c] = np.array([np.nan if v is None else v for v in vals], dtype=float)
        return out


def on_grid(
    series: dict[str, np.ndarray] | None, column: str, grid_us: np.ndarray, *, energy: bool = False
) -> np.ndarray:
    """Values of a stored series at each 5-min grid start (NaN where no interval covers it).

    A price or power repeats over the 5-min steps its interval covers; ``energy=True``
    splits a kWh value evenly over them (kWh per 5 min).
    """
    out = np.full(grid_us.size, np.nan)
    if series is None or column not in series:
        return out
    t = series["interval_start"]
    minutes = series["interval_minutes"]
    idx = np.searchsorted(t, grid_us, side="right") - 1
    ok = idx >= 0
    j = np.where(ok, idx, 0)
    ok &= grid_us < t[j] + minutes[j] * 60_000_000
    vals = series[column][j]
    if energy:
        vals = vals * (STEP_MIN / minutes[j])
    out[ok] = vals[ok]
    return out


@dataclass
class State:
    """What a decision sees (prices [currency/kWh], energy [kWh per 5 min])."""

    now: datetime
    grid_us: np.ndarray
    price: np.ndarray
    price_source: np.ndarray  # 0 market, 1 model, 2 yesterday, 3 last known
    feed_in_credit: np.ndarray
    load_kwh: np.ndarray
    load_source: str
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
    cache : LiveCache
    actuator : Actuator
    models : ModelWatcher or None
        Source of the forecaster in use (None: fallbacks only).
    typical_load_kw : float
        Load assumed where no usage has been metered yet [kW].
    use_cache : bool
        Reuse a forecast for unchanged inputs.
    """

    settings: AgentSettings
    cache: LiveCache
    actuator: Actuator
    models: Any = None
    typical_load_kw: float = 0.8
    use_cache: bool = True
    market: Market | None = None
    _fc_key: tuple | None = None
    _fc_val: tuple | None = None
    forecast_errors: int = 0
    last_forecast_error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.market is None:
            self.market = Market.from_settings(self.settings)

    # ----------------------------------------------------------------- battery / EV specs
    def battery(self) -> Battery | None:
        s = self.settings
        if s.battery_kwh <= 0:
            return None
        return Battery(
            capacity_kwh=s.battery_kwh, charge_kw=s.battery_kw, discharge_kw=s.battery_kw
        )

    def ev(self) -> EV | None:
        return (
            EV(charger_kw=self.settings.ev_charger_kw) if self.settings.ev_charger_kw > 0 else None
        )

    # ----------------------------------------------------------------- state
    def data_age_s(self, now: datetime, health: dict | None = None) -> float | None:
        """Seconds since the market's collector last succeeded (None: never); ``health`` is
        :meth:`LiveCache.collector_health` when the caller has it already."""
        if health is None:
            health = self.cache.collector_health()
        last = health.get(self.market.freshness_collector, (None, 0))[0]
        return None if last is None else (now - last).total_seconds()

    def build_state(self, now: datetime) -> State:
        s, m = self.settings, self.market
        n = int(round(s.horizon_hours * STEPS_PER_HOUR))
        t0 = (_us(now) // STEP_US) * STEP_US
        grid = t0 + np.arange(n, dtype=np.int64) * STEP_US
        prices = self.cache.series(
            "prices",
            [m.price_column, "descriptor"],
            t0 - DAY_US - 3_600_000_000,
            t0 + n * STEP_US,
            source=m.source,
            site=m.site,
            channel=m.channel,
        )
        price = on_grid(prices, m.price_column, grid)
        source = np.where(np.isfinite(price), 0, -1)
        yesterday = on_grid(prices, m.price_column, grid - DAY_US)
        descriptor = None
        if prices is not None and "descriptor" in prices:
            idx = np.searchsorted(prices["interval_start"], t0, side="right") - 1
            if (
                idx >= 0
                and t0
                < prices["interval_start"][idx] + prices["interval_minutes"][idx] * 60_000_000
            ):
                descriptor = prices["descriptor"][idx]
        if m.feed_in_channel:
            fi = self.cache.series(
                "prices",
                [m.price_column],
                t0,
                t0 + n * STEP_US,
                source=m.source,
                site=m.site,
                channel=m.feed_in_channel,
            )
            # Amber bills feed-in negative when exporting earns: the credit is minus the price.
            credit = -on_grid(fi, m.price_column, grid)
            credit = np.where(np.isfinite(credit), credit, 0.0)
        else:
            credit = np.where(
                np.isfinite(price), price, 0.0
            )  # day-ahead: export earns the spot price

        usage = self.cache.series(
            "usage",
            ["energy_kwh"],
            t0 - 2 * DAY_US,
            t0 + n * STEP_US,
            site=m.site,
            channel="general",
        )
        load_y = on_grid(usage, "energy_kwh", grid - DAY_US, energy=True)

        device = self.actuator.read_state(now)
        health = self.cache.collector_health()  # one read: data age and the forecast cache key
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
            load = model_load.copy()
            fill = ~np.isfinite(load) & np.isfinite(load_y)
            load[fill] = load_y[fill]
            if usage is not None and np.isfinite(usage["energy_kwh"]).any():
                recent = usage["energy_kwh"] * (STEP_MIN / usage["interval_minutes"])
                mean = float(np.nanmean(recent[-288:]))
                load_source = (
                    "forecaster + yesterday's usage"
                    if np.isfinite(model_load).any()
                    else "yesterday's usage"
                )
            else:
                mean = self.typical_load_kw / STEPS_PER_HOUR
                load_source = f"typical load {self.typical_load_kw:g} kW (no usage yet)"
            load[~np.isfinite(load)] = mean
            load = np.clip(load, 0.0, None)

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
            load,
            load_source,
            descriptor,
            age,
            stale,
            device,
            version,
            note,
        )

    def _forecast(self, health, t0, grid, prices, usage) -> tuple[np.ndarray, np.ndarray, str, str]:
        nan = np.full(grid.size, np.nan)
        cur = self.models.current if self.models is not None else None
        if cur is None:
            return nan, nan.copy(), "none", "no model loaded"
        anchor = (t0 // (30 * 60_000_000)) * (30 * 60_000_000)
        # The data version changes whenever a collector stores new data.
        key = (cur.version, anchor, tuple(sorted((k, v[1]) for k, v in health.items())))
        if self.use_cache and key == self._fc_key and self._fc_val is not None:
            return self._fc_val
        try:
            runner = cur.runner
            spec = runner.spec
            history = self.history(t0, spec)
            # ForecastRunner.predict() in two steps, keeping only the first (day) horizon
            # instead of building frames for every horizon.
            window, last = history_window(history, spec, runner.timezone)
            outs = runner.predict_array(window)
            hname, steps = spec.horizons[0]
            step_us = spec.interval_minutes * 60_000_000
            first = _us(last) + step_us
            series = {
                "interval_start": first + np.arange(steps, dtype=np.int64) * step_us,
                "interval_minutes": np.full(steps, spec.interval_minutes, dtype=np.int64),
            }
            for task, target in zip(spec.tasks, spec.targets, strict=True):
                series[target] = np.asarray(outs[f"{task}_{hname}"][0], dtype=float)
            mp = on_grid(series, "price_per_kwh", grid)
            ml = np.clip(on_grid(series, "total_kwh", grid, energy=True), 0.0, None)
            val = (
                mp,
                ml,
                cur.version,
                f"forecaster {cur.version} anchored {datetime.fromtimestamp(first / 1e6, UTC).isoformat()}",
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

    def history(self, t0: int, spec) -> pl.DataFrame:
        """The latest complete half-hours of price, usage and weather as a canonical 30-min frame."""
        m = self.market
        half = 30 * 60_000_000
        end = (t0 // half) * half
        start = end - (spec.history_rows + 8) * half  # slack for usage metered a few hours late
        grid = start + np.arange((end - start) // half, dtype=np.int64) * half
        sub = (grid[:, None] + np.arange(6, dtype=np.int64)[None, :] * STEP_US).reshape(-1)
        cols: dict[str, Any] = {"interval_start": grid}
        prices = self.cache.series(
            "prices", [m.price_column], start, end, source=m.source, site=m.site, channel=m.channel
        )
        cols["price_per_kwh"] = on_grid(prices, m.price_column, sub).reshape(-1, 6).mean(axis=1)
        usage = self.cache.series(
            "usage", ["energy_kwh"], start, end, site=m.site, channel="general"
        )
        cols["total_kwh"] = (
            on_grid(usage, "energy_kwh", sub, energy=True).reshape(-1, 6).sum(axis=1)
        )
        weather = self.cache.series("weather", ["ghi_w_m2", "temp_air_c"], start, end, site=m.site)
        for c in ("ghi_w_m2", "temp_air_c"):
            if weather is not None and c in weather:
                cols[c] = on_grid(weather, c, sub).reshape(-1, 6).mean(axis=1)
        # Up to the latest complete half-hour (usage is often metered late); a gap inside the
        # window stays NaN for history_window to report, not dropped (that would shift the lags).
        values = np.column_stack([v for k, v in cols.items() if k != "interval_start"])
        complete = np.flatnonzero(np.isfinite(values).all(axis=1))
        n = int(complete[-1]) + 1 if complete.size else 0
        return pl.DataFrame({k: v[:n] for k, v in cols.items()}).with_columns(
            pl.from_epoch(pl.col("interval_start"), time_unit="us").dt.replace_time_zone("UTC")
        )

    # ----------------------------------------------------------------- decision
    def decide(self, now: datetime) -> Decision:
        """Decide for the slot ``now``; never raises (an internal error becomes a safe hold)."""
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
        seen = (_f(state.price[0]), state.data_age_s, state.model_version, t_start, inputs, summary)
        if state.stale_reason:
            return self._hold(now, state.stale_reason, *seen, stale=True)
        try:
            action, batt_kw, ev_kw, reason = self._policy(state)
        except Exception as exc:
            log.exception("decision at %s: policy failed", now.isoformat())
            return self._hold(now, f"policy failed: {type(exc).__name__}: {exc}", *seen)
        t_end = time.perf_counter()
        self.timings_ms = {"state": (t_state - t_start) * 1e3, "policy": (t_end - t_state) * 1e3}
        d = Decision(
            now,
            action,
            batt_kw,
            ev_kw,
            reason,
            _f(state.price[0]),
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
        battery = self.battery()
        if battery is not None and st.device.battery_soc_fraction is not None:
            battery = replace(battery, initial_soc_fraction=float(st.device.battery_soc_fraction))
        n = st.grid_us.size
        if s.policy == "forecast":
            policy = ForecastPolicy(
                price_forecast_per_kwh=st.price,
                load_forecast_kwh=st.load_kwh,
                horizon_hours=s.horizon_hours,
            )
        elif s.policy == "price_threshold":
            policy = PriceThreshold(
                charge_below_per_kwh=s.charge_below_per_kwh,
                discharge_above_per_kwh=s.discharge_above_per_kwh,
            )
        else:
            policy = SelfConsumption()
        ev = self.ev() if st.device.ev_plugged_in else None
        ev_kwargs: dict[str, Any] = {}
        if ev is not None:
            local = (
                pl.Series(st.grid_us)
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC")
                .dt.convert_time_zone(s.timezone)
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
        pv = np.zeros(n)
        flows = dispatch_rules(
            st.load_kwh,
            pv,
            st.price,
            st.feed_in_credit,
            STEP_MIN,
            policy=policy,
            battery=battery,
            **ev_kwargs,
        )
        bc, bd = float(flows.battery_charge_kwh[0]), float(flows.battery_discharge_kwh[0])
        ev_kw = float(flows.ev_charge_kwh[0]) * STEPS_PER_HOUR
        cb, da, _ = policy_thresholds(policy, n, STEP_MIN, st.price, st.load_kwh, pv, battery)
        p = st.price[0]
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

    def _inputs(self, st: State) -> dict[str, Any]:
        counts = np.bincount(np.clip(st.price_source, 0, 3), minlength=4)
        return {
            "price_now_per_kwh": _f(st.price[0]),
            "feed_in_credit_now_per_kwh": _f(st.feed_in_credit[0]),
            "descriptor": st.descriptor,
            "battery_soc_fraction": st.device.battery_soc_fraction,
            "ev_plugged_in": st.device.ev_plugged_in,
            "data_age_s": st.data_age_s,
            "load_source": st.load_source,
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
            "model": st.model_version,
            "note": st.forecast_note,
        }


def _f(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
