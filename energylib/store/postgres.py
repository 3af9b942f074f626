"""Postgres (Supabase): the durable copy of the store, read and written like every store.

The Pi stays Parquet/SQLite-first; :func:`energylib.store.sync.sync_to_postgres` copies
the Parquet store here and :class:`PostgresStore` reads it back as canonical frames (and
upserts single frames).  Reads and upserts are the SQL path shared with SQLite
(:mod:`energylib.store.sql`).

Layout: one table per kind in schema ``energylib`` (``energylib.prices``,
``energylib.usage`` ...), keyed like every store on
``(source, site, channel, interval_minutes, interval_start)``, ``interval_start`` a
``timestamptz``, with the series columns (``currency``, ``timezone``) and one column per
value column.

The database URL comes from ``SUPABASE_DB_URL`` or the caller; it is never printed or
logged with its password (:func:`redact_url`).
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import psycopg

from energylib.config import load_settings, secret
from energylib.store import sql

DEFAULT_SCHEMA = "energylib"


class PostgresSyncError(RuntimeError):
    """Postgres cannot be reached, or a sync stopped; ``report`` says what was synced before
    it (None where nothing started).  Re-running a sync resumes."""

    def __init__(self, message: str, report: object | None = None):
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


def scrub(text: str, url: str) -> str:
    pw = _password(url)
    text = text.replace(url, redact_url(url))
    return text.replace(pw, "***") if pw else text


def resolve_url(url: str | None = None) -> str:
    """``url`` or ``SUPABASE_DB_URL`` (env or .env); a clear error when neither is set."""
    if url:
        return url
    found = secret(load_settings().supabase_db_url)
    if not found:
        raise PostgresSyncError(
            "no Postgres URL: pass --to postgresql://user:password@host:5432/db or set SUPABASE_DB_URL "
            "in the environment or .env"
        )
    return found


# --------------------------------------------------------------------------- connection
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
            message = scrub(str(exc), url)
            if attempt == retries or any(s in message for s in _FATAL_CONNECT):
                raise PostgresSyncError(
                    f"cannot connect to {redact_url(url)}: {message.strip()}"
                ) from None
            time.sleep(wait_s * (2**attempt))
    raise AssertionError("unreachable")


def ensure_schema(con: psycopg.Connection, schema: str) -> None:
    """Create the schema of the tables if absent."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql.identifier(schema)}")


_PG_TYPES = {
    "double precision": pl.Float64,
    "real": pl.Float64,
    "bigint": pl.Int64,
    "integer": pl.Int64,
    "smallint": pl.Int16,
    "boolean": pl.Boolean,
}


class PostgresDialect(sql.Dialect):
    """Postgres: ``%s`` parameters, ``timestamptz`` times, rows moved by ``COPY``."""

    param = "%s"
    time_type = "timestamptz"
    fill_hint = "run `energy sync` first"

    def __init__(self, url: str, schema: str):
        self.where = redact_url(url)
        self.schema = schema
        sql.identifier(schema)

    def table(self, kind: str) -> str:
        return f"{sql.identifier(self.schema)}.{sql.identifier(kind)}"

    def sql_type(self, dtype: pl.DataType) -> str:
        if dtype.is_float():
            return "double precision"
        if dtype.is_integer():
            return "bigint"
        if dtype == pl.Boolean:
            return "boolean"
        if isinstance(dtype, pl.Datetime):
            return "timestamptz"
        return "text"

    def polars_type(self, sql_type: str) -> pl.DataType:
        return _PG_TYPES.get(sql_type, pl.String)

    def time_value(self, t: datetime) -> datetime:
        return t

    def time_as_us(self) -> str:
        return "(extract(epoch FROM interval_start) * 1000000)::bigint"

    def time_from_us(self, expr: str) -> str:
        return f"timestamptz 'epoch' + {expr} * interval '1 microsecond'"

    def select_value(self, column: str, sql_type: str) -> str:
        # COPY writes booleans as t/f; as integers they parse as 0/1.
        quoted = sql.identifier(column)
        return f"{quoted}::int" if sql_type == "boolean" else quoted

    def columns(
        self, con: psycopg.Connection, kind: str, wanted: list[str] | None = None
    ) -> dict[str, str]:
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, kind),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def kinds(self, con: psycopg.Connection) -> list[str]:
        rows = con.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name = 'interval_minutes' ORDER BY table_name",
            (self.schema,),
        ).fetchall()
        return [r[0] for r in rows]

    def lock(self, con: psycopg.Connection, kind: str) -> None:
        # Writers to one table take turns (readers are not blocked), so the overlap check of
        # the upsert stays true until the transaction commits.
        con.execute(f"LOCK TABLE {self.table(kind)} IN SHARE ROW EXCLUSIVE MODE")

    def load_stage(self, con: psycopg.Connection, columns: list[str], rows: pl.DataFrame) -> None:
        quoted = ", ".join(map(sql.identifier, columns))
        with con.cursor().copy(f"COPY _stage ({quoted}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(rows.write_csv(include_header=False))

    def changes(self, con: psycopg.Connection, statement: str, args: tuple = ()) -> int:
        return int(con.execute(statement, args).rowcount)

    def upsert_counts(
        self, con: psycopg.Connection, upsert: str, table: str, rows: int
    ) -> tuple[int, int]:
        # A row inserted by this transaction has no xmax: one statement, no join to count.
        inserted, updated = con.execute(
            f"WITH up AS ({upsert} RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
        ).fetchone()
        return int(inserted), int(updated)

    def fetch(
        self, con: psycopg.Connection, query: str, args: list, schema: dict[str, pl.DataType]
    ) -> pl.DataFrame:
        buf = io.BytesIO()
        with con.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", args) as copy:
            for chunk in copy:
                buf.write(chunk)
        loaded = {
            c: pl.Int8 if t == pl.Boolean else pl.Int64 if isinstance(t, pl.Datetime) else t
            for c, t in schema.items()
        }
        frame = pl.read_csv(
            buf.getvalue(), has_header=False, new_columns=list(loaded), schema=loaded
        )
        return frame.with_columns(
            pl.from_epoch(c, time_unit="us").dt.replace_time_zone("UTC")
            if isinstance(t, pl.Datetime)
            else pl.col(c).cast(t)
            for c, t in schema.items()
            if t != loaded[c]
        )


class PostgresStore(sql.SqlStore):
    """Canonical frames in Postgres, with the contract of :class:`~energylib.store.Store`.

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
        self.dialect = PostgresDialect(self.url, schema)

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r}, schema={self.schema!r})"

    @contextlib.contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        with connect(self.url) as con:
            yield con

    @contextlib.contextmanager
    def _writing(self) -> Iterator[psycopg.Connection]:
        with connect(self.url) as con, con.transaction():
            ensure_schema(con, self.schema)
            yield con
