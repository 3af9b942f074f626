"""Collect prices (and usage, weather) into the live SQLite cache, with back-off.

A :class:`Collector` wraps one ``fetch(now) -> [(frame, meta), ...]`` function (Amber
current prices, ENTSO-E day-ahead, Amber usage, clear-sky weather) and runs it from a
scheduled job:

* **success**: every frame is upserted into the live :class:`~energylib.store.SqliteStore`
  (idempotent, so forecasts are replaced by actuals as they come) and the failure count
  resets;
* **the API down, HTTP 429 or 5xx**: the error is logged and counted, and the collector
  backs off: it skips its slots until ``base * 2**(failures-1)`` seconds have passed
  (capped at ``backoff_max_s``, and at least a server's ``Retry-After``), so a long outage
  costs one request per back-off period and the first slot after the cap finds the API
  back: recovery needs no restart;
* **a malformed response** (not JSON, missing fields, unknown interval types, invalid
  frame): rejected whole, logged with what was wrong, counted as malformed; nothing of
  it is stored, so the cache keeps the last good forecast;
* in every case the rows already stored stay: the last good forecast is what the
  decision and the kiosk keep using until it goes stale.

Each collector's health (last success, consecutive failures, next attempt, totals) is
written to the ``agent_collectors`` table of the same SQLite file, so the kiosk (another
process) can show and export it.  Tokens never appear in these messages: the HTTP layer
(:mod:`energylib.ingest.http`) strips them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from energylib.dates import epoch_us, from_epoch_us, nem_date
from energylib.ingest.amber import get_amber_current_prices, get_amber_prices, get_amber_usage
from energylib.ingest.http import (
    HttpError,
    MalformedResponse,
    RateLimited,
    RetryPolicy,
    make_session,
)
from energylib.ingest.issued import issued_forecast_frames
from energylib.ingest.open_meteo import OPEN_METEO_URL, get_open_meteo_forecast
from energylib.schema import DataValidationError, FrameMeta
from energylib.store import SqliteStore

log = logging.getLogger(__name__)

Frames = list[tuple[pl.DataFrame, FrameMeta]]
Fetch = Callable[[datetime], Frames]

STATUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_collectors (
    name TEXT PRIMARY KEY,
    last_attempt INTEGER, last_success INTEGER, last_error TEXT, last_error_at INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0, fetch_errors_total INTEGER NOT NULL DEFAULT 0,
    malformed_total INTEGER NOT NULL DEFAULT 0, successes_total INTEGER NOT NULL DEFAULT 0,
    rows_total INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER
)
"""


#: The store source of each weather fetcher, by ``ENERGY_AGENT_WEATHER``.
WEATHER_SOURCES = {"open-meteo": "open_meteo", "clearsky": "clearsky"}


@dataclass
class CollectorState:
    """Health of one collector (all times UTC)."""

    name: str
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    fetch_errors_total: int = 0
    malformed_total: int = 0
    successes_total: int = 0
    rows_total: int = 0
    next_attempt: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out


class Collector:
    """Runs one fetch function with back-off and stores what it returns.

    Parameters
    ----------
    name : str
        Collector name (``prices``, ``usage``, ``weather``, ``day_ahead``).
    fetch : callable
        ``fetch(now) -> [(frame, meta), ...]``; raises on failure.
    store : SqliteStore
        The live cache.
    backoff_base_s : float
        Wait after the first failure [s] (normally the collection period).
    backoff_max_s : float
        Longest wait between attempts while failing [s].
    """

    def __init__(
        self,
        name: str,
        fetch: Fetch,
        store: SqliteStore,
        *,
        backoff_base_s: float = 300.0,
        backoff_max_s: float = 900.0,
    ):
        self.name = name
        self.fetch = fetch
        self.store = store
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.state = load_collector_state(store, name) or CollectorState(name)
        with self.store.connect() as con:
            con.execute(STATUS_SCHEMA)

    def backing_off(self, now: datetime) -> bool:
        """True while a failed collector waits for its next attempt."""
        nxt = self.state.next_attempt
        # A clock stepped backwards would otherwise hold the collector off for that long.
        if nxt is not None and nxt - now > timedelta(seconds=self.backoff_max_s * 2):
            nxt = self.state.next_attempt = None
        return nxt is not None and now < nxt

    def run(self, now: datetime) -> bool:
        """One scheduled slot: fetch and store unless backing off.  True on success."""
        if self.backing_off(now):
            log.debug("%s: backing off until %s", self.name, self.state.next_attempt)
            return False
        st = self.state
        st.last_attempt = now
        try:
            frames = self.fetch(now)
            if not isinstance(frames, list):
                raise MalformedResponse(
                    f"{self.name}: fetch returned {type(frames).__name__}, not a list of frames"
                )
            rows = 0
            for data, meta in frames:
                nullable = (
                    tuple((meta.extra or {}).get("nullable", ())) if hasattr(meta, "extra") else ()
                )
                rows += data.height
                self.store.upsert(data, meta, nullable=nullable)
        except (MalformedResponse, DataValidationError, TypeError, KeyError, ValueError) as exc:
            # Anything the parser or the frame validation refuses is a malformed answer.
            st.malformed_total += 1
            self._failed(now, f"malformed response rejected: {exc}", None)
            return False
        except RateLimited as exc:
            self._failed(now, f"rate limited (HTTP 429): {exc}", exc.retry_after_s)
            return False
        except (HttpError, OSError, sqlite3.Error, LookupError) as exc:
            self._failed(now, f"{type(exc).__name__}: {exc}", None)
            return False
        except Exception as exc:  # a fetch plug-in's own error: logged, collector keeps going
            self._failed(now, f"{type(exc).__name__}: {exc}", None)
            return False
        if st.consecutive_failures:
            log.warning(
                "%s: recovered after %d failed attempt(s)", self.name, st.consecutive_failures
            )
        st.last_success = now
        st.consecutive_failures = 0
        st.next_attempt = None
        st.successes_total += 1
        st.rows_total += rows
        self._save()
        return True

    def _failed(self, now: datetime, message: str, retry_after_s: float | None) -> None:
        st = self.state
        st.consecutive_failures += 1
        st.fetch_errors_total += 1
        st.last_error = message[:500]
        st.last_error_at = now
        wait = min(self.backoff_max_s, self.backoff_base_s * 2 ** (st.consecutive_failures - 1))
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.backoff_max_s))
        st.next_attempt = now + timedelta(seconds=wait)
        log.error(
            "%s: collection failed (%d in a row): %s; keeping the last good data, next try %s",
            self.name,
            st.consecutive_failures,
            st.last_error,
            st.next_attempt.isoformat(),
        )
        self._save()

    def _save(self) -> None:
        st = self.state
        try:
            con = self.store.connect()
            try:
                con.execute(STATUS_SCHEMA)
                con.execute(
                    "INSERT OR REPLACE INTO agent_collectors VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        st.name,
                        *[
                            None if t is None else epoch_us(t)
                            for t in (st.last_attempt, st.last_success)
                        ],
                        st.last_error,
                        None if st.last_error_at is None else epoch_us(st.last_error_at),
                        st.consecutive_failures,
                        st.fetch_errors_total,
                        st.malformed_total,
                        st.successes_total,
                        st.rows_total,
                        None if st.next_attempt is None else epoch_us(st.next_attempt),
                    ),
                )
            finally:
                con.close()
        except sqlite3.Error as exc:  # a full disk must not stop collecting into memory
            log.error("%s: cannot save collector status: %s", self.name, exc)


def load_collector_state(
    store: SqliteStore, name: str | None = None
) -> CollectorState | dict[str, CollectorState] | None:
    """Collector health saved in a live cache: one by ``name``, or all as a dict."""
    con = store.reader()
    try:
        rows = [] if con is None else con.execute("SELECT * FROM agent_collectors").fetchall()
    except sqlite3.Error:  # no collector has run yet (no table), or the file is unreadable
        rows = []
    out = {}
    for r in rows:
        t = [None if v is None else from_epoch_us(v) for v in (r[1], r[2], r[4], r[10])]
        out[r[0]] = CollectorState(r[0], t[0], t[1], r[3], t[2], *r[5:10], t[3])
    if name is not None:
        return out.get(name)
    return out


# --------------------------------------------------------------------------- fetchers
def agent_retry_policy() -> RetryPolicy:
    """HTTP retries for the agent: one quick retry, no long sleeps on the decision thread;
    the collector's own back-off spaces out further attempts."""
    return RetryPolicy(
        max_retries=1,
        max_rate_limited=1,
        backoff_base_s=1.0,
        backoff_max_s=2.0,
        jitter_s=0.5,
        max_wait_s=2.0,
        timeout_s=15.0,
    )


def amber_prices_fetcher(
    client, *, next_intervals: int = 48, previous_intervals: int = 12
) -> Fetch:
    """``fetch(now)`` for Amber's current prices with forecasts (``/prices/current``), and the
    same forecast kept as issued at ``now`` (kind ``price_forecasts``,
    :mod:`energylib.ingest.issued`), so a study can replay what the agent knew when."""

    def fetch(now: datetime) -> Frames:
        frames = get_amber_current_prices(
            next=next_intervals, previous=previous_intervals, client=client
        )
        return frames + issued_forecast_frames(frames, now)

    return fetch


#: NEM days of prices the first history fetch after a start asks for: the forecasters'
#: price lags reach 7 days behind a 1-day window (TRADING_24, TOTAL_PRICE_WEATHER_TIME).
PRICE_BACKFILL_DAYS = 8
#: NEM days per request of that first fetch: one 9-day answer (about 5,200 intervals of
#: JSON) parsed at once was the agent's peak memory on a Pi; a day at a time keeps it ~6 MB
#: lower (9 requests once per start; Amber allows 50 per 5 minutes).
BACKFILL_REQUEST_DAYS = 1


def amber_price_history_fetcher(
    client, *, days: int = 1, backfill_days: int = PRICE_BACKFILL_DAYS
) -> Fetch:
    """``fetch(now)`` for Amber's 5-min prices of the last ``days`` NEM days and today
    (``/sites/{id}/prices``): keeps the actual prices where ``/prices/current`` only ever
    returns the latest hour.  The first successful fetch after a start reaches
    ``backfill_days`` back instead, so a fresh install has the forecaster's whole history
    (its price lags) at once; the store's upsert makes the overlap free."""
    filled = False

    def fetch(now: datetime) -> Frames:
        nonlocal filled
        nem_today = nem_date(now)
        back = days if filled else max(days, backfill_days)
        per = back + 1 if filled else BACKFILL_REQUEST_DAYS  # NEM days per request
        frames: Frames = []
        for ago in range(back, -1, -per):
            first = nem_today - timedelta(days=ago)
            last = min(first + timedelta(days=per - 1), nem_today)
            frames += get_amber_prices(first, last, resolution=5, client=client)
        filled = True
        return frames

    return fetch


def amber_usage_fetcher(client, *, days: int = 2) -> Fetch:
    """``fetch(now)`` for Amber's metered usage of the last ``days`` NEM days."""

    def fetch(now: datetime) -> Frames:
        nem_today = nem_date(now)
        return get_amber_usage(nem_today - timedelta(days=days), nem_today, client=client)

    return fetch


def entsoe_day_ahead_fetcher(
    zone: str, *, api_key: str | None = None, base_url: str | None = None
) -> Fetch:
    """``fetch(now)`` for ENTSO-E day-ahead prices from yesterday to tomorrow (tomorrow's
    appear after the auction, about 13:00 CET; until then only today's come back).  The
    first successful fetch after a start reaches :data:`PRICE_BACKFILL_DAYS` back, for the
    forecaster's price lags."""
    # Slow (entsoe-py, pandas), and only for the ENTSO-E market.
    from energylib.ingest.entsoe import get_entsoe_day_ahead, make_client

    client = make_client(api_key, base_url, retries=1, backoff_s=1.0, timeout_s=30.0)
    filled = False

    def fetch(now: datetime) -> Frames:
        nonlocal filled
        today = datetime.combine(now.date(), datetime.min.time(), UTC)
        start = today - timedelta(days=1 if filled else PRICE_BACKFILL_DAYS)
        frames = get_entsoe_day_ahead(zone, start, today + timedelta(days=2), client=client)
        filled = True
        return frames

    return fetch


def clear_sky_weather_fetcher(
    latitude: float, longitude: float, timezone: str, *, site: str = "default", hours: int = 48
) -> Fetch:
    """``fetch(now)``: clear-sky GHI [W/m2] (pvlib, Ineichen) for the past day and next ``hours``,
    half-hourly.  Needs no network; a forecast service can replace it (same frame shape)."""

    def fetch(now: datetime) -> Frames:
        # Slow (pvlib, pandas), and only for the offline clear-sky weather.
        import pandas as pd
        import pvlib

        start = pd.Timestamp(now).floor("30min") - pd.Timedelta(hours=24)
        times = pd.date_range(start, periods=int((24 + hours) * 2), freq="30min", tz="UTC")
        loc = pvlib.location.Location(latitude, longitude, tz="UTC")
        mid = times + pd.Timedelta(minutes=15)
        cs = loc.get_clearsky(mid, model="ineichen")
        # naive UTC datetime64 -> polars (pandas 3's to_pydatetime() is an object array polars
        # cannot read as datetimes)
        utc = times.tz_localize(None).to_numpy().astype("datetime64[us]")
        data = pl.DataFrame(
            {
                "interval_start": pl.Series(utc).dt.replace_time_zone("UTC"),
                "ghi_w_m2": cs["ghi"].clip(lower=0).to_numpy(dtype=float),
            }
        )
        meta = FrameMeta("clearsky", "weather", 30, site, "general", None, timezone)
        return [(data, meta)]

    return fetch


def open_meteo_weather_fetcher(
    latitude: float,
    longitude: float,
    timezone: str,
    *,
    site: str = "default",
    base_url: str = OPEN_METEO_URL,
    policy: RetryPolicy | None = None,
) -> Fetch:
    """``fetch(now)``: hourly air temperature and GHI for the past 2 and next 2 days from
    Open-Meteo (no API key), for the forecaster's weather features
    (:func:`energylib.ingest.open_meteo.get_open_meteo_forecast`, whose parser states the time
    stamps)."""
    session = make_session()
    policy = policy or agent_retry_policy()

    def fetch(now: datetime) -> Frames:
        return [
            get_open_meteo_forecast(
                latitude,
                longitude,
                base_url=base_url,
                site=site,
                timezone=timezone,
                session=session,
                policy=policy,
            )
        ]

    return fetch
