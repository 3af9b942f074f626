"""Amber API v1 responses in the real JSON shapes, for tests (fixtures and a fake server)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

NEM = timedelta(hours=10)
CHANNEL_TYPES = ("general", "feedIn")


def _z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def interval(
    start: datetime,
    minutes: int = 5,
    channel: str = "general",
    kind: str = "ActualInterval",
    per_kwh: float = 25.0,
    spot_per_kwh: float = 8.0,
    **extra,
) -> dict:
    """One price interval as the API sends it: startTime is the start plus one second."""
    end = start + timedelta(minutes=minutes)
    rec = {
        "type": kind,
        "date": (start + NEM).date().isoformat(),
        "duration": minutes,
        "startTime": _z(start + timedelta(seconds=1)),
        "endTime": _z(end),
        "nemTime": (end + NEM).replace(tzinfo=None).isoformat() + "+10:00",
        "perKwh": per_kwh,
        "spotPerKwh": spot_per_kwh,
        "channelType": channel,
        "renewables": 42.5,
        "spikeStatus": "none",
        "descriptor": "low",
        "tariffInformation": {"period": "offPeak", "season": "summer"},
    }
    if kind == "CurrentInterval":
        rec["estimate"] = extra.pop("estimate", True)
    if kind in ("ForecastInterval", "CurrentInterval"):
        rec["range"] = {"min": spot_per_kwh - 1, "max": spot_per_kwh + 1}
        rec["advancedPrice"] = {"low": per_kwh - 5, "predicted": per_kwh, "high": per_kwh + 5}
    rec.update(extra)
    return rec


def nem_day_start(d: date) -> datetime:
    """UTC start of a NEM day (00:00 UTC+10)."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC) - NEM


def prices_for_days(
    first: date, last: date, minutes: int = 30, channels=CHANNEL_TYPES, price_of=None
) -> list[dict]:
    """Actual intervals for NEM days first..last (both included), every channel."""
    out = []
    t = nem_day_start(first)
    stop = nem_day_start(last + timedelta(days=1))
    i = 0
    while t < stop:
        for ch in channels:
            p = (
                price_of(t, ch)
                if price_of
                else (20.0 + (i % 7) if ch == "general" else -5.0 - (i % 3))
            )
            out.append(interval(t, minutes, ch, "ActualInterval", per_kwh=p, spot_per_kwh=p / 3))
        t += timedelta(minutes=minutes)
        i += 1
    return out


def usage_record(
    start: datetime,
    channel: str,
    identifier: str,
    kwh: float,
    cost_c: float,
    quality: str = "billable",
) -> dict:
    rec = interval(start, 30, channel, "Usage")
    rec.update({"channelIdentifier": identifier, "kwh": kwh, "cost": cost_c, "quality": quality})
    return rec


def dumps(records) -> str:
    return json.dumps(records)
