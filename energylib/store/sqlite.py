"""The Pi's live cache: one SQLite file in WAL mode, the same contract as every store.

One table per kind, keyed like the other stores (:mod:`energylib.store.protocol`);
times are integer microseconds since the epoch (UTC) so ordering and range queries
are exact, and each table is indexed by time within a series, because the agent
reads short time ranges of one series every minute.  WAL lets the kiosk (another
process) read while the agent writes.  Reads and upserts are the SQL path shared
with Postgres (:mod:`energylib.store.sql`).

A store opened with ``read_only=True`` (the kiosk) never creates or changes the
file: it reads through ``mode=ro`` connections and reports a missing file as
nothing stored.  Each thread keeps one reading connection open, so a read costs
the queries alone (the agent decides every minute within a few milliseconds).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl

from energylib.dates import epoch_us
from energylib.store import sql

_SQL_TYPES = {"REAL": pl.Float64, "INTEGER": pl.Int64, "BOOLEAN": pl.Boolean, "TEXT": pl.String}


class SqliteDialect(sql.Dialect):
    """SQLite: ``?`` parameters, times as integer microseconds, rows loaded by ``executemany``."""

    time_type = "INTEGER"
    differs = "IS NOT"
    fill_hint = "the agent's collectors fill it (energy agent run)"

    def __init__(self, path: Path):
        self.where = str(path)
        self._columns: dict[str, dict[str, str]] = {}

    def sql_type(self, dtype: pl.DataType) -> str:
        if dtype == pl.Boolean:
            return "BOOLEAN"
        if dtype.is_float():
            return "REAL"
        if dtype.is_integer():
            return "INTEGER"
        return "TEXT"

    def polars_type(self, sql_type: str) -> pl.DataType:
        return _SQL_TYPES.get(sql_type.upper(), pl.String)

    def time_value(self, t: datetime) -> int:
        return epoch_us(t)

    def time_as_us(self) -> str:
        return "interval_start"

    def time_from_us(self, expr: str) -> str:
        return expr

    def columns(
        self, con: sqlite3.Connection, kind: str, wanted: list[str] | None = None
    ) -> dict[str, str]:
        # A column once seen stays (SQLite only adds columns): a read that names its columns
        # skips the PRAGMA while every one of them is known, which the agent's reads do.
        seen = self._columns.get(kind)
        if seen and wanted is not None and all(c in seen for c in wanted):
            return seen
        found = {r[1]: r[2] for r in con.execute(f"PRAGMA table_info({sql.identifier(kind)})")}
        self._columns[kind] = found
        return found

    def kinds(self, con: sqlite3.Connection) -> list[str]:
        rows = con.execute(
            "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS "
            "(SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'interval_minutes')"
        ).fetchall()
        return sorted(r[0] for r in rows)

    def create_index(self, con: sqlite3.Connection, kind: str) -> None:
        # The key puts interval_minutes before the time, so a time range of one series would
        # otherwise scan the series whole; the series columns make the index cover the
        # "which series are in this range" query of every read.
        con.execute(
            f"CREATE INDEX IF NOT EXISTS {sql.identifier(kind + '_by_time')} ON "
            f"{sql.identifier(kind)} (source, site, channel, interval_start, interval_minutes, "
            "currency, timezone)"
        )

    def load_stage(self, con: sqlite3.Connection, columns: list[str], rows: pl.DataFrame) -> None:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO _stage VALUES ({marks})", rows.rows())

    def changes(self, con: sqlite3.Connection, statement: str, args: tuple = ()) -> int:
        before = con.total_changes
        con.execute(statement, args)
        return con.total_changes - before

    def fetch(
        self, con: sqlite3.Connection, query: str, args: list, schema: dict[str, pl.DataType]
    ) -> pl.DataFrame:
        rows = con.execute(query, args).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
        frame = pl.DataFrame(
            [
                pl.Series(name, values, dtype=pl.Int8 if dtype == pl.Boolean else dtype)
                for (name, dtype), values in zip(schema.items(), columns, strict=True)
            ]
        )
        booleans = [name for name, dtype in schema.items() if dtype == pl.Boolean]
        return frame.with_columns(pl.col(booleans).cast(pl.Boolean)) if booleans else frame


class SqliteStore(sql.SqlStore):
    """The live cache: one SQLite file (WAL), with the contract of :class:`~energylib.store.Store`.

    Parameters
    ----------
    path : path
        The database file (created, with its folder, unless ``read_only``).
    timeout_s : float
        How long a statement waits for a lock held by another connection [s].
    read_only : bool
        Never create or write the file (the kiosk); upserts are refused.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0, read_only: bool = False):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.read_only = read_only
        self.dialect = SqliteDialect(self.path)
        self._local = threading.local()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as con:
                con.execute("PRAGMA journal_mode=WAL")

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    # ------------------------------------------------------------------ connections
    def connect(self) -> sqlite3.Connection:
        """A new writing connection (autocommit; the caller opens transactions)."""
        if self.read_only:
            raise PermissionError(f"{self} is read-only")
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        return con

    def reader(self) -> sqlite3.Connection | None:
        """This thread's reading connection (``mode=ro``, kept open); None while there is no file."""
        con = getattr(self._local, "con", None)
        if con is None:
            if not self.path.exists():
                return None
            con = sqlite3.connect(
                f"file:{self.path.resolve()}?mode=ro",
                uri=True,
                timeout=self.timeout_s,
                check_same_thread=False,
            )
            con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            self._local.con = con
        return con

    def close(self) -> None:
        """Close this thread's reading connection."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        yield self.reader()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        con = self.connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    # ------------------------------------------------------------------ housekeeping
    def prune(self, before: datetime, kinds: tuple[str, ...] | None = None) -> int:
        """Delete rows of every kind (or of ``kinds``) whose interval starts before ``before``;
        returns the rows deleted.  The live cache keeps a few weeks, not the history."""
        with self._writing() as con:
            gone = 0
            for kind in kinds or self.dialect.kinds(con):
                if self.dialect.columns(con, kind):
                    gone += self.dialect.changes(
                        con,
                        f"DELETE FROM {sql.identifier(kind)} WHERE interval_start < ?",
                        (epoch_us(before),),
                    )
            return gone
