"""Copy the Parquet store to Postgres (Supabase), resumably and without rewriting what is there.

Per Parquet partition (one source/kind/month file) and batch, the rows go through the
SQL upsert every SQL store shares (:func:`energylib.store.sql.upsert_rows`: ``COPY``
into a staging table, then ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <values
differ>``, a plain ``INSERT`` where nothing is stored in the batch's range), in one
transaction per batch.  Rows already stored as given are not rewritten, so a re-run
changes nothing.  A sync never deletes: rows removed from the Parquet store stay in
Postgres.

Durability: commits wait for the server's write-ahead log (the server's
``synchronous_commit``, never turned off here), so a batch the sync saw commit survives a
server crash.  A partition's content fingerprint is recorded in ``energylib.sync_state``
in the same transaction as its last batch, so it is recorded only once all its rows are
durable: a later sync skips partitions whose file has not changed, and a sync cut off
half-way redoes only the unfinished partitions (re-upserting a batch is harmless).
Dropped connections (server restart or crash, terminated backend, network) are retried
with a fresh connection; after each reconnect the sync checks that every partition it
recorded so far is still recorded with its fingerprint, and redoes any that is not.

The source is a :class:`~energylib.store.parquet.ParquetStore` (not any store): the
partition files are what is fingerprinted and copied.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
from collections import deque
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
    parts = deque(_partitions(store))
    report.partitions = len(parts)
    con = _sync_connection(url, retries, retry_wait_s)
    bar = tqdm(total=len(parts), desc="sync to Postgres", disable=not progress)
    # recorded in this run: (path, fingerprint, rows, inserted, updated) per partition
    done: dict[tuple[str, str, str], tuple[Path, str, int, int, int]] = {}
    try:
        _ensure_state_table(con, schema)
        state = _recorded(con, schema)
        while parts:
            source, kind, path = parts.popleft()
            # hash and parse the same bytes, even if the file is replaced meanwhile
            raw = path.read_bytes()
            fp = _fingerprint(raw)
            key = (source, kind, path.stem)
            if not force and key not in done and state.get(key) == fp:
                report.skipped += 1
                bar.update()
                continue
            frame = pl.read_parquet(io.BytesIO(raw))
            # a column with no values in this partition has no type to store; it carries nothing
            frame = frame.select([c for c in frame.columns if frame.schema[c] != pl.Null])
            attempt = 0
            while True:
                try:
                    if attempt:  # after a reconnect: redo what the server no longer shows recorded
                        for k in _unproven(con, schema, done):
                            lost_path, _, lost_rows, lost_ins, lost_upd = done.pop(k)
                            report.synced -= 1
                            report.rows -= lost_rows
                            report.inserted -= lost_ins
                            report.updated -= lost_upd
                            parts.append((k[0], k[1], lost_path))
                            bar.total += 1
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
            done[key] = (path, fp, frame.height, *counts)
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
    """A connection for syncing whose commits wait for the WAL flush: a batch seen to commit
    survives a server crash (``synchronous_commit`` at least ``on``, whatever the role's or
    database's default says)."""
    con = connect(url, retries=retries, wait_s=wait_s)
    if con.execute("SHOW synchronous_commit").fetchone()[0] in ("off", "local"):
        con.execute("SET synchronous_commit TO on")
    return con


def _recorded(con: psycopg.Connection, schema: str) -> dict[tuple[str, str, str], str]:
    """Every partition recorded as synced and its fingerprint."""
    rows = con.execute(
        f"SELECT source, kind, partition, fingerprint FROM {_state_table(schema)}"
    ).fetchall()
    return {(r[0], r[1], r[2]): r[3] for r in rows}


def _unproven(
    con: psycopg.Connection, schema: str, done: dict[tuple[str, str, str], tuple]
) -> list[tuple[str, str, str]]:
    """Partitions this sync recorded that the server (after a reconnect) no longer shows
    recorded with their fingerprint: their rows cannot be proven committed."""
    state = _recorded(con, schema)
    return [k for k, (_, fp, *_) in done.items() if state.get(k) != fp]


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
