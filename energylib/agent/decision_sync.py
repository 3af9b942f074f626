"""The decision log's durable copy: the agent's decisions upserted into Postgres (Supabase).

The SQLite decision log on the Pi stays the record the agent writes first (a decision is
never held up by the network); this job copies what it has not copied yet into
``energylib.agent_decisions`` (one row per site and decision slot) whenever
``SUPABASE_DB_URL`` is set, every ``ENERGY_AGENT_CLOUD_SYNC_EVERY_S`` seconds; with only
``SUPABASE_URL`` and ``SUPABASE_KEY``, :class:`RestDecisionSync` does the same over
Supabase's REST API.

Durability, as the store sync: each batch of rows and the watermark (the last local row
id copied, in ``energylib.agent_decision_sync``) commit in one transaction with
``synchronous_commit`` on, so the watermark is never ahead of rows that are on the
server's disk; after a dropped connection the next run starts from the watermark the
server has, and re-upserting a row already there changes nothing.  A Postgres that is
down costs nothing but a logged error and a growing ``pending`` count in the status.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from energylib.agent.decision_log import COLUMNS, open_readonly
from energylib.dates import from_epoch_us
from energylib.store import sql
from energylib.store.postgres import (
    DEFAULT_SCHEMA,
    PostgresSyncError,
    connect,
    ensure_schema,
    redact_url,
    scrub,
)
from energylib.store.supabase import SupabaseError, SupabaseRest, iso_utc

log = logging.getLogger(__name__)

TABLE = "agent_decisions"
STATE_TABLE = "agent_decision_sync"
_VALUES = [c for c in COLUMNS if c != "decided_at"]


def _table(schema: str, name: str) -> str:
    return f"{sql.identifier(schema)}.{sql.identifier(name)}"


def table_ddl(schema: str = DEFAULT_SCHEMA) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` of the decisions table and the watermark table."""
    return [
        f"CREATE TABLE IF NOT EXISTS {_table(schema, TABLE)} (site text NOT NULL, "
        "decided_at timestamptz NOT NULL, local_id bigint NOT NULL, action text NOT NULL, "
        "battery_kw double precision NOT NULL, ev_kw double precision NOT NULL, "
        "reason text NOT NULL, price_per_kwh double precision, data_age_s double precision, "
        "stale boolean NOT NULL, model_version text NOT NULL, latency_ms double precision "
        "NOT NULL, inputs jsonb NOT NULL, forecast jsonb NOT NULL, "
        "PRIMARY KEY (site, decided_at))",
        f"CREATE TABLE IF NOT EXISTS {_table(schema, STATE_TABLE)} (site text PRIMARY KEY, "
        "last_id bigint NOT NULL, synced_at timestamptz NOT NULL DEFAULT now())",
    ]


def ensure_tables(con: psycopg.Connection, schema: str = DEFAULT_SCHEMA) -> None:
    """Create the decisions table and the watermark table if absent."""
    with con.transaction():
        ensure_schema(con, schema)
        for statement in table_ddl(schema):
            con.execute(statement)


def _values(row: tuple) -> dict[str, Any]:
    """A local row (id first) as the copy's columns: the time as a UTC datetime, ``stale``
    as a boolean."""
    values = dict(zip(COLUMNS, row[1:], strict=True))
    values["decided_at"] = from_epoch_us(values["decided_at"])
    values["stale"] = bool(values["stale"])
    return values


class DecisionSync:
    """Copies new rows of the decision log to Postgres.

    Parameters
    ----------
    decisions_db : path
        The agent's ``decisions.sqlite``.
    url : str
        Postgres URL (``SUPABASE_DB_URL``); never logged (only its redacted form).
    site : str
        The site the rows belong to (the agent's site id).
    batch_rows : int
        Rows per transaction.
    connect_timeout_s : float
        The agent runs its jobs on one thread: a server that does not answer costs at
        most this long per run [s].
    """

    def __init__(
        self,
        decisions_db: str | Path,
        url: str,
        site: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        batch_rows: int = 500,
        connect_timeout_s: float = 5.0,
    ):
        self.path = Path(decisions_db)
        self._url = url
        self.where = redact_url(url)
        self.site = site
        self.schema = schema
        self.batch_rows = batch_rows
        self.connect_timeout_s = connect_timeout_s
        self.last_id: int | None = None  # the server's watermark, as last seen
        self.synced = 0
        self.last_synced_at: datetime | None = None
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"DecisionSync({self.where!r}, site={self.site!r})"

    def _local_rows(self, after: int) -> list[tuple]:
        if not self.path.exists():
            return []
        con = open_readonly(self.path)
        try:
            if not con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='decisions'"
            ).fetchone():
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
            if not con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='decisions'"
            ).fetchone():
                return 0
            return int(
                con.execute("SELECT count(*) FROM decisions WHERE id > ?", (after,)).fetchone()[0]
            )
        finally:
            con.close()

    def sync(self) -> int:
        """Copy every row not yet on the server; returns how many were copied.

        Raises
        ------
        PostgresSyncError
            The server is unreachable or the connection dropped; what committed stays.
        """
        try:
            con = connect(self._url, retries=0, connect_timeout_s=self.connect_timeout_s)
        except PostgresSyncError as exc:
            raise PostgresSyncError(str(exc)) from None
        copied = 0
        try:
            con.execute("SET synchronous_commit TO on")
            ensure_tables(con, self.schema)
            row = con.execute(
                f"SELECT last_id FROM {_table(self.schema, STATE_TABLE)} WHERE site = %s",
                (self.site,),
            ).fetchone()
            last = int(row[0]) if row else 0
            self.last_id = last
            while True:
                rows = self._local_rows(last)
                if not rows:
                    break
                self._commit(con, rows)
                last = int(rows[-1][0])
                self.last_id = last
                copied += len(rows)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise PostgresSyncError(
                f"connection to {self.where} lost: {scrub(str(exc), self._url).strip()}; "
                f"{copied} decision(s) copied, the rest on the next run"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                con.close()
        self.synced += copied
        self.last_synced_at = datetime.now(UTC)
        return copied

    def _commit(self, con: psycopg.Connection, rows: list[tuple]) -> None:
        cols = ["site", "local_id", *COLUMNS]
        table = _table(self.schema, TABLE)
        placeholders = ", ".join("%s::jsonb" if c in ("inputs", "forecast") else "%s" for c in cols)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ["local_id", *_VALUES])
        differ = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in _VALUES)
        statement = (
            f"INSERT INTO {table} AS t ({', '.join(cols)}) VALUES ({placeholders}) "
            f"ON CONFLICT (site, decided_at) DO UPDATE SET {updates} WHERE {differ}"
        )
        args = []
        for r in rows:
            values = _values(r)
            args.append((self.site, int(r[0]), *(values[c] for c in COLUMNS)))
        with con.transaction():
            with con.cursor() as cur:
                cur.executemany(statement, args)
            con.execute(
                f"INSERT INTO {_table(self.schema, STATE_TABLE)} (site, last_id) VALUES (%s, %s) "
                "ON CONFLICT (site) DO UPDATE SET last_id = EXCLUDED.last_id, synced_at = now()",
                (self.site, int(rows[-1][0])),
            )

    def run(self, now: datetime | None = None) -> int:
        """The agent's job: :meth:`sync`, with a failure logged and kept, never raised."""
        try:
            n = self.sync()
        except PostgresSyncError as exc:
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


class RestDecisionSync(DecisionSync):
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
        super().__init__(decisions_db, "", site, schema=rest.schema, batch_rows=batch_rows)
        self.rest = rest
        self.where = f"{rest.url}/rest/v1 ({rest.schema})"

    def __repr__(self) -> str:
        return f"RestDecisionSync({self.where!r}, site={self.site!r})"

    def sync(self) -> int:
        """Copy every row not yet in Supabase; returns how many were copied.

        Raises
        ------
        PostgresSyncError
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
            raise PostgresSyncError(
                f"{exc}; {copied} decision(s) copied, the rest on the next run"
            ) from None
        self.synced += copied
        self.last_synced_at = datetime.now(UTC)
        return copied
