"""Postgres (Supabase) as the durable copy of the Parquet store.

The Pi stays Parquet/SQLite-first; :func:`sync_to_postgres` copies the store to a
Postgres database and :class:`PostgresStore` reads it back as canonical frames.

Layout: one table per kind in schema ``energylib`` (``energylib.prices``,
``energylib.usage`` ...), keyed like the Parquet store on
``(source, site, channel, interval_minutes, interval_start)``, with the series
columns (``currency``, ``timezone``) and one column per value column (added with
``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` when a new one appears).

Sync, per Parquet partition (one source/kind/month file) and batch:
``COPY`` the rows into a temporary staging table, then
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE <values differ>`` into the
target, in one transaction per batch.  Rows already stored as given are not
rewritten, so a re-run changes nothing.  Where none of a batch's series has rows
in the batch's time range (a first sync), a plain ``INSERT`` does the same job at
about half the server time; the table is locked against other writers (``SHARE
ROW EXCLUSIVE``, readers are not blocked) so that check holds until the commit.
Sync connections use ``synchronous_commit = off``: a server crash can lose only
the newest commits, and the next sync redoes them.  A sync never deletes: rows
removed from the Parquet store stay in Postgres.  A partition's content fingerprint is
recorded in ``energylib.sync_state`` after all its batches commit: a later sync
skips partitions whose file has not changed, and a sync cut off half-way redoes
only the unfinished partitions (re-upserting a batch is harmless).  Dropped
connections (server restart, terminated backend, network) are retried with a
fresh connection.

The database URL comes from ``SUPABASE_DB_URL`` or the caller; it is never
printed or logged with its password (:func:`redact_url`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import psycopg
from psycopg import sql
from tqdm.auto import tqdm

from energylib.schema import TIME, FrameMeta, validate, value_columns
from energylib.store import (
    KEY,
    SERIES_COLUMNS,
    ParquetStore,
    UpsertResult,
    _as_utc,
    _drop_empty_columns,
    _with_series_columns,
)

DEFAULT_SCHEMA = "energylib"
STATE_TABLE = "sync_state"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PostgresSyncError(RuntimeError):
    """A sync stopped; ``report`` says what was synced before it.  Re-running resumes."""

    def __init__(self, message: str, report: SyncReport | None = None):
        super().__init__(message)
        self.report = report


# --------------------------------------------------------------------------- secrets
def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (also ``password=`` in key=value DSNs)."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is not None:
            user = parts.username or ""
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        query = re.sub(r"(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit(parts._replace(query=query))
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)


def _password(url: str) -> str | None:
    if "://" in url:
        return urlsplit(url).password
    m = re.search(r"password\s*=\s*('([^']*)'|\S+)", url)
    return (m.group(2) or m.group(1)) if m else None


def _scrub(text: str, url: str) -> str:
    pw = _password(url)
    text = text.replace(url, redact_url(url))
    return text.replace(pw, "***") if pw else text


def resolve_url(url: str | None = None) -> str:
    """``url`` or ``SUPABASE_DB_URL`` (env or .env); a clear error when neither is set."""
    if url:
        return url
    from energylib.config import load_settings

    found = load_settings().supabase_db_url
    if not found:
        raise PostgresSyncError(
            "no Postgres URL: pass --to postgresql://user:password@host:5432/db or set SUPABASE_DB_URL "
            "in the environment or .env"
        )
    return found


# --------------------------------------------------------------------------- types
def _pg_type(dtype: pl.DataType) -> str:
    if dtype.is_float():
        return "double precision"
    if dtype.is_integer():
        return "bigint"
    if dtype == pl.Boolean:
        return "boolean"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz"
    return "text"


def _polars_type(pg: str) -> pl.DataType:
    return {
        "double precision": pl.Float64,
        "real": pl.Float64,
        "bigint": pl.Int64,
        "integer": pl.Int64,
        "smallint": pl.Int16,
        "boolean": pl.Boolean,
        "timestamp with time zone": pl.Int64,  # read as epoch microseconds
    }.get(pg, pl.String)


def _ident(name: str) -> sql.Identifier:
    if not _IDENT.match(name):
        raise ValueError(
            f"{name!r} is not a valid table or column name (letters, digits and _ only)"
        )
    return sql.Identifier(name)


# --------------------------------------------------------------------------- connection
_RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError)
_FATAL_CONNECT = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "role ",
)


def connect(
    url: str, *, retries: int = 3, wait_s: float = 1.0, connect_timeout_s: float = 10.0
) -> psycopg.Connection:
    """Open a connection, retrying refused/unreachable servers; errors never show the password."""
    for attempt in range(retries + 1):
        try:
            return psycopg.connect(
                url, connect_timeout=int(max(1, connect_timeout_s)), autocommit=True
            )
        except psycopg.OperationalError as exc:
            message = _scrub(str(exc), url)
            if attempt == retries or any(s in message for s in _FATAL_CONNECT):
                raise PostgresSyncError(
                    f"cannot connect to {redact_url(url)}: {message.strip()}"
                ) from None
            time.sleep(wait_s * (2**attempt))
    raise AssertionError("unreachable")


def _ensure_schema(con: psycopg.Connection, schema: str) -> None:
    with con.transaction():
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(_ident(schema)))
        con.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (source text NOT NULL, kind text NOT NULL, partition text NOT NULL, "
                "fingerprint text NOT NULL, rows bigint NOT NULL, synced_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (source, kind, partition))"
            ).format(_ident(schema), _ident(STATE_TABLE))
        )


def _table_columns(con: psycopg.Connection, schema: str, kind: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, kind),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _ensure_table(con: psycopg.Connection, schema: str, kind: str, frame: pl.DataFrame) -> None:
    """Create the kind's table if absent and add any value column it lacks (one transaction)."""
    table = sql.SQL("{}.{}").format(_ident(schema), _ident(kind))
    with con.transaction():
        con.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (source text NOT NULL, site text NOT NULL, channel text NOT NULL, "
                "interval_minutes smallint NOT NULL, interval_start timestamptz NOT NULL, currency text, timezone text, "
                "PRIMARY KEY (source, site, channel, interval_minutes, interval_start))"
            ).format(table)
        )
        have = _table_columns(con, schema, kind)
        for col in value_columns(frame.drop([c for c in SERIES_COLUMNS if c in frame.columns])):
            if col not in have:
                con.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        table, _ident(col), sql.SQL(_pg_type(frame.schema[col]))
                    )
                )


def _upsert_batch(
    con: psycopg.Connection, schema: str, kind: str, rows: pl.DataFrame
) -> tuple[int, int]:
    """COPY ``rows`` (series columns + time + values) into staging and upsert; returns (inserted, updated).

    Runs inside the caller's transaction.
    """
    values = [c for c in rows.columns if c not in KEY and c not in ("currency", "timezone")]
    cols = [*KEY, "currency", "timezone", *values]
    stage_types = [
        "text",
        "text",
        "text",
        "smallint",
        "bigint",  # interval_start as epoch microseconds: exact, no text parsing
        "text",
        "text",
        *[_pg_type(rows.schema[c]) for c in values],
    ]
    con.execute(
        sql.SQL("CREATE TEMP TABLE _stage ({}) ON COMMIT DROP").format(
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(_ident(c), sql.SQL(t))
                for c, t in zip(cols, stage_types, strict=True)
            )
        )
    )
    csv = (
        rows.select(cols).with_columns(pl.col(TIME).dt.epoch("us")).write_csv(include_header=False)
    )
    with con.cursor().copy(
        sql.SQL("COPY _stage ({}) FROM STDIN (FORMAT csv)").format(
            sql.SQL(", ").join(map(_ident, cols))
        )
    ) as copy:
        copy.write(csv)
    target = sql.SQL("{}.{}").format(_ident(schema), _ident(kind))
    select_cols = [
        sql.SQL("timestamptz 'epoch' + interval_start * interval '1 microsecond'")
        if c == TIME
        else _ident(c)
        for c in cols
    ]
    # Writers to one table take turns (readers are not blocked), so the check below stays true
    # until this transaction commits.
    con.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
    ranges = rows.group_by(["source", "site", "channel", "interval_minutes"]).agg(
        pl.col(TIME).min().alias("lo"), pl.col(TIME).max().alias("hi")
    )
    probe = sql.SQL(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE source = %s AND site = %s AND channel = %s "
        "AND interval_minutes = %s AND interval_start BETWEEN %s AND %s)"
    ).format(target)
    overlap = any(con.execute(probe, r).fetchone()[0] for r in ranges.iter_rows())
    if not overlap:
        # Fast path: nothing stored in these series' time ranges (a first sync), so a plain
        # INSERT is the upsert, at about half the cost of ON CONFLICT's speculative insertion.
        cur = con.execute(
            sql.SQL("INSERT INTO {target} ({cols}) SELECT {select} FROM _stage").format(
                target=target,
                cols=sql.SQL(", ").join(map(_ident, cols)),
                select=sql.SQL(", ").join(select_cols),
            )
        )
        return int(cur.rowcount), 0
    updatable = ["currency", "timezone", *values]
    query = sql.SQL(
        "WITH up AS (INSERT INTO {target} AS t ({cols}) SELECT {select} FROM _stage "
        "ON CONFLICT (source, site, channel, interval_minutes, interval_start) DO UPDATE SET {sets} "
        "WHERE ({old}) IS DISTINCT FROM ({new}) RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
    ).format(
        target=target,
        cols=sql.SQL(", ").join(map(_ident, cols)),
        select=sql.SQL(", ").join(select_cols),
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(_ident(c)) for c in updatable),
        old=sql.SQL(", ").join(sql.SQL("t.{}").format(_ident(c)) for c in updatable),
        new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(_ident(c)) for c in updatable),
    )
    inserted, updated = con.execute(query).fetchone()
    return int(inserted), int(updated)


# --------------------------------------------------------------------------- sync
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
    parts = list(_partitions(store))
    report.partitions = len(parts)
    con = _sync_connection(url, retries, retry_wait_s)
    bar = tqdm(total=len(parts), desc="sync to Postgres", disable=not progress)
    try:
        _ensure_schema(con, schema)
        state = {
            (r[0], r[1], r[2]): r[3]
            for r in con.execute(
                sql.SQL("SELECT source, kind, partition, fingerprint FROM {}.{}").format(
                    _ident(schema), _ident(STATE_TABLE)
                )
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
                    counts = _sync_partition(con, schema, key, fp, frame, batch_rows, on_batch)
                    break
                except _RETRYABLE as exc:
                    attempt += 1
                    with contextlib.suppress(Exception):
                        con.close()
                    if attempt > retries:
                        raise PostgresSyncError(
                            f"connection to {report.url} lost while syncing {source}/{kind}/{path.name} "
                            f"({_scrub(str(exc), url).strip()}); gave up after {retries} reconnect(s). "
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


def _sync_partition(con, schema, key, fingerprint, frame, batch_rows, on_batch) -> tuple[int, int]:
    source, kind, partition = key
    _ensure_table(con, schema, kind, frame)
    inserted = updated = 0
    batches = list(frame.iter_slices(batch_rows))
    for i, batch in enumerate(batches):
        with con.transaction():
            ins, upd = _upsert_batch(con, schema, kind, batch)
            if (
                i == len(batches) - 1
            ):  # the partition is recorded in the same commit as its last rows
                con.execute(
                    sql.SQL(
                        "INSERT INTO {}.{} (source, kind, partition, fingerprint, rows) VALUES (%s, %s, %s, %s, %s) "
                        "ON CONFLICT (source, kind, partition) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
                        "rows = EXCLUDED.rows, synced_at = now()"
                    ).format(_ident(schema), _ident(STATE_TABLE)),
                    (source, kind, partition, fingerprint, frame.height),
                )
        inserted += ins
        updated += upd
        if on_batch is not None:
            on_batch(BatchInfo(source, kind, partition, i, batch.height, con.info.backend_pid))
    return inserted, updated


# --------------------------------------------------------------------------- reading
class PostgresStore:
    """Read (and upsert) canonical frames in the Postgres copy.

    Parameters
    ----------
    url : str, optional
        Database URL; defaults to ``SUPABASE_DB_URL``.
    schema : str
        Schema of the tables (``energylib``).
    """

    def __init__(self, url: str | None = None, *, schema: str = DEFAULT_SCHEMA):
        self.url = resolve_url(url)
        self.schema = schema
        _ident(schema)

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r}, schema={self.schema!r})"

    def upsert(
        self, data: pl.DataFrame, meta: FrameMeta, *, nullable: tuple[str, ...] = ()
    ) -> UpsertResult:
        """Validate and upsert one canonical frame (idempotent, like :meth:`ParquetStore.upsert`)."""
        validate(data, meta, nullable=nullable)
        if data.height == 0:
            return UpsertResult()
        rows = _with_series_columns(data, meta)
        with connect(self.url) as con:
            _ensure_schema(con, self.schema)
            _ensure_table(con, self.schema, meta.kind, rows)
            with con.transaction():
                inserted, updated = _upsert_batch(con, self.schema, meta.kind, rows)
        return UpsertResult(
            inserted=inserted, updated=updated, unchanged=data.height - inserted - updated
        )

    def read(
        self,
        source: str,
        kind: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        site: str | None = None,
        channel: str | None = None,
        interval_minutes: int | None = None,
    ) -> tuple[pl.DataFrame, FrameMeta]:
        """Read one series as a canonical frame (same contract as :meth:`ParquetStore.read`).

        Raises
        ------
        LookupError
            No table or no rows match, or the arguments match several series.
        """
        table = sql.SQL("{}.{}").format(_ident(self.schema), _ident(kind))
        conds, args = [sql.SQL("source = %s")], [source]
        for col, val in (
            ("site", site),
            ("channel", channel),
            ("interval_minutes", interval_minutes),
        ):
            if val is not None:
                conds.append(sql.SQL("{} = %s").format(_ident(col)))
                args.append(val)
        for bound, op in ((start, ">="), (end, "<")):
            if bound is not None:
                conds.append(sql.SQL("interval_start " + op + " %s"))
                args.append(_as_utc(bound))
        where = sql.SQL(" AND ").join(conds)
        with connect(self.url) as con:
            columns = _table_columns(con, self.schema, kind)
            if not columns:
                raise LookupError(
                    f"no {self.schema}.{kind} table in {redact_url(self.url)}; run `energy sync` first"
                )
            series = con.execute(
                sql.SQL(
                    "SELECT DISTINCT site, channel, interval_minutes, currency, timezone FROM {} WHERE {}"
                ).format(table, where),
                args,
            ).fetchall()
            if not series:
                raise LookupError(
                    f"no {source}/{kind} rows in {redact_url(self.url)} for site={site} channel={channel} "
                    f"interval_minutes={interval_minutes} between {start} and {end}"
                )
            if len({s[:3] for s in series}) > 1:
                raise LookupError(
                    f"{len(series)} series match {source}/{kind}; pass site=, channel= and interval_minutes=: "
                    f"{sorted({s[:3] for s in series})}"
                )
            values = [c for c in columns if c not in (*KEY, "currency", "timezone")]
            select = [sql.SQL("(extract(epoch FROM interval_start) * 1000000)::bigint")]
            for c in values:
                select.append(
                    sql.SQL("{}::int").format(_ident(c)) if columns[c] == "boolean" else _ident(c)
                )
            buf = io.BytesIO()
            query = sql.SQL(
                "COPY (SELECT {} FROM {} WHERE {} ORDER BY interval_start) TO STDOUT (FORMAT csv)"
            ).format(sql.SQL(", ").join(select), table, where)
            with con.cursor().copy(query, args) as copy:
                for chunk in copy:
                    buf.write(chunk)
        schema = {TIME: pl.Int64} | {
            c: pl.Int8 if columns[c] == "boolean" else _polars_type(columns[c]) for c in values
        }
        frame = pl.read_csv(
            buf.getvalue(), has_header=False, new_columns=list(schema), schema=schema
        )
        frame = frame.with_columns(
            pl.from_epoch(pl.col(TIME), time_unit="us").dt.replace_time_zone("UTC"),
            *[pl.col(c).cast(pl.Boolean) for c in values if columns[c] == "boolean"],
        )
        frame = _drop_empty_columns(frame)
        site_, channel_, minutes, currency, tz = series[0]
        return frame, FrameMeta(source, kind, int(minutes), site_, channel_, currency, tz)
