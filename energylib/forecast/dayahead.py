"""A series as market days: ``(day, slot)`` arrays, and what is known before each day.

Day-ahead forecasting works in whole local days: each day's ``per_day`` values (24
hours, 48 half-hours ...) are forecast together, from what is known the day before.
:class:`DayAheadData` holds a target series and its known-future inputs (day-ahead
load and wind forecasts, weather forecasts, calendar) as ``(n_days, per_day)``
arrays on the site's local clock, and :meth:`DayAheadData.information_for` returns
exactly what a forecaster may see when forecasting one day:

* the target up to the end of the day before (the target day's values are NaN);
* the known-future inputs up to the end of the target day (they are forecasts
  published before it), none after it;
* no later day at all (the view ends with the target day).

This is the rule of the open day-ahead benchmark (Lago et al. 2021, epftoolbox):
every model of :mod:`energylib.forecast.benchmark` sees only such views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from energylib.schema import TIME


@dataclass(frozen=True)
class DayAheadData:
    """A target and its known-future inputs by local day and slot of the day.

    Parameters
    ----------
    days : numpy.ndarray
        ``(n_days,)`` consecutive local dates, ``datetime64[D]``.
    target : numpy.ndarray
        ``(n_days, per_day)`` float64 in the target column's unit; NaN where missing
        or not yet known.
    exog : numpy.ndarray
        ``(n_days, per_day, n_exog)`` float64 known-future inputs, each in its column's unit.
    target_name : str
        The target column (``price_per_kwh`` ...).
    exog_names : tuple of str
        The known-future columns, in ``exog``'s last-axis order.
    interval_minutes : int
        Slot length [min]; ``per_day = 1440 / interval_minutes``.
    timezone : str
        IANA zone whose local clock defines the days.
    """

    days: np.ndarray
    target: np.ndarray
    exog: np.ndarray
    target_name: str
    exog_names: tuple[str, ...]
    interval_minutes: int
    timezone: str

    def __post_init__(self) -> None:
        n, s = self.target.shape
        if s * self.interval_minutes != 1440:
            raise ValueError(
                f"{s} slots of {self.interval_minutes} min do not make a day; "
                "interval_minutes must divide 1440"
            )
        if self.exog.shape[:2] != (n, s) or self.exog.shape[2] != len(self.exog_names):
            raise ValueError(
                f"exog has shape {self.exog.shape}; expected ({n}, {s}, {len(self.exog_names)})"
            )
        if len(self.days) != n:
            raise ValueError(f"{len(self.days)} days for {n} rows of target")

    @property
    def n_days(self) -> int:
        return self.target.shape[0]

    @property
    def per_day(self) -> int:
        """Slots per day (24 for hourly data)."""
        return self.target.shape[1]

    @property
    def n_exog(self) -> int:
        return len(self.exog_names)

    def day_index(self, day: date | datetime | str | np.datetime64) -> int:
        """Row of a local date; raises ``KeyError`` naming the covered range if absent."""
        d = np.datetime64(str(day)[:10], "D")
        i = int((d - self.days[0]).astype(int))
        if not 0 <= i < self.n_days:
            raise KeyError(
                f"day {d} is outside the data ({self.days[0]} to {self.days[-1]}); "
                "choose a test period inside it"
            )
        return i

    def information_for(self, day: int) -> DayAheadData:
        """What is known when forecasting day ``day`` (a row): rows ``0 .. day``, with the
        target of row ``day`` set to NaN; the known-future inputs of row ``day`` kept.

        The last row of the returned view is the day to forecast.
        """
        if not 0 <= day < self.n_days:
            raise IndexError(f"day {day} outside 0 .. {self.n_days - 1}")
        target = self.target[: day + 1].copy()
        target[day] = np.nan
        return replace(
            self,
            days=self.days[: day + 1].copy(),
            target=target,
            exog=self.exog[: day + 1].copy(),
        )

    def weekdays(self) -> np.ndarray:
        """Day of week of each row, Monday = 0."""
        # 1970-01-01 was a Thursday (weekday 3).
        return (self.days.astype("datetime64[D]").astype(np.int64) + 3) % 7

    def to_frame(self) -> pl.DataFrame:
        """The whole view as a canonical frame: ``interval_start`` (UTC), the target and
        the known-future columns (NaN where unknown)."""
        cols = {TIME: slot_starts(self.days, self.interval_minutes, self.timezone)}
        cols[self.target_name] = self.target.reshape(-1)
        for k, name in enumerate(self.exog_names):
            cols[name] = self.exog[:, :, k].reshape(-1)
        return pl.DataFrame(cols).filter(pl.col(TIME).is_not_null())

    def frame(self, values: np.ndarray, first_day: int, name: str | None = None) -> pl.DataFrame:
        """``(n, per_day)`` values of rows ``first_day ..`` as a canonical frame
        (``interval_start`` UTC, one column)."""
        values = np.asarray(values, dtype=np.float64)
        starts = slot_starts(
            self.days[first_day : first_day + len(values)], self.interval_minutes, self.timezone
        )
        return pl.DataFrame({TIME: starts, name or self.target_name: values.reshape(-1)})

    @classmethod
    def from_frame(
        cls,
        data: pl.DataFrame,
        target: str,
        known_future: Sequence[str] = (),
        *,
        timezone: str = "UTC",
        interval_minutes: int | None = None,
        fill_single_gaps: bool = False,
    ) -> DayAheadData:
        """Arrange a canonical frame by local day and slot.

        Parameters
        ----------
        data : polars.DataFrame
            ``interval_start`` (UTC) and the columns named below, on one interval grid.
        target : str
            Column to forecast.
        known_future : sequence of str
            Columns known for the target day before it starts (day-ahead load / wind
            forecasts, weather forecasts).
        timezone : str
            IANA zone of the market or site: days are its local days.
        interval_minutes : int, optional
            Slot length [min]; default: the most common step of ``interval_start``.
        fill_single_gaps : bool
            Fill a missing slot between two present ones by their mean (the hour a
            daylight-saving change removes); longer gaps stay NaN.  A repeated local slot
            (the hour it adds) is always averaged.
        """
        if TIME not in data.columns:
            raise ValueError(f"the frame has no {TIME!r} column (columns: {data.columns})")
        cols = [target, *known_future]
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise KeyError(
                f"the frame lacks {missing} (it has {data.columns}); name the target and "
                "known-future columns it holds"
            )
        if data.height == 0:
            raise ValueError("no rows to arrange by day")
        minutes = interval_minutes or infer_interval_minutes(data[TIME])
        if 1440 % minutes:
            raise ValueError(f"an interval of {minutes} min does not divide a day")
        per_day = 1440 // minutes
        local = data[TIME].dt.convert_time_zone(timezone)
        keyed = data.select(cols).with_columns(
            local.dt.date().alias("_day"),
            (
                (local.dt.hour().cast(pl.Int64) * 60 + local.dt.minute().cast(pl.Int64)) // minutes
            ).alias("_slot"),
        )
        # A local slot seen twice (the repeated hour when clocks go back) is averaged.
        keyed = keyed.group_by("_day", "_slot").agg(
            [pl.col(c).cast(pl.Float64).mean() for c in cols]
        )
        first, last = keyed["_day"].min(), keyed["_day"].max()
        days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
        row = (keyed["_day"].cast(pl.Date).to_numpy().astype("datetime64[D]") - days[0]).astype(
            np.int64
        )
        slot = keyed["_slot"].to_numpy()
        cube = np.full((len(days), per_day, len(cols)), np.nan)
        values = keyed.select(cols).to_numpy().astype(np.float64)
        cube[row, slot, :] = values
        if fill_single_gaps:
            flat = cube.reshape(-1, len(cols))
            hole = np.isnan(flat[1:-1]) & ~np.isnan(flat[:-2]) & ~np.isnan(flat[2:])
            mid = 0.5 * (flat[:-2] + flat[2:])
            flat[1:-1] = np.where(hole, mid, flat[1:-1])
            cube = flat.reshape(cube.shape)
        return cls(
            days=days,
            target=cube[:, :, 0].copy(),
            exog=cube[:, :, 1:].copy(),
            target_name=target,
            exog_names=tuple(known_future),
            interval_minutes=minutes,
            timezone=timezone,
        )


def infer_interval_minutes(times: pl.Series) -> int:
    """The most common step between consecutive interval starts [min]."""
    steps = times.sort().diff().drop_nulls().dt.total_minutes()
    if steps.len() == 0:
        raise ValueError("one interval alone has no interval length; pass interval_minutes")
    return int(steps.mode().sort()[0])


def slot_starts(days: np.ndarray, interval_minutes: int, timezone: str) -> pl.Series:
    """UTC start of every slot of ``days`` (local dates), in day-major order."""
    per_day = 1440 // interval_minutes
    local = [
        datetime.combine(d.astype(object), datetime.min.time())
        + timedelta(minutes=interval_minutes * k)
        for d in days
        for k in range(per_day)
    ]
    naive = pl.Series(TIME, local, dtype=pl.Datetime("us"))
    return naive.dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")
