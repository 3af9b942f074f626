"""What every store is: the :class:`Store` protocol, its key, and the one read contract.

A store keeps canonical frames (:mod:`energylib.schema`) keyed on
``(source, site, channel, interval_minutes, interval_start)``.  DESIGN.md keys on
(source, site, channel, interval_start); the interval length joins the key because a
source can publish one series at two resolutions (ENTSO-E's hourly and 15-minute
day-ahead prices), and those are two series, not duplicates.

The contract, the same for Parquet, SQLite and Postgres:

* ``upsert(data, meta)`` validates the frame first (an invalid frame writes nothing),
  inserts new rows, replaces rows given with new values and leaves rows given again
  as they are; it returns what changed (:class:`UpsertResult`).
* ``read(source, kind, start, end, site=, channel=, interval_minutes=, resample_to=)``
  returns one series as ``(data, meta)`` over ``[start, end)``.  The arguments must pick
  out one (site, channel); where that series is stored at several resolutions in the
  range, ``resample_to`` reads them all at one interval length (each resolution is
  resampled with :func:`energylib.align.resample`; ``"finest"`` picks the finest stored).
  Where the resolutions overlap in time, the finest present wins interval by interval, so
  no energy is counted twice.  Reading energy at a finer interval than stored needs
  ``energy_method='uniform'``.
  Value columns with no value in the range (another series' column in a shared table)
  are left out.  Every refusal is a ``LookupError`` that says what to pass or run.
* ``series(source, kind, ...)`` lists the series with their row counts and time span;
  ``datasets()`` lists the ``(source, kind)`` pairs held.

:func:`read_one_series` is that read contract written once; each store only says how
to list the matching series and how to fetch one resolution's rows.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol, runtime_checkable

import polars as pl

from energylib.align import resample
from energylib.dates import as_utc
from energylib.schema import TIME, FrameMeta, value_columns

KEY = ("source", "site", "channel", "interval_minutes", TIME)
SERIES_COLUMNS = ("source", "site", "channel", "interval_minutes", "currency", "timezone")
#: Columns of :meth:`Store.series`.
SERIES_SCHEMA = {
    "source": pl.String,
    "site": pl.String,
    "channel": pl.String,
    "interval_minutes": pl.Int16,
    "currency": pl.String,
    "timezone": pl.String,
    "rows": pl.UInt32,
    "first": pl.Datetime("us", "UTC"),
    "last": pl.Datetime("us", "UTC"),
}

Bound = datetime | date | str | None
ResampleTo = int | Literal["finest"] | None


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


@runtime_checkable
class Store(Protocol):
    """A store of canonical frames (see the module docstring for the contract)."""

    def upsert(
        self, data: pl.DataFrame, meta: FrameMeta, *, nullable: tuple[str, ...] = ()
    ) -> UpsertResult:
        """Insert or replace the rows of one canonical frame (idempotent)."""
        ...

    def read(
        self,
        source: str,
        kind: str,
        start: Bound = None,
        end: Bound = None,
        *,
        site: str | None = None,
        channel: str | None = None,
        interval_minutes: int | None = None,
        resample_to: ResampleTo = None,
        energy_method: str | None = None,
        columns: list[str] | None = None,
    ) -> tuple[pl.DataFrame, FrameMeta]:
        """One series over ``[start, end)`` as a canonical frame and its metadata."""
        ...

    def series(
        self,
        source: str,
        kind: str,
        start: Bound = None,
        end: Bound = None,
        *,
        site: str | None = None,
        channel: str | None = None,
    ) -> pl.DataFrame:
        """The series of a dataset (columns :data:`SERIES_SCHEMA`), with rows and time span in the range."""
        ...

    def datasets(self) -> list[tuple[str, str]]:
        """Every ``(source, kind)`` that holds rows."""
        ...


def utc_bounds(start: Bound, end: Bound) -> tuple[datetime | None, datetime | None]:
    """``start`` and ``end`` as UTC instants (None stays None)."""
    return (
        None if start is None else as_utc(start),
        None if end is None else as_utc(end),
    )


def with_series_columns(data: pl.DataFrame, meta: FrameMeta) -> pl.DataFrame:
    """The frame's rows with the series columns in front, as every store keeps them."""
    return data.with_columns(
        pl.lit(meta.source).alias("source"),
        pl.lit(meta.site).alias("site"),
        pl.lit(meta.channel).alias("channel"),
        pl.lit(meta.interval_minutes, dtype=pl.Int16).alias("interval_minutes"),
        pl.lit(meta.currency, dtype=pl.String).alias("currency"),
        pl.lit(meta.timezone).alias("timezone"),
    ).select([*SERIES_COLUMNS, TIME, *value_columns(data)])


def drop_empty_columns(data: pl.DataFrame) -> pl.DataFrame:
    """Drop value columns with no value in ``data``: a column null over the range read
    (another series' column in a shared partition or table) is not part of this series."""
    empty = [c for c in data.columns if c != TIME and data[c].null_count() == data.height]
    return data.drop(empty) if empty else data


@dataclass(frozen=True)
class Selection:
    """What a read or a listing asks of a store: a dataset, a UTC range (None: open) and the
    series' identity (None: any)."""

    source: str
    kind: str
    start: datetime | None = None
    end: datetime | None = None
    site: str | None = None
    channel: str | None = None
    interval_minutes: int | None = None


class StoreBase(abc.ABC):
    """The read and the listing every store shares (:class:`Store`'s signatures, written
    once).  A store says where it is (:attr:`where`, :attr:`fill_hint`) and implements:

    * ``_locate(selection, columns)`` -> the matching :data:`SERIES_COLUMNS` tuples and
      ``rows(interval_minutes)`` -> that resolution's rows (``interval_start`` and the value
      columns, sorted by time);
    * ``_series(selection)`` -> the :data:`SERIES_SCHEMA` frame;
    * ``upsert`` and ``datasets``.
    """

    #: The store, for messages (a folder, a file, a redacted URL).
    where: str = ""
    #: What fills the store, for the message when nothing matches.
    fill_hint: str = ""

    def read(
        self,
        source: str,
        kind: str,
        start: Bound = None,
        end: Bound = None,
        *,
        site: str | None = None,
        channel: str | None = None,
        interval_minutes: int | None = None,
        resample_to: ResampleTo = None,
        energy_method: str | None = None,
        columns: list[str] | None = None,
    ) -> tuple[pl.DataFrame, FrameMeta]:
        """One series over ``[start, end)`` as a canonical frame and its metadata.

        The contract of every store (see the module docstring): the arguments must pick out
        one (site, channel), the error lists the candidates when they do not; a series
        stored at several resolutions in the range needs ``interval_minutes`` or
        ``resample_to`` (``"finest"``: the finest stored).

        Raises
        ------
        LookupError
            Nothing matches, or several series do, or several resolutions without
            ``resample_to``: the message says what to pass or run.
        """
        selection = Selection(
            source, kind, *utc_bounds(start, end), site, channel, interval_minutes
        )
        series, rows = self._locate(selection, columns)
        return read_one_series(
            selection,
            series,
            rows,
            where=self.where,
            fill_hint=self.fill_hint,
            resample_to=resample_to,
            energy_method=energy_method,
            columns=columns,
        )

    def series(
        self,
        source: str,
        kind: str,
        start: Bound = None,
        end: Bound = None,
        *,
        site: str | None = None,
        channel: str | None = None,
    ) -> pl.DataFrame:
        """The series of a dataset (columns :data:`SERIES_SCHEMA`) with their row counts and
        time span in ``[start, end)``."""
        return self._series(Selection(source, kind, *utc_bounds(start, end), site, channel))

    @abc.abstractmethod
    def _locate(
        self, selection: Selection, columns: list[str] | None
    ) -> tuple[list[tuple], Callable[[int], pl.DataFrame]]:
        """The matching :data:`SERIES_COLUMNS` tuples, and a function giving one
        resolution's rows (``interval_start`` and the value columns, sorted by time)."""

    @abc.abstractmethod
    def _series(self, selection: Selection) -> pl.DataFrame:
        """The :data:`SERIES_SCHEMA` frame of the selection."""


def read_one_series(
    selection: Selection,
    series: list[tuple],
    rows: Callable[[int], pl.DataFrame],
    *,
    where: str,
    fill_hint: str,
    resample_to: ResampleTo = None,
    energy_method: str | None = None,
    columns: list[str] | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """The read contract of every store (see the module docstring), written once.

    Parameters
    ----------
    selection : Selection
        What was asked (for the metadata and the messages).
    series : list of tuple
        The distinct :data:`SERIES_COLUMNS` values that match the arguments in the range.
    rows : callable
        ``rows(interval_minutes)`` -> the matching rows of one resolution: ``interval_start``
        (UTC) and the value columns, sorted by time.
    where : str
        The store, for messages (a folder, a file, a redacted URL).
    fill_hint : str
        What fills the store, for the message when nothing matches.
    resample_to : int, "finest" or None
        Interval length to read every stored resolution at [min].
    energy_method : str, optional
        How energy is split when read at a finer interval than stored
        (``'uniform'``; see :func:`energylib.align.resample`, which refuses otherwise).
    columns : list of str, optional
        Value columns to keep (those the series has).
    """
    source, kind, start, end = selection.source, selection.kind, selection.start, selection.end
    site, channel = selection.site, selection.channel
    if not series:
        raise LookupError(
            f"no {source}/{kind} rows in {where} for site={site} channel={channel} "
            f"between {start} and {end}; {fill_hint}"
        )
    series = sorted(
        set(series), key=lambda r: tuple((v is None, "" if v is None else v) for v in r)
    )
    identity = sorted({(r[1], r[2]) for r in series})
    if len(identity) > 1:
        raise LookupError(
            f"{len(identity)} series match {source}/{kind} in {where}: {identity}; "
            "pass site= and channel= to pick one (or pass site=, channel= and interval_minutes= "
            "to read one resolution)"
        )
    resolutions = sorted({int(r[3]) for r in series})
    first = dict(zip(SERIES_COLUMNS, series[0], strict=True))
    if resample_to == "finest":
        resample_to = int(resolutions[0]) if len(resolutions) > 1 else None
    if len(resolutions) > 1 and resample_to is None:
        raise LookupError(
            f"{source}/{kind} site={first['site']} channel={first['channel']} is stored at "
            f"{resolutions} min in this range; pass interval_minutes= for one, or resample_to= to "
            "read all at one length"
        )
    frames = []
    meta = None
    for minutes in resolutions:
        part = drop_empty_columns(rows(minutes))
        if columns is not None:
            keep = [TIME, *[c for c in columns if c in part.columns and c != TIME]]
            if keep != part.columns:
                part = part.select(keep)
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
            part, m = resample(part, m, int(resample_to), energy_method=energy_method)
        frames.append(part)
        meta = m
    # Resolutions were read finest first: where two cover the same interval (a 30-min and a
    # 60-min export of the same days), the finest one counts and the coarser is dropped.
    data = (
        pl.concat(frames, how="diagonal_relaxed").unique(TIME, keep="first").sort(TIME)
        if len(frames) > 1
        else frames[0]
    )
    assert meta is not None
    return data, meta
