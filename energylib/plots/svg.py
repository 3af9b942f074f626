"""Small hand-written SVG charts, for screens that should not run a chart library.

The kiosk on a Raspberry Pi shows the next hours' prices as one inline SVG drawn on the
server: nothing is fetched from a CDN and the page needs no script to draw it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo


def nice_ticks(lo: float, hi: float, most: int = 4) -> list[float]:
    """Round values from ``lo`` to ``hi`` (at most ``most`` + 1 of them), for an axis."""
    span = max(hi - lo, 1e-9)
    raw = span / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def price_bars_svg(
    bars: Sequence[tuple[datetime, float, str]],
    *,
    timezone: tzinfo,
    hours: float,
    width: int = 760,
    height: int = 170,
    now: datetime | None = None,
    interval_minutes: float | None = None,
    unit: str = "",
) -> str:
    """One bar per interval, from zero to its price, with a price scale on the left, even
    local hours labelled, a "now" marker, and the highest price above the bars.

    Parameters
    ----------
    bars : sequence of (datetime, float, str)
        Interval start (zone-aware), price in display units (c/kWh, EUR/kWh), fill colour.
    timezone : tzinfo
        The site's zone, for the hour labels.
    hours : float
        The span shown [h], for the accessible label.
    width, height : int
        Size of the drawing [SVG user units].
    now : datetime, optional
        Where the "now" marker goes (none where not given).
    interval_minutes : float, optional
        Length of one bar's interval [min] (default: the spacing of the first two bars).
    unit : str
        The price unit, written by the scale (``c/kWh``).
    """
    label = f"prices for the next {hours:g} hours" + (f", in {unit}" if unit else "")
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{label}">'
    )
    if not bars:
        return (
            head
            + f'<text x="10" y="{height / 2}" font-size="22" fill="#888">no price forecast yet</text></svg>'
        )
    values = [v for _, v, _ in bars]
    ticks = nice_ticks(min(0.0, float(min(values))), max(float(max(values)), 1e-9))
    lo, hi = min(ticks[0], min(values), 0.0), max(ticks[-1], max(values))
    pad_l, pad_b, pad_t = 46, 26, 24  # the scale left, hours below, "now" and the max above
    h = height - pad_b - pad_t
    bw = (width - pad_l) / len(bars)

    def y_of(v: float) -> float:
        return pad_t + h * ((hi - v) / (hi - lo))

    parts = [head]
    for v in ticks:
        parts.append(
            f'<line x1="{pad_l}" y1="{y_of(v):.1f}" x2="{width}" y2="{y_of(v):.1f}" '
            f'stroke="#444" stroke-width="1"/>'
            f'<text x="{pad_l - 6}" y="{y_of(v) + 5:.1f}" font-size="15" fill="#bbb" '
            f'text-anchor="end">{v:g}</text>'
        )
    for i, (_, v, colour) in enumerate(bars):
        top, bottom = y_of(max(v, 0.0)), y_of(min(v, 0.0))
        parts.append(
            f'<rect x="{pad_l + i * bw + 0.5:.1f}" y="{top:.1f}" width="{max(bw - 1, 1):.1f}" '
            f'height="{max(bottom - top, 1):.1f}" fill="{colour}"/>'
        )
    parts.append(
        f'<line x1="{pad_l}" y1="{y_of(0):.1f}" x2="{width}" y2="{y_of(0):.1f}" stroke="#999" stroke-width="1"/>'
    )
    for i, (start, _, _) in enumerate(bars):
        t = start.astimezone(timezone)
        if t.minute == 0 and t.hour % 2 == 0:
            parts.append(
                f'<text x="{pad_l + i * bw:.1f}" y="{height - 6}" font-size="17" fill="#ddd">{t:%H}h</text>'
            )
    if now is not None:
        if interval_minutes is None:
            interval_minutes = (
                (bars[1][0] - bars[0][0]).total_seconds() / 60 if len(bars) > 1 else 30.0
            )
        offset = (now - bars[0][0]).total_seconds() / 60 / interval_minutes
        if 0 <= offset <= len(bars):
            x = pad_l + offset * bw
            parts.append(
                f'<line id="now" x1="{x:.1f}" y1="{pad_t - 4}" x2="{x:.1f}" y2="{pad_t + h}" '
                f'stroke="#fff" stroke-width="2" stroke-dasharray="4 3"/>'
                f'<text x="{x + 4:.1f}" y="{pad_t - 8}" font-size="15" fill="#fff">now</text>'
            )
    parts.append(
        f'<text x="{width - 2}" y="{pad_t - 8}" font-size="15" fill="#ddd" text-anchor="end">'
        f"max {max(values):.1f}{(' ' + unit) if unit else ''}</text></svg>"
    )
    return "".join(parts)
