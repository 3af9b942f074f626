"""Charts of canonical series (:mod:`energylib.schema`): a line over time, daily overviews."""

from __future__ import annotations

import altair as alt
import polars as pl

from energylib.schema import column_unit, value_columns


def line_over_time(
    data: pl.DataFrame, value: str, *, title: str = "", color: str | None = None
) -> alt.Chart:
    """A line of ``value`` against ``interval_start`` (optionally one line per ``color``)."""
    enc = {
        "x": alt.X("interval_start:T", title="time (UTC)"),
        "y": alt.Y(f"{value}:Q", title=value),
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    return alt.Chart(data).mark_line().encode(**enc).properties(title=title, width=700, height=220)


def daily_overview(
    data: pl.DataFrame, timezone: str, *, max_columns: int = 3, title: str = ""
) -> alt.Chart:
    """Daily totals of energy columns and daily means of everything else, one panel per column.

    Days are the site's local calendar days.
    """
    numeric = [
        c
        for c in value_columns(data)
        if data.schema[c].is_numeric() and column_unit(c) not in ("bool",)
    ]
    numeric = numeric[:max_columns]
    day = pl.col("interval_start").dt.convert_time_zone(timezone).dt.date().alias("day")
    aggs = [pl.col(c).sum() if column_unit(c) == "energy" else pl.col(c).mean() for c in numeric]
    daily = (
        data.group_by(day)
        .agg(aggs)
        .sort("day")
        .unpivot(index="day", variable_name="series", value_name="value")
    )
    return (
        alt.Chart(daily)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title="day (local)"),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", legend=None),
            tooltip=["day:T", "series:N", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=700, height=140)
        .facet(row=alt.Row("series:N", title=None))
        .resolve_scale(y="independent")
        .properties(title=title)
    )
