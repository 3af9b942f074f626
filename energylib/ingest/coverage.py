"""What the store holds: coverage (days x hours), gaps, monthly price and usage summaries.

The backfill notebook calls these; they work on canonical frames, so they
serve any source.  Their chart is :func:`energylib.plots.coverage_chart`; running the
backfills the settings allow is :mod:`energylib.ingest.configured`.  Days and hours are the site's local time (from the
frame's metadata), because "Tuesday 18:00" is what a reader recognises.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from energylib.align import find_gaps
from energylib.dates import days_in_month
from energylib.schema import TIME, FrameMeta
from energylib.store import Store

# The series each source's coverage view shows by default.
DEFAULT_CHANNEL = {
    "amber": "general",
    "entsoe": "day_ahead",
    "aemo": "wholesale",
    "powerpal": "general",
}


def coverage_matrix(
    data: pl.DataFrame, meta: FrameMeta, *, timezone: str | None = None
) -> pl.DataFrame:
    """Intervals present per local day and hour, for every day from the first to the last.

    Returns
    -------
    polars.DataFrame
        ``date`` (local), ``hour`` (0-23, local), ``present`` (intervals stored),
        ``expected`` (intervals in a full hour: 60 / interval length), and
        ``fraction`` = present / expected, at most 1 (the repeated hour when
        clocks go back holds two hours of intervals).  Hours with nothing stored
        are rows with ``present`` 0, not missing rows.
    """
    tz = timezone or meta.timezone
    expected = 60 // meta.interval_minutes if meta.interval_minutes <= 60 else 1
    schema = {
        "date": pl.Date,
        "hour": pl.Int8,
        "present": pl.UInt32,
        "expected": pl.Int32,
        "fraction": pl.Float64,
    }
    if data.height == 0:
        return pl.DataFrame(schema=schema)
    local = data.select(pl.col(TIME).dt.convert_time_zone(tz).alias("_local"))
    counts = local.group_by(
        pl.col("_local").dt.date().alias("date"),
        pl.col("_local").dt.hour().cast(pl.Int8).alias("hour"),
    ).agg(pl.len().cast(pl.UInt32).alias("present"))
    days = pl.date_range(counts["date"].min(), counts["date"].max(), "1d", eager=True).alias("date")
    grid = pl.DataFrame({"date": days}).join(
        pl.DataFrame({"hour": pl.Series(range(24), dtype=pl.Int8)}), how="cross"
    )
    return (
        grid.join(counts, on=["date", "hour"], how="left")
        .with_columns(
            pl.col("present").fill_null(0), pl.lit(expected, dtype=pl.Int32).alias("expected")
        )
        .with_columns(
            (pl.col("present") / pl.col("expected")).clip(upper_bound=1.0).alias("fraction")
        )
        .sort("date", "hour")
        .select(list(schema))
    )


def gap_table(
    data: pl.DataFrame,
    meta: FrameMeta,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.DataFrame:
    """Missing runs of intervals with local start/end and duration [h], longest first.

    ``start``/``end`` (UTC) count missing edges too; without them only gaps
    between the first and last stored interval are listed.
    """
    gaps = find_gaps(data, meta.interval_minutes, start, end)
    return (
        gaps.with_columns(
            pl.col("gap_start").dt.convert_time_zone(meta.timezone).alias("gap_start_local"),
            pl.col("gap_end").dt.convert_time_zone(meta.timezone).alias("gap_end_local"),
            (pl.col("missing") * meta.interval_minutes / 60.0).alias("hours"),
        )
        .sort("missing", "gap_start", descending=[True, False])
        .select("gap_start_local", "gap_end_local", "missing", "hours", "gap_start", "gap_end")
    )


def _month(meta: FrameMeta) -> pl.Expr:
    return pl.col(TIME).dt.convert_time_zone(meta.timezone).dt.strftime("%Y-%m").alias("month")


def monthly_price_summary(data: pl.DataFrame, meta: FrameMeta) -> pl.DataFrame:
    """Per local month: intervals, mean / min / max of each price column [currency/kWh],
    negative-price and spike intervals (where the frame has ``spike_status``)."""
    prices = [c for c in data.columns if c.endswith("_per_kwh") and data.schema[c].is_numeric()]
    main = "price_per_kwh" if "price_per_kwh" in prices else (prices[0] if prices else None)
    aggs = [pl.len().alias("intervals")]
    for c in prices:
        aggs += [
            pl.col(c).mean().alias(f"mean_{c}"),
            pl.col(c).min().alias(f"min_{c}"),
            pl.col(c).max().alias(f"max_{c}"),
        ]
    if main:
        aggs.append((pl.col(main) < 0).sum().alias("negative_intervals"))
    if "spike_status" in data.columns:
        aggs.append((pl.col("spike_status") == "spike").sum().alias("spike_intervals"))
    if "is_forecast" in data.columns:
        aggs.append(pl.col("is_forecast").sum().alias("forecast_intervals"))
    return data.group_by(_month(meta)).agg(aggs).sort("month")


def monthly_usage_summary(data: pl.DataFrame, meta: FrameMeta) -> pl.DataFrame:
    """Per local month: intervals, total of each energy column [kWh] and of ``cost_amount``
    [currency], and the share of the month's intervals present."""
    energy = [c for c in data.columns if c.endswith("_kwh") and not c.endswith("_per_kwh")]
    aggs = [pl.len().alias("intervals")] + [pl.col(c).sum() for c in energy]
    if "cost_amount" in data.columns:
        aggs.append(pl.col("cost_amount").sum())
    out = data.group_by(_month(meta)).agg(aggs).sort("month")
    per_day = 24 * 60 // meta.interval_minutes
    days = out["month"].map_elements(
        lambda ym: days_in_month(int(ym[:4]), int(ym[5:7])), return_dtype=pl.Int64
    )
    return out.with_columns((pl.col("intervals") / (days * per_day)).alias("share_present"))


# --------------------------------------------------------------------------- the store
def load_series(
    store: Store,
    source: str,
    kind: str,
    *,
    site: str | None = None,
    channel: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[pl.DataFrame, FrameMeta] | None:
    """Read one series of a source for a coverage view, or None when the store has none.

    Without ``site`` the first site is used; without ``channel`` the source's
    usual one (:data:`DEFAULT_CHANNEL`) or the first.  A series stored at two
    resolutions is read at the finer one (prices repeat into the finer intervals).
    """
    series = store.series(source, kind) if (source, kind) in store.datasets() else pl.DataFrame()
    if series.height == 0:
        return None
    if site is not None:
        series = series.filter(pl.col("site") == site)
    if series.height == 0:
        return None
    site = site or series["site"][0]
    series = series.filter(pl.col("site") == site)
    channels = series["channel"].unique().to_list()
    channel = channel or (
        DEFAULT_CHANNEL.get(source)
        if DEFAULT_CHANNEL.get(source) in channels
        else sorted(channels)[0]
    )
    series = series.filter(pl.col("channel") == channel)
    if series.height == 0:
        return None
    finest = int(series["interval_minutes"].min())
    resample = finest if series.height > 1 else None
    return store.read(source, kind, start, end, site=site, channel=channel, resample_to=resample)
