"""Charts that display with no network (a fridge Pi, a laptop on a train).

:func:`offline_charts` makes every chart render to inline SVG through vl-convert, so
executed notebooks and the HTML rendered from them load no Vega script from a CDN.  Each
chart's SVG carries alt text (``aria-label``, from the chart's ``description``, else its
title), so a screen reader says what it shows.
"""

from __future__ import annotations

import html

import altair as alt
from altair.vegalite.v6.display import svg_renderer


def chart_description(spec: dict) -> str:
    """The chart's ``description``, else its title (the text of a title object), else the
    titles of its panels."""
    if spec.get("description"):
        return str(spec["description"])
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    if title:
        return f"Chart: {title}"
    parts = [
        chart_description(s)
        for key in ("layer", "hconcat", "vconcat", "concat")
        for s in spec.get(key, [])
    ]
    if "spec" in spec:
        parts.append(chart_description(spec["spec"]))
    parts = [p for p in parts if p != "Chart"]
    return "; ".join(parts) or "Chart"


def described_svg_renderer(spec: dict, **metadata) -> dict[str, str]:
    """Altair's SVG renderer, with the chart's description as its alt text (``role="img"``,
    ``aria-label`` and a ``<title>`` on the root element)."""
    bundle = svg_renderer(spec, **metadata)
    text = html.escape(chart_description(spec), quote=True)
    svg = bundle["image/svg+xml"]
    head, sep, rest = svg.partition(">")
    if head.startswith("<svg") and sep:
        svg = f'{head} role="img" aria-label="{text}"><title>{text}</title>{rest}'
    return {**bundle, "image/svg+xml": svg}


alt.renderers.register("described_svg", described_svg_renderer)


def offline_charts(max_rows: int | None = 200_000) -> None:
    """Render Altair charts as inline SVG with alt text (no CDN) and allow year-long data sets.

    Call once at the top of a notebook, after the parameters cell.
    """
    alt.renderers.enable("described_svg")
    if max_rows is None:
        alt.data_transformers.disable_max_rows()
    else:
        alt.data_transformers.enable("default", max_rows=max_rows)
