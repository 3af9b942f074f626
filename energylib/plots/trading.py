"""Altair charts of a community market study (notebooks/04_community_market.ipynb).

Each builder takes the tidy frames of :class:`energylib.trading.community.CommunityResult`
(``summary``, ``households``, ``intervals``) and returns a chart; call
:func:`energylib.plots.offline_charts` first so they render without a network.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from energylib.schema import TIME

LABELS = {
    "none": "alone (no market)",
    "peer_matching": "peer matching",
    "uniform_auction": "uniform auction",
    "continuous_auction": "continuous auction",
    "cooperative_optimum": "cooperative optimum",
}
ORDER = list(LABELS.values())
# One colour per mechanism on every chart of the page, whichever mechanisms a chart shows.
MARKET_COLOURS = alt.Scale(
    domain=ORDER, range=["#7f7f7f", "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1"]
)


def _labelled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("mechanism").replace_strict(LABELS, default=pl.col("mechanism")).alias("market")
    )


def savings_chart(summary: pl.DataFrame, currency: str, *, title: str = "") -> alt.LayerChart:
    """The community's saving per mechanism against every home alone, the cooperative
    optimum as the bound; labels give each mechanism's share of the optimum's saving."""
    df = _labelled(summary.filter(pl.col("mechanism") != "none")).with_columns(
        pl.when(pl.col("share_of_optimum").is_not_null())
        .then((pl.col("share_of_optimum") * 100).round(0).cast(pl.Int64).cast(pl.String) + " %")
        .otherwise(pl.lit(""))
        .alias("label")
    )
    base = alt.Chart(df, title=title).encode(
        y=alt.Y("market:N", sort=ORDER, title=None),
        x=alt.X("saving:Q", title=f"community saving [{currency}]"),
    )
    bars = base.mark_bar().encode(
        color=alt.condition(
            alt.datum.mechanism == "cooperative_optimum", alt.value("#999999"), alt.value("#4c78a8")
        ),
        tooltip=[
            "market",
            alt.Tooltip("saving:Q", format=",.0f"),
            alt.Tooltip("saving_share:Q", format=".1%"),
            alt.Tooltip("share_of_optimum:Q", format=".0%"),
        ],
    )
    text = base.mark_text(align="left", dx=4).encode(text="label:N")
    return (bars + text).properties(width=520, height=34 * max(df.height, 1))


def household_savings_chart(
    households: pl.DataFrame, currency: str, *, title: str = ""
) -> alt.Chart:
    """Who gains: each home's saving against being alone, per mechanism (a dot per home,
    homes sorted by their saving in the first mechanism)."""
    df = _labelled(households.filter(pl.col("mechanism") != "none"))
    first = df["mechanism"][0] if df.height else ""
    order = (
        df.filter(pl.col("mechanism") == first)
        .sort("saving", descending=True)["household"]
        .to_list()
    )
    return (
        alt.Chart(df, title=title)
        .mark_point(filled=True, size=60)
        .encode(
            x=alt.X("household:N", sort=order, title=None, axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("saving:Q", title=f"saving [{currency}]"),
            color=alt.Color("market:N", sort=ORDER, title=None, scale=MARKET_COLOURS),
            shape=alt.Shape("has_battery:N", title="battery"),
            tooltip=[
                "household",
                "market",
                alt.Tooltip("saving:Q", format=",.2f"),
                alt.Tooltip("bill_alone:Q", format=",.0f"),
                alt.Tooltip("bought_kwh:Q", format=",.0f"),
                alt.Tooltip("sold_kwh:Q", format=",.0f"),
            ],
        )
        .properties(width=620, height=260)
    )


def _week(intervals: pl.DataFrame, timezone: str, start_day: int, days: int) -> pl.DataFrame:
    local = pl.col(TIME).dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    df = intervals.with_columns(local.alias("local_time"))
    t0 = df["local_time"].min()
    if t0 is None:
        return df
    lo = t0 + pl.duration(days=start_day)
    hi = t0 + pl.duration(days=start_day + days)
    return df.filter((pl.col("local_time") >= lo) & (pl.col("local_time") < hi))


def clearing_prices_chart(
    intervals: pl.DataFrame,
    currency: str,
    timezone: str,
    *,
    start_day: int = 0,
    days: int = 7,
    title: str = "",
) -> alt.Chart:
    """Each mechanism's volume-weighted trade price per interval between the grid's import
    price and feed-in credit, over ``days`` days in local time (gaps: nothing traded)."""
    week = _week(intervals, timezone, start_day, days)
    grid = (
        week.filter(pl.col("mechanism") == "none")
        .select(
            "local_time",
            pl.col("import_per_kwh").alias("grid import price"),
            pl.col("feed_in_per_kwh").alias("feed-in credit"),
        )
        .unpivot(index="local_time", variable_name="series", value_name="price_per_kwh")
    )
    traded = _labelled(
        week.filter(~pl.col("mechanism").is_in(["none", "cooperative_optimum"]))
    ).select(
        "local_time",
        pl.col("market").alias("series"),
        # no trade, no price: a null breaks the line there
        pl.when(pl.col("traded_kwh") > 1e-9)
        .then(pl.col("traded_value") / pl.col("traded_kwh"))
        .otherwise(None)
        .alias("price_per_kwh"),
    )
    df = pl.concat([grid, traded])
    return (
        alt.Chart(df, title=title)
        .mark_line(strokeWidth=1.3, interpolate="step-after")
        .encode(
            x=alt.X("local_time:T", title="local time"),
            y=alt.Y("price_per_kwh:Q", title=f"price [{currency}/kWh]"),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(
                    domain=["grid import price", "feed-in credit", *MARKET_COLOURS.domain],
                    range=["#e15759", "#edc948", *MARKET_COLOURS.range],
                ),
            ),
            tooltip=["local_time:T", "series", alt.Tooltip("price_per_kwh:Q", format=".3f")],
        )
        .properties(width=620, height=240)
    )


def feeder_chart(
    intervals: pl.DataFrame,
    timezone: str,
    *,
    start_day: int = 0,
    days: int = 7,
    title: str = "",
) -> alt.Chart:
    """The feeder's view: the community's net grid flow (import > 0, export < 0) per
    interval for every mechanism, over ``days`` days in local time."""
    week = _week(intervals, timezone, start_day, days)
    df = _labelled(
        week.group_by("local_time", "mechanism").agg(
            (pl.col("grid_import_kwh").sum() - pl.col("grid_export_kwh").sum()).alias("net_kwh")
        )
    ).sort("local_time")
    return (
        alt.Chart(df, title=title)
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("local_time:T", title="local time"),
            y=alt.Y("net_kwh:Q", title="net grid import of the feeder [kWh per interval]"),
            color=alt.Color("market:N", sort=ORDER, title=None, scale=MARKET_COLOURS),
            tooltip=["local_time:T", "market", alt.Tooltip("net_kwh:Q", format=".2f")],
        )
        .properties(width=620, height=240)
    )


def energy_shares_chart(summary: pl.DataFrame, *, title: str = "") -> alt.Chart:
    """Self-sufficiency (load met without the grid) and self-consumption (PV kept in the
    community) per mechanism."""
    df = (
        _labelled(summary)
        .select(
            "market",
            pl.col("self_sufficiency").alias("self-sufficiency"),
            pl.col("self_consumption").alias("self-consumption"),
        )
        .unpivot(index="market", variable_name="share", value_name="value")
    )
    return (
        alt.Chart(df, title=title)
        .mark_bar()
        .encode(
            y=alt.Y("market:N", sort=ORDER, title=None),
            x=alt.X(
                "value:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
            ),
            color=alt.Color("market:N", sort=ORDER, legend=None, scale=MARKET_COLOURS),
            row=alt.Row("share:N", title=None),
            tooltip=["market", "share", alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(width=480, height=130)
    )


def peaks_chart(summary: pl.DataFrame, *, title: str = "") -> alt.Chart:
    """The feeder's largest net import and export in any interval, per mechanism."""
    df = (
        _labelled(summary)
        .select(
            "market",
            pl.col("peak_import_kwh").alias("peak import"),
            pl.col("peak_export_kwh").alias("peak export"),
        )
        .unpivot(index="market", variable_name="peak", value_name="kwh")
    )
    return (
        alt.Chart(df, title=title)
        .mark_bar()
        .encode(
            y=alt.Y("market:N", sort=ORDER, title=None),
            x=alt.X("kwh:Q", title="kWh in one interval"),
            color=alt.Color("peak:N", title=None),
            yOffset="peak:N",
            tooltip=["market", "peak", alt.Tooltip("kwh:Q", format=".1f")],
        )
        .properties(width=480, height=200)
    )
