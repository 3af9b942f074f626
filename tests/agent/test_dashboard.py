"""The owner's dashboard: its numbers, who may open it, and the page in headless Chromium
at phone and laptop sizes."""

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
from dashboard_data import write_month
from fastapi.testclient import TestClient

from energylib.agent.config import AgentSettings
from energylib.agent.dashboard import decision_effects, read_history, summarise
from energylib.agent.decision_log import Decision, DecisionLog
from energylib.agent.kiosk import create_app

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = START + timedelta(days=3)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    s = AgentSettings(state_dir=tmp_path_factory.mktemp("dash") / "agent", site=at_home("site1"))
    s.state_dir.mkdir(parents=True)
    write_month(s.decisions_db, START, days=3, every_s=300.0)
    return s.replace(decide_every_s=300.0)


def test_savings_and_forecast_against_actual_are_what_the_log_says(settings):
    history = read_history(settings.decisions_db, START)
    assert history.height == 3 * 288
    frames = summarise(history, 300.0)
    # no load or credits in this log: each set-point for one period at the price then
    # (charging costs), plus the energy left in the battery at the mean price
    want = (-history["battery_kw"] * (300 / 3600) * history["price_per_kwh"]).sum()
    assert frames["hourly"]["bill_saved"].sum() == pytest.approx(want, rel=1e-12)
    stored = (history["battery_kw"] * (300 / 3600)).sum()
    total = want + stored * history["price_per_kwh"].mean()
    assert frames["savings"]["saved_cumulative"][-1] == pytest.approx(total, rel=1e-12)
    assert want > 0 and total > 0  # charging cheap, discharging dear
    # the forecast for hour t+1 made in hour t, against the prices of hour t+1
    fva = frames["forecast"]
    t = fva["interval_start"][5]
    made = history.filter(pl.col("interval_start").dt.truncate("1h") == t - timedelta(hours=1))
    seen = history.filter(pl.col("interval_start").dt.truncate("1h") == t)
    assert fva["forecast"][5] == pytest.approx(made["forecast_next_hour"].mean())
    assert fva["actual"][5] == pytest.approx(seen["price_per_kwh"].mean())
    hourly = frames["hourly"]
    assert hourly.height == 72 and hourly["soc_pct"].is_between(0, 100).all()


def test_each_decision_is_valued_against_doing_nothing_by_hand(tmp_path):
    """Four 15-min decisions, a 0.5 kWh load per period (12 kWh over a 6 h forecast),
    81 % round trip (90 % each way), export credit 0.05, prices 0.10 0.20 0.40 0.30."""
    log = DecisionLog(tmp_path / "decisions.db")
    for i, (kw, p) in enumerate([(4.0, 0.10), (0.0, 0.20), (-4.0, 0.40), (-4.0, 0.30)]):
        log.write(
            Decision(
                START + timedelta(minutes=15 * i), "x", kw, 0.0, "", p, 1.0, False, "m", 1.0,
                {"import_now_per_kwh": p, "export_credit_now_per_kwh": 0.05,
                 "battery_soc_fraction": 0.5},
                {"load_kwh": 12.0, "horizon_h": 6.0},
            )
        )  # fmt: skip
    d = decision_effects(read_history(tmp_path / "decisions.db", START), 900.0, 0.81)
    # charge 1 kWh on a 0.5 kWh load: bill 0.05 -> 0.15; 0.9 kWh stored
    # discharge 1 kWh on 0.5: 0.5 displaced at the price, 0.5 exported at 0.05 credit;
    # 1 / 0.9 kWh taken from the store; the store is valued at 0.9 x mean price 0.25
    assert d["bill_saved"].to_list() == pytest.approx([-0.10, 0.0, 0.225, 0.175], abs=1e-12)
    assert d["stored_kwh"].to_list() == pytest.approx([0.9, 0.0, -1 / 0.9, -1 / 0.9])
    assert d["saved"].to_list() == pytest.approx([0.1025, 0.0, -0.025, -0.075], abs=1e-12)
    assert d["saved"].sum() == pytest.approx(0.0025, abs=1e-12)  # not 0.60, the price x kWh
    # a full cycle: the store terms cancel, the bill difference with losses is left
    cycle = decision_effects(d.head(3).with_columns(
        pl.Series("battery_kw", [4.0, 0.0, -4.0 * 0.81])), 900.0, 0.81)  # fmt: skip
    assert cycle["stored_kwh"].sum() == pytest.approx(0.0, abs=1e-12)
    assert cycle["saved"].sum() == pytest.approx(cycle["bill_saved"].sum(), abs=1e-12)


def test_the_page_says_what_the_saving_means(settings):
    page = _client(settings, "127.0.0.1").get("/dashboard?days=3").text
    assert 'id="savings-meaning"' in page
    for words in ("did nothing", "feed-in credit", "90% round trip", "mean import price"):
        assert words in page, words


def _client(settings, host, **kw):
    app = create_app(settings, clock=lambda: NOW, status_provider=lambda: {}, **kw)
    return TestClient(app, client=(host, 50000))


@pytest.mark.parametrize(
    "mode, host, headers, code",
    [
        ("loopback", "127.0.0.1", {}, 200),
        ("loopback", "::1", {}, 200),
        ("loopback", "192.168.1.20", {}, 403),
        ("home", "192.168.1.20", {}, 200),
        ("home", "fd00::5", {}, 200),
        ("home", "8.8.8.8", {}, 403),
        ("token", "192.168.1.20", {}, 403),
        ("token", "8.8.8.8", {"Authorization": "Bearer s3cret-dash"}, 200),
        ("token", "8.8.8.8", {"Authorization": "Bearer wrong"}, 403),
    ],
)
def test_who_may_open_the_dashboard(settings, mode, host, headers, code):
    client = _client(settings.replace(dashboard=mode), host, dashboard_token="s3cret-dash")
    r = client.get("/api/dashboard", headers=headers)
    assert r.status_code == code
    if code == 403:
        assert "decisions" not in r.text
    else:
        assert r.json()["decisions"] == 3 * 288  # the default 7 days hold the 3 written


def test_the_dashboard_is_read_only_and_a_token_mode_needs_a_token(settings):
    client = _client(settings, "127.0.0.1")
    assert client.post("/dashboard").status_code == 405
    with pytest.raises(ValueError, match="ENERGY_AGENT_DASHBOARD_TOKEN"):
        create_app(settings.replace(dashboard="token"), dashboard_token="")
    with pytest.raises(ValueError, match="ENERGY_AGENT_DASHBOARD"):
        settings.replace(dashboard="everyone")


def test_numbers_of_the_json_view(settings):
    numbers = _client(settings, "127.0.0.1").get("/api/dashboard?days=3").json()
    assert numbers["decisions"] == 3 * 288 and numbers["currency"] == "AUD"
    assert numbers["saved"] > 0 and 0 < numbers["forecast_mae_per_kwh"] < 0.1
    assert [m["version"] for m in numbers["model_history"]] == [
        "model_a.onnx@abc",
        "model_b.v2.onnx@def",
    ]
    assert numbers["health"]["disk_free_gb"] > 0


@pytest.fixture(scope="module")
def server(settings):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = {"updated_at": NOW.isoformat(), "model": {"version": "model_b.v2.onnx@def"}}
    app = create_app(settings, clock=lambda: NOW, status_provider=lambda: status)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/dashboard?days=3"
    srv.should_exit = True
    thread.join(timeout=5)


@pytest.mark.browser
@pytest.mark.parametrize(
    "size, width, height, mobile",
    [("phone", 390, 844, True), ("laptop", 1366, 768, False)],
)
def test_the_page_in_chromium_at_phone_and_laptop_sizes(server, size, width, height, mobile):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium.webdriver.common.by import By

    profile = Path(tempfile.mkdtemp(prefix="dash-chromium-"))
    driver = headless_chromium(
        profile, "--disable-dev-shm-usage", f"--window-size={width},{height}"
    )
    try:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        driver.get(server)
        assert "AUD" in driver.find_element(By.ID, "card-saved").text
        agent = driver.find_element(By.ID, "card-agent").text
        assert "running" in agent and "not running" not in agent
        assert "model_b.v2.onnx@def" in driver.find_element(By.ID, "card-model").text
        for key in ("decisions", "savings", "forecast"):
            svg = driver.find_element(By.CSS_SELECTOR, f"#chart-{key} svg")
            assert svg.size["width"] > 100
            # the chart fits the screen: no sideways scrolling on a phone
            assert svg.size["width"] <= width
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        )
        hosts = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);"
        )
        assert hosts == [], hosts  # one page, charts inline: nothing fetched
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"dashboard_{size}.png"))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
