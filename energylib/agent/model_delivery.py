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
4. keeps the new model on probation for ``probation_decisions`` decisions: when the
   forecaster fails ``max_errors`` times in that window, :meth:`ModelWatcher.rollback`
   puts the previous model back and the version is never downloaded again.

What was installed is kept in ``models/.delivered.json`` so a restart neither downloads
the same version again nor forgets a refused one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

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
    ):
        self._url = url
        self.where = redact_url(url)
        self.watcher = watcher
        self.name = name
        self.schema = schema
        self.probation_decisions = probation_decisions
        self.max_errors = max_errors
        self.connect_timeout_s = connect_timeout_s
        self.state_path = watcher.folder / STATE_FILE
        self.state = self._load_state()
        self.probation: dict[str, Any] | None = None
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
            installed = self._poll()
        except (PostgresSyncError, psycopg.Error, OSError) as exc:
            message = scrub(str(exc), self._url).strip()
            if self.last_error != message:
                log.error("model delivery from %s failed: %s", self.where, message)
            self.last_error = message
            return False
        self.last_error = None
        return installed

    def _poll(self) -> bool:
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
        self.state["installed"] = {
            "version": version,
            "file": target.name,
            "model_version": self.watcher.version,
            "installed_at": datetime.now(UTC).isoformat(),
            "previous": previous,
        }
        self._save_state()
        self.probation = {
            "version": version,
            "model_version": self.watcher.version,
            "failures": 0,
            "decisions_left": self.probation_decisions,
        }
        log.info("model %s v%d installed from %s", self.name, version, self.where)
        return True

    # ------------------------------------------------------------------ probation
    def check(self, model_version: str) -> bool:
        """After each decision (its ``model_version``): count it against the new model's
        probation; roll back when the forecaster failed in ``max_errors`` decisions.
        True when it rolled back."""
        p = self.probation
        if p is None:
            return False
        p["decisions_left"] -= 1
        # a decision whose forecaster failed says "none (forecaster <version> failed)"
        if model_version.startswith("none") and p["model_version"] in model_version:
            p["failures"] += 1
        failures = p["failures"]
        if failures >= self.max_errors:
            reason = f"forecaster failed {failures} time(s) in its first decisions"
            self.probation = None
            if self.watcher.rollback(reason):
                self._refuse(p["version"], reason)
                self.state["installed"] = self.state["installed"].get("previous")
                self._save_state()
                return True
            return False
        if p["decisions_left"] <= 0:
            log.info("model %s v%d passed its probation", self.name, p["version"])
            self.probation = None
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
