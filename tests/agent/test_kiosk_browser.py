"""The kiosk page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

The page loads from a uvicorn server on 127.0.0.1, shows the price and state from a
test store, updates by itself when the store changes; with no data it says what to do.
Checked on a 7-inch screen (800x480) and a 1280x720 one, with a screenshot of each state
in ``tests/artifacts/`` (``kiosk_<width>x<height>_<state>.png``).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from agent_fakes import CHROMEDRIVER, CHROMIUM, at_home, headless_chromium

from energylib.agent.collect import Collector
from energylib.agent.config import AgentSettings
from energylib.agent.decision_log import Decision, DecisionLog
from energylib.agent.kiosk import create_app
from energylib.schema import FrameMeta
from energylib.store import SqliteStore

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NOW = datetime(2025, 1, 6, 8, 2, tzinfo=UTC)  # 19:02 in Sydney


def _prices(price_now: float, descriptor_now: str) -> tuple[pl.DataFrame, FrameMeta]:
    start = NOW.replace(minute=0) - timedelta(hours=2)
    times = [start + timedelta(minutes=5 * i) for i in range(12 * 14)]
    price, desc = [], []
    for t in times:
        h = (t.hour + 11) % 24 + t.minute / 60
        p = 0.18 + 0.25 * (17 <= h < 21) - 0.12 * (10 <= h < 15)
        if t <= NOW < t + timedelta(minutes=5):
            p = price_now
        price.append(p)
        desc.append(
            descriptor_now
            if t <= NOW < t + timedelta(minutes=5)
            else ("high" if p > 0.35 else "low" if p < 0.1 else "neutral")
        )
    data = pl.DataFrame(
        {
            "interval_start": times,
            "price_per_kwh": price,
            "descriptor": desc,
            "is_forecast": [t > NOW for t in times],
        }
    )
    data = data.with_columns(pl.col("interval_start").dt.cast_time_unit("us"))
    return data, FrameMeta("amber", "prices", 5, "site1", "general", "AUD", "Australia/Sydney")


def _serve(settings: AgentSettings):
    """The kiosk app on a free loopback port in a thread; yields its URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings, clock=lambda: NOW, refresh_s=1.0)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def empty_kiosk(tmp_path, monkeypatch):
    """A kiosk with no data yet and no token configured."""
    monkeypatch.delenv("AMBER_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = AgentSettings(state_dir=tmp_path / "agent", site=at_home("site1"))
    SqliteStore(settings.live_db)  # the cache exists, empty
    yield from _serve(settings)


@pytest.fixture
def kiosk_server(tmp_path):
    settings = AgentSettings(state_dir=tmp_path / "agent", site=at_home("site1"))
    store = SqliteStore(settings.live_db)
    Collector("prices", lambda now: [_prices(0.4523, "high")], store).run(NOW)
    usage = pl.DataFrame(
        {"interval_start": [NOW - timedelta(minutes=32)], "energy_kwh": [0.9]}
    ).with_columns(pl.col("interval_start").dt.truncate("30m").dt.cast_time_unit("us"))
    store.upsert(
        usage, FrameMeta("amber", "usage", 30, "site1", "general", "AUD", "Australia/Sydney")
    )
    DecisionLog(settings.decisions_db).write(
        Decision(
            NOW.replace(second=0),
            "discharge",
            -3.2,
            0.0,
            "forecast policy: price 0.4523 >= discharge threshold 0.2100",
            0.4523,
            60.0,
            False,
            "model_a.onnx@abc",
            3.1,
        )
    )
    for url in _serve(settings):
        yield url, store


SCREENS = ((800, 480), (1280, 720))  # a 7-inch Pi touchscreen, a small monitor


@pytest.fixture(scope="module")
def chromium():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
    profile = Path(tempfile.mkdtemp(prefix="kiosk-chromium-"))
    driver = headless_chromium(profile, "--disable-dev-shm-usage", "--window-size=800,480")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _screen(driver, width: int, height: int):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


@pytest.fixture
def browser(chromium):
    # A 7-inch Raspberry Pi touchscreen: 800 x 480 CSS pixels of page.
    return _screen(chromium, 800, 480)


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    driver.save_screenshot(str(ARTIFACTS / f"kiosk_{size[0]}x{size[1]}_{name}.png"))


def _fits(driver) -> None:
    """Nothing scrolls: the page fits the screen."""
    over = driver.execute_script(
        "var d = document.documentElement;"
        "return [d.scrollWidth - window.innerWidth, d.scrollHeight - window.innerHeight];"
    )
    assert over[0] <= 0 and over[1] <= 0, f"the page overflows the screen by {over}"


def _overlaps_bars(driver, selector: str) -> bool:
    return driver.execute_script(
        """
        var label = document.querySelector(arguments[0]).getBoundingClientRect();
        return Array.from(document.querySelectorAll('#chart svg rect')).some(function(r){
          var b = r.getBoundingClientRect();
          return !(b.right <= label.left || b.left >= label.right || b.bottom <= label.top || b.top >= label.bottom);
        });""",
        selector,
    )


def _text(driver, element_id: str) -> str:
    # Read in one script: the page replaces its elements on every refresh, so a found
    # element can go stale before its text is read.
    return driver.execute_script(
        "return document.getElementById(arguments[0]).innerText.trim();", element_id
    )


def _background(driver, element_id: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.getElementById(arguments[0])).backgroundColor;",
        element_id,
    )


def test_kiosk_page_in_chromium_shows_price_state_and_updates(kiosk_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, store = kiosk_server
    browser.get(url)
    assert _text(browser, "price") == "45.2"
    assert _text(browser, "unit") == "c/kWh"
    assert _text(browser, "state-label") == "EXPENSIVE"
    colour = _background(browser, "state")
    assert colour in ("rgba(198, 40, 40, 1)", "rgb(198, 40, 40)")
    assert "DISCHARGE 3.2 kW" in _text(browser, "decision")
    assert "$0.81/h" in _text(browser, "cost")  # 0.9 kWh in 30 min = 1.8 kW x 0.4523 AUD/kWh
    assert browser.find_elements(By.CSS_SELECTOR, "#chart svg rect")
    assert "updated" in _text(browser, "updated")
    _shot(browser, "expensive")

    # The store changes (a new price for this interval): the open page follows by itself.
    Collector("prices", lambda now: [_prices(0.0612, "veryLow")], store).run(NOW)
    WebDriverWait(browser, 15).until(lambda d: _text(d, "price") == "6.1")
    assert _text(browser, "state-label") == "CHEAP"
    colour = _background(browser, "state")
    assert colour in ("rgba(27, 138, 58, 1)", "rgb(27, 138, 58)")
    _shot(browser, "cheap")


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kiosk_with_data_has_a_scale_a_now_marker_totals_and_the_reason_in_words(
    kiosk_server, chromium, screen
):
    from selenium.webdriver.common.by import By

    browser = _screen(chromium, *screen)
    url, _ = kiosk_server
    browser.get(url)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart svg #now")  # the "now" marker
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('#chart svg text'))"
        ".map(function(t){ return t.textContent; });"
    )
    assert "now" in labels and "0" in labels  # the marker's label and the price scale
    max_label = next(t for t in labels if t.startswith("max"))
    assert max_label.endswith("c/kWh")
    assert not _overlaps_bars(browser, "#chart svg text:last-of-type")  # the max label
    totals = _text(browser, "totals")
    assert totals.startswith("today $") and "this month $" in totals
    reason = _text(browser, "reason")
    assert reason == (
        "using the battery: the price (45.2 c/kWh) is above 21.0 c/kWh, so the battery runs the house"
    )
    _fits(browser)
    _shot(browser, "expensive")


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kiosk_with_no_data_says_what_to_do(empty_kiosk, chromium, screen):
    browser = _screen(chromium, *screen)
    browser.get(empty_kiosk)
    assert _text(browser, "state-label") == "NO PRICE YET"
    assert "Set AMBER_TOKEN in .env and restart the agent" in _text(browser, "guidance")
    assert _text(browser, "totals") == "no usage metered yet"
    _fits(browser)
    _shot(browser, "no_data")


def test_kiosk_page_loads_from_loopback_only_without_external_requests(kiosk_server, browser):
    url, _ = kiosk_server
    browser.get(url)
    hosts = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function(e){ return new URL(e.name).host; });"
    )
    assert all(h.startswith("127.0.0.1") for h in hosts)
