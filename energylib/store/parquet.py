"""History store: Parquet datasets partitioned by source / kind / month.

Layout under ``root`` (``data/processed`` by default)::

    <source>/<kind>/<YYYY-MM>.parquet

Each file holds every site, channel and resolution of that source and kind for
one UTC month, sorted by the store key (:data:`energylib.store.protocol.KEY`).

An upsert is all-or-nothing across partitions.  Holding the dataset's writer
lock (``.lock``), it writes every changed partition to a hidden temporary file
in the same folder and flushes it to disk; then, holding the commit lock
(``.commit``), it writes a journal (``.journal.json``: which temporary file
replaces which partition), renames every temporary file over its partition
and removes the journal.  The journal is the commit point:

* a writer killed before the journal is on disk leaves the old partitions (its
  temporary files are removed by the next writer: rolled back);
* a writer killed after it leaves the journal, and the next reader or writer
  finishes the renames before it looks at any partition (rolled forward).

Readers (``read``, ``series``, ``files``) hold the commit lock shared, so they
see every partition before an upsert or every partition after it, never a
year half old and half new.  (A :meth:`ParquetStore.scan` is lazy: it reads
when collected, outside that lock.)  Upserting rows that are already stored
writes nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
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

JOURNAL = ".journal.json"


class DiskFullError(OSError):
    """The disk filled up during an upsert; the store is as it was before it."""


def _is_disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc)


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_temporary(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to a hidden temporary file beside ``path``, on disk; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            frame.write_parquet(fh, compression="zstd", statistics=True)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def atomic_write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` so that readers see the old file or the new one, never half."""
    tmp = _write_temporary(frame, path)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _roll_forward(folder: Path) -> None:
    """Finish a committed upsert: rename what its journal names, then remove the journal.

    Call holding the commit lock exclusively.  A rename already done (its temporary
    file gone) is skipped, so this may run any number of times.
    """
    journal = folder / JOURNAL
    try:
        renames = json.loads(journal.read_text())["renames"]
    except FileNotFoundError:
        return
    for tmp, final in renames:
        with contextlib.suppress(FileNotFoundError):
            os.replace(folder / tmp, folder / final)
    _fsync_dir(folder)
    journal.unlink()
    _fsync_dir(folder)


def _commit(folder: Path, renames: list[tuple[Path, Path]]) -> None:
    """Make the temporary files the partitions, all or none (see the module docstring)."""
    if not renames:
        return
    journal = folder / JOURNAL
    body = json.dumps({"renames": [[t.name, f.name] for t, f in renames]})
    fd, tmp = tempfile.mkstemp(prefix=".journal.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, journal)  # the commit point
    _fsync_dir(folder)
    _roll_forward(folder)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)`` on ``path`` (created if absent); yields False where the
    file cannot be opened (a read-only store: nothing can be writing it)."""
    try:
        fh = open(path, "a")  # noqa: SIM115 - closed below, after the unlock
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fh, mode)
        yield True
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


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
                # Holding the lock, a journal is from a writer that died after committing:
                # roll it forward; any other temporary file is from one that died before.
                with _flock(folder / ".commit", fcntl.LOCK_EX):
                    _roll_forward(folder)
                for stale in folder.glob(".*.tmp"):
                    stale.unlink(missing_ok=True)
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _reading(self, source: str, kind: str) -> Iterator[None]:
        """Hold the dataset's commit lock shared, after rolling forward a dead writer's commit."""
        folder = self.root / source / kind
        if not folder.is_dir():
            yield
            return
        while True:
            with _flock(folder / ".commit", fcntl.LOCK_SH) as locked:
                if not locked or not (folder / JOURNAL).exists():
                    yield
                    return
            with _flock(folder / ".commit", fcntl.LOCK_EX):
                _roll_forward(folder)

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
        folder = self.root / meta.source / meta.kind
        renames: list[tuple[Path, Path]] = []
        with self._lock(meta.source, meta.kind):
            try:
                month = rows[TIME].dt.strftime("%Y-%m")
                for (ym,), part in (
                    rows.with_columns(month.alias("_ym")).partition_by("_ym", as_dict=True).items()
                ):
                    path = self._path(meta.source, meta.kind, ym)
                    counts, merged = self._merge_partition(part.drop("_ym"), path)
                    result += counts
                    if merged is not None:
                        renames.append((_write_temporary(merged, path), path))
                with _flock(folder / ".commit", fcntl.LOCK_EX):
                    _commit(folder, renames)
            except BaseException as exc:
                committed = (folder / JOURNAL).exists()
                if not committed:  # roll back
                    for tmp, _ in renames:
                        tmp.unlink(missing_ok=True)
                    for stale in folder.glob(".*.tmp"):  # the one being written
                        stale.unlink(missing_ok=True)
                if not committed and _is_disk_full(exc):
                    raise self._disk_full(rows, folder) from None
                raise
        return result

    def _disk_full(self, rows: pl.DataFrame, folder: Path) -> DiskFullError:
        months = rows[TIME].dt.strftime("%Y-%m").unique().to_list()
        old = sum(p.stat().st_size for m in months if (p := folder / f"{m}.parquet").exists())
        # A partition is rewritten whole: its old size plus the new rows (in memory, an upper bound).
        need_mb = (old + rows.estimated_size()) / 1e6
        free_mb = shutil.disk_usage(folder).free / 1e6
        err = DiskFullError(
            f"disk full: about {need_mb:.0f} MB needed in {folder} ({free_mb:.0f} MB free), "
            "nothing changed; free some space and run it again"
        )
        err.errno = errno.ENOSPC
        return err

    def _merge_partition(
        self, new: pl.DataFrame, path: Path
    ) -> tuple[UpsertResult, pl.DataFrame | None]:
        """What upserting ``new`` into the partition at ``path`` counts and the partition's
        new contents (None when nothing changes)."""
        key = list(KEY)
        if not path.exists():
            return UpsertResult(inserted=new.height, files_written=1), new.sort(key)
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
            return UpsertResult(unchanged=unchanged), None
        kept = old.join(new.select(key), on=key, how="anti", nulls_equal=True)
        merged = pl.concat([kept, new], how="diagonal_relaxed").sort(key)
        counts = UpsertResult(
            inserted=inserted, updated=updated, unchanged=unchanged, files_written=1
        )
        return counts, merged

    def _path(self, source: str, kind: str, ym: str) -> Path:
        return self.root / source / kind / f"{ym}.parquet"

    # ------------------------------------------------------------------ reading
    def read(self, source: str, kind: str, *args, **kwargs) -> tuple[pl.DataFrame, FrameMeta]:
        """:meth:`StoreBase.read <energylib.store.protocol.StoreBase.read>`, every partition
        from one side of any upsert."""
        with self._reading(source, kind):
            return super().read(source, kind, *args, **kwargs)

    def series(self, source: str, kind: str, *args, **kwargs) -> pl.DataFrame:
        """:meth:`StoreBase.series <energylib.store.protocol.StoreBase.series>`, every
        partition from one side of any upsert."""
        with self._reading(source, kind):
            return super().series(source, kind, *args, **kwargs)

    def files(
        self, source: str, kind: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Path]:
        """Partition files of a dataset overlapping ``[start, end)`` (a dead writer's
        committed upsert rolled forward first)."""
        with self._reading(source, kind):
            return self._files(source, kind, start, end)

    def _files(
        self, source: str, kind: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Path]:
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
        with self._reading(source, kind):  # lists the partitions of one side of any upsert
            return self._scan(Selection(source, kind, start, end, site, channel, interval_minutes))

    def _scan(self, q: Selection) -> pl.LazyFrame:
        files = self._files(q.source, q.kind, q.start, q.end)
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
