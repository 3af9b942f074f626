"""Charts of what the store holds: the coverage heat map (days x local hours)."""

from __future__ import annotations

import altair as alt
import polars as pl


def coverage_chart(matrix: pl.DataFrame, *, title: str = "") -> alt.Chart:
    """Altair heat map of :func:`energylib.ingest.coverage.coverage_matrix`: days across,
    local hours down, share present as colour."""
    return (
        alt.Chart(matrix)
        .mark_rect()
        .encode(
            x=alt.X(
                "date:O",
                title="day (local)",
                axis=alt.Axis(labels=matrix.height <= 24 * 62, labelAngle=-90),
            ),
            y=alt.Y("hour:O", title="hour (local)"),
            color=alt.Color(
                "fraction:Q",
                title="share present",
                scale=alt.Scale(domain=[0, 1], scheme="viridis"),
            ),
            tooltip=["date:T", "hour:O", "present:Q", "expected:Q"],
        )
        .properties(title=title, width=700, height=260)
    )
