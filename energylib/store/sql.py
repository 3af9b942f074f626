"""The SQL read and upsert path that SQLite and Postgres share.

Layout: one table per kind, keyed like every store on
``(source, site, channel, interval_minutes, interval_start)``, with the series columns
(``currency``, ``timezone``) and one column per value column, added with
``ALTER TABLE ... ADD COLUMN`` when a new one appears.

Upsert, in the caller's transaction: the rows go into a temporary staging table
(``executemany`` on SQLite, ``COPY`` on Postgres), then
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE <values differ>`` moves them
into the table, so rows already stored as given are not rewritten.  Where none of the
rows' series has rows in their time range (a first load), a plain ``INSERT`` does the
same job at about half the cost; the writer holds the table (SQLite's ``BEGIN
IMMEDIATE``, Postgres' ``SHARE ROW EXCLUSIVE`` lock) so that check holds until the
commit.  Rows inserted = rows given - keys already stored; rows updated = rows changed
- rows inserted.

Read: the series matching the arguments (one ``GROUP BY``), then each resolution's rows,
through :func:`energylib.store.protocol.read_one_series`, the contract every store keeps.

What differs between the two databases (placeholders, the time column's type, how rows
are loaded and fetched, how the table is locked) is a :class:`Dialect`.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from energylib.schema import TIME, FrameMeta, validate, value_columns
from energylib.store.protocol import (
    KEY,
    SERIES_COLUMNS,
    SERIES_SCHEMA,
    Selection,
    StoreBase,
    UpsertResult,
    with_series_columns,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Columns of the table that are not value columns.
FIXED_COLUMNS = (*KEY, "currency", "timezone")


@functools.lru_cache(maxsize=4096)
def identifier(name: str) -> str:
    """``name`` double-quoted for SQL, after checking it is letters, digits and ``_`` only."""
    if not _IDENT.match(name):
        raise ValueError(
            f"{name!r} is not a valid table or column name (letters, digits and _ only)"
        )
    return f'"{name}"'


class Dialect(abc.ABC):
    """How one SQL database stores and moves the rows.  Subclasses fill in each method."""

    #: Placeholder of a query parameter.
    param = "?"
    #: Type of the ``interval_start`` column.
    time_type = "INTEGER"
    #: Null-safe "not equal".
    differs = "IS DISTINCT FROM"
    #: Where to read the data from, for messages.
    where = ""
    #: What fills the database, for the message when nothing matches.
    fill_hint = ""

    def table(self, kind: str) -> str:
        """The kind's table, quoted (and schema-qualified where the database has schemas)."""
        return identifier(kind)

    @abc.abstractmethod
    def sql_type(self, dtype: pl.DataType) -> str:
        """Column type of a polars dtype."""

    @abc.abstractmethod
    def polars_type(self, sql_type: str) -> pl.DataType:
        """Polars dtype of a column type (the time column excluded)."""

    @abc.abstractmethod
    def time_value(self, t: datetime) -> Any:
        """A UTC instant as a query parameter compared with ``interval_start``."""

    @abc.abstractmethod
    def time_as_us(self) -> str:
        """SQL expression of ``interval_start`` as integer microseconds since the epoch."""

    @abc.abstractmethod
    def time_from_us(self, expr: str) -> str:
        """SQL expression turning microseconds since the epoch into an ``interval_start`` value."""

    def select_value(self, column: str, sql_type: str) -> str:
        """SQL expression that reads a value column (booleans come back as 0/1)."""
        return identifier(column)

    @abc.abstractmethod
    def columns(self, con: Any, kind: str, wanted: list[str] | None = None) -> dict[str, str]:
        """``{column: type}`` of the kind's table; empty where it does not exist.  A dialect
        may answer from what it saw before when that holds every ``wanted`` column."""

    @abc.abstractmethod
    def kinds(self, con: Any) -> list[str]:
        """Every table that holds a kind."""

    def create_index(self, con: Any, kind: str) -> None:  # noqa: B027 (optional: no index by default)
        """Index the table by time within a series (reads of a time range), where it pays."""

    def lock(self, con: Any, kind: str) -> None:  # noqa: B027 (optional: a database may lock by itself)
        """Keep other writers out of the table until the transaction ends."""

    @abc.abstractmethod
    def load_stage(self, con: Any, columns: list[str], rows: pl.DataFrame) -> None:
        """Put ``rows`` (``interval_start`` as microseconds) into the ``_stage`` table."""

    @abc.abstractmethod
    def changes(self, con: Any, statement: str, args: tuple = ()) -> int:
        """Run a data-changing statement; returns the rows it inserted or updated."""

    def upsert_counts(self, con: Any, upsert: str, table: str, rows: int) -> tuple[int, int]:
        """Run the ``INSERT ... ON CONFLICT DO UPDATE`` from ``_stage`` (``rows`` rows) into
        ``table``; returns (inserted, updated).  This one counts the keys already stored
        first; a database that can tell inserts from updates says so instead."""
        stored = con.execute(
            f"SELECT COUNT(*) FROM _stage s JOIN {table} t ON t.source = s.source AND "
            "t.site = s.site AND t.channel = s.channel AND t.interval_minutes = s.interval_minutes "
            f"AND t.interval_start = {self.time_from_us('s.interval_start')}"
        ).fetchone()[0]
        inserted = rows - int(stored)
        return inserted, self.changes(con, upsert) - inserted

    @abc.abstractmethod
    def fetch(
        self, con: Any, query: str, args: list, schema: dict[str, pl.DataType]
    ) -> pl.DataFrame:
        """Run a query and return its rows as a frame of ``schema``."""


# --------------------------------------------------------------------------- writing
def ensure_table(con: Any, d: Dialect, kind: str, rows: pl.DataFrame) -> None:
    """Create the kind's table if absent and add any value column it lacks."""
    table = d.table(kind)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (source TEXT NOT NULL, site TEXT NOT NULL, "
        "channel TEXT NOT NULL, interval_minutes SMALLINT NOT NULL, "
        f"interval_start {d.time_type} NOT NULL, currency TEXT, timezone TEXT, "
        "PRIMARY KEY (source, site, channel, interval_minutes, interval_start))"
    )
    d.create_index(con, kind)
    have = d.columns(con, kind)
    for col in value_columns(rows.drop([c for c in SERIES_COLUMNS if c in rows.columns])):
        if col not in have:
            con.execute(
                f"ALTER TABLE {table} ADD COLUMN {identifier(col)} {d.sql_type(rows.schema[col])}"
            )


def upsert_rows(con: Any, d: Dialect, kind: str, rows: pl.DataFrame) -> tuple[int, int]:
    """Upsert ``rows`` (series columns, time, values) into the kind's table; (inserted, updated).

    Runs inside the caller's transaction, after :func:`ensure_table`.
    """
    values = [c for c in rows.columns if c not in FIXED_COLUMNS]
    cols = [*FIXED_COLUMNS, *values]
    types = ["TEXT", "TEXT", "TEXT", "SMALLINT", "BIGINT", "TEXT", "TEXT"]
    types += [d.sql_type(rows.schema[c]) for c in values]
    # A failed upsert leaves no staging table: the caller's transaction rolls its creation back.
    con.execute(
        "CREATE TEMP TABLE _stage ("
        + ", ".join(f"{identifier(c)} {t}" for c, t in zip(cols, types, strict=True))
        + ")"
    )
    d.load_stage(con, cols, rows.select(cols).with_columns(pl.col(TIME).dt.epoch("us")))
    table = d.table(kind)
    quoted = ", ".join(map(identifier, cols))
    select = ", ".join(d.time_from_us(identifier(c)) if c == TIME else identifier(c) for c in cols)
    d.lock(con, kind)
    if not _overlaps(con, d, table, rows):
        # Nothing stored in these series' time ranges (a first load): a plain INSERT is
        # the upsert, at about half the cost of ON CONFLICT's speculative insertion.
        inserted = d.changes(con, f"INSERT INTO {table} ({quoted}) SELECT {select} FROM _stage")
        con.execute("DROP TABLE _stage")
        return inserted, 0
    updatable = ["currency", "timezone", *values]
    sets = ", ".join(f"{identifier(c)} = excluded.{identifier(c)}" for c in updatable)
    differ = " OR ".join(
        f"t.{identifier(c)} {d.differs} excluded.{identifier(c)}" for c in updatable
    )
    # "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join.
    inserted, updated = d.upsert_counts(
        con,
        f"INSERT INTO {table} AS t ({quoted}) SELECT {select} FROM _stage WHERE true "
        "ON CONFLICT (source, site, channel, interval_minutes, interval_start) "
        f"DO UPDATE SET {sets} WHERE {differ}",
        table,
        rows.height,
    )
    con.execute("DROP TABLE _stage")
    return inserted, updated


def _overlaps(con: Any, d: Dialect, table: str, rows: pl.DataFrame) -> bool:
    ranges = rows.group_by(["source", "site", "channel", "interval_minutes"]).agg(
        pl.col(TIME).min().alias("lo"), pl.col(TIME).max().alias("hi")
    )
    p = d.param
    probe = (
        f"SELECT EXISTS (SELECT 1 FROM {table} WHERE source = {p} AND site = {p} AND "
        f"channel = {p} AND interval_minutes = {p} AND interval_start BETWEEN {p} AND {p})"
    )
    for source, site, channel, minutes, lo, hi in ranges.iter_rows():
        args = (source, site, channel, minutes, d.time_value(lo), d.time_value(hi))
        if con.execute(probe, args).fetchone()[0]:
            return True
    return False


# --------------------------------------------------------------------------- reading
def _where(
    d: Dialect,
    source: str,
    start: datetime | None,
    end: datetime | None,
    **equal: object,
) -> tuple[str, list]:
    p = d.param
    conds, args = [f"source = {p}"], [source]
    for col, val in equal.items():  # site, channel, interval_minutes: our own names
        if val is not None:
            conds.append(f"{col} = {p}")
            args.append(val)
    if start is not None:
        conds.append(f"interval_start >= {p}")
        args.append(d.time_value(start))
    if end is not None:
        conds.append(f"interval_start < {p}")
        args.append(d.time_value(end))
    return " AND ".join(conds), args


def _series_rows(
    con: Any,
    d: Dialect,
    source: str,
    kind: str,
    start: datetime | None,
    end: datetime | None,
    **equal: object,
) -> list[tuple]:
    """``(*SERIES_COLUMNS, rows, first [us], last [us])`` of each matching series."""
    where, args = _where(d, source, start, end, **equal)
    t = d.time_as_us()
    return con.execute(
        f"SELECT source, site, channel, interval_minutes, currency, timezone, COUNT(*), "
        f"MIN({t}), MAX({t}) FROM {d.table(kind)} WHERE {where} "
        "GROUP BY source, site, channel, interval_minutes, currency, timezone "
        "ORDER BY site, channel, interval_minutes",
        args,
    ).fetchall()


class SqlStore(StoreBase):
    """A store on the SQL path (the contract of :class:`energylib.store.Store`).

    Subclasses say how to reach the database: :meth:`_reading` yields a connection to read
    with (None while there is no database), :meth:`_writing` one inside a write transaction.
    """

    dialect: Dialect

    @property
    def where(self) -> str:  # type: ignore[override]
        return self.dialect.where

    @property
    def fill_hint(self) -> str:  # type: ignore[override]
        return self.dialect.fill_hint

    @abc.abstractmethod
    def _reading(self) -> contextlib.AbstractContextManager[Any | None]:
        """A connection to read with (None while there is no database)."""

    @abc.abstractmethod
    def _writing(self) -> contextlib.AbstractContextManager[Any]:
        """A connection inside a write transaction."""

    def upsert(
        self, data: pl.DataFrame, meta: FrameMeta, *, nullable: tuple[str, ...] = ()
    ) -> UpsertResult:
        """Validate and upsert one canonical frame in one transaction; returns what changed."""
        validate(data, meta, nullable=nullable)
        identifier(meta.kind)
        if data.height == 0:
            return UpsertResult()
        rows = with_series_columns(data, meta)
        with self._writing() as con:
            ensure_table(con, self.dialect, meta.kind, rows)
            inserted, updated = upsert_rows(con, self.dialect, meta.kind, rows)
        return UpsertResult(
            inserted=inserted, updated=updated, unchanged=data.height - inserted - updated
        )

    def _locate(
        self, q: Selection, columns: list[str] | None
    ) -> tuple[list[tuple], Callable[[int], pl.DataFrame]]:
        identifier(q.kind)
        with self._reading() as con:
            if con is None:
                raise LookupError(f"nothing stored at {self.where} yet; {self.fill_hint}")
            found, frame = self._fetch(con, q, columns)

        def rows(minutes: int) -> pl.DataFrame:
            assert frame is not None
            if len(found) > 1:
                return frame.filter(pl.col("interval_minutes") == minutes).drop("interval_minutes")
            return frame

        return found, rows

    def _fetch(
        self, con: Any, q: Selection, columns: list[str] | None
    ) -> tuple[list[tuple], pl.DataFrame | None]:
        """The series matching ``q`` and, where they are one (site, channel), its rows with a
        per-row ``interval_minutes`` (dropped where there is one resolution)."""
        d = self.dialect
        source, kind, start, end = q.source, q.kind, q.start, q.end
        site, channel, interval_minutes = q.site, q.channel, q.interval_minutes
        have = d.columns(con, kind, columns)
        if not have:
            raise LookupError(f"no {kind} table in {d.where}; {d.fill_hint}")
        if site is None or channel is None:
            # Which series?  (The agent and the kiosk name theirs, and skip this scan.)
            where, args = _where(
                d,
                source,
                start,
                end,
                site=site,
                channel=channel,
                interval_minutes=interval_minutes,
            )
            found = con.execute(
                f"SELECT DISTINCT {', '.join(SERIES_COLUMNS)} FROM {d.table(kind)} WHERE {where}",
                args,
            ).fetchall()
            identities = {(r[1], r[2]) for r in found}
            if len(identities) == 1:
                site, channel = identities.pop()
        frame = None
        if site is not None and channel is not None:
            # One query for every resolution of the series; the series' currency and zone from
            # its first row in the range.
            where, args = _where(
                d,
                source,
                start,
                end,
                site=site,
                channel=channel,
                interval_minutes=interval_minutes,
            )
            values = [
                c for c in have if c not in FIXED_COLUMNS and (columns is None or c in columns)
            ]
            select = ", ".join(
                [
                    "interval_minutes",
                    d.time_as_us(),
                    *(d.select_value(c, have[c]) for c in values),
                ]
            )
            schema = {"interval_minutes": pl.Int64, TIME: pl.Datetime("us", "UTC")}
            schema |= {c: d.polars_type(have[c]) for c in values}
            frame = d.fetch(
                con,
                f"SELECT {select} FROM {d.table(kind)} WHERE {where} ORDER BY interval_start",
                args,
                schema,
            )
            found = []
            if frame.height:
                currency, zone = con.execute(
                    f"SELECT currency, timezone FROM {d.table(kind)} WHERE {where} LIMIT 1",
                    args,
                ).fetchone()
                # numpy and drop_in_place, not polars expressions: each of those costs a query
                # plan, and the agent reads a few series every minute.
                per_row = frame.drop_in_place("interval_minutes").to_numpy()
                found = [
                    (source, site, channel, int(m), currency, zone) for m in np.unique(per_row)
                ]
                if len(found) > 1:
                    frame = frame.with_columns(pl.Series("interval_minutes", per_row))

        return found, frame

    def _series(self, q: Selection) -> pl.DataFrame:
        with self._reading() as con:
            if con is None or not self.dialect.columns(con, q.kind):
                return pl.DataFrame(schema=SERIES_SCHEMA)
            where, args = _where(
                self.dialect, q.source, q.start, q.end, site=q.site, channel=q.channel
            )
            t = self.dialect.time_as_us()
            rows = con.execute(
                f"SELECT source, site, channel, interval_minutes, currency, timezone, COUNT(*), "
                f"MIN({t}), MAX({t}) FROM {self.dialect.table(q.kind)} WHERE {where} "
                "GROUP BY source, site, channel, interval_minutes, currency, timezone "
                "ORDER BY site, channel, interval_minutes",
                args,
            ).fetchall()
        return pl.DataFrame(rows, schema=SERIES_SCHEMA, orient="row")

    def datasets(self) -> list[tuple[str, str]]:
        """Every (source, kind) with rows."""
        out = set()
        with self._reading() as con:
            if con is None:
                return []
            for kind in self.dialect.kinds(con):
                table = self.dialect.table(kind)
                for (source,) in con.execute(f"SELECT DISTINCT source FROM {table}").fetchall():
                    out.add((source, kind))
        return sorted(out)
