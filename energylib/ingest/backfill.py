"""Windowed, resumable backfills into the store: the loop every source's backfill runs.

:func:`run_backfill` walks a date range in windows (7 days by default), fetches
each window, and upserts what came back before asking for the next, so a
failure loses nothing already fetched.  On a rate limit that outlasts the HTTP
client's retries it halves the window (down to ``min_window_days``) and tries
again; when even the smallest window is refused it stops with a
:class:`BackfillError` whose :class:`BackfillReport` says what was stored and
the command that resumes.

Each source's backfill lives beside its reader and calls this loop:
:func:`energylib.ingest.amber.backfill_amber`, :func:`energylib.ingest.aemo.backfill_aemo`;
ENTSO-E's, which windows by time rather than by day, is
:func:`energylib.ingest.entsoe.backfill_entsoe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

import polars as pl
from tqdm.auto import tqdm

from energylib.dates import NEM_TZ, iter_windows
from energylib.ingest.http import HttpError, RateLimited, TokenRejected
from energylib.schema import TIME, DataValidationError, FrameMeta
from energylib.store import Store, UpsertResult

Frames = list[tuple[pl.DataFrame, FrameMeta]]


# --------------------------------------------------------------------------- storing
def store_frames(store: Store, frames: Frames) -> UpsertResult:
    """Upsert canonical frames; a stored actual price is never replaced by a forecast.

    Rows with ``is_forecast`` true whose interval is already stored as an actual
    (``is_forecast`` false) are skipped and counted as unchanged; a stored
    forecast is replaced by a later actual as usual.
    """
    total = UpsertResult()
    for data, meta in frames:
        skipped = 0
        if data.height and "is_forecast" in data.columns and bool(data["is_forecast"].any()):
            actual = _stored_actuals(store, data, meta)
            if actual.len():
                keep = ~(pl.col("is_forecast") & pl.col(TIME).is_in(actual.implode()))
                before = data.height
                data = data.filter(keep)
                skipped = before - data.height
        nullable = tuple(meta.extra.get("nullable", ())) if meta.extra else ()
        total += store.upsert(data, meta, nullable=nullable) + UpsertResult(unchanged=skipped)
    return total


def _stored_actuals(store: Store, data: pl.DataFrame, meta: FrameMeta) -> pl.Series:
    """Interval starts of ``data``'s range that the store holds as actuals (not forecasts)."""
    lo = data[TIME].min()
    hi = data[TIME].max() + timedelta(microseconds=1)
    try:
        stored, _ = store.read(
            meta.source,
            meta.kind,
            lo,
            hi,
            site=meta.site,
            channel=meta.channel,
            interval_minutes=meta.interval_minutes,
            columns=["is_forecast"],
        )
    except LookupError:  # nothing stored there yet
        stored = pl.DataFrame(schema={TIME: pl.Datetime("us", "UTC")})
    if "is_forecast" not in stored.columns:
        return pl.Series(TIME, [], dtype=pl.Datetime("us", "UTC"))
    return stored.filter(pl.col("is_forecast").not_())[TIME]


def latest_stored(
    store: Store,
    source: str,
    kind: str,
    *,
    site: str | None = None,
    actual_only: bool = True,
) -> datetime | None:
    """End of the latest stored interval [UTC] of a source/kind (and site), or None.

    Over several channels the earliest of their latest intervals counts, so a
    resume fetches whatever one channel misses.  With ``actual_only`` forecast
    rows do not count (a forecast is not history yet).
    """
    series = store.series(source, kind, site=site)
    ends = []
    for row in series.iter_rows(named=True):
        last = row["last"]
        if actual_only:
            stored, _ = store.read(
                source,
                kind,
                site=row["site"],
                channel=row["channel"],
                interval_minutes=row["interval_minutes"],
                columns=["is_forecast"],
            )
            if "is_forecast" in stored.columns:
                actual = stored.filter(pl.col("is_forecast").not_())[TIME]
                if actual.len() == 0:
                    continue
                last = actual.max()
        ends.append(last + timedelta(minutes=int(row["interval_minutes"])))
    return min(ends) if ends else None


# --------------------------------------------------------------------------- report
@dataclass
class WindowResult:
    """One fetched window: its days, rows fetched, and what the store did with them."""

    first_day: date
    last_day: date
    rows: int
    result: UpsertResult


@dataclass
class BackfillReport:
    """What a backfill stored, and how to resume it."""

    source: str
    kind: str
    site: str
    start: date
    end: date
    windows: list[WindowResult] = field(default_factory=list)
    skipped_to: date | None = None
    error: str | None = None
    resume_command: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def stored(self) -> UpsertResult:
        total = UpsertResult()
        for w in self.windows:
            total += w.result
        return total

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.windows)

    @property
    def done_through(self) -> date | None:
        """Last day of the last window stored (None: nothing stored)."""
        return self.windows[-1].last_day if self.windows else None

    def __str__(self) -> str:
        s = self.stored
        lines = [
            f"{self.source} {self.kind} backfill for site {self.site}, {self.start}..{self.end}: "
            f"{len(self.windows)} window(s), {self.rows} rows fetched; "
            f"{s.inserted} inserted, {s.updated} updated, {s.unchanged} unchanged"
        ]
        if self.skipped_to:
            lines.append(f"resumed: days before {self.skipped_to} were already stored")
        if self.done_through:
            lines.append(f"stored through {self.done_through}")
        if self.error:
            lines.append(f"stopped: {self.error}")
            lines.append("everything fetched before the failure is stored")
            if self.resume_command:
                lines.append(f"to resume: {self.resume_command}")
        return "\n".join(lines)


class BackfillError(RuntimeError):
    """A backfill stopped; ``report`` says what was stored and how to resume."""

    def __init__(self, report: BackfillReport):
        super().__init__(str(report))
        self.report = report


# --------------------------------------------------------------------------- the loop
def run_backfill(
    fetch: Callable[[date, date], Frames],
    store: Store,
    report: BackfillReport,
    *,
    window_days: int = 7,
    min_window_days: int = 1,
    windows: Callable[[date, date, int], Iterator[tuple[date, date]]] = iter_windows,
    progress: bool = True,
) -> BackfillReport:
    """Fetch ``report.start``..``report.end`` window by window and store each.

    Parameters
    ----------
    fetch : callable
        ``fetch(first_day, last_day)`` -> list of ``(data, meta)``; raises
        :class:`~energylib.ingest.http.HttpError` subclasses on failure.
    store : Store
        Where rows go (idempotent upserts; see :func:`store_frames`).
    report : BackfillReport
        Filled in and returned; names the range, source and resume command.
    window_days : int
        Days per request [d].
    min_window_days : int
        Smallest window [d] the loop shrinks to on repeated HTTP 429.
    windows : callable
        Splits the range: :func:`energylib.dates.iter_windows` (days) or
        :func:`energylib.dates.month_windows`.
    progress : bool
        Show a progress bar over the windows (tqdm).

    Raises
    ------
    BackfillError
        On a rejected token, a rate limit that persists at the smallest window, a
        server that keeps failing, or a malformed body (which names the window).
    """
    if min_window_days < 1 or min_window_days > window_days:
        raise ValueError(
            f"min_window_days={min_window_days} must be between 1 and window_days={window_days}"
        )
    days = window_days
    cursor = report.start
    total_days = (report.end - report.start).days + 1
    bar = tqdm(
        total=max(total_days, 0),
        unit="day",
        desc=f"{report.source} {report.kind}",
        disable=not progress,
        leave=False,
    )
    try:
        while cursor <= report.end:
            first, last = next(windows(cursor, report.end, days))
            label = f"window {first}..{last}"
            bar.set_postfix_str(label)
            try:
                frames = fetch(first, last)
            except RateLimited as exc:
                if days > min_window_days:
                    days = max(min_window_days, days // 2)
                    continue
                report.error = f"rate limited at the smallest window ({min_window_days} day(s)), {label}: {exc}"
                raise BackfillError(report) from exc
            except TokenRejected as exc:
                report.error = str(exc)
                raise BackfillError(report) from exc
            except (HttpError, DataValidationError) as exc:
                report.error = f"{label}: {exc}"
                raise BackfillError(report) from exc
            result = store_frames(store, frames)
            report.windows.append(
                WindowResult(first, last, sum(d.height for d, _ in frames), result)
            )
            bar.update((last - first).days + 1)
            cursor = last + timedelta(days=1)
    finally:
        bar.close()
    return report


def resume_start(
    store: Store, source: str, kind: str, site: str | None, start: date, tz: tzinfo = NEM_TZ
) -> date:
    """The day a resumed backfill starts: the day (in ``tz``) of the latest stored actual
    interval, re-fetched because it may be partial (upserts are idempotent); ``start`` when
    nothing is stored after it."""
    latest = latest_stored(store, source, kind, site=site)
    if latest is None:
        return start
    last_day = (latest - timedelta(microseconds=1)).astimezone(tz).date()
    return max(start, last_day)
