"""The long-running agent: collectors, model watcher, decider and decision log on one schedule.

Jobs (periods from :class:`~energylib.agent.config.AgentSettings`, all clock-aligned):

=========== ============= =====================================================
job         default       what
=========== ============= =====================================================
collect     every 5 min   market prices and forecasts (Amber current + next; or
                          ENTSO-E day-ahead, today and tomorrow once published)
history     hourly        Amber's 5-min prices of yesterday and today (the forecaster's
                          history; fills it on a fresh install)
usage       hourly        metered usage (Amber), when available
weather     hourly        weather for the forecaster (clear-sky GHI by default)
models      every 30 s    look for a new model file; validate; hot-swap
delivery    every 15 min  a newer model in the central store: download, validate, swap,
                          roll back if it fails in use (with ``SUPABASE_DB_URL``)
cloud_sync  every 5 min   copy new decisions to Postgres (with ``SUPABASE_DB_URL``)
decide      every minute  state -> forecast -> policy -> actuator -> decision log
status      every minute  ``agent_status.json`` for the kiosk (atomic write)
housekeep   daily         drop cached prices/usage/weather older than 60 days
=========== ============= =====================================================

One :class:`~energylib.agent.schedule.Scheduler` runs the jobs.  Live
(:meth:`Agent.run_forever`) the collectors run on worker threads, so a slow price or
weather API (an answer that takes 20 s) never delays a decision: the decision uses what the
cache holds, and the data's age decides whether that is still fresh enough.  The other jobs
run in turn on the scheduler's thread; a decision slot that comes while one of them runs
is run as soon as it ends: it is late, never skipped.  On a simulated clock (tests,
``run_until``, :meth:`Agent.run_once`) every job runs in turn on one thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energylib.agent.actuator import Actuator, DryRunActuator
from energylib.agent.clock import SystemClock
from energylib.agent.collect import (
    Collector,
    agent_retry_policy,
    amber_price_history_fetcher,
    amber_prices_fetcher,
    amber_usage_fetcher,
    clear_sky_weather_fetcher,
    entsoe_day_ahead_fetcher,
    open_meteo_weather_fetcher,
)
from energylib.agent.config import AgentSettings
from energylib.agent.decide import Decider
from energylib.agent.decision_log import Decision, DecisionLog, is_disk_full, is_locked
from energylib.agent.models import ModelWatcher
from energylib.agent.schedule import Scheduler
from energylib.config import load_settings, secret
from energylib.ingest.amber import AmberClient
from energylib.store import SqliteStore

if TYPE_CHECKING:  # psycopg (the [pg] extra) loads only where a central store is configured
    from energylib.agent.decision_copy import DecisionCopy
    from energylib.agent.model_delivery import ModelDelivery

log = logging.getLogger(__name__)

STATUS_FILE = "agent_status.json"
RETENTION_DAYS = 60


@dataclass
class Agent:
    """The agent process, assembled from its parts (each injectable for tests).

    Build with :func:`build_agent`; run with :meth:`run_forever` or, on a simulated clock,
    with ``agent.scheduler.run_until(end)``.
    """

    settings: AgentSettings
    clock: Any
    store: SqliteStore
    collectors: list[Collector]
    models: ModelWatcher
    decider: Decider
    decision_log: DecisionLog
    actuator: Actuator
    scheduler: Scheduler = None  # type: ignore[assignment]
    last_decision: Decision | None = None
    decisions_made: int = 0
    started_at: datetime | None = None
    _stop: bool = False
    _status_failing: bool = False
    extra_status: dict = field(default_factory=dict)
    cloud: DecisionCopy | None = None
    delivery: ModelDelivery | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.started_at = self.clock.now()
        if self.scheduler is None:
            self.scheduler = Scheduler(self.clock)
            for c in self.collectors:
                period = (
                    s.collect_every_s if c.name in ("prices", "day_ahead") else s.weather_every_s
                )
                self.scheduler.add(c.name, period, self._collect_job(c), background=True)
            self.scheduler.add("models", 30.0, lambda now: self.models.poll())
            if self.delivery is not None:
                self.scheduler.add(
                    "delivery",
                    s.model_poll_every_s,
                    self.delivery.poll,
                )
            if self.cloud is not None:
                self.scheduler.add("cloud_sync", s.cloud_sync_every_s, self.cloud.run, offset_s=5.0)
            self.scheduler.add("decide", s.decide_every_s, self.decide_once)
            self.scheduler.add(
                "status", s.decide_every_s, lambda now: self.write_status(now), offset_s=1.0
            )
            self.scheduler.add(
                "housekeep", 86_400.0, self.housekeep, offset_s=3_600.0, run_at_start=False
            )

    def _collect_job(self, collector: Collector):
        def job(now: datetime) -> None:
            collector.run(now)

        return job

    # ----------------------------------------------------------------- jobs
    def decide_once(self, now: datetime) -> Decision:
        """Decide for ``now`` and log it (the log never raises; see :class:`DecisionLog`)."""
        decision = self.decider.decide(now)
        self.decision_log.write(decision)
        self.last_decision = decision
        self.decisions_made += 1
        if self.delivery is not None:
            self.delivery.check(decision.model_version, now=now)
        return decision

    def housekeep(self, now: datetime) -> None:
        """Drop cached rows older than the retention window so the live cache stays small."""
        try:
            self.store.prune(
                now - timedelta(days=RETENTION_DAYS),
                ("prices", "price_forecasts", "usage", "weather"),
            )
        except sqlite3.Error as exc:
            log.error("housekeeping of %s failed: %s", self.store.path, exc)

    def status(self, now: datetime | None = None) -> dict[str, Any]:
        """Everything the kiosk shows about the agent."""
        now = now or self.clock.now()
        d = self.last_decision
        return {
            "updated_at": now.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "pid": os.getpid(),
            "market": self.settings.market,
            "site": self.settings.site.name,
            "currency": self.settings.currency,
            "policy": self.settings.policy,
            "actuator": self.actuator.name,
            "stale_after_min": self.settings.stale_after_min,
            "decisions_made": self.decisions_made,
            "last_decision": d.as_dict() if d else None,
            "model": self.models.status(),
            "decision_log": self.decision_log.status(),
            "collectors": {c.name: c.state.as_dict() for c in self.collectors},
            "jobs": {
                j.name: {
                    "runs": j.runs,
                    "failures": j.failures,
                    "missed": j.missed,
                    "last_error": j.last_error,
                    "next_due": j.next_due.isoformat() if j.next_due else None,
                }
                for j in self.scheduler.jobs
            },
            "clock_jumps": self.scheduler.clock_jumps,
            "forecast_errors": self.decider.forecast_errors,
            "cloud_sync": self.cloud.status() if self.cloud is not None else None,
            "model_delivery": self.delivery.status() if self.delivery is not None else None,
            **self.extra_status,
        }

    def write_status(self, now: datetime | None = None) -> bool:
        """Write ``agent_status.json`` atomically (temp file + rename); False if the disk refuses."""
        path = self.settings.state_dir / STATUS_FILE
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=".agent_status.", suffix=".tmp", dir=self.settings.state_dir
            )
            with os.fdopen(fd, "w") as fh:
                json.dump(self.status(now), fh, default=str)
            os.replace(tmp, path)
            self._status_failing = False
            return True
        except OSError as exc:
            # once per episode: the kiosk reports a full disk itself while it lasts
            (log.debug if self._status_failing else log.error)("cannot write %s: %s", path, exc)
            self._status_failing = True
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return False

    # ----------------------------------------------------------------- running
    def stop(self, *_: object) -> None:
        self._stop = True
        wake = getattr(self.clock, "wake", None)
        if wake:
            wake()

    def run_forever(self) -> None:
        """Run until SIGTERM / SIGINT; the decision log is closed cleanly on the way out."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info(
            "agent started: %s market, site %s, policy %s, actuator %s, state in %s",
            self.settings.market,
            self.settings.site.name,
            self.settings.policy,
            self.actuator.name,
            self.settings.state_dir,
        )
        self.scheduler.threaded = True  # collectors off the deciding thread
        try:
            self.scheduler.run_forever(lambda: self._stop)
        finally:
            self.scheduler.shutdown()
            self.close()

    def run_once(self) -> Decision:
        """One pass of every job that is due now (all of them, at start); returns the decision."""
        self.scheduler.run_pending()
        assert self.last_decision is not None
        return self.last_decision

    def close(self) -> None:
        self.decision_log.close()
        self.store.close()
        log.info("agent stopped after %d decision(s)", self.decisions_made)


def default_collectors(
    settings: AgentSettings, store: SqliteStore, *, amber_client=None
) -> list[Collector]:
    """The collectors a real deployment runs, with tokens from the environment / ``.env``."""
    backoff = dict(backoff_base_s=settings.collect_every_s, backoff_max_s=settings.backoff_max_s)
    hourly_backoff = dict(
        backoff_base_s=settings.weather_every_s, backoff_max_s=4 * settings.weather_every_s
    )
    out = []
    if settings.market == "amber":
        client = amber_client or AmberClient(
            site_id=None if settings.site.name == "default" else settings.site.name,
            policy=agent_retry_policy(),
            timezone=settings.site.timezone,
        )
        out.append(
            Collector(
                "prices",
                amber_prices_fetcher(client, next_intervals=settings.forecast_intervals),
                store,
                **backoff,
            )
        )
        out.append(
            Collector("price_history", amber_price_history_fetcher(client), store, **hourly_backoff)
        )
        out.append(Collector("usage", amber_usage_fetcher(client), store, **hourly_backoff))
    else:
        fetch = entsoe_day_ahead_fetcher(settings.entsoe_zone)
        out.append(Collector("day_ahead", fetch, store, **backoff))
    out.append(
        Collector(
            "weather",
            open_meteo_weather_fetcher(
                settings.site.latitude,
                settings.site.longitude,
                settings.site.timezone,
                site=settings.site.name,
                base_url=settings.weather_url,
            )
            if settings.weather == "open-meteo"
            else clear_sky_weather_fetcher(
                settings.site.latitude,
                settings.site.longitude,
                settings.site.timezone,
                site=settings.site.name,
            ),
            store,
            **hourly_backoff,
        )
    )
    return out


def build_agent(
    settings: AgentSettings,
    *,
    clock=None,
    collectors: list[Collector] | None = None,
    actuator: Actuator | None = None,
    decision_log: DecisionLog | None = None,
    models: ModelWatcher | None = None,
    use_forecast_cache: bool = True,
    central_url: str | None = None,
) -> Agent:
    """Assemble an :class:`Agent`; every part can be replaced (tests pass a simulated clock
    and collectors pointed at a local server).  ``central_url`` (default
    ``SUPABASE_DB_URL``) adds the decision-log copy and model delivery; without one,
    ``SUPABASE_URL`` and ``SUPABASE_KEY`` add the decision-log copy over Supabase's REST API."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    clock = clock or SystemClock()
    # first: a damaged decision log stops the start before anything else is touched
    log_ = decision_log or DecisionLog(settings.decisions_db)
    store, recovered = open_live_cache(settings.live_db, clock.now())
    if collectors is None:
        collectors = default_collectors(settings, store)
    models = models or ModelWatcher(settings.models_path)
    decider = Decider(settings, store, DryRunActuator(), models, use_cache=use_forecast_cache)
    act = actuator or DryRunActuator(settings.battery)
    decider.actuator = act
    base = load_settings()
    url = central_url or secret(base.supabase_db_url)
    cloud = delivery = None
    if not url and base.supabase_url and secret(base.supabase_key):
        # Supabase over its REST API: the decision log's copy (model delivery needs Postgres).
        from energylib.agent.decision_copy import RestDecisionSync
        from energylib.ingest.http import RetryPolicy
        from energylib.store.supabase import SupabaseRest

        policy = RetryPolicy(max_retries=1, backoff_base_s=0.5, jitter_s=0.2, timeout_s=5.0)
        rest = SupabaseRest(
            base.supabase_url, secret(base.supabase_key), base.supabase_schema, policy
        )
        cloud = RestDecisionSync(settings.decisions_db, rest, settings.site.name)
    if url:
        # Optional: psycopg (the [pg] extra) loads only where a central store is configured.
        from energylib.agent.decision_sync import DecisionSync
        from energylib.agent.model_delivery import ModelDelivery

        cloud = DecisionSync(settings.decisions_db, url, settings.site.name)
        delivery = ModelDelivery(
            url, models, name=settings.model_name, decisions_db=settings.decisions_db
        )
    agent = Agent(
        settings,
        clock,
        store,
        collectors,
        models,
        decider,
        log_,
        act,
        cloud=cloud,
        delivery=delivery,
    )
    if recovered:
        agent.extra_status["live_cache_recovered"] = recovered
    return agent


def open_live_cache(path: Path, now: datetime) -> tuple[SqliteStore, dict | None]:
    """The live cache, or a fresh one where the file is damaged.

    The cache holds only what the collectors fetch again, so a damaged file (not a
    database, or failing SQLite's ``quick_check``) is moved aside, kept for inspection as
    ``<name>.corrupt-<UTC time>``, and a fresh cache started; the returned dict says what
    happened (the agent's status carries it to the kiosk and ``/healthz``).
    """
    try:
        store = SqliteStore(path)
        with contextlib.closing(store.connect()) as con:
            if con.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                return store, None
            raise sqlite3.DatabaseError("quick_check found damage")
    except sqlite3.DatabaseError as exc:
        if is_disk_full(exc) or is_locked(exc):
            raise
        error = str(exc)
    aside = path.with_name(f"{path.name}.corrupt-{now:%Y%m%dT%H%M%SZ}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            os.replace(part, Path(f"{aside}{suffix}"))
    log.error(
        "the live cache %s was unreadable (%s): moved it to %s and started a fresh one; "
        "the collectors fetch its data again",
        path,
        error,
        aside,
    )
    info = {"at": now.isoformat(), "error": error, "moved_to": str(aside)}
    return SqliteStore(path), info


def read_status(state_dir: str | Path) -> dict[str, Any] | None:
    """The agent's last ``agent_status.json`` (None if it has not written one)."""
    path = Path(state_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


__all__ = ["Agent", "build_agent", "default_collectors", "read_status"]
