"""Price collection against a local Amber API: outages, 429/5xx, malformed answers, recovery."""

from __future__ import annotations

import logging
import socket
import sqlite3
from datetime import datetime, timedelta

import polars as pl
import pytest
from agent_fakes import SITE, START, TOKEN, amber_collectors, make_agent

from energylib.agent.collect import (
    Collector,
    agent_retry_policy,
    amber_prices_fetcher,
    load_collector_state,
)
from energylib.ingest.amber import AmberClient
from energylib.store import SqliteStore


def _price_rows(path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT COUNT(*) FROM prices").fetchone()[0]
    finally:
        con.close()


def _forecast_rows_between(path, start, end) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT COUNT(*) FROM prices WHERE channel='general' AND interval_start >= ? AND interval_start < ?",
            (int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)),
        ).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("fault", ["503", "500", "429"])
def test_hour_long_outage_keeps_last_good_forecast_backs_off_and_recovers(
    fault, settings, clock, fake_amber
):
    agent = make_agent(settings, clock, fake_amber)
    prices = agent.collectors[0]
    agent.scheduler.run_until(START + timedelta(hours=1))
    assert prices.state.consecutive_failures == 0
    outage_start = clock.now()
    # Forecast intervals covering the coming hour were stored before the outage.
    assert (
        _forecast_rows_between(settings.live_db, outage_start, outage_start + timedelta(hours=1))
        == 12
    )

    fake_amber.mode = fault
    errors_before = prices.state.fetch_errors_total
    agent.scheduler.run_until(outage_start + timedelta(hours=1))
    outage_errors = prices.state.fetch_errors_total - errors_before
    # Twelve 5-min slots in the hour; backing off (5, 10, 15, 15 ... min) tries far fewer.
    assert 3 <= outage_errors <= 7
    assert prices.state.next_attempt is not None
    # The last good forecast is still there, and the rows were never deleted.
    assert (
        _forecast_rows_between(settings.live_db, outage_start, outage_start + timedelta(hours=1))
        == 12
    )

    outage = [
        d
        for d in _decisions(agent)
        if outage_start <= d.decided_at < outage_start + timedelta(hours=1)
    ]
    assert len(outage) == 60  # a decision every minute through the outage
    early = [d for d in outage if d.decided_at < outage_start + timedelta(minutes=25)]
    late = [d for d in outage if d.decided_at >= outage_start + timedelta(minutes=36)]
    assert early and all(
        not d.stale for d in early
    )  # acting on the last good forecast while it is fresh
    assert late and all(d.stale and d.action == "hold" and d.battery_kw == 0 for d in late)
    assert all("min old" in d.reason for d in late)

    fake_amber.mode = "ok"
    recovered_by = clock.now() + timedelta(
        seconds=settings.backoff_max_s + settings.collect_every_s
    )
    agent.scheduler.run_until(recovered_by)
    assert prices.state.consecutive_failures == 0
    assert prices.state.last_success > outage_start + timedelta(hours=1)
    assert not agent.last_decision.stale


def _decisions(agent):
    """Logged decisions as (time, action, kW, stale, reason) records."""
    from types import SimpleNamespace

    from energylib.agent.decision_log import read_decisions

    return [
        SimpleNamespace(
            decided_at=datetime.fromisoformat(d["decided_at"]),
            action=d["action"],
            battery_kw=d["battery_kw"],
            stale=d["stale"],
            reason=d["reason"],
        )
        for d in read_decisions(agent.settings.decisions_db)
    ]


def test_retry_after_of_a_429_is_honoured(settings, clock, fake_amber):
    store = SqliteStore(settings.live_db)
    prices = amber_collectors(settings, store, fake_amber)[0]
    prices.backoff_base_s = 10
    fake_amber.mode = "429"
    assert not prices.run(clock.now())
    assert "429" in prices.state.last_error
    assert (
        prices.state.next_attempt - clock.now()
    ).total_seconds() >= 120  # the server asked for 120 s


def test_unreachable_api_is_backed_off_and_recovers(settings, clock, fake_amber):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    policy = agent_retry_policy()
    policy.sleep = lambda s: None
    store = SqliteStore(settings.live_db)
    client = AmberClient(TOKEN, site_id=SITE, base_url=dead, policy=policy)
    c = Collector(
        "prices", amber_prices_fetcher(client), store, backoff_base_s=300, backoff_max_s=900
    )
    assert not c.run(clock.now())
    assert c.backing_off(clock.now() + timedelta(seconds=299))
    assert not c.backing_off(clock.now() + timedelta(seconds=300))
    assert "cannot reach" in c.state.last_error
    # The network comes back: the same collector, next allowed slot, succeeds.
    client.base_url = fake_amber.base_url
    clock.advance(300)
    assert c.run(clock.now())
    assert c.state.consecutive_failures == 0


@pytest.mark.parametrize("mode", ["malformed_json", "wrong_type", "missing_field"])
def test_malformed_responses_are_rejected_and_logged(mode, settings, clock, fake_amber, caplog):
    store = SqliteStore(settings.live_db)
    prices = amber_collectors(settings, store, fake_amber)[0]
    assert prices.run(clock.now())
    before = _price_rows(settings.live_db)
    fake_amber.mode = mode
    fake_amber.shift_c = 50.0  # a bad answer must not change a single stored price
    clock.advance(300)
    with caplog.at_level(logging.ERROR, logger="energylib.agent.collect"):
        assert not prices.run(clock.now())
    assert prices.state.malformed_total == 1
    assert "malformed" in prices.state.last_error
    assert any("malformed" in r.getMessage() for r in caplog.records)
    assert _price_rows(settings.live_db) == before
    con = sqlite3.connect(settings.live_db)
    top = con.execute("SELECT MAX(price_per_kwh) FROM prices WHERE channel='general'").fetchone()[0]
    con.close()
    assert top < 0.6  # nothing of the shifted (+50 c) answer was stored


def test_collector_health_is_saved_for_the_kiosk(settings, clock, fake_amber):
    store = SqliteStore(settings.live_db)
    prices = amber_collectors(settings, store, fake_amber)[0]
    prices.run(clock.now())
    fake_amber.mode = "503"
    clock.advance(300)
    prices.run(clock.now())
    saved = load_collector_state(SqliteStore(settings.live_db, read_only=True), "prices")
    assert saved.successes_total == 1
    assert saved.fetch_errors_total == 1
    assert saved.consecutive_failures == 1
    assert saved.next_attempt == prices.state.next_attempt
    # A restarted agent picks its back-off state up again.
    again = amber_collectors(settings, store, fake_amber)[0]
    assert again.state.consecutive_failures == 1


def test_open_meteo_weather_is_stored_hourly_with_each_variable_on_its_documented_hour(
    settings, clock, fake_amber
):
    from energylib.agent.collect import open_meteo_weather_fetcher

    store = SqliteStore(settings.live_db)
    c = Collector(
        "weather",
        open_meteo_weather_fetcher(
            -33.87, 151.21, "Australia/Sydney", site=SITE, base_url=fake_amber.base_url
        ),
        store,
    )
    assert c.run(clock.now())
    data, meta = store.read("open_meteo", "weather", site=SITE)
    assert meta.interval_minutes == 60 and data.height >= 24 * 4 - 1
    assert set(data.columns) >= {"ghi_w_m2", "temp_air_c"}
    # The radiation Open-Meteo stamps 03:00 (mean of 02:00-03:00) is stored at interval_start
    # 02:00, with the temperature stamped 02:00 (instantaneous at the interval's start).
    row = data.filter(data["interval_start"].dt.hour() == 2).row(0, named=True)
    local_mid, local_start = (2.5 + 11) % 24, (2 + 11) % 24
    import math

    assert row["ghi_w_m2"] == pytest.approx(
        max(0.0, 900 * math.sin(math.pi * (local_mid - 6) / 14)), abs=0.1
    )
    assert row["temp_air_c"] == pytest.approx(
        22 + 5 * math.sin(math.pi * (local_start - 9) / 12), abs=0.05
    )


def test_first_price_history_fetch_backfills_the_forecasters_lags_then_one_day(fake_amber):
    from energylib.agent.collect import PRICE_BACKFILL_DAYS, amber_price_history_fetcher

    policy = agent_retry_policy()
    policy.sleep = lambda s: None
    client = AmberClient(TOKEN, site_id=SITE, base_url=fake_amber.base_url, policy=policy)
    fetch = amber_price_history_fetcher(client)

    def earliest(frames) -> datetime:
        return min(frame["interval_start"].min() for frame, _ in frames)

    now = fake_amber.clock.now()
    frames = fetch(now)
    first, again = earliest(frames), earliest(fetch(now))
    # a week of price lags behind a one-day window: the first fetch reaches 8 NEM days back
    assert now - first >= timedelta(days=PRICE_BACKFILL_DAYS)
    # asked for in a few days at a time (the Pi's peak memory), with no interval lost or twice
    general = pl.concat([f for f, m in frames if m.channel == "general"])["interval_start"]
    assert general.is_unique().all() and general.sort().diff().drop_nulls().unique().to_list() == [
        timedelta(minutes=5)
    ]
    assert timedelta(days=1) <= now - again < timedelta(days=3)
