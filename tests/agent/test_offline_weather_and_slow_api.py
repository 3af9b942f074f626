"""The documented offline weather (``ENERGY_AGENT_WEATHER=clearsky``) works, and a slow price
API does not hold up decisions (issue 17)."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

from agent_fakes import SITE, at_home

from energylib.agent.clock import SystemClock
from energylib.agent.collect import Collector
from energylib.agent.runner import build_agent, default_collectors
from energylib.store import SqliteStore


def test_the_clearsky_weather_collector_stores_sydney_s_sun(settings):
    s = settings.replace(weather="clearsky")
    store = SqliteStore(s.live_db)
    (weather,) = [
        c for c in default_collectors(s, store, amber_client=object()) if c.name == "weather"
    ]
    now = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # 14:00 in Sydney, summer
    assert weather.run(now) and weather.state.fetch_errors_total == 0
    data, meta = store.read(
        "clearsky", "weather", now - timedelta(hours=24), now + timedelta(hours=24), site=SITE
    )
    assert meta.interval_minutes == 30 and data.height == 96
    ghi = dict(zip(data["interval_start"], data["ghi_w_m2"], strict=True))
    assert ghi[datetime(2025, 1, 6, 2, 0, tzinfo=UTC)] > 800  # around solar noon
    assert ghi[datetime(2025, 1, 6, 14, 0, tzinfo=UTC)] == 0.0  # 01:00 local


def test_a_slow_price_api_does_not_delay_decisions(settings):
    """Live (run_forever), a price answer that takes 3 s (a 20-s one, scaled down) is
    collected on a worker thread while the decisions, every second, stay on time."""
    fetching = threading.Event()

    def slow_fetch(now):
        fetching.set()
        time.sleep(3.0)
        return []

    s = settings.replace(decide_every_s=1.0, site=at_home(SITE))
    store = SqliteStore(s.live_db)
    agent = build_agent(s, clock=SystemClock(), collectors=[Collector("prices", slow_fetch, store)])
    decided = []
    decide = agent.scheduler.job("decide")
    plain = decide.func

    def timed(now):
        decided.append((fetching.is_set(), time.perf_counter()))
        return plain(now)

    decide.func = timed
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(2.5, agent.stop)
    timer.start()
    t0 = time.perf_counter()
    try:
        agent.run_forever()  # returns after stop(), once the slow collection has ended
    finally:
        timer.cancel()
        for sig, h in handlers.items():
            signal.signal(sig, h)
    during = [t - t0 for busy, t in decided if busy and t - t0 < 3.0]
    assert len(during) >= 2, decided  # decisions went on while the price call hung
    assert agent.scheduler.job("prices").runs == 1
