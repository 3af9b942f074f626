"""Small hand-written SVG charts, for screens that should not run a chart library.

The kiosk on a Raspberry Pi shows the next hours' prices as one inline SVG drawn on the
server: nothing is fetched from a CDN and the page needs no script to draw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo


def price_bars_svg(
    bars: Sequence[tuple[datetime, float, str]],
    *,
    timezone: tzinfo,
    hours: float,
    width: int = 760,
    height: int = 170,
) -> str:
    """One bar per interval, from zero to its price, with even local hours labelled.

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
    """
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="prices for the next {hours:g} hours">'
    )
    if not bars:
        return (
            head
            + f'<text x="10" y="{height / 2}" font-size="22" fill="#888">no price forecast</text></svg>'
        )
    values = [v for _, v, _ in bars]
    lo, hi = min(0.0, float(min(values))), max(float(max(values)), 1e-9)
    pad_b, pad_t = 28, 10
    h = height - pad_b - pad_t
    bw = width / len(bars)
    zero_y = pad_t + h * (hi / (hi - lo))
    parts = [head]
    for i, (_, v, colour) in enumerate(bars):
        y = pad_t + h * ((hi - max(v, 0)) / (hi - lo))
        bh = abs(v) / (hi - lo) * h
        parts.append(
            f'<rect x="{i * bw + 0.5:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" height="{max(bh, 1):.1f}" '
            f'fill="{colour}"/>'
        )
    parts.append(
        f'<line x1="0" y1="{zero_y:.1f}" x2="{width}" y2="{zero_y:.1f}" stroke="#999" stroke-width="1"/>'
    )
    for i, (start, _, _) in enumerate(bars):
        t = start.astimezone(timezone)
        if t.minute == 0 and t.hour % 2 == 0:
            parts.append(
                f'<text x="{i * bw:.1f}" y="{height - 6}" font-size="18" fill="#ddd">{t:%H}h</text>'
            )
    parts.append(
        f'<text x="{width - 4}" y="{pad_t + 16}" font-size="16" fill="#ddd" text-anchor="end">'
        f"max {max(values):.1f}</text></svg>"
    )
    return "".join(parts)
