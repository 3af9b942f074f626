"""New models reach the Pi by themselves: published to the central store, polled, validated,
swapped in, and rolled back if they misbehave.

The central store is the Postgres database the agent already copies its decisions to
(``SUPABASE_DB_URL``): table ``energylib.models`` holds each published model file
(``name``, ``version`` 1, 2, ..., ``filename``, ``sha256``, ``content``).  Training
publishes with :func:`publish_model` (``energy agent publish-model FILE``).

On the Pi, :class:`ModelDelivery` (an agent job every ``ENERGY_AGENT_MODEL_POLL_EVERY_S``
seconds, 900 by default):

1. asks for the newest version of its model name; nothing to do when that version is the
   one installed or one refused before;
2. downloads it, checks its SHA-256 against the published one, and writes it into the
   models folder atomically (``.tmp`` then rename);
3. validates and swaps it in through :meth:`ModelWatcher.install` (a file that does not
   validate is refused, moved to ``models/rejected/``, and the previous model stays);
4. keeps the new model on probation.  In its first ``probation_decisions`` decisions, a
   forecaster that fails ``max_errors`` times is rolled back at once
   (:meth:`ModelWatcher.rollback` puts the previous model back; the version is never
   downloaded again).  A model that runs but forecasts badly (finite, wrong numbers) is
   caught against the realised prices (:func:`hourly_forecast_errors`, from the decision
   log): once ``probation_hours`` have passed and at least ``min_hours`` hours can be
   judged, the new model's mean absolute error of the hour-ahead price is compared with
   the previous model's over the same length of time before the swap (or, without one,
   with persistence: the last hour's price); more than ``tolerance`` times that (and more
   than ``floor_per_kwh``) rolls it back, otherwise it has passed.

What was installed is kept in ``models/.delivered.json`` so a restart neither downloads
the same version again nor forgets a refused one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from energylib.agent.decision_log import open_readonly
from energylib.agent.models import ModelWatcher, file_version
from energylib.store import sql
from energylib.store.postgres import (
    DEFAULT_SCHEMA,
    PostgresSyncError,
    connect,
    ensure_schema,
    redact_url,
    resolve_url,
    scrub,
)

log = logging.getLogger(__name__)

TABLE = "models"
STATE_FILE = ".delivered.json"


def _table(schema: str) -> str:
    return f"{sql.identifier(schema)}.{sql.identifier(TABLE)}"


def ensure_models_table(con: psycopg.Connection, schema: str = DEFAULT_SCHEMA) -> None:
    """Create the central model table if absent."""
    with con.transaction():
        ensure_schema(con, schema)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {_table(schema)} (name text NOT NULL, version integer "
            "NOT NULL, filename text NOT NULL, sha256 text NOT NULL, bytes bigint NOT NULL, "
            "content bytea NOT NULL, published_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (name, version))"
        )


def publish_model(
    path: str | Path,
    url: str | None = None,
    *,
    name: str = "forecaster",
    schema: str = DEFAULT_SCHEMA,
) -> int:
    """Publish a model file as the next version of ``name``; returns that version.

    The file is stored whole with its SHA-256 (checked again on the Pi before use).

    Raises
    ------
    FileNotFoundError
        No such file.
    PostgresSyncError
        The central store cannot be reached.
    """
    p = Path(path)
    content = p.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    con = connect(resolve_url(url), retries=1)
    try:
        con.execute("SET synchronous_commit TO on")
        ensure_models_table(con, schema)
        with con.transaction():
            con.execute(f"LOCK TABLE {_table(schema)} IN SHARE ROW EXCLUSIVE MODE")
            (version,) = con.execute(
                f"SELECT coalesce(max(version), 0) + 1 FROM {_table(schema)} WHERE name = %s",
                (name,),
            ).fetchone()
            con.execute(
                f"INSERT INTO {_table(schema)} (name, version, filename, sha256, bytes, content) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (name, version, p.name, digest, len(content), content),
            )
    finally:
        con.close()
    return int(version)


HOUR_US = 3_600_000_000


def hourly_forecast_errors(
    decisions_db: str | Path,
    since: datetime,
    until: datetime,
    model_version: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute errors of the hour-ahead price forecast against the realised prices, per
    hour, from the decision log [currency/kWh].

    The realised price of hour H is the mean ``price_per_kwh`` of the decisions in H; the
    forecast for H is the mean of ``forecast.hourly_price_per_kwh[1]`` (the hour starting
    one hour after the decision) over the decisions in hour H-1 made with
    ``model_version`` (any, when None).  Hours from ``since`` to ``until``, both H-1 and H
    inside.

    Returns
    -------
    (model, persistence)
        The model's error per judged hour, and persistence's (the price of hour H-1 as the
        forecast for H) over the same hours.
    """
    path = Path(decisions_db)
    if not path.exists():
        return np.zeros(0), np.zeros(0)
    con = open_readonly(path)
    try:
        rows = con.execute(
            "SELECT decided_at, price_per_kwh, model_version, "
            "json_extract(forecast, '$.hourly_price_per_kwh[1]') FROM decisions "
            "WHERE decided_at >= ? AND decided_at < ? ORDER BY decided_at",
            (int(since.timestamp() * 1e6), int(until.timestamp() * 1e6)),
        ).fetchall()
    finally:
        con.close()
    actual: dict[int, list[float]] = {}
    forecast: dict[int, list[float]] = {}
    for t, price, version, ahead in rows:
        hour = t // HOUR_US
        if price is not None:
            actual.setdefault(hour, []).append(price)
        if ahead is not None and (model_version is None or version == model_version):
            forecast.setdefault(hour + 1, []).append(ahead)
    hours = sorted(h for h in forecast if h in actual and h - 1 in actual)
    a = np.array([np.mean(actual[h]) for h in hours])
    f = np.array([np.mean(forecast[h]) for h in hours])
    before = np.array([np.mean(actual[h - 1]) for h in hours])
    return np.abs(f - a), np.abs(before - a)


class ModelDelivery:
    """Polls the central store for a newer model and hands it to the watcher.

    Parameters
    ----------
    url : str
        Postgres URL of the central store (``SUPABASE_DB_URL``).
    watcher : ModelWatcher
        The agent's model watcher (validates, swaps, rolls back).
    name : str
        Model name to follow (``ENERGY_AGENT_MODEL_NAME``, ``forecaster``).
    probation_decisions : int
        Decisions a new model must get through before it is trusted.
    max_errors : int
        Forecaster failures during probation that roll the model back.
    decisions_db : path, optional
        The decision log: with it, a new model's forecasts are judged against the realised
        prices (without it, probation ends after ``probation_decisions``).
    probation_hours : float
        Time a new model is judged on [h].
    min_hours : int
        Hours of forecast against realised price needed for a judgement.
    tolerance : float
        A mean absolute error more than this many times the reference's rolls back.
    floor_per_kwh : float
        ... and more than this [currency/kWh] (prices that barely move judge nothing).
    """

    def __init__(
        self,
        url: str,
        watcher: ModelWatcher,
        *,
        name: str = "forecaster",
        schema: str = DEFAULT_SCHEMA,
        probation_decisions: int = 10,
        max_errors: int = 2,
        connect_timeout_s: float = 5.0,
        decisions_db: str | Path | None = None,
        probation_hours: float = 24.0,
        min_hours: int = 6,
        tolerance: float = 1.5,
        floor_per_kwh: float = 0.005,
    ):
        self._url = url
        self.where = redact_url(url)
        self.watcher = watcher
        self.name = name
        self.schema = schema
        self.probation_decisions = probation_decisions
        self.max_errors = max_errors
        self.connect_timeout_s = connect_timeout_s
        self.decisions_db = Path(decisions_db) if decisions_db is not None else None
        self.probation_hours = probation_hours
        self.min_hours = min_hours
        self.tolerance = tolerance
        self.floor_per_kwh = floor_per_kwh
        self.state_path = watcher.folder / STATE_FILE
        self.state = self._load_state()
        # a probation survives a restart (kept in the state file)
        self.probation: dict[str, Any] | None = self.state.get("probation")
        self.last_error: str | None = None
        self.last_checked_at: datetime | None = None

    def __repr__(self) -> str:
        return f"ModelDelivery({self.where!r}, name={self.name!r})"

    # ------------------------------------------------------------------ state
    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("installed", None)
        data.setdefault("refused", {})
        return data

    def _save_state(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.state, indent=1))
            os.replace(tmp, self.state_path)
        except OSError as exc:
            log.error("cannot write %s: %s", self.state_path, exc)

    def _refuse(self, version: int, reason: str) -> None:
        self.state["refused"][str(version)] = reason
        self._save_state()

    # ------------------------------------------------------------------ polling
    def poll(self, now: datetime | None = None) -> bool:
        """Look for a newer version once; True when one was installed.  Never raises:
        an unreachable store or a bad download is logged and kept in :attr:`last_error`."""
        self.last_checked_at = datetime.now(UTC)
        try:
            installed = self._poll(now or self.last_checked_at)
        except (PostgresSyncError, psycopg.Error, OSError) as exc:
            message = scrub(str(exc), self._url).strip()
            if self.last_error != message:
                log.error("model delivery from %s failed: %s", self.where, message)
            self.last_error = message
            return False
        self.last_error = None
        return installed

    def _poll(self, now: datetime) -> bool:
        con = connect(self._url, retries=0, connect_timeout_s=self.connect_timeout_s)
        try:
            ensure_models_table(con, self.schema)
            row = con.execute(
                f"SELECT version, filename, sha256 FROM {_table(self.schema)} WHERE name = %s "
                "ORDER BY version DESC LIMIT 1",
                (self.name,),
            ).fetchone()
            if row is None:
                return False
            version, filename, digest = int(row[0]), row[1], row[2]
            have = self.state["installed"]
            if (have is not None and version <= int(have["version"])) or str(version) in self.state[
                "refused"
            ]:
                return False
            (content,) = con.execute(
                f"SELECT content FROM {_table(self.schema)} WHERE name = %s AND version = %s",
                (self.name, version),
            ).fetchone()
        finally:
            with contextlib.suppress(Exception):
                con.close()
        content = bytes(content)
        if hashlib.sha256(content).hexdigest() != digest:
            self._refuse(version, "download does not match the published SHA-256")
            log.error(
                "model %s v%d: download does not match its SHA-256; refused", self.name, version
            )
            return False
        stem, suffix = Path(filename).stem, Path(filename).suffix
        target = self.watcher.folder / f"{stem}.v{version}{suffix}"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(content)
        os.replace(tmp, target)
        key = file_version(target)
        if not self.watcher.install(target) and self.watcher.version != key:
            reason = self.watcher.refused.get(key, "refused by the model watcher")
            rejected = self.watcher.folder / "rejected"
            rejected.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                os.replace(target, rejected / target.name)
            self._refuse(version, reason)
            log.error("model %s v%d refused: %s", self.name, version, reason)
            return False
        previous = self.state["installed"]
        previous_model = self.watcher.previous.version if self.watcher.previous else None
        self.state["installed"] = {
            "version": version,
            "file": target.name,
            "model_version": self.watcher.version,
            "installed_at": datetime.now(UTC).isoformat(),
            "previous": previous,
        }
        self.probation = {
            "version": version,
            "model_version": self.watcher.version,
            "previous_model_version": previous_model,
            "started_at": now.isoformat(),
            "failures": 0,
            "decisions_left": self.probation_decisions,
        }
        self.state["probation"] = self.probation
        self._save_state()
        log.info("model %s v%d installed from %s", self.name, version, self.where)
        return True

    # ------------------------------------------------------------------ probation
    def check(self, model_version: str, now: datetime | None = None) -> bool:
        """After each decision (its ``model_version``, made at ``now``): count it against
        the new model's probation, and judge its forecasts once the probation's time is up.
        True when it rolled the model back."""
        p = self.probation
        if p is None:
            return False
        now = now or datetime.now(UTC)
        if p["decisions_left"] > 0:
            p["decisions_left"] -= 1
            # a decision whose forecaster failed says "none (forecaster <version> failed)"
            if model_version.startswith("none") and p["model_version"] in model_version:
                p["failures"] += 1
            if p["failures"] >= self.max_errors:
                return self._roll_back(
                    p, f"forecaster failed {p['failures']} time(s) in its first decisions"
                )
        if self.decisions_db is None:
            if p["decisions_left"] <= 0:
                log.info("model %s v%d passed its probation", self.name, p["version"])
                self._end_probation()
            return False
        started = datetime.fromisoformat(p["started_at"])
        if now - started < timedelta(hours=self.probation_hours):
            return False
        verdict = self.judge(p, now)
        if verdict is None:  # too few hours to judge yet: stay on probation
            return False
        p["judgement"] = verdict
        if verdict["bad"]:
            return self._roll_back(p, verdict["reason"])
        log.info(
            "model %s v%d passed its probation: %s", self.name, p["version"], verdict["reason"]
        )
        self._end_probation()
        return False

    def _end_probation(self) -> None:
        self.probation = None
        self.state["probation"] = None
        self._save_state()

    def _reinstall_previous(self, reason: str) -> bool:
        """After a restart the watcher no longer holds the model before the swap: install
        its file again (named in the state), and move the bad one to ``rejected/``."""
        installed = self.state["installed"] or {}
        previous = installed.get("previous") or {}
        old = self.watcher.folder / previous.get("file", "")
        bad = self.watcher.current
        if not previous.get("file") or not old.is_file() or bad is None:
            return False
        rejected = self.watcher.folder / "rejected"
        rejected.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            os.replace(bad.path, rejected / bad.path.name)
        self.watcher.refused[bad.version] = reason
        return self.watcher.install(old)

    def judge(self, p: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """The new model's hour-ahead forecast error since its swap against the reference
        (the previous model's over as long before the swap, else persistence); None while
        fewer than ``min_hours`` hours can be judged."""
        started = datetime.fromisoformat(p["started_at"])
        new, persistence = hourly_forecast_errors(
            self.decisions_db, started, now, p["model_version"]
        )
        if new.size < self.min_hours:
            return None
        mae = float(new.mean())
        reference, against = float(persistence.mean()), "persistence (the last hour's price)"
        if p.get("previous_model_version"):
            old, _ = hourly_forecast_errors(
                self.decisions_db, started - (now - started), started, p["previous_model_version"]
            )
            if old.size >= self.min_hours:
                reference, against = (
                    float(old.mean()),
                    f"the previous model {p['previous_model_version']}",
                )
        bad = mae > self.tolerance * reference and mae > self.floor_per_kwh
        reason = (
            f"hour-ahead price MAE {mae:.4f}/kWh over {new.size} h against the realised prices, "
            f"{mae / reference if reference else float('inf'):.1f}x that of {against} "
            f"({reference:.4f}/kWh; limit {self.tolerance:g}x)"
        )
        return {"bad": bad, "mae_per_kwh": mae, "reference_mae_per_kwh": reference,
                "hours": int(new.size), "reason": reason}  # fmt: skip

    def _roll_back(self, p: dict[str, Any], reason: str) -> bool:
        self._end_probation()
        if self.watcher.rollback(reason) or self._reinstall_previous(reason):
            self._refuse(p["version"], reason)
            self.state["installed"] = self.state["installed"].get("previous")
            self._save_state()
            log.error("model %s v%d rolled back: %s", self.name, p["version"], reason)
            return True
        return False

    def status(self) -> dict[str, Any]:
        """Installed version, probation, refusals, last error (for the status and dashboard)."""
        return {
            "from": self.where,
            "name": self.name,
            "installed": self.state["installed"],
            "refused": dict(self.state["refused"]),
            "probation": dict(self.probation) if self.probation else None,
            "last_checked_at": self.last_checked_at.isoformat() if self.last_checked_at else None,
            "last_error": self.last_error,
        }
