"""Windowed, resumable backfills into the store.

:func:`run_backfill` walks a date range in windows (7 days by default), fetches
each window, and upserts what came back before asking for the next, so a
failure loses nothing already fetched.  On a rate limit that outlasts the HTTP
client's retries it halves the window (down to ``min_window_days``) and tries
again; when even the smallest window is refused it stops with a
:class:`BackfillError` whose :class:`BackfillReport` says what was stored and
the command that resumes.

:func:`backfill_amber` and :func:`backfill_aemo` are the source-specific entry
points; ENTSO-E's lives in :mod:`energylib.ingest.entsoe`.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl

from energylib.ingest.http import HttpError, RateLimited, TokenRejected
from energylib.schema import TIME, DataValidationError, FrameMeta
from energylib.store import ParquetStore, UpsertResult

NEM_TZ = timezone(timedelta(hours=10))  # Amber's dates are NEM dates (UTC+10, no daylight saving)

Frames = list[tuple[pl.DataFrame, FrameMeta]]


# --------------------------------------------------------------------------- storing
def store_frames(store: ParquetStore, frames: Frames) -> UpsertResult:
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


def store_amber_responses(
    store: ParquetStore,
    paths,
    *,
    kind: str = "prices",
    site: str = "default",
    timezone: str = "Australia/Sydney",
) -> UpsertResult:
    """Parse saved Amber responses (JSON files) and store them, one upsert per series.

    Parsing every file first and writing each series once is what makes a year
    of 5-min prices quick to load: the store rewrites each month once instead of
    once per weekly file.  An interval in several files keeps the actual over a
    forecast, and otherwise the later file; a stored actual is never replaced by
    a forecast (see :func:`store_frames`).

    Parameters
    ----------
    store : ParquetStore
        Destination.
    paths : iterable of path
        Saved ``/sites/{id}/prices`` (or ``/usage`` with ``kind='usage'``) responses, oldest first.
    kind : {'prices', 'usage'}
        What the files hold.
    site : str
        Amber site id for the metadata.
    timezone : str
        IANA zone of the site.
    """
    from energylib.ingest.amber import SavedResponses, read_amber_prices, read_amber_usage

    paths = list(paths)
    reader = {"prices": read_amber_prices, "usage": read_amber_usage}[kind]
    frames = reader(
        SavedResponses(paths),
        site=site,
        timezone=timezone,
        where=f"{len(paths)} saved {kind} response(s)",
    )
    return store_frames(store, frames)


def _stored_actuals(store: ParquetStore, data: pl.DataFrame, meta: FrameMeta) -> pl.Series:
    lo = data[TIME].min()
    hi = data[TIME].max() + timedelta(microseconds=1)
    lf = store.scan(
        meta.source,
        meta.kind,
        lo,
        hi,
        site=meta.site,
        channel=meta.channel,
        interval_minutes=meta.interval_minutes,
    )
    if "is_forecast" not in lf.collect_schema().names():
        return pl.Series(TIME, [], dtype=pl.Datetime("us", "UTC"))
    return lf.filter(pl.col("is_forecast").not_()).select(TIME).collect()[TIME]


def latest_stored(
    store: ParquetStore,
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
    lf = store.scan(source, kind, site=site)
    names = lf.collect_schema().names()
    if actual_only and "is_forecast" in names:
        lf = lf.filter(pl.col("is_forecast").not_())
    ends = (
        lf.group_by("channel", "interval_minutes")
        .agg(
            (
                pl.col(TIME).max()
                + pl.duration(minutes=pl.col("interval_minutes").first().cast(pl.Int64))
            ).alias("end")
        )
        .collect()
    )
    if ends.height == 0:
        return None
    return ends["end"].min()


# --------------------------------------------------------------------------- windows
def iter_windows(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    """Windows ``(first_day, last_day)`` (both included) covering ``start``..``end``."""
    if days < 1:
        raise ValueError(f"window of {days} days; use 1 or more")
    d = start
    while d <= end:
        last = min(end, d + timedelta(days=days - 1))
        yield d, last
        d = last + timedelta(days=1)


def month_windows(start: date, end: date) -> Iterator[tuple[date, date]]:
    """Calendar months (first day, last day) covering ``start``..``end``, clipped to the range."""
    d = date(start.year, start.month, 1)
    while d <= end:
        last = date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])
        yield max(d, start), min(last, end)
        d = last + timedelta(days=1)


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
    store: ParquetStore,
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
    store : ParquetStore
        Where rows go (idempotent upserts; see :func:`store_frames`).
    report : BackfillReport
        Filled in and returned; names the range, source and resume command.
    window_days : int
        Days per request [d].
    min_window_days : int
        Smallest window [d] the loop shrinks to on repeated HTTP 429.
    windows : callable
        Splits the range: :func:`iter_windows` (days) or :func:`month_windows`.
    progress : bool
        Show a progress bar over the windows (tqdm).

    Raises
    ------
    BackfillError
        On a rejected token, a rate limit that persists at the smallest window, a
        server that keeps failing, or a malformed body (which names the window).
    """
    from tqdm.auto import tqdm

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


def _resume_start(
    store: ParquetStore, source: str, kind: str, site: str | None, start: date, tz=NEM_TZ
) -> date:
    latest = latest_stored(store, source, kind, site=site)
    if latest is None:
        return start
    # Re-fetch the day of the last stored interval: it may be partial, and upserts are idempotent.
    last_day = (latest - timedelta(microseconds=1)).astimezone(tz).date()
    return max(start, last_day)


def _as_date(d: date | datetime | str) -> date:
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    return date.fromisoformat(str(d)[:10])


# --------------------------------------------------------------------------- Amber
def backfill_amber(
    store: ParquetStore,
    start: date | str,
    end: date | str,
    *,
    kind: str = "prices",
    resume: bool = False,
    site_id: str | None = None,
    resolution: int | None = None,
    window_days: int | None = None,
    min_window_days: int = 1,
    client=None,
    progress: bool = True,
    **client_kwargs,
) -> BackfillReport:
    """Backfill Amber prices or usage for NEM dates ``start``..``end`` (both included).

    Parameters
    ----------
    store : ParquetStore
        Destination.
    start, end : date or ISO string
        First and last NEM day.
    kind : {'prices', 'usage'}
        What to fetch.
    resume : bool
        Start at the day of the latest stored actual interval instead of ``start``.
    site_id : str, optional
        Amber site (default ``AMBER_SITE_ID`` or the account's only active site).
    resolution : int, optional
        Price resolution [min], 5 or 30 (the API's default is 30).
    window_days : int, optional
        Days per request (default 7 for prices, 7 for usage; usage may not exceed 90).
    min_window_days : int
        Smallest window on repeated HTTP 429 [d].
    client : AmberClient, optional
        A configured client (tests pass one with a local base URL and tiny back-off).
    """
    from energylib.ingest.amber import AmberClient, read_amber_prices, read_amber_usage

    if kind not in ("prices", "usage"):
        raise ValueError(f"kind={kind!r}; Amber backfills 'prices' or 'usage'")
    if client is None:
        client = AmberClient(site_id=site_id, **client_kwargs)
    site = client.site_id
    s, e = _as_date(start), _as_date(end)
    days = window_days or 7
    if kind == "usage" and days > 90:
        raise ValueError(
            "Amber returns at most 90 days of usage per request: use window_days <= 90"
        )
    report = BackfillReport("amber", kind, site, s, e)
    if resume:
        s2 = _resume_start(store, "amber", kind, site, s)
        if s2 > s:
            report.skipped_to = s2
            report.start = s2
    report.resume_command = (
        f"energy backfill amber --kind {kind} --start {s} --end {e} --site {site} --resume"
    )

    def fetch(first: date, last: date) -> Frames:
        where = f"{kind} {first}..{last}"
        if kind == "prices":
            body = client.prices_json(first, last, resolution=resolution)
            return read_amber_prices(body, site=site, timezone=client.timezone, where=where)
        body = client.usage_json(first, last)
        return read_amber_usage(body, site=site, timezone=client.timezone, where=where)

    return run_backfill(
        fetch,
        store,
        report,
        window_days=days,
        min_window_days=min(min_window_days, days),
        progress=progress,
    )


# --------------------------------------------------------------------------- AEMO
def backfill_aemo(
    store: ParquetStore,
    region: str,
    start: date | str,
    end: date | str,
    *,
    resume: bool = False,
    base_url: str | None = None,
    policy=None,
    progress: bool = True,
) -> BackfillReport:
    """Backfill AEMO wholesale prices and demand for a NEM region, one monthly file per window.

    ``start``..``end`` are NEM days (both included); rows outside them are not stored.
    """
    from energylib.ingest.aemo import AEMO_BASE_URL, fetch_aemo_month, normalise_region

    region = normalise_region(region)
    s, e = _as_date(start), _as_date(end)
    report = BackfillReport("aemo", "prices", region, s, e)
    if resume:
        s2 = _resume_start(store, "aemo", "prices", region, s)
        if s2 > s:
            report.skipped_to = s2
            report.start = s2
    report.resume_command = f"energy backfill aemo --region {region} --start {s} --end {e} --resume"
    session = None

    def fetch(first: date, last: date) -> Frames:
        nonlocal session
        from energylib.ingest.http import make_session

        session = session or make_session()
        data, meta = fetch_aemo_month(
            region,
            first.year,
            first.month,
            base_url=base_url or AEMO_BASE_URL,
            session=session,
            policy=policy,
        )
        lo = datetime.combine(first, datetime.min.time(), NEM_TZ).astimezone(UTC)
        hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), NEM_TZ).astimezone(UTC)
        data = data.filter((pl.col(TIME) >= lo) & (pl.col(TIME) < hi))
        return [(data, meta)] if data.height else []

    return run_backfill(
        fetch,
        store,
        report,
        window_days=31,
        min_window_days=31,
        windows=lambda a, b, _d: month_windows(a, b),
        progress=progress,
    )
