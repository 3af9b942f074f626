"""The embedded store: Parquet datasets for history, SQLite for the Pi's live cache.

Parquet layout under ``root`` (``data/processed`` by default)::

    <source>/<kind>/<YYYY-MM>.parquet

Each file holds every site, channel and resolution of that source and kind for
one UTC month, sorted by key.  A row is identified by
``(source, site, channel, interval_minutes, interval_start)``: DESIGN.md keys on
(source, site, channel, interval_start); the interval length joins the key
because a source can publish one series at two resolutions (ENTSO-E's hourly
and 15-minute day-ahead prices), and those are two series, not duplicates.

Writes are atomic: a partition is written to a hidden temporary file in the
same folder, flushed to disk, then renamed over the old one, so a crash
mid-write leaves the previous contents intact.  Upserting rows that are
already stored writes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from energylib.schema import TIME, FrameMeta, validate, value_columns

KEY = ("source", "site", "channel", "interval_minutes", TIME)
SERIES_COLUMNS = ("source", "site", "channel", "interval_minutes", "currency", "timezone")


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert changed: rows inserted, rows updated, rows already stored as given."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    files_written: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.files_written + other.files_written,
        )


def _as_utc(t: datetime | str | None) -> datetime | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if t.tzinfo is None:
        raise ValueError(f"naive time {t!r}: pass a time zone-aware datetime (UTC storage)")
    return t.astimezone(UTC)


def _with_series_columns(data: pl.DataFrame, meta: FrameMeta) -> pl.DataFrame:
    return data.with_columns(
        pl.lit(meta.source).alias("source"),
        pl.lit(meta.site).alias("site"),
        pl.lit(meta.channel).alias("channel"),
        pl.lit(meta.interval_minutes, dtype=pl.Int16).alias("interval_minutes"),
        pl.lit(meta.currency, dtype=pl.String).alias("currency"),
        pl.lit(meta.timezone).alias("timezone"),
    ).select([*SERIES_COLUMNS, TIME, *value_columns(data)])


def _drop_empty_columns(data: pl.DataFrame) -> pl.DataFrame:
    """Drop value columns with no value in ``data``: a column null over the range read
    (another series' column in a shared partition or table) is not part of this series."""
    return data.select([c for c in data.columns if c == TIME or data[c].null_count() < data.height])


def atomic_write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            frame.write_parquet(fh, compression="zstd", statistics=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ParquetStore:
    """History store: Parquet files partitioned by source / kind / month.

    Parameters
    ----------
    root : path
        Folder of the datasets (``Settings.processed_dir`` by default).
    """

    def __init__(self, root: str | Path | None = None):
        if root is None:
            from energylib.config import load_settings

            root = load_settings().processed_dir
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.root)!r})"

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _lock(self, source: str, kind: str) -> Iterator[None]:
        folder = self.root / source / kind
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                # Holding the lock, any temporary file left here is from a writer that died.
                for stale in folder.glob(".*.tmp"):
                    stale.unlink(missing_ok=True)
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def upsert(
        self, data: pl.DataFrame, meta: FrameMeta, *, nullable: tuple[str, ...] = ()
    ) -> UpsertResult:
        """Insert or replace the rows of one canonical frame.

        Idempotent on (source, site, channel, interval_minutes, interval_start):
        a row given again with the same values counts as unchanged, and a
        partition whose contents would not change is not rewritten.  A row given
        with new values replaces the stored one (a forecast replaced by the
        actual price).  The frame is validated first; an invalid frame writes
        nothing.
        """
        validate(data, meta, nullable=nullable)
        if data.height == 0:
            return UpsertResult()
        rows = _with_series_columns(data, meta)
        result = UpsertResult()
        with self._lock(meta.source, meta.kind):
            month = rows[TIME].dt.strftime("%Y-%m")
            for (ym,), part in (
                rows.with_columns(month.alias("_ym")).partition_by("_ym", as_dict=True).items()
            ):
                result += self._upsert_partition(
                    part.drop("_ym"), self._path(meta.source, meta.kind, ym)
                )
        return result

    def _upsert_partition(self, new: pl.DataFrame, path: Path) -> UpsertResult:
        key = list(KEY)
        if not path.exists():
            atomic_write_parquet(new.sort(key), path)
            return UpsertResult(inserted=new.height, files_written=1)
        old = pl.read_parquet(path)
        cols = [c for c in new.columns if c not in key]
        matched = new.join(old, on=key, how="inner", suffix="__old", nulls_equal=True)
        same = pl.lit(True)
        for c in cols:
            if f"{c}__old" in matched.columns:
                same = same & pl.col(c).eq_missing(pl.col(f"{c}__old"))
            else:  # a new column: unchanged only if the new value is null
                same = same & pl.col(c).is_null()
        unchanged = int(matched.select(same.sum()).item()) if matched.height else 0
        updated = matched.height - unchanged
        inserted = new.height - matched.height
        if inserted == 0 and updated == 0:
            return UpsertResult(unchanged=unchanged)
        kept = old.join(new.select(key), on=key, how="anti", nulls_equal=True)
        merged = pl.concat([kept, new], how="diagonal_relaxed").sort(key)
        atomic_write_parquet(merged, path)
        return UpsertResult(
            inserted=inserted, updated=updated, unchanged=unchanged, files_written=1
        )

    def _path(self, source: str, kind: str, ym: str) -> Path:
        return self.root / source / kind / f"{ym}.parquet"

    # ------------------------------------------------------------------ reading
    def files(
        self, source: str, kind: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Path]:
        """Partition files of a dataset overlapping ``[start, end)``."""
        folder = self.root / source / kind
        if not folder.is_dir():
            return []
        lo = start.strftime("%Y-%m") if start else None
        hi = end.strftime("%Y-%m") if end else None
        out = []
        for f in sorted(folder.glob("*.parquet")):
            ym = f.stem
            if (lo is None or ym >= lo) and (hi is None or ym <= hi):
                out.append(f)
        return out

    def scan(
        self,
        source: str,
        kind: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        site: str | None = None,
        channel: str | None = None,
        interval_minutes: int | None = None,
    ) -> pl.LazyFrame:
        """A lazy scan of stored rows, with the series columns, filtered by the arguments."""
        start, end = _as_utc(start), _as_utc(end)
        files = self.files(source, kind, start, end)
        if not files:
            schema = {c: pl.String for c in SERIES_COLUMNS} | {
                "interval_minutes": pl.Int16,
                TIME: pl.Datetime("us", "UTC"),
            }
            return pl.LazyFrame(schema=schema)
        lf = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")
        conds = []
        if start is not None:
            conds.append(pl.col(TIME) >= start)
        if end is not None:
            conds.append(pl.col(TIME) < end)
        if site is not None:
            conds.append(pl.col("site") == site)
        if channel is not None:
            conds.append(pl.col("channel") == channel)
        if interval_minutes is not None:
            conds.append(pl.col("interval_minutes") == interval_minutes)
        return lf.filter(*conds) if conds else lf

    def series(self, source: str, kind: str) -> pl.DataFrame:
        """The distinct series of a dataset with their row counts and time span."""
        return (
            self.scan(source, kind)
            .group_by(list(SERIES_COLUMNS))
            .agg(
                pl.len().alias("rows"),
                pl.col(TIME).min().alias("first"),
                pl.col(TIME).max().alias("last"),
            )
            .sort(["site", "channel", "interval_minutes"])
            .collect()
        )

    def summary(self) -> pl.DataFrame:
        """Every series in the store: source, kind, site, channel, resolution, rows, first, last."""
        frames = [
            self.series(source, kind).with_columns(pl.lit(kind).alias("kind"))
            for source, kind in self.datasets()
        ]
        if not frames:
            return pl.DataFrame(
                schema={
                    "source": pl.String,
                    "kind": pl.String,
                    "site": pl.String,
                    "channel": pl.String,
                    "interval_minutes": pl.Int16,
                    "rows": pl.UInt32,
                }
            )
        out = pl.concat(frames, how="diagonal_relaxed")
        return out.select(
            "source",
            "kind",
            "site",
            "channel",
            "interval_minutes",
            "currency",
            "timezone",
            "rows",
            "first",
            "last",
        )

    def datasets(self) -> list[tuple[str, str]]:
        """Every (source, kind) that holds at least one partition."""
        if not self.root.is_dir():
            return []
        return sorted(
            {(p.parent.parent.name, p.parent.name) for p in self.root.glob("*/*/*.parquet")}
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
        resample_to: int | None = None,
        energy_method: str | None = None,
        columns: list[str] | None = None,
    ) -> tuple[pl.DataFrame, FrameMeta]:
        """Read one series as a canonical frame and its metadata.

        The arguments must pick out exactly one series (site, channel and
        resolution); the error lists the candidates when they do not.  Where a
        source stored a series at two resolutions (hourly then 15-min day-ahead
        prices), pass ``resample_to`` to read both at one interval length:
        each resolution is resampled explicitly with :func:`align.resample`.
        Where the resolutions overlap in time, the finest present wins interval by
        interval, so no energy is counted twice.  Reading energy at a finer interval than
        stored needs ``energy_method='uniform'`` (see :func:`align.resample`).
        """
        lf = self.scan(
            source, kind, start, end, site=site, channel=channel, interval_minutes=interval_minutes
        )
        series = lf.select(SERIES_COLUMNS).unique().collect().sort(list(SERIES_COLUMNS))
        if series.height == 0:
            raise LookupError(
                f"no {source}/{kind} data in {self.root} for site={site} channel={channel} "
                f"between {start} and {end}; run a backfill or `energy simulate default-year`"
            )
        identity = series.select("site", "channel").unique()
        if identity.height > 1:
            raise LookupError(
                f"{identity.height} series match {source}/{kind}; pass site= and channel=: {identity.rows()}"
            )
        resolutions = series["interval_minutes"].unique().sort().to_list()
        first = series.row(0, named=True)
        if len(resolutions) > 1 and resample_to is None:
            raise LookupError(
                f"{source}/{kind} site={first['site']} channel={first['channel']} is stored at {resolutions} min "
                "in this range; pass interval_minutes= for one, or resample_to= to read all at one length"
            )
        frames = []
        meta = None
        for minutes in resolutions:
            part = (
                lf.filter(pl.col("interval_minutes") == minutes)
                .drop(list(SERIES_COLUMNS))
                .sort(TIME)
                .collect()
            )
            part = _drop_empty_columns(part)
            if columns is not None:
                part = part.select([TIME, *[c for c in columns if c in part.columns]])
            m = FrameMeta(
                source=source,
                kind=kind,
                interval_minutes=int(minutes),
                site=first["site"],
                channel=first["channel"],
                currency=first["currency"],
                timezone=first["timezone"],
            )
            if resample_to is not None and resample_to != minutes:
                from energylib.align import resample

                part, m = resample(part, m, resample_to, energy_method=energy_method)
            frames.append(part)
            meta = m
        # Resolutions were read finest first: where two cover the same interval (a 30-min and
        # a 60-min export of the same days), the finest one counts and the coarser is dropped.
        data = (
            pl.concat(frames, how="diagonal_relaxed").unique(TIME, keep="first").sort(TIME)
            if len(frames) > 1
            else frames[0]
        )
        assert meta is not None
        return data, meta


# ---------------------------------------------------------------------- SQLite
_SQL_TYPES = {
    pl.Float64: "REAL",
    pl.Float32: "REAL",
    pl.Int64: "INTEGER",
    pl.Int32: "INTEGER",
    pl.Int16: "INTEGER",
    pl.Boolean: "INTEGER",
}


def _sql_type(dtype: pl.DataType) -> str:
    for k, v in _SQL_TYPES.items():
        if dtype == k:
            return v
    return "TEXT"


class SqliteStore:
    """The Pi's live cache: one SQLite file in WAL mode, same upsert semantics as Parquet.

    One table per kind, keyed like the Parquet store; times are stored as
    integer microseconds since the epoch (UTC) so ordering and range queries
    are exact.  WAL lets the kiosk read while the agent writes.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        with self.connect() as con:
            con.execute("PRAGMA journal_mode=WAL")

    def connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        return con

    def _ensure_table(self, con: sqlite3.Connection, kind: str, data: pl.DataFrame) -> None:
        _check_identifier(kind)
        con.execute(
            f'CREATE TABLE IF NOT EXISTS "{kind}" (source TEXT NOT NULL, site TEXT NOT NULL, channel TEXT NOT NULL, '
            "interval_minutes INTEGER NOT NULL, interval_start INTEGER NOT NULL, currency TEXT, timezone TEXT, "
            "PRIMARY KEY (source, site, channel, interval_minutes, interval_start))"
        )
        have = {r[1] for r in con.execute(f'PRAGMA table_info("{kind}")')}
        for c in value_columns(data):
            if c not in have:
                _check_identifier(c)
                con.execute(f'ALTER TABLE "{kind}" ADD COLUMN "{c}" {_sql_type(data.schema[c])}')

    def upsert(
        self, data: pl.DataFrame, meta: FrameMeta, *, nullable: tuple[str, ...] = ()
    ) -> UpsertResult:
        """Insert or replace rows in one transaction; returns what changed."""
        validate(data, meta, nullable=nullable)
        if data.height == 0:
            return UpsertResult()
        rows = _with_series_columns(data, meta).with_columns(pl.col(TIME).dt.epoch("us"))
        vals = value_columns(data)
        cols = [*SERIES_COLUMNS, TIME, *vals]
        quoted = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        update = (
            ", ".join(f'"{c}"=excluded."{c}"' for c in vals) or '"currency"=excluded."currency"'
        )
        differs = " OR ".join(f'"{meta.kind}"."{c}" IS NOT excluded."{c}"' for c in vals) or "0"
        con = self.connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            self._ensure_table(con, meta.kind, data)
            existing = _count_existing(con, meta.kind, rows.select(list(KEY)).rows())
            before = con.total_changes
            con.executemany(
                f'INSERT INTO "{meta.kind}" ({quoted}) VALUES ({marks}) '
                f"ON CONFLICT (source, site, channel, interval_minutes, interval_start) DO UPDATE SET {update} WHERE {differs}",
                rows.select(cols).rows(),
            )
            changed = con.total_changes - before
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK") if con.in_transaction else None
            raise
        finally:
            con.close()
        inserted = data.height - existing
        updated = changed - inserted
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
        """Read one series back as a canonical frame (same contract as :meth:`ParquetStore.read`)."""
        _check_identifier(kind)
        start, end = _as_utc(start), _as_utc(end)
        where, args = ["source = ?"], [source]
        for col, val in (
            ("site", site),
            ("channel", channel),
            ("interval_minutes", interval_minutes),
        ):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if start is not None:
            where.append("interval_start >= ?")
            args.append(int(start.timestamp() * 1_000_000))
        if end is not None:
            where.append("interval_start < ?")
            args.append(int(end.timestamp() * 1_000_000))
        con = self.connect()
        try:
            exists = con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (kind,)
            ).fetchone()
            if not exists:
                raise LookupError(f"no {kind} table in {self.path}")
            cur = con.execute(
                f'SELECT * FROM "{kind}" WHERE {" AND ".join(where)} ORDER BY interval_start', args
            )
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            con.close()
        if not rows:
            raise LookupError(
                f"no {source}/{kind} rows in {self.path} for site={site} channel={channel} between {start} and {end}"
            )
        frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
        series = frame.select(SERIES_COLUMNS).unique()
        if series.select("site", "channel", "interval_minutes").unique().height > 1:
            raise LookupError(
                f"several series match; pass site=, channel= and interval_minutes=: {series.rows()}"
            )
        first = series.row(0, named=True)
        meta = FrameMeta(
            source,
            kind,
            int(first["interval_minutes"]),
            first["site"],
            first["channel"],
            first["currency"],
            first["timezone"],
        )
        data = frame.drop(list(SERIES_COLUMNS)).with_columns(
            pl.from_epoch(pl.col(TIME), time_unit="us").dt.replace_time_zone("UTC")
        )
        data = _drop_empty_columns(data)
        return data, meta


def _count_existing(con: sqlite3.Connection, kind: str, keys: list[tuple]) -> int:
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _k (source TEXT, site TEXT, channel TEXT, interval_minutes INTEGER, interval_start INTEGER)"
    )
    con.execute("DELETE FROM _k")
    con.executemany("INSERT INTO _k VALUES (?, ?, ?, ?, ?)", keys)
    n = con.execute(
        f'SELECT COUNT(*) FROM _k JOIN "{kind}" t USING (source, site, channel, interval_minutes, interval_start)'
    ).fetchone()[0]
    con.execute("DELETE FROM _k")
    return int(n)


def _check_identifier(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(
            f"{name!r} is not a valid table or column name (letters, digits and _ only)"
        )
