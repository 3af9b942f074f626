"""Charts of the federated forecasting study (:mod:`energylib.forecast.federated`)."""

from __future__ import annotations

import altair as alt
import polars as pl

METHOD_COLOURS = {
    "naive": "#adb5bd",
    "local": "#e76f51",
    "fedavg": "#2a9d8f",
    "fedprox": "#264653",
    "centralised": "#e9c46a",
}


def federated_rounds_chart(rounds: pl.DataFrame, *, title: str = "Loss per round") -> alt.Chart:
    """Training and validation loss per federated round, one line per strategy.

    ``rounds``: ``strategy``, ``round``, ``train_loss``, ``val_loss`` (standardised units,
    weighted by each household's windows), as :class:`~energylib.forecast.federated.apps.FederationRun`
    gives them.
    """
    long = rounds.select("strategy", "round", "train_loss", "val_loss").unpivot(
        index=["strategy", "round"], variable_name="split", value_name="loss"
    )
    long = long.with_columns(
        pl.col("split").replace({"train_loss": "training", "val_loss": "validation"})
    )
    return (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("round:O", title="round"),
            y=alt.Y("loss:Q", title="loss (standardised units)", scale=alt.Scale(zero=False)),
            color=alt.Color("strategy:N", title="strategy"),
            strokeDash=alt.StrokeDash("split:N", title=None),
            tooltip=["strategy:N", "round:O", "split:N", alt.Tooltip("loss:Q", format=".4f")],
        )
        .properties(width=420, height=220)
    )


def federated_methods_chart(
    scores: pl.DataFrame, *, title: str = "Day-ahead error per household"
) -> alt.Chart:
    """Each method's day-ahead MAE relative to seasonal naive, per household (below 1 beats it).

    ``scores``: ``household``, ``method`` (``naive``, ``local``, ``fedavg``, ``fedprox``,
    ``centralised``), ``mae_vs_naive``.
    """
    methods = [m for m in METHOD_COLOURS if m in set(scores["method"])]
    data = scores.filter(pl.col("method") != "naive")
    order = (
        data.filter(pl.col("method") == data["method"][0])
        .sort("mae_vs_naive")["household"]
        .to_list()
    )
    rule = (
        alt.Chart(pl.DataFrame({"x": [1.0]}))
        .mark_rule(color="#6c757d", strokeDash=[3, 3])
        .encode(x="x:Q")
    )
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60)
        .encode(
            y=alt.Y("household:N", sort=order, title=None),
            x=alt.X(
                "mae_vs_naive:Q", title="MAE / seasonal naive MAE", scale=alt.Scale(zero=False)
            ),
            color=alt.Color(
                "method:N",
                scale=alt.Scale(domain=methods[1:], range=[METHOD_COLOURS[m] for m in methods[1:]]),
                title="method",
            ),
            shape=alt.Shape("method:N", title="method"),
            tooltip=["household:N", "method:N", alt.Tooltip("mae_vs_naive:Q", format=".3f")],
        )
    )
    return (rule + points).properties(width=420, height=22 * max(len(order), 3), title=title)


def federated_gains_chart(
    gains: pl.DataFrame, strategy: str = "fedavg", *, title: str = "Who gains from federation"
) -> alt.LayerChart:
    """Each household's gain of ``strategy`` over training alone (percent lower MAE)
    against its training history; new households marked.

    ``gains``: ``household``, ``train_days``, ``new``, ``gain_pct_<strategy>``, as
    :meth:`~energylib.forecast.federated.study.FederatedStudy.gains` gives them.
    """
    col = f"gain_pct_{strategy}"
    data = gains.select(
        "household", "train_days", "mean_daily_kwh", "new", pl.col(col).alias("gain_pct")
    )
    data = data.with_columns(
        pl.when(pl.col("new")).then(pl.lit("new")).otherwise(pl.lit("established")).alias("history")
    )
    zero = alt.Chart(pl.DataFrame({"y": [0.0]})).mark_rule(color="#6c757d").encode(y="y:Q")
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("train_days:Q", title="training history with complete windows (days)"),
            y=alt.Y("gain_pct:Q", title=f"{strategy} MAE below local-only (%)"),
            color=alt.Color(
                "history:N",
                scale=alt.Scale(domain=["new", "established"], range=["#e76f51", "#2a9d8f"]),
                title="household",
            ),
            tooltip=[
                "household:N",
                alt.Tooltip("train_days:Q", format=".0f"),
                alt.Tooltip("mean_daily_kwh:Q", format=".1f", title="kWh/day"),
                alt.Tooltip("gain_pct:Q", format=".1f"),
            ],
        )
    )
    return (zero + points).properties(width=420, height=240, title=title)


def federated_round_time_chart(
    rounds: pl.DataFrame, *, title: str = "Where a round's time goes"
) -> alt.Chart:
    """Each round's training phase split into client training, transfer and aggregation [s].

    ``rounds``: ``strategy``, ``round``, ``client_train_s_sum``, ``transfer_s``,
    ``aggregation_s`` and ``clients_train``; client training is shown per client
    (the sum over clients divided by their number).
    """
    data = rounds.select(
        pl.format("{} {}", "strategy", "round").alias("round"),
        (pl.col("client_train_s_sum") / pl.col("clients_train")).alias(
            "client training (per client)"
        ),
        pl.col("transfer_s").alias("transfer and scheduling"),
        pl.col("aggregation_s").alias("aggregation"),
    ).unpivot(index="round", variable_name="part", value_name="seconds")
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            y=alt.Y("round:N", title=None, sort=None),
            x=alt.X("seconds:Q", title="seconds", stack=True),
            color=alt.Color("part:N", title=None),
            tooltip=["round:N", "part:N", alt.Tooltip("seconds:Q", format=".2f")],
        )
        .properties(width=420, height=22 * max(rounds.height, 2))
    )
