"""Charts that display with no network (a fridge Pi, a laptop on a train).

:func:`offline_charts` makes every chart render to inline SVG through vl-convert, so
executed notebooks and the HTML rendered from them load no Vega script from a CDN.
"""

from __future__ import annotations

import altair as alt


def offline_charts(max_rows: int | None = 200_000) -> None:
    """Render Altair charts as inline SVG (no CDN) and allow year-long data sets.

    Call once at the top of a notebook, after the parameters cell.
    """
    alt.renderers.enable("svg")
    if max_rows is None:
        alt.data_transformers.disable_max_rows()
    else:
        alt.data_transformers.enable("default", max_rows=max_rows)
