"""History store: Parquet datasets partitioned by source / kind / month.

Layout under ``root`` (``data/processed`` by default)::

    <source>/<kind>/<YYYY-MM>.parquet

Each file holds every site, channel and resolution of that source and kind for
one UTC month, sorted by the store key (:data:`energylib.store.protocol.KEY`).

Writes are atomic: a partition is written to a hidden temporary file in the
same folder, flushed to disk, then renamed over the old one, so a crash
mid-write leaves the previous contents intact.  Upserting rows that are
already stored writes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import polars as pl

from energylib.config import load_settings
from energylib.schema import TIME, FrameMeta, validate
from energylib.store.protocol import (
    KEY,
    SERIES_COLUMNS,
    SERIES_SCHEMA,
    Bound,
    Selection,
    StoreBase,
    UpsertResult,
    utc_bounds,
    with_series_columns,
)


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


class ParquetStore(StoreBase):
    """History store: Parquet files partitioned by source / kind / month.

    Parameters
    ----------
    root : path
        Folder of the datasets (``Settings.processed_dir`` by default).
    """

    fill_hint = "run a backfill or `energy simulate default-year`"

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = load_settings().processed_dir
        self.root = Path(root)
        self.where = str(self.root)

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
        rows = with_series_columns(data, meta)
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
        start: Bound = None,
        end: Bound = None,
        *,
        site: str | None = None,
        channel: str | None = None,
        interval_minutes: int | None = None,
    ) -> pl.LazyFrame:
        """A lazy scan of stored rows, with the series columns, filtered by the arguments."""
        start, end = utc_bounds(start, end)
        return self._scan(Selection(source, kind, start, end, site, channel, interval_minutes))

    def _scan(self, q: Selection) -> pl.LazyFrame:
        files = self.files(q.source, q.kind, q.start, q.end)
        if not files:
            schema = {c: pl.String for c in SERIES_COLUMNS} | {
                "interval_minutes": pl.Int16,
                TIME: pl.Datetime("us", "UTC"),
            }
            return pl.LazyFrame(schema=schema)
        lf = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")
        conds = []
        if q.start is not None:
            conds.append(pl.col(TIME) >= q.start)
        if q.end is not None:
            conds.append(pl.col(TIME) < q.end)
        for column in ("site", "channel", "interval_minutes"):
            if getattr(q, column) is not None:
                conds.append(pl.col(column) == getattr(q, column))
        return lf.filter(*conds) if conds else lf

    def _series(self, selection: Selection) -> pl.DataFrame:
        return (
            self._scan(selection)
            .group_by(list(SERIES_COLUMNS))
            .agg(
                pl.len().alias("rows"),
                pl.col(TIME).min().alias("first"),
                pl.col(TIME).max().alias("last"),
            )
            .sort(["site", "channel", "interval_minutes"])
            .collect()
            .cast(SERIES_SCHEMA)
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

    def _locate(
        self, selection: Selection, columns: list[str] | None
    ) -> tuple[list[tuple], Callable[[int], pl.DataFrame]]:
        lf = self._scan(selection)
        series = lf.select(SERIES_COLUMNS).unique().collect().rows()

        def rows(minutes: int) -> pl.DataFrame:
            return (
                lf.filter(pl.col("interval_minutes") == minutes)
                .drop(list(SERIES_COLUMNS))
                .sort(TIME)
                .collect()
            )

        return series, rows
