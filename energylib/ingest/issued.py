"""Published forecasts kept with their issue time, so a study can replay them.

A supplier's forecast (Amber's current and forecast intervals) changes every time it is
fetched; the ``prices`` series keeps only the latest value of each interval, which a study
cannot replay without looking ahead.  Here every fetch is also kept whole, as of when it
was issued, in the store's own vocabulary:

* kind ``price_forecasts`` (next to ``prices``), same source, site and channel;
* one row per **issue**: ``interval_start`` is the 5-minute interval in which the forecast
  was fetched (its issue time, floored; a later fetch in the same 5 minutes replaces it,
  as any upsert does), interval length 5 min;
* the forecast as value columns ``ahead_00_price_per_kwh``, ``ahead_01_price_per_kwh``,
  ...: column ``k`` is the mean price forecast for the ``k``-th half-hour from the one the
  issue falls in (``k = 0``: the current half-hour; 5-min forecast intervals are averaged
  into their half-hour, the earlier ones of the current half-hour being the response's
  actual intervals).  Null where the forecast does not cover a half-hour.  Half-hours keep
  a day's forecast to 48 columns (the NEM's retail interval; Amber's forecasts past the
  first hour are half-hourly anyway), which keeps each fetch's upsert cheap on a Pi.

So a stored issue is a canonical frame like any other (one row per interval, prices in
currency per kWh), and the store's key, upsert and read work unchanged.  Read it at its
stored 5-minute interval: resampling would average forecasts of different issues.

:func:`issued_forecast_frames` turns fetched price frames into issue frames;
:func:`read_issued` reads them back as arrays (issue times and an issues x steps table),
which :func:`energylib.dispatch.mpc.supplier_forecast` puts on a study's decision grid.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import polars as pl

from energylib.dates import epoch_us
from energylib.schema import TIME, FrameMeta
from energylib.store import Store

KIND = "price_forecasts"
#: The issue grid [min]: one stored issue per 5 minutes.
ISSUE_MINUTES = 5
ISSUE_US = ISSUE_MINUTES * 60_000_000
#: The forecast's steps [min]: half-hours from the one the issue falls in.
STEP_MINUTES = 30
STEP_US = STEP_MINUTES * 60_000_000
_COLUMN = re.compile(r"^ahead_(\d{2,})_price_per_kwh$")


def ahead_column(k: int) -> str:
    """The value column of the ``k``-th half-hour from the one the issue falls in."""
    return f"ahead_{k:02d}_price_per_kwh"


def issued_forecast_frames(
    frames: list[tuple[pl.DataFrame, FrameMeta]],
    issued_at: datetime,
    *,
    column: str = "price_per_kwh",
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """The forecast each price frame gives as of ``issued_at``, as one issue row per channel.

    Parameters
    ----------
    frames : list of (polars.DataFrame, FrameMeta)
        Canonical ``prices`` frames of one fetch (e.g. :func:`energylib.ingest.amber.
        get_amber_current_prices`: the current interval and the forecast ones).  Frames of
        another kind, and intervals that ended before the issue interval, are ignored.
    issued_at : datetime
        When the forecast was fetched or published (tz-aware).
    column : str
        The price column to keep [currency/kWh].

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        Per price frame with anything from the issue interval on: a one-row frame of kind
        :data:`KIND` (see the module docstring), its nullable columns in
        ``meta.extra["nullable"]``.
    """
    t0 = (epoch_us(issued_at) // ISSUE_US) * ISSUE_US
    h0 = (t0 // STEP_US) * STEP_US
    out = []
    for data, meta in frames:
        if meta.kind != "prices" or column not in data.columns or data.height == 0:
            continue
        start = data[TIME].dt.epoch("us").to_numpy()
        price = data[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        end = start + meta.interval_minutes * 60_000_000
        if not (end > t0).any():
            continue
        # the price at each minute-5 step from the current half-hour on, then half-hour means
        steps = int(-(-(int(end.max()) - h0) // STEP_US))
        per = STEP_US // ISSUE_US
        at = h0 + np.arange(steps * per, dtype=np.int64) * ISSUE_US
        i = np.clip(np.searchsorted(start, at, side="right") - 1, 0, None)
        values = np.where((at >= start[i]) & (at < end[i]), price[i], np.nan).reshape(-1, per)
        covered = np.isfinite(values).any(axis=1)
        means = np.full(steps, np.nan)
        means[covered] = np.nanmean(values[covered], axis=1)
        cols = [ahead_column(k) for k in range(steps)]
        row = pl.DataFrame(
            {TIME: pl.Series([t0]).cast(pl.Datetime("us", "UTC"))}
            | {c: pl.Series([v if np.isfinite(v) else None], dtype=pl.Float64)
               for c, v in zip(cols, means, strict=True)}
        )  # fmt: skip
        out.append(
            (
                row,
                meta.replace(
                    kind=KIND, interval_minutes=ISSUE_MINUTES, extra={"nullable": tuple(cols)}
                ),
            )
        )
    return out


def read_issued(
    store: Store,
    source: str,
    start: datetime,
    end: datetime,
    *,
    site: str | None = None,
    channel: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The forecasts issued in ``[start, end)`` for one (site, channel).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Issue interval starts [microseconds since the epoch, UTC], sorted, and an
        ``(issues, steps)`` table of forecast prices [currency/kWh] per half-hour from the
        one each issue falls in (NaN: not forecast).

    Raises
    ------
    LookupError
        Nothing stored (the message says which collector fills it).
    """
    data, _ = store.read(
        source, KIND, start, end, site=site, channel=channel, interval_minutes=ISSUE_MINUTES
    )
    ks = {int(m.group(1)): c for c in data.columns if (m := _COLUMN.match(c))}
    issued = data[TIME].dt.epoch("us").to_numpy().astype(np.int64)
    table = np.full((data.height, max(ks, default=-1) + 1), np.nan)
    for k, c in ks.items():
        table[:, k] = data[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
    order = np.argsort(issued, kind="stable")
    return issued[order], table[order]
