"""Copy the Parquet store to Postgres (Supabase), resumably and without rewriting what is there.

Per Parquet partition (one source/kind/month file) and batch, the rows go through the
SQL upsert every SQL store shares (:func:`energylib.store.sql.upsert_rows`: ``COPY``
into a staging table, then ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <values
differ>``, a plain ``INSERT`` where nothing is stored in the batch's range), in one
transaction per batch.  Rows already stored as given are not rewritten, so a re-run
changes nothing.  Sync connections use ``synchronous_commit = off``: a server crash can
lose only the newest commits, and the next sync redoes them.  A sync never deletes: rows
removed from the Parquet store stay in Postgres.  A partition's content fingerprint is
recorded in ``energylib.sync_state`` after all its batches commit: a later sync skips
partitions whose file has not changed, and a sync cut off half-way redoes only the
unfinished partitions (re-upserting a batch is harmless).  Dropped connections (server
restart, terminated backend, network) are retried with a fresh connection.

The source is a :class:`~energylib.store.parquet.ParquetStore` (not any store): the
partition files are what is fingerprinted and copied.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psycopg
from tqdm.auto import tqdm

from energylib.store import sql
from energylib.store.parquet import ParquetStore
from energylib.store.postgres import (
    DEFAULT_SCHEMA,
    PostgresDialect,
    PostgresSyncError,
    connect,
    ensure_schema,
    redact_url,
    resolve_url,
    scrub,
)

STATE_TABLE = "sync_state"
_RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError)


def _state_table(schema: str) -> str:
    return f"{sql.identifier(schema)}.{sql.identifier(STATE_TABLE)}"


def _ensure_state_table(con: psycopg.Connection, schema: str) -> None:
    with con.transaction():
        ensure_schema(con, schema)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {_state_table(schema)} (source text NOT NULL, "
            "kind text NOT NULL, partition text NOT NULL, fingerprint text NOT NULL, "
            "rows bigint NOT NULL, synced_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (source, kind, partition))"
        )


@dataclass
class BatchInfo:
    """Passed to ``on_batch`` after each committed batch."""

    source: str
    kind: str
    partition: str
    batch: int
    rows: int
    backend_pid: int


@dataclass
class SyncReport:
    """What a sync did."""

    url: str  # redacted
    partitions: int = 0
    synced: int = 0
    skipped: int = 0
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    tables: set[str] = field(default_factory=set)

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated

    def __str__(self) -> str:
        return (
            f"synced {self.synced} of {self.partitions} partition(s) to {self.url} "
            f"({self.skipped} unchanged since the last sync skipped): {self.rows} rows, inserted {self.inserted}, "
            f"updated {self.updated}, unchanged {self.unchanged}; {self.reconnects} reconnect(s); {self.seconds:.1f} s"
        )


def _fingerprint(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _partitions(store: ParquetStore) -> Iterator[tuple[str, str, Path]]:
    for source, kind in store.datasets():
        for path in store.files(source, kind):
            yield source, kind, path


def sync_to_postgres(
    store: ParquetStore,
    url: str | None = None,
    *,
    batch_rows: int = 100_000,
    progress: bool = True,
    force: bool = False,
    retries: int = 5,
    retry_wait_s: float = 0.5,
    schema: str = DEFAULT_SCHEMA,
    on_batch: Callable[[BatchInfo], None] | None = None,
) -> SyncReport:
    """Upsert every dataset of a Parquet store into Postgres.

    Parameters
    ----------
    store : ParquetStore
        The source of truth.
    url : str, optional
        ``postgresql://user:password@host:port/db``; defaults to ``SUPABASE_DB_URL``.
    batch_rows : int
        Rows per COPY + upsert transaction.
    progress : bool
        Show a progress bar over partitions (tqdm).
    force : bool
        Upsert every partition, even those unchanged since the last sync.
    retries : int
        Reconnect attempts after a dropped connection, per partition.
    retry_wait_s : float
        First wait [s] before reconnecting; doubles per attempt.
    schema : str
        Postgres schema of the tables (created if absent).
    on_batch : callable, optional
        Called with a :class:`BatchInfo` after each committed batch.

    Returns
    -------
    SyncReport
        Partitions synced and skipped, rows inserted / updated / unchanged.

    Raises
    ------
    PostgresSyncError
        When the server stays unreachable; what was committed stays, and a
        re-run continues with the partitions not yet recorded as synced.
    """
    url = resolve_url(url)
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
    started = time.perf_counter()
    report = SyncReport(url=redact_url(url))
    dialect = PostgresDialect(url, schema)
    parts = list(_partitions(store))
    report.partitions = len(parts)
    con = _sync_connection(url, retries, retry_wait_s)
    bar = tqdm(total=len(parts), desc="sync to Postgres", disable=not progress)
    try:
        _ensure_state_table(con, schema)
        state = {
            (r[0], r[1], r[2]): r[3]
            for r in con.execute(
                f"SELECT source, kind, partition, fingerprint FROM {_state_table(schema)}"
            ).fetchall()
        }
        for source, kind, path in parts:
            raw = (
                path.read_bytes()
            )  # hash and parse the same bytes, even if the store rewrites the file meanwhile
            fp = _fingerprint(raw)
            key = (source, kind, path.stem)
            if not force and state.get(key) == fp:
                report.skipped += 1
                bar.update()
                continue
            frame = pl.read_parquet(io.BytesIO(raw))
            # a column with no values in this partition has no type to store; it carries nothing
            frame = frame.select([c for c in frame.columns if frame.schema[c] != pl.Null])
            attempt = 0
            while True:
                try:
                    counts = _sync_partition(con, dialect, key, fp, frame, batch_rows, on_batch)
                    break
                except _RETRYABLE as exc:
                    attempt += 1
                    with contextlib.suppress(Exception):
                        con.close()
                    if attempt > retries:
                        raise PostgresSyncError(
                            f"connection to {report.url} lost while syncing {source}/{kind}/{path.name} "
                            f"({scrub(str(exc), url).strip()}); gave up after {retries} reconnect(s). "
                            f"Synced so far: {report}. Run the sync again to resume.",
                            report,
                        ) from None
                    time.sleep(retry_wait_s * (2 ** (attempt - 1)))
                    con = _sync_connection(url, retries, retry_wait_s)
                    report.reconnects += 1
            report.synced += 1
            report.rows += frame.height
            report.inserted += counts[0]
            report.updated += counts[1]
            report.tables.add(f"{schema}.{kind}")
            bar.update()
    finally:
        bar.close()
        with contextlib.suppress(Exception):
            con.close()
    report.seconds = time.perf_counter() - started
    return report


def _sync_connection(url: str, retries: int, wait_s: float) -> psycopg.Connection:
    """A connection for syncing.  Commits do not wait for the WAL flush (``synchronous_commit
    off``): a server crash can lose only the newest commits, in order, so a partition's
    state row is never kept without its rows, and the next sync redoes what was lost."""
    con = connect(url, retries=retries, wait_s=wait_s)
    con.execute("SET synchronous_commit TO off")
    return con


def _sync_partition(
    con: psycopg.Connection,
    dialect: PostgresDialect,
    key: tuple[str, str, str],
    fingerprint: str,
    frame: pl.DataFrame,
    batch_rows: int,
    on_batch: Callable[[BatchInfo], None] | None,
) -> tuple[int, int]:
    source, kind, partition = key
    schema = dialect.schema
    with con.transaction():
        sql.ensure_table(con, dialect, kind, frame)
    inserted = updated = 0
    batches = list(frame.iter_slices(batch_rows))
    for i, batch in enumerate(batches):
        with con.transaction():
            ins, upd = sql.upsert_rows(con, dialect, kind, batch)
            if i == len(batches) - 1:  # the partition is recorded with its last rows
                con.execute(
                    f"INSERT INTO {_state_table(schema)} (source, kind, partition, fingerprint, "
                    "rows) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, kind, partition) DO "
                    "UPDATE SET fingerprint = EXCLUDED.fingerprint, rows = EXCLUDED.rows, "
                    "synced_at = now()",
                    (source, kind, partition, fingerprint, frame.height),
                )
        inserted += ins
        updated += upd
        if on_batch is not None:
            on_batch(BatchInfo(source, kind, partition, i, batch.height, con.info.backend_pid))
    return inserted, updated
