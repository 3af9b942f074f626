"""The decision log's copy, the part that needs no database driver: reading the local log,
the agent's job and its status, and the copy over Supabase's REST API.

:class:`DecisionCopy` reads the rows of the agent's SQLite decision log not copied yet;
:class:`~energylib.agent.decision_sync.DecisionSync` copies them to Postgres
(``SUPABASE_DB_URL``, the ``[pg]`` extra), :class:`RestDecisionSync` over Supabase's REST
API (``SUPABASE_URL``, ``SUPABASE_KEY``; no Postgres driver on the Pi).  Both write the
same tables (``energylib.agent_decisions``, watermark ``energylib.agent_decision_sync``).
"""

from __future__ import annotations

import abc
import contextlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energylib.agent.decision_log import COLUMNS, open_readonly
from energylib.dates import from_epoch_us
from energylib.store.supabase import SupabaseError, SupabaseRest, iso_utc

log = logging.getLogger(__name__)

TABLE = "agent_decisions"
STATE_TABLE = "agent_decision_sync"


class CopyError(RuntimeError):
    """A copy stopped (the target refused or could not be reached); what it confirmed stays."""


def _values(row: tuple) -> dict[str, Any]:
    """A local row (id first) as the copy's columns: the time as a UTC datetime, ``stale``
    as a boolean."""
    values = dict(zip(COLUMNS, row[1:], strict=True))
    values["decided_at"] = from_epoch_us(values["decided_at"])
    values["stale"] = bool(values["stale"])
    return values


def _has_log(con) -> bool:
    """Whether the agent has written its decision log's table yet."""
    return bool(
        con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='decisions'"
        ).fetchone()
    )


class DecisionCopy(abc.ABC):
    """Copies new rows of the decision log somewhere; subclasses implement :meth:`sync`.

    Parameters
    ----------
    decisions_db : path
        The agent's ``decisions.sqlite``.
    site : str
        The site the rows belong to (the agent's site id).
    batch_rows : int
        Rows per batch.
    where : str
        The target, for messages (never a secret).
    """

    #: What :meth:`sync` raises when the target fails (:meth:`run` logs and keeps it).
    errors: tuple[type[Exception], ...] = (CopyError,)

    def __init__(self, decisions_db: str | Path, site: str, *, batch_rows: int, where: str):
        self.path = Path(decisions_db)
        self.site = site
        self.batch_rows = batch_rows
        self.where = where
        self.last_id: int | None = None  # the target's watermark, as last seen
        self.synced = 0
        self.last_synced_at: datetime | None = None
        self.last_error: str | None = None

    @abc.abstractmethod
    def sync(self) -> int:
        """Copy every row not yet at the target; returns how many."""

    def _local_rows(self, after: int) -> list[tuple]:
        if not self.path.exists():
            return []
        con = open_readonly(self.path)
        try:
            if not _has_log(con):
                return []
            return con.execute(
                f"SELECT id, {', '.join(COLUMNS)} FROM decisions WHERE id > ? ORDER BY id LIMIT ?",
                (after, self.batch_rows),
            ).fetchall()
        finally:
            con.close()

    def local_count_after(self, after: int) -> int:
        """Rows of the local log with an id above ``after``."""
        if not self.path.exists():
            return 0
        con = open_readonly(self.path)
        try:
            if not _has_log(con):
                return 0
            return int(
                con.execute("SELECT count(*) FROM decisions WHERE id > ?", (after,)).fetchone()[0]
            )
        finally:
            con.close()

    def run(self, now: datetime | None = None) -> int:
        """The agent's job: :meth:`sync`, with a failure logged and kept, never raised."""
        try:
            n = self.sync()
        except self.errors as exc:
            if self.last_error != str(exc):
                log.error("decision log sync to %s failed: %s", self.where, exc)
            self.last_error = str(exc)
            return 0
        if n:
            log.info("copied %d decision(s) to %s", n, self.where)
        self.last_error = None
        return n

    def status(self) -> dict[str, Any]:
        """What is copied, what is pending, the last error (for the status and the dashboard)."""
        pending = None
        with contextlib.suppress(Exception):
            pending = self.local_count_after(self.last_id or 0)
        return {
            "to": self.where,
            "copied": self.synced,
            "watermark": self.last_id,
            "pending": pending,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "last_error": self.last_error,
        }


class RestDecisionSync(DecisionCopy):
    """The same copy over Supabase's REST API (``SUPABASE_URL``, ``SUPABASE_KEY``), for an
    agent that has no Postgres URL: the same tables (created once with the SQL of
    ``energy sync --supabase-schema``).

    Per batch, the rows are upserted (``on_conflict=site,decided_at``), then the watermark
    row; a request that fails leaves the watermark at the last batch Supabase confirmed,
    and the next run re-sends at most that one batch (an upsert: nothing doubles).

    Parameters
    ----------
    decisions_db : path
        The agent's ``decisions.sqlite``.
    rest : SupabaseRest
        The project (its key is never logged).
    site : str
        The agent's site id.
    batch_rows : int
        Rows per request.
    """

    def __init__(
        self, decisions_db: str | Path, rest: SupabaseRest, site: str, *, batch_rows: int = 500
    ):
        super().__init__(
            decisions_db, site, batch_rows=batch_rows, where=f"{rest.url}/rest/v1 ({rest.schema})"
        )
        self.rest = rest

    def __repr__(self) -> str:
        return f"RestDecisionSync({self.where!r}, site={self.site!r})"

    def sync(self) -> int:
        """Copy every row not yet in Supabase; returns how many were copied.

        Raises
        ------
        CopyError
            Supabase refused a request or could not be reached; what it confirmed stays.
        """
        copied = 0
        try:
            found = self.rest.select(STATE_TABLE, ("last_id",), site=self.site)
            last = int(found[0]["last_id"]) if found else 0
            self.last_id = last
            while rows := self._local_rows(last):
                out = []
                for r in rows:
                    v = _values(r)
                    v |= {
                        "decided_at": iso_utc(v["decided_at"]),
                        "inputs": json.loads(v["inputs"]),
                        "forecast": json.loads(v["forecast"]),
                    }
                    out.append({"site": self.site, "local_id": int(r[0]), **v})
                self.rest.upsert(TABLE, out, on_conflict=("site", "decided_at"))
                last = int(rows[-1][0])
                self.rest.upsert(
                    STATE_TABLE,
                    [{"site": self.site, "last_id": last, "synced_at": iso_utc(datetime.now(UTC))}],
                    on_conflict=("site",),
                )
                self.last_id = last
                copied += len(rows)
        except SupabaseError as exc:
            raise CopyError(
                f"{exc}; {copied} decision(s) copied, the rest on the next run"
            ) from None
        self.synced += copied
        self.last_synced_at = datetime.now(UTC)
        return copied
