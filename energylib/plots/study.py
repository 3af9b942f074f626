"""Charts of the scenario study's result frames (:mod:`energylib.study`).

Each builder takes one tidy polars frame of the study's result, money in ``*_amount``
columns of the study's currency.
"""

from __future__ import annotations

import altair as alt
import polars as pl

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_bills_chart(monthly: pl.DataFrame, currency: str, *, title: str = "") -> alt.Chart:
    """Bill per month, one bar per scenario side by side.

    ``monthly``: ``scenario``, ``month`` (``YYYY-MM``, local), ``bill_amount`` [currency].
    """
    months = sorted(set(monthly["month"].to_list()))
    names = {m: f"{MONTH_NAMES[int(m[5:7]) - 1]} {m[2:4]}" for m in months}
    data = monthly.with_columns(pl.col("month").replace_strict(names).alias("month_name"))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("month_name:N", sort=[names[m] for m in months], title="month"),
            xOffset=alt.XOffset("scenario:N"),
            y=alt.Y("bill_amount:Q", title=f"bill ({currency})"),
            color=alt.Color("scenario:N", title="scenario"),
            tooltip=["scenario:N", "month_name:N", alt.Tooltip("bill_amount:Q", format=",.0f")],
        )
        .properties(width=720, height=260, title=title)
    )


def typical_days_chart(days: pl.DataFrame, *, title: str = "") -> alt.Chart:
    """Average power of each energy flow by local hour, one panel per season.

    ``days``: ``season``, ``hour`` (local, 0-24), ``flow``, ``kw`` (mean power [kW]).
    """
    seasons = [
        s for s in ("summer", "autumn", "winter", "spring") if s in set(days["season"].to_list())
    ]
    return (
        alt.Chart(days)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("hour:Q", title="local hour", scale=alt.Scale(domain=[0, 24])),
            y=alt.Y("kw:Q", title="mean power (kW)"),
            color=alt.Color("flow:N", title="flow"),
            tooltip=["season:N", "flow:N", "hour:Q", alt.Tooltip("kw:Q", format=".2f")],
        )
        .properties(width=330, height=180)
        .facet(facet=alt.Facet("season:N", sort=seasons, title=None), columns=2)
        .properties(title=title)
    )


def soc_week_chart(soc: pl.DataFrame, *, title: str = "") -> alt.Chart:
    """State of charge of the home battery and the EV over a week.

    ``soc``: ``local_time`` (naive local datetime), ``series``, ``soc_pct`` [0-100].
    """
    return (
        alt.Chart(soc)
        .mark_line()
        .encode(
            x=alt.X("local_time:T", title="local time"),
            y=alt.Y("soc_pct:Q", title="state of charge (%)", scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("series:N", title=None),
            tooltip=["series:N", "local_time:T", alt.Tooltip("soc_pct:Q", format=".0f")],
        )
        .properties(width=720, height=220, title=title)
    )


def cash_flow_chart(cash: pl.DataFrame, currency: str, *, title: str = "") -> alt.LayerChart:
    """Cumulative discounted cash flow per scenario; where a line crosses zero it has paid back.

    ``cash``: ``scenario``, ``year``, ``cumulative_discounted_amount`` [currency].
    """
    lines = (
        alt.Chart(cash)
        .mark_line(point=True)
        .encode(
            x=alt.X("year:Q", title="year"),
            y=alt.Y(
                "cumulative_discounted_amount:Q",
                title=f"cumulative discounted cash flow ({currency})",
            ),
            color=alt.Color("scenario:N", title="scenario"),
            tooltip=[
                "scenario:N",
                "year:Q",
                alt.Tooltip("cumulative_discounted_amount:Q", format=",.0f"),
            ],
        )
    )
    zero = alt.Chart(pl.DataFrame({"y": [0.0]})).mark_rule(color="grey").encode(y="y:Q")
    return (zero + lines).properties(width=720, height=300, title=title)


def npv_heatmap(grid: pl.DataFrame, currency: str, *, title: str = "") -> alt.LayerChart:
    """NPV for every PV size x battery option, green where it pays, red where it does not.

    ``grid``: ``pv_kw``, ``battery``, ``npv_amount`` [currency].
    """
    data = grid.with_columns(
        pl.col("pv_kw").map_elements(lambda v: f"{v:g} kW", return_dtype=pl.String).alias("pv")
    )
    pv_order = [f"{v:g} kW" for v in sorted(set(grid["pv_kw"].to_list()))]
    base = alt.Chart(data).encode(
        x=alt.X("pv:N", sort=pv_order, title="PV size (kWdc)"),
        y=alt.Y("battery:N", title="battery"),
    )
    bound = max(abs(float(grid["npv_amount"].min())), abs(float(grid["npv_amount"].max())), 1.0)
    cells = base.mark_rect().encode(
        color=alt.Color(
            "npv_amount:Q",
            title=f"NPV ({currency})",
            scale=alt.Scale(scheme="redyellowgreen", domain=[-bound, bound], domainMid=0),
        ),
        tooltip=["pv:N", "battery:N", alt.Tooltip("npv_amount:Q", format=",.0f")],
    )
    labels = base.mark_text(fontSize=11).encode(text=alt.Text("npv_amount:Q", format=",.0f"))
    return (cells + labels).properties(
        width=520, height=36 * max(grid["battery"].n_unique(), 2), title=title
    )


def ev_strategies_chart(ev: pl.DataFrame, currency: str, *, title: str = "") -> alt.HConcatChart:
    """EV charging strategies side by side: where the EV's energy came from, and the annual bill.

    ``ev``: ``strategy``, ``ev_grid_kwh``, ``ev_pv_kwh`` [kWh/year], ``bill_amount`` [currency].
    """
    order = ev["strategy"].to_list()
    energy = (
        ev.select("strategy", "ev_grid_kwh", "ev_pv_kwh")
        .unpivot(index="strategy", variable_name="source", value_name="kwh")
        .with_columns(pl.col("source").replace({"ev_grid_kwh": "grid", "ev_pv_kwh": "solar"}))
    )
    left = (
        alt.Chart(energy)
        .mark_bar()
        .encode(
            y=alt.Y("strategy:N", sort=order, title="EV strategy"),
            x=alt.X("kwh:Q", title="EV charging energy (kWh/year)", stack="zero"),
            color=alt.Color(
                "source:N",
                title="source",
                scale=alt.Scale(domain=["solar", "grid"], range=["#f2b701", "#6c757d"]),
            ),
            tooltip=["strategy:N", "source:N", alt.Tooltip("kwh:Q", format=",.0f")],
        )
        .properties(width=330, height=30 * max(len(order), 2))
    )
    right = (
        alt.Chart(ev)
        .mark_bar(color="#3b6ea5")
        .encode(
            y=alt.Y("strategy:N", sort=order, title=None, axis=alt.Axis(labels=False)),
            x=alt.X("bill_amount:Q", title=f"annual bill ({currency})"),
            tooltip=["strategy:N", alt.Tooltip("bill_amount:Q", format=",.0f")],
        )
        .properties(width=250, height=30 * max(len(order), 2))
    )
    return alt.hconcat(left, right).properties(title=title)


def policy_vs_optimum_chart(
    policies: pl.DataFrame, currency: str, *, title: str = ""
) -> alt.LayerChart:
    """Annual saving of each dispatch policy next to the perfect-foresight optimum.

    ``policies``: ``policy``, ``saving_amount`` [currency], ``share_of_optimum_pct`` [%].
    """
    order = policies.sort("saving_amount", descending=True)["policy"].to_list()
    base = alt.Chart(policies).encode(
        y=alt.Y("policy:N", sort=order, title="dispatch policy"),
        x=alt.X("saving_amount:Q", title=f"annual saving against the baseline ({currency})"),
    )
    bars = base.mark_bar().encode(
        color=alt.condition(
            alt.datum.policy == "optimum", alt.value("#2a9d8f"), alt.value("#8d99ae")
        ),
        tooltip=[
            "policy:N",
            alt.Tooltip("saving_amount:Q", format=",.0f"),
            alt.Tooltip("share_of_optimum_pct:Q", format=".0f"),
        ],
    )
    text = base.mark_text(align="left", dx=4).encode(
        text=alt.Text("share_of_optimum_pct:Q", format=".0f")
    )
    return (bars + text).properties(width=560, height=30 * max(len(order), 2), title=title)


def tornado_chart(rows: pl.DataFrame, currency: str, *, title: str = "") -> alt.LayerChart:
    """Sensitivity tornado: change in NPV as each input moves to the low and high end of its range.

    ``rows``: ``parameter``, ``case`` (low/high), ``change`` (label), ``delta_npv_amount`` [currency].
    The widest bar is on top.
    """
    width = rows.group_by("parameter").agg(
        (pl.col("delta_npv_amount").max() - pl.col("delta_npv_amount").min()).alias("swing")
    )
    order = width.sort("swing", descending=True)["parameter"].to_list()
    reach = 1.3 * max(
        float(rows["delta_npv_amount"].abs().max() or 0.0), 1.0
    )  # room for the labels
    base = alt.Chart(rows).encode(
        y=alt.Y("parameter:N", sort=order, title=None),
        x=alt.X(
            "delta_npv_amount:Q",
            title=f"change in NPV ({currency})",
            scale=alt.Scale(domain=[-reach, reach]),
        ),
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "case:N",
            title="input at",
            scale=alt.Scale(domain=["low", "high"], range=["#e76f51", "#2a9d8f"]),
        ),
        tooltip=["parameter:N", "change:N", alt.Tooltip("delta_npv_amount:Q", format=",.0f")],
    )
    # Each label sits just outside the end of its bar.
    right = base.transform_filter(alt.datum.delta_npv_amount >= 0).mark_text(
        align="left", dx=4, fontSize=10
    )
    left = base.transform_filter(alt.datum.delta_npv_amount < 0).mark_text(
        align="right", dx=-4, fontSize=10
    )
    labels = right.encode(text="change:N") + left.encode(text="change:N")
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="black").encode(x="x:Q")
    return (bars + labels + zero).properties(width=560, height=34 * max(len(order), 2), title=title)
