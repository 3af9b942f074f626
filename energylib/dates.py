"""Dates and instants: UTC bounds, NEM days, epoch microseconds, windows over a range of days.

Small helpers that every source, the stores and the agent share, kept apart so that
none of them has to import another to get them (the ingest modules used to reach into
each other, and into the store, for these).

* An *instant* is a zone-aware ``datetime``; storage is UTC.  A naive ``datetime`` is
  refused: which zone it meant cannot be guessed.
* A *day* is a ``date``; where it is used as a bound it means midnight UTC unless a
  zone is named (NEM days are UTC+10, the market's own clock, with no daylight saving).
* SQLite keeps instants as integer microseconds since the epoch (UTC), so ordering and
  range queries are exact; :func:`epoch_us` and :func:`from_epoch_us` convert.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

#: The NEM's clock (AEST, UTC+10 all year): Amber's and AEMO's dates are NEM dates.
NEM_TZ = timezone(timedelta(hours=10))


def as_utc(t: date | datetime | str) -> datetime:
    """An instant in UTC from a zone-aware datetime, a date (UTC midnight) or an ISO string.

    Raises
    ------
    ValueError
        For a naive datetime (or a naive ISO string with a time): pass a zone.
    """
    if isinstance(t, str):
        t = datetime.fromisoformat(t) if "T" in t or " " in t else date.fromisoformat(t)
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(
                f"naive time {t!r}: pass a time zone-aware datetime or a date (storage is UTC)"
            )
        return t.astimezone(UTC)
    return datetime(t.year, t.month, t.day, tzinfo=UTC)


def as_date(d: date | datetime | str) -> date:
    """The day of a date, a datetime (its own calendar day) or an ISO string (its first 10 characters)."""
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    return date.fromisoformat(str(d)[:10])


def nem_date(now: datetime) -> date:
    """The NEM (UTC+10) date of an instant."""
    return now.astimezone(NEM_TZ).date()


def epoch_us(t: datetime) -> int:
    """Microseconds since the epoch (UTC) of a zone-aware instant (a naive one is refused)."""
    if t.tzinfo is None:
        raise ValueError(f"naive time {t!r}: pass a time zone-aware datetime (UTC storage)")
    return int(round(t.timestamp() * 1_000_000))


def from_epoch_us(us: int) -> datetime:
    """The UTC instant of a count of microseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def iter_windows(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    """Windows ``(first_day, last_day)`` (both included) of ``days`` days covering ``start``..``end``."""
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


def days_in_month(year: int, month: int) -> int:
    """Days in a calendar month."""
    return calendar.monthrange(year, month)[1]
