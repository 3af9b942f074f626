"""The decision log's durable copy: the agent's decisions upserted into Postgres (Supabase).

The SQLite decision log on the Pi stays the record the agent writes first (a decision is
never held up by the network); this job copies what it has not copied yet into
``energylib.agent_decisions`` (one row per site and decision slot) whenever
``SUPABASE_DB_URL`` is set, every ``ENERGY_AGENT_CLOUD_SYNC_EVERY_S`` seconds; with only
``SUPABASE_URL`` and ``SUPABASE_KEY``, :class:`~energylib.agent.decision_copy.RestDecisionSync` does the same over
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
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from energylib.agent.decision_copy import STATE_TABLE, TABLE, DecisionCopy, _values
from energylib.agent.decision_log import COLUMNS
from energylib.store import sql
from energylib.store.postgres import (
    DEFAULT_SCHEMA,
    PostgresSyncError,
    connect,
    ensure_schema,
    redact_url,
    scrub,
)

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


class DecisionSync(DecisionCopy):
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

    errors = (PostgresSyncError,)

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
        super().__init__(decisions_db, site, batch_rows=batch_rows, where=redact_url(url))
        self._url = url
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s

    def __repr__(self) -> str:
        return f"DecisionSync({self.where!r}, site={self.site!r})"

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
