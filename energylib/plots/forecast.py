"""Altair charts of training and evaluation, for the forecaster notebook and reports."""

from __future__ import annotations

import altair as alt
import polars as pl


def learning_curve_chart(history: pl.DataFrame, *, title: str = "Learning curves") -> alt.Chart:
    """Training and validation loss by epoch (log scale), from ``TrainResult.history``."""
    long = history.select("epoch", "train_loss", "val_loss").unpivot(
        index="epoch", variable_name="split", value_name="loss"
    )
    return (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "epoch:Q",
                title="epoch",
                axis=alt.Axis(tickMinStep=1, format="d"),
                scale=alt.Scale(domainMin=1),
            ),
            y=alt.Y(
                "loss:Q",
                title="weighted loss (standardised units, log scale)",
                scale=alt.Scale(type="log", nice=False, zero=False),
                axis=alt.Axis(format=".2~f", tickCount=5),
            ),
            color=alt.Color("split:N", title=None),
            tooltip=["epoch", "split", alt.Tooltip("loss:Q", format=".4f")],
        )
        .properties(width=520, height=240)
    )


# Each forecasting task's unit, shown in its panel's label (the panels' y axes differ).
TASK_UNITS = {"consumption": "kWh per half-hour", "price": "currency per kWh"}


def forecast_vs_actual_chart(
    frame: pl.DataFrame, timezone: str, *, title: str = "", currency: str = ""
) -> alt.Chart:
    """Forecasts against actuals in local time, one panel per task (its unit in its label),
    from :meth:`energylib.forecast.metrics.Evaluation.forecast_vs_actual`."""
    units = {
        task: unit.replace("currency", currency) if currency else unit
        for task, unit in TASK_UNITS.items()
    }
    df = frame.with_columns(
        pl.col("interval_start")
        .dt.convert_time_zone(timezone)
        .dt.replace_time_zone(None)
        .alias("local_time"),
        pl.col("task").replace({t: f"{t} ({u})" for t, u in units.items()}),
    )
    return (
        alt.Chart(df.drop("interval_start"), title=title)
        .mark_line(strokeWidth=1.5)
        .encode(
            x=alt.X("local_time:T", title="local time"),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.condition(
                alt.datum.series == "actual", alt.value([1, 0]), alt.value([4, 2])
            ),
        )
        .properties(width=560, height=170)
        .facet(row=alt.Row("task:N", title=None, header=alt.Header(labelAngle=0)))
        .resolve_scale(y="independent")
    )


def error_by_horizon_chart(table: pl.DataFrame, *, title: str = "MAE by horizon") -> alt.Chart:
    """MAE of every model at each horizon, one panel per task, from the evaluation table."""
    return (
        alt.Chart(table, title=title)
        .mark_bar()
        .encode(
            x=alt.X("model:N", title=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("mae:Q", title="MAE (kWh per half-hour / AUD per kWh)"),
            color=alt.Color("model:N", legend=None),
            column=alt.Column("horizon:N", sort=["day", "week", "month"], title=None),
            row=alt.Row("task:N", title=None),
            tooltip=[
                "model",
                "task",
                "horizon",
                alt.Tooltip("mae:Q", format=".4f"),
                alt.Tooltip("skill_pct:Q", format=".1f"),
            ],
        )
        .properties(width=150, height=150)
        .resolve_scale(y="independent")
    )


def error_by_hour_chart(
    by_hour: pl.DataFrame, *, title: str = "Day-ahead MAE by local hour of day"
) -> alt.Chart:
    """MAE by the forecast interval's local hour, from ``Evaluation.error_by_hour``."""
    return (
        alt.Chart(by_hour, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("hour:O", title="local hour"),
            y=alt.Y("mae:Q", title="MAE"),
            color=alt.Color("model:N", title=None),
        )
        .properties(width=260, height=180)
        .facet(column=alt.Column("task:N", title=None))
        .resolve_scale(y="independent")
    )


def dm_matrix_chart(dm: pl.DataFrame, *, title: str = "Diebold-Mariano test") -> alt.Chart:
    """epftoolbox's chessboard from :meth:`BenchmarkResult.dm_matrix`: the p-value that the
    column's model is *not* more accurate than the row's; green (near 0): the column's model
    is significantly better; grey: p >= 0.1."""
    df = dm.with_columns(pl.col("p_value").clip(0.0, 0.1).alias("p_shown"))
    order = list(dict.fromkeys(dm["model_1"].to_list()))
    return (
        alt.Chart(df, title=title)
        .mark_rect()
        .encode(
            x=alt.X(
                "model_2:N",
                sort=order,
                title="more accurate? (model 2)",
                axis=alt.Axis(labelAngle=-40),
            ),
            y=alt.Y("model_1:N", sort=order, title="than (model 1)"),
            color=alt.Color(
                "p_shown:Q",
                title="p-value",
                scale=alt.Scale(domain=[0, 0.1], range=["#1a9850", "#fee08b", "#d9d9d9"]),
            ),
            tooltip=["model_1", "model_2", alt.Tooltip("p_value:Q", format=".4f")],
        )
        .properties(width=320, height=320)
    )


def benchmark_mae_chart(
    table: pl.DataFrame, *, unit: str = "EUR/MWh", title: str = "Test-period MAE"
) -> alt.Chart:
    """MAE of every model of :func:`energylib.forecast.benchmark.benchmark_table`, this
    run's and the published ones, best first."""
    return (
        alt.Chart(table, title=title)
        .mark_bar()
        .encode(
            y=alt.Y("model:N", sort="x", title=None),
            x=alt.X("mae:Q", title=f"MAE ({unit})"),
            color=alt.Color("source:N", title=None),
            tooltip=[
                "model",
                "source",
                alt.Tooltip("mae:Q", format=".3f"),
                alt.Tooltip("rmae:Q", format=".3f"),
            ],
        )
        .properties(width=420, height=alt.Step(16))
    )
