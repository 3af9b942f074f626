"""The owner's dashboard: what the agent did, what it earned, how well it forecast, and how the
Pi is doing.  One read-only page at ``/dashboard`` (JSON at ``/api/dashboard``), served by
the kiosk's process; the kiosk stays the fridge's glanceable view.

Shown, over the last ``days`` (7 by default; ``?days=N``, at most 90):

* decisions over time against the price and the battery's state of charge (hourly);
* the money the battery's moves made or saved against doing nothing (:func:`decision_effects`):
  each decision's set-point for one decision period, against a do-nothing home whose battery
  sits still.  The grid energy of both is billed at the import price the decision saw, and
  energy sent out at its export (feed-in) credit, so a discharge beyond the home's load
  earns only the credit; the battery's stored energy is simulated with the one-way
  efficiency (the square root of its round-trip efficiency) each way, and what a decision
  adds to or takes from the store is valued at what it fetches when discharged: that
  efficiency times the mean import price of the days shown.  Over a full cycle the store
  terms cancel and what is left is the bill difference, losses included;
* the forecast against the actual price: the forecaster's mean price for the hour that
  starts one hour after each decision, against the mean price of the decisions in that
  hour (mean absolute error beside it);
* the model in use (and its history, delivery and refusals), and the Pi's health: agent
  status, decision-log and cloud-copy state, collectors, disk, load, memory, CPU temperature.

Charts are Altair (:mod:`energylib.plots.agent`, :mod:`energylib.plots.forecast`)
rendered to inline SVG by vl-convert on the Pi, as the reports are: the page fetches
nothing, from anywhere.  A rendered page is kept for ``cache_s`` seconds, so a phone
refreshing it costs nothing.

Access (``ENERGY_AGENT_DASHBOARD``): ``loopback`` (default: only this machine), ``home``
(this machine and the home network's private addresses: 10/8, 172.16/12, 192.168/16,
link-local, IPv6 ULA), or ``token`` (this machine, and any client presenting
``ENERGY_AGENT_DASHBOARD_TOKEN`` as ``Authorization: Bearer ...`` or ``?token=``).  The
kiosk must also be bound to the network (``energy agent kiosk --host 0.0.0.0``) for
another device to reach it.  Anything else gets 403 and the page says nothing.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import os
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from energylib.agent.config import AgentSettings
from energylib.agent.decision_log import open_readonly
from energylib.dates import epoch_us

ACCESS_MODES = ("loopback", "home", "token")
MAX_DAYS = 90


# --------------------------------------------------------------------------- access
def allowed(request: Request, mode: str, token: str | None) -> bool:
    """Whether the dashboard may answer this request under access ``mode``."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    if mode == "home":
        return ip.is_private or ip.is_link_local
    if mode == "token" and token:
        given = request.headers.get("authorization", "")
        given = (
            given[7:]
            if given.lower().startswith("bearer ")
            else request.query_params.get("token", "")
        )
        return hmac.compare_digest(given.encode(), token.encode())
    return False


# --------------------------------------------------------------------------- data
def read_history(decisions_db: str | Path, since: datetime) -> pl.DataFrame:
    """The decisions since ``since``: time, action, set-point, price, SoC, model, the
    forecaster's price for the hour one hour ahead, the import price and export credit the
    decision saw, and the forecast's load over its horizon (SQLite's JSON functions, no
    parsing in Python)."""
    schema = {
        "interval_start": pl.Int64,
        "action": pl.String,
        "battery_kw": pl.Float64,
        "price_per_kwh": pl.Float64,
        "soc_fraction": pl.Float64,
        "model_version": pl.String,
        "forecast_next_hour": pl.Float64,
        "stale": pl.Int64,
        "import_per_kwh": pl.Float64,
        "export_credit_per_kwh": pl.Float64,
        "forecast_load_kwh": pl.Float64,
        "horizon_h": pl.Float64,
    }
    path = Path(decisions_db)
    rows: list = []
    if path.exists():
        con = open_readonly(path)
        try:
            if con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='decisions'"
            ).fetchone():
                rows = con.execute(
                    "SELECT decided_at, action, battery_kw, price_per_kwh, "
                    "json_extract(inputs, '$.battery_soc_fraction'), model_version, "
                    "json_extract(forecast, '$.hourly_price_per_kwh[1]'), stale, "
                    "json_extract(inputs, '$.import_now_per_kwh'), "
                    "json_extract(inputs, '$.export_credit_now_per_kwh'), "
                    "json_extract(forecast, '$.load_kwh'), json_extract(forecast, '$.horizon_h') "
                    "FROM decisions WHERE decided_at >= ? ORDER BY decided_at",
                    (epoch_us(since),),
                ).fetchall()
        finally:
            con.close()
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(
        pl.from_epoch("interval_start", time_unit="us").dt.replace_time_zone("UTC")
    )


def decision_effects(
    history: pl.DataFrame, decide_every_s: float, round_trip_efficiency: float = 1.0
) -> pl.DataFrame:
    """Each decision's effect on the money, against a do-nothing home [currency].

    For decision i over one period of ``h = decide_every_s / 3600`` hours:

    * ``e = battery_kw * h`` [kWh AC, + into the battery];
    * ``n`` = the home's load in the period [kWh]: the forecast's mean load over its
      horizon (``load_kwh / horizon_h * h``) where the log has it, else unbounded (every
      kWh the battery gives displaces an import);
    * ``bill(g) = max(g, 0) * import - max(-g, 0) * export credit`` with the import price
      and export credit the decision saw (``price_per_kwh`` and no credit where the log
      lacks them);
    * ``bill_saved = bill(n) - bill(n + e)``: what the move took off the bill;
    * ``stored_kwh = e * eta`` charging, ``e / eta`` discharging (``eta`` =
      sqrt(round-trip efficiency)): what it put into or took out of the battery;
    * ``saved = bill_saved + stored_kwh * eta * mean import price`` of the history:
      stored energy is worth what it fetches when discharged.  Over a cycle that ends
      where it started the store terms cancel, leaving the bill difference with losses.

    Returns the history with ``battery_kwh``, ``bill_saved``, ``stored_kwh`` and ``saved``.
    """
    if not 0 < round_trip_efficiency <= 1:
        raise ValueError(f"round_trip_efficiency must be in (0, 1], got {round_trip_efficiency}")
    h = decide_every_s / 3600.0
    eta = round_trip_efficiency**0.5
    price = pl.coalesce("import_per_kwh", "price_per_kwh")
    credit = pl.col("export_credit_per_kwh").fill_null(0.0)
    e = pl.col("battery_kw") * h
    load = pl.col("forecast_load_kwh") / pl.col("horizon_h") * h

    def bill(g: pl.Expr) -> pl.Expr:
        return g.clip(lower_bound=0) * price - (-g).clip(lower_bound=0) * credit

    d = history.with_columns(
        e.alias("battery_kwh"),
        pl.when(load.is_not_null() & (pl.col("horizon_h") > 0))
        .then(bill(load) - bill(load + e))
        .otherwise(-e * price)
        .fill_null(0.0)
        .alias("bill_saved"),
        pl.when(e > 0).then(e * eta).otherwise(e / eta).alias("stored_kwh"),
    )
    mean_price = d.select(price.mean()).item() if d.height else 0.0
    return d.with_columns(
        (pl.col("bill_saved") + pl.col("stored_kwh") * eta * (mean_price or 0.0))
        .fill_null(0.0)
        .alias("saved")
    )


def summarise(
    history: pl.DataFrame, decide_every_s: float, round_trip_efficiency: float = 1.0
) -> dict[str, pl.DataFrame]:
    """Hourly decisions, cumulative savings (:func:`decision_effects`) and forecast-vs-actual
    frames of the history."""
    d = decision_effects(history, decide_every_s, round_trip_efficiency).with_columns(
        pl.col("interval_start").dt.truncate("1h").alias("hour"),
    )
    hourly = (
        d.group_by("hour")
        .agg(
            pl.col("price_per_kwh").mean(),
            (pl.col("soc_fraction").mean() * 100).alias("soc_pct"),
            pl.col("battery_kwh").sum(),
            pl.col("action").mode().first(),
            pl.col("saved").sum(),
            pl.col("bill_saved").sum(),
            pl.col("stored_kwh").sum(),
            pl.col("forecast_next_hour").mean(),
        )
        .sort("hour")
        .rename({"hour": "interval_start"})
    )
    savings = hourly.select("interval_start", pl.col("saved").cum_sum().alias("saved_cumulative"))
    # the forecast made in hour t for hour t+1, against the prices seen in hour t+1
    fva = (
        hourly.select(
            (pl.col("interval_start") + timedelta(hours=1)).alias("interval_start"),
            pl.col("forecast_next_hour").alias("forecast"),
        )
        .join(
            hourly.select("interval_start", pl.col("price_per_kwh").alias("actual")),
            on="interval_start",
        )
        .drop_nulls()
    )
    return {"hourly": hourly, "savings": savings, "forecast": fva}


def health(settings: AgentSettings, status: dict[str, Any]) -> dict[str, Any]:
    """The Pi's health: the agent's own status plus disk, load, memory and CPU temperature."""
    out: dict[str, Any] = {
        "agent_running": bool(status.get("running")),
        "status_updated_at": status.get("updated_at"),
        "decisions_made": status.get("decisions_made"),
        "decision_log": status.get("decision_log"),
        "cloud_sync": status.get("cloud_sync"),
        "collectors_failing": sorted(
            name
            for name, c in (status.get("collectors") or {}).items()
            if (c or {}).get("consecutive_failures")
        ),
    }
    try:
        du = shutil.disk_usage(settings.state_dir)
        out["disk_free_gb"] = round(du.free / 1e9, 2)
        out["disk_used_pct"] = round(100 * du.used / du.total, 1)
    except OSError:
        out["disk_free_gb"] = None
    out["load_1m"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    try:
        meminfo = dict(
            (k, int(v.split()[0])) for k, v in
            (ln.split(":", 1) for ln in Path("/proc/meminfo").read_text().splitlines())
        )  # fmt: skip
        out["memory_available_mb"] = round(meminfo["MemAvailable"] / 1024)
    except (OSError, KeyError, ValueError):
        out["memory_available_mb"] = None
    try:
        out["cpu_temp_c"] = int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000
    except (OSError, ValueError):
        out["cpu_temp_c"] = None
    return out


# --------------------------------------------------------------------------- page
def _svg(chart) -> str:
    # vl-convert loads with the first rendered page, not with the kiosk (slow to import).
    import vl_convert

    return vl_convert.vegalite_to_svg(chart.to_json(), vl_version="v5_20")


def _charts(frames: dict[str, pl.DataFrame], timezone: str, currency: str) -> dict[str, str]:
    # Altair loads with the first rendered page: the kiosk alone never needs it (slow).
    from energylib.plots.agent import agent_decisions_chart, agent_savings_chart
    from energylib.plots.forecast import forecast_vs_actual_chart

    out = {}
    if frames["hourly"].height:
        out["decisions"] = _svg(
            agent_decisions_chart(frames["hourly"], timezone, currency=currency)
        )
        out["savings"] = _svg(agent_savings_chart(frames["savings"], timezone, currency=currency))
    if frames["forecast"].height:
        long = (
            frames["forecast"]
            .unpivot(index="interval_start", on=["forecast", "actual"], variable_name="series")
            .with_columns(pl.lit(f"price [{currency}/kWh]").alias("task"))
        )
        out["forecast"] = _svg(forecast_vs_actual_chart(long, timezone, title=""))
    return out


PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:12px;background:#fafafa;color:#222}
h1{font-size:1.3rem;margin:0 0 8px}h2{font-size:1.05rem;margin:18px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:8px 12px;min-width:140px;flex:1}
.card b{display:block;font-size:1.4rem;overflow-wrap:anywhere}.chart svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.9rem}td{padding:2px 8px;border-bottom:1px solid #eee}
.bad{color:#c62828}.ok{color:#1b8a3a}
"""


def render(
    settings: AgentSettings, status: dict[str, Any], *, days: float, now: datetime, currency: str
) -> tuple[str, dict[str, Any]]:
    """The dashboard page (HTML) and its numbers (the JSON view)."""
    history = read_history(settings.decisions_db, now - timedelta(days=days))
    battery = settings.battery
    frames = summarise(
        history,
        settings.decide_every_s,
        battery.round_trip_efficiency if battery is not None else 1.0,
    )
    charts = _charts(frames, settings.site.timezone, currency)
    fc = frames["forecast"]
    models = (
        history.group_by("model_version")
        .agg(pl.len().alias("decisions"), pl.col("interval_start").min().alias("first"))
        .sort("first")
    )
    numbers = {
        "days": days,
        "decisions": history.height,
        "by_action": dict(history.group_by("action").len().iter_rows()) if history.height else {},
        "stale_holds": int(history["stale"].sum() or 0) if history.height else 0,
        "saved": float(frames["hourly"]["saved"].sum()) if history.height else 0.0,
        "saved_on_the_bill": float(frames["hourly"]["bill_saved"].sum()) if history.height else 0.0,
        "stored_kwh_change": float(frames["hourly"]["stored_kwh"].sum()) if history.height else 0.0,
        "currency": currency,
        "forecast_mae_per_kwh": float((fc["forecast"] - fc["actual"]).abs().mean())
        if fc.height
        else None,
        "model_in_use": (status.get("model") or {}).get("version"),
        "model_history": [
            {"version": r[0], "decisions": r[1], "first": r[2].isoformat()}
            for r in models.iter_rows()
        ],
        "model_delivery": status.get("model_delivery"),
        "health": health(settings, status),
    }
    e = html.escape
    hl = numbers["health"]
    disk = "n/a" if hl.get("disk_free_gb") is None else f"{hl['disk_free_gb']} GB free"
    temp = "n/a" if hl.get("cpu_temp_c") is None else f"{hl['cpu_temp_c']:.0f} &deg;C"
    mae = numbers["forecast_mae_per_kwh"]
    cards = [
        ("saved", f"{numbers['saved']:+.2f} {e(currency)}", "against doing nothing"),
        ("decisions", f"{numbers['decisions']}", ", ".join(f"{k} {v}" for k, v in sorted(numbers["by_action"].items()))),
        ("forecast", "n/a" if mae is None else f"{mae:.4f}", f"MAE {e(currency)}/kWh, 1 h ahead"),
        ("model", e(str(numbers["model_in_use"] or "none")), "in use"),
        (
            "agent",
            '<span class="ok">running</span>' if hl["agent_running"] else '<span class="bad">not running</span>',
            f"disk {disk}, CPU {temp}",
        ),
    ]  # fmt: skip
    rt = battery.round_trip_efficiency if battery is not None else 1.0
    savings_meaning = (
        f"Against a home whose battery did nothing: {numbers['saved_on_the_bill']:+.2f} "
        f"{currency} on the bill (imports at the price each decision saw, exports at its "
        f"feed-in credit, the home's load from the forecast), and "
        f"{numbers['stored_kwh_change']:+.2f} kWh more in the battery, valued at what it "
        f"fetches when discharged ({rt:.0%} round trip, at the mean import price of these "
        f"{days:g} days). Battery wear is not counted."
    )
    card_html = "".join(
        f'<div class="card" id="card-{k}">{k}<b>{v}</b><small>{e(sub)}</small></div>'
        for k, v, sub in cards
    )
    rows = "".join(
        f"<tr><td>{e(k)}</td><td>{e(json.dumps(v, default=str))[:300]}</td></tr>"
        for k, v in hl.items()
    )
    hist = "".join(
        f"<tr><td>{e(m['version'])}</td><td>{m['decisions']}</td><td>{e(m['first'][:16])}</td></tr>"
        for m in numbers["model_history"]
    )
    delivery = numbers["model_delivery"]
    section = lambda key, title: (  # noqa: E731
        f'<h2>{title}</h2><div class="chart" id="chart-{key}">{charts[key]}</div>'
        if key in charts
        else f'<h2>{title}</h2><p id="chart-{key}">no decisions in these {days:g} days yet</p>'
    )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>energy agent: dashboard</title><style>{PAGE_CSS}</style></head><body>
<h1>Energy agent, last {days:g} days <small>({e(settings.site.name)}, {e(now.isoformat()[:16])} UTC)</small></h1>
<div class="cards">{card_html}</div>
{section("decisions", "Decisions against price and state of charge")}
{section("savings", "Money made or saved")}
<p id="savings-meaning">{e(savings_meaning)}</p>
{section("forecast", "Forecast against actual price")}
<h2>Models</h2><table id="models"><tr><td>version</td><td>decisions</td><td>first used</td></tr>{hist}</table>
<p id="delivery">{e("delivery: " + json.dumps(delivery, default=str)[:400]) if delivery else "delivery: off (no SUPABASE_DB_URL)"}</p>
<h2>Pi health</h2><table id="health">{rows}</table>
</body></html>"""
    return page, numbers


def mount(
    app: FastAPI,
    settings: AgentSettings,
    status_provider,
    *,
    access: str = "loopback",
    token: str | None = None,
    clock=None,
    currency: str = "AUD",
    cache_s: float = 60.0,
) -> None:
    """Add ``/dashboard`` and ``/api/dashboard`` to the kiosk app (read-only GETs)."""
    if access not in ACCESS_MODES:
        raise ValueError(f"dashboard access {access!r}: use one of {', '.join(ACCESS_MODES)}")
    if access == "token" and not token:
        raise ValueError(
            "dashboard access 'token' needs ENERGY_AGENT_DASHBOARD_TOKEN in the environment or .env"
        )
    clock = clock or (lambda: datetime.now(UTC))
    cache: dict[float, tuple[float, str, dict]] = {}
    lock = threading.Lock()

    def build(days: float) -> tuple[str, dict]:
        with lock:
            hit = cache.get(days)
            if hit is not None and time.monotonic() - hit[0] < cache_s:
                return hit[1], hit[2]
            try:
                page, numbers = render(
                    settings, status_provider() or {}, days=days, now=clock(), currency=currency
                )
            except sqlite3.Error as exc:
                page = f"<!doctype html><p>decision log unreadable: {html.escape(str(exc))}</p>"
                numbers = {"error": str(exc)}
            cache[days] = (time.monotonic(), page, numbers)
            return page, numbers

    def days_of(request: Request) -> float:
        try:
            days = float(request.query_params.get("days", 7))
        except ValueError:
            days = 7.0
        return min(max(days, 1.0), MAX_DAYS)

    forbidden = JSONResponse(
        {"detail": "the dashboard is not open to this address (see ENERGY_AGENT_DASHBOARD)"},
        status_code=403,
    )

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request):
        if not allowed(request, access, token):
            return forbidden
        return HTMLResponse(build(days_of(request))[0])

    @app.get("/api/dashboard")
    def api_dashboard(request: Request):
        if not allowed(request, access, token):
            return forbidden
        return JSONResponse(json.loads(json.dumps(build(days_of(request))[1], default=str)))
