"""Test doubles for the agent tests: a local Amber API on loopback, price shapes, tiny models.

The fake API (pytest_httpserver, 127.0.0.1) answers ``/sites/{id}/prices/current`` and
``/sites/{id}/usage`` in Amber's real JSON shapes (``startTime`` = start + 1 s, c/kWh,
descriptors, advancedPrice on forecasts) for the *simulated* time, and can be switched
into fault modes: ``500``, ``503``, ``429`` (with ``Retry-After``), ``malformed_json``,
``missing_field``, ``wrong_type`` (an object, not an array).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from amber_fake import NEM, interval
from werkzeug import Response

from energylib.agent.clock import SimulatedClock
from energylib.agent.config import AgentSettings
from energylib.schema import interval_index
from energylib.site import SYDNEY, Site

SITE = "01TESTSITE"
TOKEN = "psk_test_secret_token_0123456789abcdef"
START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # 11:00 in Sydney
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def at_home(name: str = SITE) -> Site:
    """The agent's default site (Sydney) under the store site id ``name``."""
    return dataclasses.replace(SYDNEY, name=name)


def price_c_per_kwh(t: datetime) -> float:
    """A daily price shape [c/kWh]: cheap around solar noon (02:00 UTC), dear in the evening."""
    h = (t.hour + t.minute / 60 + 11) % 24  # Sydney local hour in summer
    return 30 - 22 * math.exp(-((h - 12.5) ** 2) / 8) + 28 * math.exp(-((h - 18.5) ** 2) / 3)


def descriptor(c: float) -> str:
    return "veryLow" if c < 12 else "low" if c < 20 else "neutral" if c < 32 else "high"


def price_record(
    start: datetime, kind: str, channel: str = "general", minutes: int = 5, shift_c: float = 0.0
) -> dict:
    """One interval of the daily price shape, in the shape of :func:`ingest.amber_fake.interval`."""
    c = price_c_per_kwh(start) + shift_c
    if channel == "feedIn":
        c = -0.6 * c
    return interval(
        start,
        minutes,
        channel,
        kind,
        per_kwh=round(c, 4),
        spot_per_kwh=round(c / 3, 4),
        renewables=40.0,
        descriptor=descriptor(abs(c)),
        tariffInformation={"period": "offPeak"},
    )


def usage_kwh(start: datetime) -> float:
    h = (start.hour + start.minute / 60 + 11) % 24
    return 0.15 + 0.25 * math.exp(-((h - 19) ** 2) / 6)  # per 30 min


class FakeAmber:
    """State of the fake API: the clock it answers for, its fault mode and what it saw."""

    def __init__(self, server, clock: SimulatedClock):
        self.server = server
        self.clock = clock
        self.mode = "ok"
        self.requests = 0
        self.auth_ok = True
        self.shift_c = 0.0
        server.expect_request(f"/v1/sites/{SITE}/prices/current").respond_with_handler(self.current)
        server.expect_request(f"/v1/sites/{SITE}/usage").respond_with_handler(self.usage)
        server.expect_request("/v1/forecast").respond_with_handler(self.open_meteo)
        server.expect_request(f"/v1/sites/{SITE}/prices").respond_with_handler(self.prices)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/v1")

    def _fault(self) -> Response | None:
        # pytest_httpserver keeps every (request, response) pair in its log; a soak of a month
        # would hold gigabytes of them in this process, so keep only the last few.
        if len(self.server.log) > 50:
            self.server.clear_log()
        m = self.mode
        if m in ("500", "503"):
            return Response("upstream error", status=int(m))
        if m == "429":
            return Response(
                json.dumps({"message": "Too many requests"}),
                status=429,
                headers={"Retry-After": "120"},
            )
        if m == "malformed_json":
            return Response(
                '[{"type": "CurrentInterval", ', status=200, content_type="application/json"
            )
        if m == "wrong_type":
            return Response(
                json.dumps({"error": "unexpected"}), status=200, content_type="application/json"
            )
        return None

    def current(self, request):
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.auth_ok = False
            return Response("unauthorised", status=401)
        fault = self._fault()
        if fault is not None:
            return fault
        nxt = int(request.args.get("next", 0))
        prev = int(request.args.get("previous", 0))
        now = self.clock.now()
        t0 = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
        out = []
        for ch in ("general", "feedIn"):
            for k in range(-prev, nxt + 1):
                t = t0 + timedelta(minutes=5 * k)
                kind = (
                    "ActualInterval"
                    if k < 0
                    else "CurrentInterval"
                    if k == 0
                    else "ForecastInterval"
                )
                out.append(price_record(t, kind, ch, shift_c=self.shift_c))
        if self.mode == "missing_field":
            del out[3]["perKwh"]
        return Response(json.dumps(out), status=200, content_type="application/json")

    def open_meteo(self, request):
        """Open-Meteo's ``/forecast`` shape: hourly times (UTC, no offset), temperature_2m [degC],
        shortwave_radiation [W/m2, mean of the preceding hour]."""
        now = self.clock.now().replace(minute=0, second=0, microsecond=0)
        past, ahead = (
            int(request.args.get("past_days", 0)),
            int(request.args.get("forecast_days", 1)),
        )
        day0 = now.replace(hour=0) - timedelta(days=past)
        times = [day0 + timedelta(hours=h) for h in range(24 * (past + ahead))]

        def local(t):
            return (t.hour + t.minute / 60 + 11) % 24

        body = {
            "latitude": float(request.args["latitude"]),
            "longitude": float(request.args["longitude"]),
            "utc_offset_seconds": 0,
            "timezone": "GMT",
            "hourly_units": {
                "time": "iso8601",
                "temperature_2m": "°C",
                "shortwave_radiation": "W/m²",
            },
            "hourly": {
                "time": [t.strftime("%Y-%m-%dT%H:%M") for t in times],
                "temperature_2m": [
                    round(22 + 5 * math.sin(math.pi * (local(t) - 9) / 12), 1) for t in times
                ],
                "shortwave_radiation": [
                    round(
                        max(
                            0.0,
                            900 * math.sin(math.pi * (local(t - timedelta(minutes=30)) - 6) / 14),
                        ),
                        1,
                    )
                    for t in times
                ],
            },
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    def prices(self, request):
        """``/sites/{id}/prices``: 5-min actual intervals of NEM days startDate..endDate up to now."""
        self.requests += 1
        fault = self._fault()
        if fault is not None:
            return fault
        start, end = _nem_days(request)
        now = self.clock.now()
        out = []
        t = start
        while t < min(end, now - timedelta(minutes=5)):
            out += [
                price_record(t, "ActualInterval", ch, shift_c=self.shift_c)
                for ch in ("general", "feedIn")
            ]
            t += timedelta(minutes=5)
        return Response(json.dumps(out), status=200, content_type="application/json")

    def usage(self, request):
        self.requests += 1
        fault = self._fault()
        if fault is not None:
            return fault
        start, end = _nem_days(request)
        now = self.clock.now()
        out = []
        t = start
        while t < min(end, now - timedelta(minutes=30)):
            rec = price_record(t, "Usage", "general", 30)
            kwh = usage_kwh(t)
            rec.update(
                {
                    "channelIdentifier": "E1",
                    "kwh": kwh,
                    "cost": kwh * rec["perKwh"],
                    "quality": "billable",
                }
            )
            out.append(rec)
            t += timedelta(minutes=30)
        return Response(json.dumps(out), status=200, content_type="application/json")


def _nem_days(request) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of the NEM days ``startDate``..``endDate`` of a request."""
    first, last = (
        datetime.fromisoformat(request.args[k]).replace(tzinfo=UTC) - NEM
        for k in ("startDate", "endDate")
    )
    return first, last + timedelta(days=1)


def amber_collectors(settings: AgentSettings, store, fake: FakeAmber):
    """The real collectors (real AmberClient, real parser) pointed at the fake server."""
    from energylib.agent.collect import (
        Collector,
        agent_retry_policy,
        amber_price_history_fetcher,
        amber_prices_fetcher,
        amber_usage_fetcher,
    )
    from energylib.ingest.amber import AmberClient

    policy = agent_retry_policy()
    policy.sleep = lambda s: None  # the simulated clock does not wait on the HTTP layer's back-off
    client = AmberClient(TOKEN, site_id=SITE, base_url=fake.base_url, policy=policy)
    return [
        Collector(
            "prices",
            amber_prices_fetcher(client, next_intervals=settings.forecast_intervals),
            store,
            backoff_base_s=settings.collect_every_s,
            backoff_max_s=settings.backoff_max_s,
        ),
        Collector(
            "usage", amber_usage_fetcher(client), store, backoff_base_s=3600, backoff_max_s=3600 * 4
        ),
        Collector(
            "price_history",
            amber_price_history_fetcher(client),
            store,
            backoff_base_s=3600,
            backoff_max_s=4 * 3600,
        ),
        weather_collector(store),
    ]


def make_agent(settings, clock, fake, **kw):
    from energylib.agent.runner import build_agent
    from energylib.store import SqliteStore

    store = SqliteStore(settings.live_db)
    return build_agent(
        settings, clock=clock, collectors=amber_collectors(settings, store, fake), **kw
    )


# --------------------------------------------------------------------------- models
def synthetic_history(days: int = 20, seed: int = 0) -> pl.DataFrame:
    """Half-hourly total load, price, weather: the columns TOTAL_PRICE_WEATHER_TIME reads."""
    rng = np.random.default_rng(seed)
    start = START - timedelta(days=days)
    t = interval_index(start, START, 30)
    n = len(t)
    ts = [start + timedelta(minutes=30 * i) for i in range(n)]
    return pl.DataFrame(
        {
            "interval_start": t,
            "total_kwh": [usage_kwh(x) * rng.lognormal(0, 0.1) for x in ts],
            "price_per_kwh": [price_c_per_kwh(x) / 100 for x in ts],
            "ghi_w_m2": [
                max(0.0, 900 * math.sin(math.pi * (((x.hour + 11) % 24) - 6) / 14)) for x in ts
            ],
            "temp_air_c": [
                22 + 5 * math.sin(math.pi * (((x.hour + 11) % 24) - 9) / 12) for x in ts
            ],
        }
    )


TINY = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.0)


def train_and_export(folder: Path, seed: int, name: str) -> Path:
    """Train a tiny EnergyTransformer for one short epoch and export it to ONNX."""
    from energylib.forecast.export import export_onnx
    from energylib.forecast.features import TOTAL_PRICE_WEATHER_TIME
    from energylib.forecast.train import TrainConfig, train

    spec = dataclasses.replace(
        TOTAL_PRICE_WEATHER_TIME,
        name="TPWT_tiny",
        horizons=(("day", 48), ("week", 64), ("month", 96)),
    )
    cfg = TrainConfig(
        preset="pi",
        feature_spec=spec,
        model=TINY,
        max_epochs=1,
        batch_size=16,
        max_train_batches=2,
        max_eval_batches=1,
        seed=seed,
        device="cpu",
        split=(0.6, 0.2, 0.2),
    )
    res = train(
        synthetic_history(), "Australia/Sydney", cfg, folder / f"ckpt_{seed}", progress=False
    )
    return export_onnx(res.best_checkpoint, folder / name)


def weather_frames(start: datetime, end: datetime, site: str = SITE):
    """Half-hourly GHI [W/m2] and air temperature [degC] in the canonical shape, stored under
    the source of the weather the settings name (``open-meteo``, the default), which is
    the one the agent reads."""
    from energylib.schema import FrameMeta

    h = pl.DataFrame({"interval_start": interval_index(start, end, 30)})
    hours = [((t.hour + t.minute / 60 + 11) % 24) for t in h["interval_start"]]
    data = h.with_columns(
        pl.Series("ghi_w_m2", [max(0.0, 900 * math.sin(math.pi * (x - 6) / 14)) for x in hours]),
        pl.Series("temp_air_c", [22 + 5 * math.sin(math.pi * (x - 9) / 12) for x in hours]),
    )
    return [
        (data, FrameMeta("open_meteo", "weather", 30, site, "general", None, "Australia/Sydney"))
    ]


def weather_collector(store):
    from energylib.agent.collect import Collector

    def fetch(now: datetime):
        t = now.replace(minute=0, second=0, microsecond=0)
        return weather_frames(
            t - timedelta(days=2), t + timedelta(days=2)
        )  # as Open-Meteo past_days=2

    return Collector("weather", fetch, store, backoff_base_s=3600, backoff_max_s=4 * 3600)


def seed_history(store, end: datetime, days: float = 2.0) -> None:
    """What a backfill leaves in the live cache: past prices (both channels), usage and weather."""
    from energylib.ingest.amber import read_amber_prices, read_amber_usage

    start = end - timedelta(days=days)
    recs, usage = [], []
    t = start
    while t < end:
        recs += [price_record(t, "ActualInterval", ch) for ch in ("general", "feedIn")]
        if t.minute % 30 == 0:
            u = price_record(t, "Usage", "general", 30)
            u.update(
                {
                    "channelIdentifier": "E1",
                    "kwh": usage_kwh(t),
                    "cost": usage_kwh(t) * u["perKwh"],
                    "quality": "billable",
                }
            )
            usage.append(u)
        t += timedelta(minutes=5)
    for frames in (
        read_amber_prices(recs, site=SITE),
        read_amber_usage(usage, site=SITE),
        weather_frames(start, end),
    ):
        for data, meta in frames:
            store.upsert(data, meta, nullable=tuple((meta.extra or {}).get("nullable", ())))


def headless_chromium(profile: Path, *flags: str):
    """A WebDriver on a headless Chromium (Debian's ``chromium`` + ``chromium-driver``) that
    reaches nothing but the pages it is sent to; ``profile`` is its user-data folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *flags,
    ):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
