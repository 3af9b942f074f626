"""The kitchen kiosk: one full-screen page and read-only JSON / Prometheus endpoints.

Run with ``energy agent kiosk`` (binds ``127.0.0.1`` unless ``--host 0.0.0.0`` is given
for the LAN).  The app only *reads*: the live cache and the decision log are opened
read-only (``mode=ro``), every route is a GET, and any other method is refused with
HTTP 405 before it reaches a route.

Page (``/``), sized for a 5-7" screen read across a kitchen: the price now (c/kWh for
AUD, EUR/kWh for EUR), a large CHEAP / NORMAL / EXPENSIVE band in green / amber / red
(from Amber's descriptor, else from the 25th/75th percentiles of the last 7 days of
prices), the cost per hour at the latest metered usage, the next hours' prices as an
inline SVG bar chart (drawn server-side: nothing is fetched from a CDN; the page's
only script is a few lines inline that refresh the numbers every ``refresh_s``), the
agent's current decision, and "updated HH:MM", which turns into a red warning once
the price data is older than the stale limit.

Endpoints: ``/api/price``, ``/api/cost``, ``/api/totals`` (today and this month, kWh and
cost, in the site's local time), ``/api/agent/status``, ``/api/agent/decision``,
``/healthz``, ``/metrics`` (Prometheus text), ``/chart.svg``.

Every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY`` and a Content-Security-Policy that allows nothing from outside
the kiosk (:data:`CSP`; a mounted app that sets its own policy keeps it); no ``server``
banner is sent, and HEAD is answered wherever GET is.  ``/api/agent/status`` and
``/healthz`` say ``disk_full`` while the agent's state folder has no room (the agent
cannot update its status file then), and report a damaged live cache: unreadable now
(HTTP 503 naming the command that replaces it) or moved aside by the agent at start.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from energylib.agent import dashboard
from energylib.agent.collect import load_collector_state
from energylib.agent.config import AgentSettings
from energylib.agent.decide import Market
from energylib.agent.decision_log import decision_stats, read_decisions
from energylib.agent.runner import read_status
from energylib.config import load_settings, secret
from energylib.plots.svg import price_bars_svg
from energylib.schema import TIME
from energylib.store import SqliteStore

CHEAP = ("extremelyLow", "veryLow", "low", "negative")
EXPENSIVE = ("high", "spike")
# Nothing from outside the kiosk: the page's own inline style and script, its SVG, its API.
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP,
}
# Below this much free space in the state folder the agent cannot write its status [bytes].
DISK_FULL_BELOW = 1_000_000
STATE_COLOURS = {
    "cheap": "#1b8a3a",
    "normal": "#c98a00",
    "expensive": "#c62828",
    "unknown": "#555555",
}


class KioskData:
    """Read-only views of the live cache and the decision log.

    Parameters
    ----------
    settings : AgentSettings
    clock : callable, optional
        ``clock() -> datetime`` (UTC); tests pass a fixed or simulated time.
    status_provider : callable, optional
        ``() -> dict`` of the agent's status; defaults to the agent's ``agent_status.json``.
    """

    def __init__(
        self,
        settings: AgentSettings,
        clock: Callable[[], datetime] | None = None,
        status_provider: Callable[[], dict | None] | None = None,
    ):
        self.settings = settings
        self.market = Market.from_settings(settings)
        self.store = SqliteStore(settings.live_db, read_only=True)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.status_provider = status_provider or (lambda: read_status(settings.state_dir))
        self.tz = ZoneInfo(settings.site.timezone)

    # ----------------------------------------------------------------- low level
    def _rows(
        self, kind: str, start: datetime, end: datetime, columns: list[str], channel: str
    ) -> tuple[pl.DataFrame, int]:
        """One series of the market's site in ``[start, end)`` at its finest stored resolution,
        with every asked column (null where the cache has none); empty where nothing is stored."""
        m = self.market
        try:
            data, meta = self.store.read(
                m.source,
                kind,
                start,
                end,
                site=m.site,
                channel=channel,
                resample_to="finest",
                columns=columns,
            )
        except LookupError:
            data, meta = pl.DataFrame(schema={TIME: pl.Datetime("us", "UTC")}), None
        missing = [c for c in columns if c not in data.columns]
        data = data.with_columns(pl.lit(None).alias(c) for c in missing).select(TIME, *columns)
        return data, meta.interval_minutes if meta else 0

    def _price_rows(self, start: datetime, end: datetime) -> tuple[pl.DataFrame, int]:
        return self._rows(
            "prices", start, end, [self.market.price_column, "descriptor"], self.market.channel
        )

    def _usage_rows(self, start: datetime, end: datetime) -> tuple[pl.DataFrame, int]:
        return self._rows("usage", start, end, ["energy_kwh", "cost_amount"], "general")

    # ----------------------------------------------------------------- views
    def freshness(self):
        """The market collector's saved state (None before its first run)."""
        return load_collector_state(self.store, self.market.freshness_collector)

    def data_age_s(self, now: datetime, state=None) -> float | None:
        """Seconds since the market's collector last succeeded (None: never); ``state`` is
        :meth:`freshness` when the caller has it already."""
        st = state if state is not None else self.freshness()
        if st is None or st.last_success is None:
            return None
        return (now - st.last_success).total_seconds()

    def price(self) -> dict[str, Any]:
        """The price now, its band, freshness, and the next hours' prices."""
        now = self.clock()
        rows, minutes = self._price_rows(now - timedelta(days=7), now + timedelta(hours=24))
        length = timedelta(minutes=minutes)
        col = self.market.price_column
        current = None
        for t, p, d in rows.iter_rows():
            if t <= now < t + length:
                current = (t, p, d)
        st = self.freshness()
        age = self.data_age_s(now, st)
        stale_limit_s = self.settings.stale_after_min * 60
        stale = age is None or age > stale_limit_s or current is None
        past = rows.filter((pl.col(TIME) < now) & pl.col(col).is_not_null())[col].to_numpy()
        past = past.astype(float)
        band, band_from = "unknown", "none"
        if current is not None and current[2]:
            band = (
                "cheap"
                if current[2] in CHEAP
                else "expensive"
                if current[2] in EXPENSIVE
                else "normal"
            )
            band_from = f"descriptor {current[2]}"
        elif current is not None and past.size >= 12:
            p25, p75 = np.percentile(past, [25, 75])
            band = "cheap" if current[1] <= p25 else "expensive" if current[1] >= p75 else "normal"
            band_from = f"percentiles of {past.size} recent prices (p25 {p25:.4f}, p75 {p75:.4f})"
        upcoming = [
            {
                "interval_start": t.isoformat(),
                "interval_minutes": minutes,
                "price_per_kwh": p,
                "descriptor": d,
            }
            for t, p, d in rows.iter_rows()
            if t + length > now
        ]
        return {
            "now": now.isoformat(),
            "currency": self.market.currency,
            "price_per_kwh": current[1] if current else None,
            "display": self.display_price(current[1] if current else None),
            "unit": self.unit(),
            "interval_start": current[0].isoformat() if current else None,
            "descriptor": current[2] if current else None,
            "state": band,
            "state_from": band_from,
            "colour": STATE_COLOURS[band],
            "last_updated": st.last_success.isoformat() if st and st.last_success else None,
            "data_age_s": age,
            "stale": stale,
            "stale_after_min": self.settings.stale_after_min,
            "next": upcoming,
        }

    def unit(self) -> str:
        return "c/kWh" if self.market.currency == "AUD" else f"{self.market.currency}/kWh"

    def display_price(self, p: float | None) -> str:
        if p is None or not math.isfinite(p):
            return "--"
        return f"{p * 100:.1f}" if self.market.currency == "AUD" else f"{p:.3f}"

    def cost(self) -> dict[str, Any]:
        """Cost per hour at the latest metered usage and the price now."""
        now = self.clock()
        price = self.price()
        rows, minutes = self._usage_rows(now - timedelta(days=2), now + timedelta(minutes=1))
        if rows.height == 0:
            return {
                "now": now.isoformat(),
                "usage_kw": None,
                "usage_at": None,
                "price_per_kwh": price["price_per_kwh"],
                "cost_per_hour": None,
                "currency": self.market.currency,
                "note": "no usage metered yet",
            }
        t, kwh, _ = rows.row(-1)
        kw = kwh / (minutes / 60.0)
        p = price["price_per_kwh"]
        return {
            "now": now.isoformat(),
            "usage_kw": kw,
            "usage_at": t.isoformat(),
            "usage_age_s": (now - t).total_seconds(),
            "price_per_kwh": p,
            "cost_per_hour": None if p is None else kw * p,
            "currency": self.market.currency,
        }

    def totals(self) -> dict[str, Any]:
        """kWh and cost for today and this month (site local time)."""
        now = self.clock()
        local = now.astimezone(self.tz)
        day0 = local.replace(hour=0, minute=0, second=0, microsecond=0)
        month0 = day0.replace(day=1)
        usage, _ = self._usage_rows(month0.astimezone(UTC), now + timedelta(minutes=1))
        priced, _ = self._price_rows(month0.astimezone(UTC), now + timedelta(minutes=1))
        prices = dict(priced.select(TIME, self.market.price_column).iter_rows())

        def total(since: datetime) -> dict[str, float]:
            kwh = cost = 0.0
            for t, e, c in usage.iter_rows():
                if t >= since:
                    kwh += e or 0.0
                    if c is not None:
                        cost += c
                    elif prices.get(t) is not None:
                        cost += (e or 0.0) * prices[t]
            return {"kwh": round(kwh, 4), "cost": round(cost, 4)}

        return {
            "now": now.isoformat(),
            "currency": self.market.currency,
            "timezone": self.settings.site.timezone,
            "today": total(day0),
            "month": total(month0),
        }

    def agent_status(self) -> dict[str, Any]:
        status = self.status_provider()
        now = self.clock()
        if status is None:
            return {
                "running": False,
                "message": "the agent has not written a status yet",
                **self.disk(),
            }
        try:
            age = (now - datetime.fromisoformat(status["updated_at"])).total_seconds()
        except (KeyError, ValueError, TypeError):
            age = None
        out = dict(status)
        out["status_age_s"] = age
        out["running"] = age is not None and age < 5 * self.settings.decide_every_s
        out.update(self.disk())
        return out

    def notices(self) -> list[str]:
        """Short warnings for the page: a full disk, a live cache the agent had to replace."""
        status = self.agent_status()
        out = []
        if status.get("disk_full"):
            out.append("DISK FULL: the agent cannot save")
        recovered = status.get("live_cache_recovered")
        if recovered:
            at = datetime.fromisoformat(recovered["at"]).astimezone(self.tz)
            out.append(f"live data was damaged at {at:%H:%M} and is being fetched again")
        return out

    def disk(self) -> dict[str, Any]:
        """Free space of the agent's state folder now (the agent cannot report a full disk:
        it cannot write its status file)."""
        try:
            free = shutil.disk_usage(self.settings.state_dir).free
        except OSError:
            return {"disk_full": None, "disk_free_mb": None}
        return {"disk_full": free < DISK_FULL_BELOW, "disk_free_mb": round(free / 1e6, 1)}

    def decision(self) -> dict[str, Any] | None:
        rows = read_decisions(self.settings.decisions_db, limit=1)
        return rows[-1] if rows else None

    def token_configured(self) -> bool:
        """Whether the market's token is set (in the environment or .env); never the token."""
        # The library's settings only for this check; the kiosk holds no secret itself.
        from energylib.config import load_settings

        s = load_settings()
        return bool(s.amber_token if self.settings.market == "amber" else s.entsoe_api_key)

    def guidance(self, price: dict[str, Any]) -> str:
        """What to do while there is no price to show (empty when there is one)."""
        if price["price_per_kwh"] is not None:
            return ""
        name = "AMBER_TOKEN" if self.settings.market == "amber" else "ENTSOE_API_KEY"
        source = "Amber" if self.settings.market == "amber" else "ENTSO-E"
        if not self.token_configured():
            return (
                f"Set {name} in .env and restart the agent (sudo systemctl restart energy-agent)."
            )
        if not self.agent_status().get("running"):
            return "The agent is not running: start it (sudo systemctl start energy-agent)."
        return f"Waiting for the first price from {source}."


# --------------------------------------------------------------------------- rendering
def chart_svg(
    data: KioskData, price: dict[str, Any], hours: float = 12.0, width: int = 760, height: int = 170
) -> str:
    """Next hours' prices as an inline SVG bar chart (one bar per interval, coloured by band:
    the descriptor where Amber gives one, else the quartiles of the prices shown)."""
    now = data.clock()
    items = [
        x
        for x in price["next"]
        if x["price_per_kwh"] is not None
        and datetime.fromisoformat(x["interval_start"]) < now + timedelta(hours=hours)
    ]
    scale = 100.0 if data.market.currency == "AUD" else 1.0
    shown = np.array([x["price_per_kwh"] for x in items], dtype=float)
    if shown.size >= 4:
        p25, p75 = np.percentile(shown, [25, 75])
    elif shown.size:
        p25, p75 = shown.min(), shown.max()
    bars = []
    for x in items:
        d, p = x.get("descriptor"), x["price_per_kwh"]
        if d:
            band = "cheap" if d in CHEAP else "expensive" if d in EXPENSIVE else "normal"
        else:
            band = "cheap" if p <= p25 else "expensive" if p >= p75 else "normal"
        bars.append((datetime.fromisoformat(x["interval_start"]), p * scale, STATE_COLOURS[band]))
    minutes = items[0]["interval_minutes"] if items else None
    return price_bars_svg(
        bars,
        timezone=data.tz,
        hours=hours,
        width=width,
        height=height,
        now=now,
        interval_minutes=minutes,
        unit=data.unit(),
    )


def money(amount: float | None, currency: str) -> str:
    """``$3.21`` / ``€3.21``; ``--`` for none."""
    if amount is None or not math.isfinite(amount):
        return "--"
    return (
        "$" if currency == "AUD" else "€" if currency == "EUR" else f"{currency} "
    ) + f"{amount:.2f}"


def price_words(p: float | None, currency: str) -> str:
    """A price per kWh as a reader says it: ``33.0 c/kWh`` (AUD) or ``€0.123/kWh``."""
    if p is None or not math.isfinite(p):
        return "no price"
    return f"{p * 100:.1f} c/kWh" if currency == "AUD" else f"€{p:.3f}/kWh"


# The decision log's reasons (energylib.agent.decide) and what they mean to the household.
_REASONS = (
    (r"price (\S+) <= charge threshold (\S+)", "charging: the price ({0}) is at or below {1}, cheap enough to store"),
    (r"storing surplus", "charging: storing the solar surplus"),
    (r"price (\S+) >= discharge threshold (\S+)(?:, meeting the load)?", "using the battery: the price ({0}) is above {1}, so the battery runs the house"),
    (r"meeting the load", "using the battery: it runs the house"),
    (r"price (\S+) between charge (\S+) and discharge (\S+) thresholds", "holding: the price ({0}) is between {1}, where it would charge, and {2}, where it would use the battery"),
    (r"no battery", "no battery is configured"),
    (r"nothing to shift within the battery window", "holding: nothing is worth shifting in the next hours"),
)  # fmt: skip


def plain_reason(reason: str, currency: str) -> str:
    """The agent's reason in plain words, prices in c/kWh (AUD) or €/kWh.

    ``"forecast policy: price 0.3303 >= discharge threshold 0.1177, meeting the load"`` reads
    ``"using the battery: the price (33.0 c/kWh) is above 11.8 c/kWh, so the battery runs the
    house"``.  A reason it does not know is shown as it is.
    """
    if reason.startswith("safe hold: "):
        return "holding for safety: " + reason.removeprefix("safe hold: ")
    body, _, ev = reason.partition("; EV ")
    body = body.split(": ", 1)[-1]  # drop "<policy> policy: "
    for pattern, words in _REASONS:
        m = re.fullmatch(pattern, body)
        if m:
            prices = [price_words(float(g), currency) for g in m.groups()]
            text = words.format(*prices)
            break
    else:
        return reason
    if ev:
        kw = ev.split(" kW")[0]
        text += f"; the EV charges at {kw} kW in the cheapest hours"
    return text


def render_page(data: KioskData, refresh_s: float = 15.0) -> str:
    """The full-screen HTML page (self-contained: inline CSS, inline SVG, a few lines of inline JS)."""
    price = data.price()
    cost = data.cost()
    dec = data.decision()
    now = data.clock()
    esc = html.escape
    updated = price["last_updated"]
    if updated:
        upd_local = datetime.fromisoformat(updated).astimezone(data.tz)
        updated_text = f"updated {upd_local:%H:%M}"
    else:
        updated_text = "no price data yet"
    if price["stale"]:
        age = price["data_age_s"]
        updated_text = (
            "STALE: "
            + (f"price data {age / 60:.0f} min old" if age is not None else "no price data")
            + (f" ({updated_text})" if updated else "")
        )
    notices = data.notices()
    if notices:  # shown where the stale warning is: the line a glance at the kiosk reads
        updated_text = "; ".join([*notices, updated_text])
    cph = cost.get("cost_per_hour")
    cph_text = (
        "--"
        if cph is None
        else (f"${cph:.2f}/h" if data.market.currency == "AUD" else f"€{cph:.2f}/h")
    )
    usage_text = "" if cost.get("usage_kw") is None else f"at {cost['usage_kw']:.2f} kW"
    if cost.get("usage_age_s") is not None and cost["usage_age_s"] > 2 * 3600:
        # Metered usage can arrive hours late (Amber): say how old the kW figure is.
        usage_at = datetime.fromisoformat(cost["usage_at"]).astimezone(data.tz)
        usage_text += f" (metered {usage_at:%a %H:%M})"
    if dec:
        kw = dec["battery_kw"]
        dec_text = f"{dec['action'].upper()}" + (f" {abs(kw):.1f} kW" if abs(kw) > 0.005 else "")
        if dec.get("ev_kw"):
            dec_text += f" · EV {dec['ev_kw']:.1f} kW"
        dec_reason = plain_reason(dec["reason"], data.market.currency)
    else:
        dec_text, dec_reason = "no decision yet", ""
    colour = price["colour"]
    guidance = data.guidance(price)
    state_label = "NO PRICE YET" if guidance else price["state"].upper()
    totals = data.totals()
    cur = data.market.currency
    totals_text = (
        f"today {money(totals['today']['cost'], cur)} · {totals['today']['kwh']:.1f} kWh, "
        f"this month {money(totals['month']['cost'], cur)}"
        if totals["month"]["kwh"] > 0
        else "no usage metered yet"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Energy now</title>
<style>
html,body{{margin:0;height:100%;background:#111;color:#eee;font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif}}
body{{display:flex;flex-direction:column;padding:2vh 3vw;box-sizing:border-box;gap:1.5vh}}
#state{{border-radius:2vh;text-align:center;padding:1.5vh 0}}
#state-label{{font-size:13vh;font-weight:800;letter-spacing:.05em;line-height:1}}
#row{{display:flex;justify-content:space-between;align-items:baseline;gap:3vw}}
#price{{font-size:16vh;font-weight:800;line-height:1}}
.unit{{font-size:5vh;color:#bbb}}
#cost{{font-size:7vh;font-weight:700;text-align:right}}
#usage{{font-size:3.5vh;color:#bbb;text-align:right}}
#chart{{flex:1;min-height:0}}
#chart svg{{display:block;width:100%;height:auto;max-height:36vh}}
#decision{{font-size:5vh;font-weight:700}}
#reason{{font-size:3vh;color:#ccc}}
#guidance{{font-size:4vh;font-weight:600;padding:0 2vw}}
#totals{{font-size:3.2vh;color:#ddd;text-align:right}}
#updated{{font-size:3.5vh;color:#9c9}}
#updated.stale{{color:#fff;background:#c62828;padding:.5vh 1vw;border-radius:1vh;font-weight:800}}
</style></head>
<body data-refresh-s="{refresh_s:g}">
<div id="state" style="background:{colour}"><div id="state-label">{esc(state_label)}</div>{f'<div id="guidance">{esc(guidance)}</div>' if guidance else ""}</div>
<div id="row">
  <div><span id="price">{esc(price["display"])}</span> <span class="unit" id="unit">{esc(price["unit"])}</span></div>
  <div><div id="cost">{esc(cph_text)}</div><div id="usage">{esc(usage_text)}</div><div id="totals">{esc(totals_text)}</div></div>
</div>
<div id="chart">{chart_svg(data, price)}</div>
<div id="decision">Agent: {esc(dec_text)}</div>
<div id="reason">{esc(dec_reason)}</div>
<div id="updated" class="{"stale" if price["stale"] or notices else "fresh"}">{esc(updated_text)}</div>
<div id="clock" style="display:none">{now.isoformat()}</div>
<script>
(function(){{
  var every = parseFloat(document.body.dataset.refreshS) * 1000;
  function refresh(){{
    fetch('/fragment', {{cache: 'no-store'}}).then(function(r){{ return r.ok ? r.text() : null; }})
      .then(function(t){{
        if (!t) return;
        var doc = new DOMParser().parseFromString(t, 'text/html');
        ['state','row','chart','decision','reason','updated'].forEach(function(id){{
          var n = doc.getElementById(id), o = document.getElementById(id);
          if (n && o) {{ o.replaceWith(n); }}
        }});
      }}).catch(function(){{
        var u = document.getElementById('updated');
        if (u) {{ u.className = 'stale'; u.textContent = 'kiosk cannot reach its server'; }}
      }});
  }}
  setInterval(refresh, every);
}})();
</script>
</body></html>"""


# --------------------------------------------------------------------------- metrics
def metrics_text(data: KioskData) -> bytes:
    """Prometheus exposition of decisions, latency, fetch errors and data age."""

    class _Collector:
        def collect(self):
            now = data.clock()
            stats = decision_stats(data.settings.decisions_db)
            c = CounterMetricFamily(
                "energy_agent_decisions", "Decisions logged, by action", labels=["action"]
            )
            for action in ("charge", "discharge", "hold"):
                c.add_metric([action], float(stats["by_action"].get(action, 0)))
            yield c
            yield CounterMetricFamily(
                "energy_agent_stale_holds", "Safe holds on stale data", value=float(stats["stale"])
            )
            lat = np.array(stats["latency_ms"], dtype=float)
            g = GaugeMetricFamily(
                "energy_agent_decision_latency_ms",
                "Decision latency over the last 1000 decisions [ms]",
                labels=["quantile"],
            )
            for q in (0.5, 0.9, 0.99):
                g.add_metric([str(q)], float(np.quantile(lat, q)) if lat.size else float("nan"))
            yield g
            states = load_collector_state(data.store) or {}
            fe = CounterMetricFamily(
                "energy_agent_fetch_errors", "Failed collections", labels=["collector"]
            )
            mal = CounterMetricFamily(
                "energy_agent_malformed_responses",
                "Rejected malformed responses",
                labels=["collector"],
            )
            cf = GaugeMetricFamily(
                "energy_agent_consecutive_failures",
                "Failed collections in a row",
                labels=["collector"],
            )
            for name, st in states.items():
                fe.add_metric([name], float(st.fetch_errors_total))
                mal.add_metric([name], float(st.malformed_total))
                cf.add_metric([name], float(st.consecutive_failures))
            yield fe
            yield mal
            yield cf
            age = data.data_age_s(now)
            yield GaugeMetricFamily(
                "energy_agent_data_age_seconds",
                "Age of the newest price data [s]",
                value=float("nan") if age is None else float(age),
            )
            price = data.price()
            yield GaugeMetricFamily(
                "energy_agent_data_stale", "1 when price data is stale", value=float(price["stale"])
            )
            if price["price_per_kwh"] is not None:
                yield GaugeMetricFamily(
                    "energy_price_per_kwh",
                    f"Import price now [{data.market.currency}/kWh]",
                    value=float(price["price_per_kwh"]),
                )
            status = data.agent_status()
            dl = (status or {}).get("decision_log") or {}
            yield GaugeMetricFamily(
                "energy_agent_decision_log_disk_full",
                "1 while the decision log cannot write",
                value=float(bool(dl.get("disk_full"))),
            )
            yield GaugeMetricFamily(
                "energy_agent_decision_log_pending",
                "Decisions queued in memory",
                value=float(dl.get("pending") or 0),
            )
            cloud = (status or {}).get("cloud_sync") or {}
            yield GaugeMetricFamily(
                "energy_agent_cloud_sync_pending",
                "Decisions not yet copied to Postgres (0 without SUPABASE_DB_URL)",
                value=float(cloud.get("pending") or 0),
            )
            yield GaugeMetricFamily(
                "energy_agent_cloud_sync_failing",
                "1 while copying decisions to Postgres fails",
                value=float(bool(cloud.get("last_error"))),
            )
            delivery = (status or {}).get("model_delivery") or {}
            yield GaugeMetricFamily(
                "energy_agent_models_refused",
                "Delivered model versions refused or rolled back",
                value=float(len(delivery.get("refused") or {})),
            )
            yield GaugeMetricFamily(
                "energy_agent_up",
                "1 while the agent's status is fresh",
                value=float(bool(status.get("running"))),
            )

    reg = CollectorRegistry()
    reg.register(_Collector())
    return generate_latest(reg)


# --------------------------------------------------------------------------- app
def create_app(
    settings: AgentSettings,
    *,
    clock: Callable[[], datetime] | None = None,
    status_provider: Callable[[], dict | None] | None = None,
    refresh_s: float = 15.0,
    dashboard_token: str | None = None,
):
    """The kiosk FastAPI app (read-only), with the owner's dashboard
    (:mod:`energylib.agent.dashboard`) at ``/dashboard``.  See the module docstring."""
    data = KioskData(settings, clock, status_provider)
    app = FastAPI(title="energylib kiosk", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.data = data
    dashboard.mount(
        app,
        settings,
        data.agent_status,
        access=settings.dashboard,
        token=dashboard_token
        or (secret(load_settings().dashboard_token) if settings.dashboard == "token" else None),
        clock=clock,
        currency=data.market.currency,
    )

    @app.middleware("http")
    async def read_only(request: Request, call_next):
        if request.method not in ("GET", "HEAD"):
            response = JSONResponse(
                {"detail": "the kiosk is read-only: only GET is allowed"},
                status_code=405,
                headers={"Allow": "GET, HEAD"},
            )
        elif request.method == "HEAD":  # the GET answer's status and headers, no body
            request.scope["method"] = "GET"
            got = await call_next(request)
            response = Response(status_code=got.status_code, headers=dict(got.headers))
        else:
            response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(sqlite3.DatabaseError)
    async def damaged_cache(request: Request, exc: sqlite3.DatabaseError) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"the live cache {settings.live_db} is unreadable ({exc}); the agent "
                "moves a damaged cache aside and starts a fresh one when it starts "
                "(`energy agent run`, or restart its service)"
            },
            status_code=503,
        )

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return render_page(data, refresh_s)

    @app.get("/fragment", response_class=HTMLResponse)
    def fragment() -> str:
        return render_page(data, refresh_s)

    @app.get("/chart.svg")
    def chart() -> Response:
        return Response(chart_svg(data, data.price()), media_type="image/svg+xml")

    @app.get("/api/price")
    def api_price() -> dict:
        return data.price()

    @app.get("/api/cost")
    def api_cost() -> dict:
        return data.cost()

    @app.get("/api/totals")
    def api_totals() -> dict:
        return data.totals()

    @app.get("/api/agent/status")
    def api_status() -> dict:
        return data.agent_status()

    @app.get("/api/agent/decision")
    def api_decision() -> JSONResponse:
        d = data.decision()
        if d is None:
            return JSONResponse({"detail": "no decision logged yet"}, status_code=404)
        return JSONResponse(d)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problems = []
        try:
            price = data.price()
            if price["stale"]:
                problems.append("price data stale")
        except sqlite3.Error as exc:
            return JSONResponse(
                {
                    "status": "error",
                    "problems": [
                        f"live cache unreadable: {exc}; restart the agent (`energy agent run`): "
                        "it moves a damaged cache aside and starts a fresh one"
                    ],
                },
                status_code=503,
            )
        status = data.agent_status()
        if not status.get("running"):
            problems.append("agent status not fresh")
        if status.get("disk_full"):
            problems.append(
                f"disk full: {status.get('disk_free_mb')} MB free in {settings.state_dir}; "
                "the agent cannot write its status or decisions"
            )
        if (status.get("decision_log") or {}).get("disk_full"):
            problems.append("decision log: disk full")
        recovered = status.get("live_cache_recovered")
        if recovered:
            problems.append(
                f"live cache was damaged ({recovered.get('error')}): moved to "
                f"{recovered.get('moved_to')} at {recovered.get('at')}; a fresh cache is refilling"
            )
        return JSONResponse({"status": "ok" if not problems else "degraded", "problems": problems})

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics_text(data), media_type=CONTENT_TYPE_LATEST)

    return app


def server_config(
    settings: AgentSettings, host: str | None = None, port: int | None = None, app=None
) -> uvicorn.Config:
    """The kiosk's uvicorn configuration (no ``server`` banner, no access log)."""
    return uvicorn.Config(
        app or create_app(settings),
        host=host or settings.kiosk_host,
        port=port or settings.kiosk_port,
        log_level="info",
        access_log=False,
        server_header=False,
    )


def serve(settings: AgentSettings, host: str | None = None, port: int | None = None) -> None:
    """Run the kiosk with uvicorn (blocking)."""
    uvicorn.Server(server_config(settings, host, port)).run()
