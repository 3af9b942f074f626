"""The owner's dashboard of the agent: its decisions against price and state of charge, and
the money its battery moves made or saved against doing nothing."""

from __future__ import annotations

import altair as alt
import polars as pl

ACTION_COLOURS = {"charge": "#1b8a3a", "discharge": "#c62828", "hold": "#9e9e9e"}


def _local(frame: pl.DataFrame, timezone: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("interval_start")
        .dt.convert_time_zone(timezone)
        .dt.replace_time_zone(None)
        .alias("local_time")
    ).drop("interval_start")


def agent_decisions_chart(
    frame: pl.DataFrame, timezone: str, *, currency: str = "AUD", width: int = 560
) -> alt.VConcatChart:
    """Price, battery state of charge and the battery's set-point over time.

    ``frame``: ``interval_start`` (UTC), ``price_per_kwh`` [currency/kWh], ``soc_pct`` [%],
    ``battery_kwh`` (energy into the battery, + charge, - discharge, per row) and
    ``action`` (the most frequent decision of the row's period).
    """
    df = _local(frame, timezone)
    x = alt.X("local_time:T", title=None)
    price = (
        alt.Chart(df, title=f"price [{currency}/kWh]")
        .mark_line(strokeWidth=1.2, color="#37474f")
        .encode(x=x, y=alt.Y("price_per_kwh:Q", title=None))
        .properties(width=width, height=110)
    )
    soc = (
        alt.Chart(df, title="battery state of charge [%]")
        .mark_area(opacity=0.5, color="#1565c0", line=True)
        .encode(x=x, y=alt.Y("soc_pct:Q", title=None, scale=alt.Scale(domain=[0, 100])))
        .properties(width=width, height=90)
    )
    moves = (
        alt.Chart(df, title="battery energy per period [kWh] (+ charge, - discharge)")
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("battery_kwh:Q", title=None),
            color=alt.Color(
                "action:N",
                title=None,
                scale=alt.Scale(domain=list(ACTION_COLOURS), range=list(ACTION_COLOURS.values())),
                legend=alt.Legend(orient="bottom"),
            ),
        )
        .properties(width=width, height=90)
    )
    return alt.vconcat(price, soc, moves, spacing=8)


def agent_savings_chart(
    frame: pl.DataFrame, timezone: str, *, currency: str = "AUD", width: int = 560
) -> alt.Chart:
    """Cumulative money the battery's moves made or saved against doing nothing.

    ``frame``: ``interval_start`` (UTC) and ``saved_cumulative`` [currency].
    """
    df = _local(frame, timezone)
    return (
        alt.Chart(df, title=f"saved against doing nothing [{currency}]")
        .mark_line(strokeWidth=2, color="#1b8a3a")
        .encode(
            x=alt.X("local_time:T", title=None),
            y=alt.Y("saved_cumulative:Q", title=None),
        )
        .properties(width=width, height=120)
    )
