"""Gateway simulator: config validation, readings, modes, historical frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.schema import validate
from energylib.simulate.gateway import (
    DEFAULT_CONFIG,
    Gateway,
    GatewayConfigError,
    load_config,
    run_continuous,
    run_historical,
    run_once,
    validate_config,
    write_default_config,
)
from energylib.store import ParquetStore

BLOCKS = {"solar", "battery", "home_load", "grid_price", "net_grid_flow_kw"}


@pytest.fixture(scope="module")
def gateway():
    return Gateway({"seed": 3})


def test_empty_config_is_the_default():
    assert validate_config({}) == DEFAULT_CONFIG
    assert (
        validate_config({"solar": {"capacity_kw": 3}})["solar"]["latitude"]
        == DEFAULT_CONFIG["solar"]["latitude"]
    )


@pytest.mark.parametrize(
    "given, key",
    [
        ({"colour": "red"}, "colour"),
        ({"solar": {"capcity_kw": 3}}, "solar.capcity_kw"),
        ({"solar": {"capacity_kw": -1}}, "solar.capacity_kw"),
        ({"battery": {"capacity_kwh": -5}}, "battery.capacity_kwh"),
        ({"battery": {"min_soc": 90, "max_soc": 50}}, "battery.min_soc"),
        ({"battery": {"initial_soc": 5}}, "battery.initial_soc"),
        ({"battery": {"round_trip_efficiency": 1.2}}, "battery.round_trip_efficiency"),
        ({"home_load": {"has_ev": "yes"}}, "home_load.has_ev"),
        ({"home_load": {"peak_load_kw": 0.1}}, "home_load.peak_load_kw"),
        ({"grid_price": {"volatility": -0.1}}, "grid_price.volatility"),
        ({"grid_price": {"peak_price": "high"}}, "grid_price.peak_price"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"solar": {"timezone": "Mars/Olympus"}}, "solar.timezone"),
        ({"battery": 5}, "battery"),
    ],
)
def test_bad_config_names_the_key(given, key):
    with pytest.raises(GatewayConfigError, match=key.replace(".", r"\.")):
        validate_config(given)


def test_config_file_roundtrip_and_errors(tmp_path):
    path = write_default_config(tmp_path / "cfg" / "config.json")
    assert load_config(path) == DEFAULT_CONFIG
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(GatewayConfigError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    with pytest.raises(GatewayConfigError, match="--generate-config"):
        load_config(tmp_path / "missing.json")


def test_reading_has_every_block_and_the_grid_balances(gateway):
    p = gateway.point("2025-01-15T12:30")  # local noon-ish
    assert set(p) >= BLOCKS
    assert p["timestamp"] == "2025-01-15T01:30:00Z"
    net = p["home_load"]["total_load_kw"] - p["solar"]["generation_kw"] + p["battery"]["power_kw"]
    assert p["net_grid_flow_kw"] == pytest.approx(net, abs=2e-4)
    parts = sum(v for k, v in p["home_load"].items() if k != "total_load_kw")
    assert p["home_load"]["total_load_kw"] == pytest.approx(parts, abs=1e-9)
    json.dumps(p)  # JSON-ready


def test_reading_is_the_same_whichever_way_it_is_asked():
    a = Gateway({"seed": 9}).point("2025-03-03T18:00")
    b = Gateway({"seed": 9}).point(pd.Timestamp("2025-03-03T07:00Z"))
    c = Gateway({"seed": 10}).point("2025-03-03T18:00")
    assert a == b and a != c


def test_solar_at_noon_and_none_at_night(gateway):
    assert gateway.point("2025-01-20T12:30")["solar"]["generation_kw"] > 0.3
    assert gateway.point("2025-01-20T02:00")["solar"]["generation_kw"] == 0.0


def test_peak_config_caps_the_household_without_ev():
    g = Gateway({"home_load": {"peak_load_kw": 1.0, "has_ev": False}})
    kw = [p["home_load"]["total_load_kw"] for p in g.points("2025-07-01", "2025-07-03")]
    assert max(kw) <= 1.0 + 1e-4


@settings(max_examples=15, deadline=None)
@given(lo=st.floats(0, 40), hi=st.floats(60, 100), cap=st.floats(1, 20), seed=st.integers(0, 50))
def test_battery_soc_stays_in_the_configured_window(lo, hi, cap, seed):
    g = Gateway(
        {
            "seed": seed,
            "battery": {
                "min_soc": lo,
                "max_soc": hi,
                "initial_soc": (lo + hi) / 2,
                "capacity_kwh": cap,
            },
        }
    )
    soc = np.array(
        [p["battery"]["soc_percent"] for p in g.points("2025-02-01", "2025-02-02T12:00")]
    )
    assert (soc >= lo - 1e-3).all() and (soc <= hi + 1e-3).all()


def test_once_emits_one_reading_on_the_interval_grid(gateway):
    got = []
    p = run_once(gateway, [got.append], at=pd.Timestamp("2025-05-05T10:07:31Z"))
    assert got == [p] and p["timestamp"] == "2025-05-05T10:05:00Z"


class FakeClock:
    def __init__(self, t0):
        self.t = t0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


def test_continuous_emits_count_readings_interval_apart(gateway):
    clock = FakeClock(1_736_910_000.4)
    got = []
    assert run_continuous(gateway, [got.append], 60, 3, clock=clock, sleep=clock.sleep) == 3
    times = [pd.Timestamp(p["timestamp"]) for p in got]
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)] == [60, 60]


def test_scheduled_aligns_readings_to_clock_boundaries(gateway):
    clock = FakeClock(1_736_910_007.3)
    got = []
    run_continuous(gateway, [got.append], 300, 2, scheduled=True, clock=clock, sleep=clock.sleep)
    assert [p["timestamp"] for p in got] == ["2025-01-15T03:05:00Z", "2025-01-15T03:10:00Z"]
    assert clock.sleeps[0] == pytest.approx(292.7)


def test_historical_writes_jsonl_and_canonical_frames(tmp_path):
    g = Gateway({"device_id": "gw-test", "interval_seconds": 900})
    store = ParquetStore(tmp_path / "store")
    n = run_historical(g, "2025-06-01", "2025-06-03", tmp_path / "out.jsonl", store=store)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert n == len(lines) == 2 * 96
    assert json.loads(lines[0])["timestamp"] == "2025-05-31T14:00:00Z"
    load, meta = store.read("simulated", "load", site="gw-test")
    assert load.height == 2 * 288 and meta.timezone == "Australia/Sydney"
    for kind in ("pv", "weather", "battery", "grid"):
        frame, m = store.read("simulated", kind, site="gw-test")
        validate(frame, m)
    # the stored grid flow closes: import - export = net = load - PV + battery charge,
    # and the battery part stays within its 5 kW limits
    grid, _ = store.read("simulated", "grid", site="gw-test")
    pv, _ = store.read("simulated", "pv", site="gw-test")
    imp, exp, net = (grid[c].to_numpy() for c in ("import_kwh", "export_kwh", "net_grid_kwh"))
    assert (imp >= 0).all() and (exp >= 0).all() and (imp * exp == 0).all()
    np.testing.assert_allclose(imp - exp, net, rtol=0, atol=1e-12)
    battery_kwh = net - (load["total_kwh"].to_numpy() - pv["pv_kwh"].to_numpy())
    assert np.abs(battery_kwh).max() <= 5.0 * 5 / 60 + 1e-9
    assert (battery_kwh > 1e-6).any() and (battery_kwh < -1e-6).any()
    feed, _ = store.read("simulated", "prices", site="gw-test", channel="feed_in")
    assert (feed["price_per_kwh"] == -DEFAULT_CONFIG["grid_price"]["base_feed_in_tariff"]).all()
    # the JSONL readings and the stored frames are the same numbers
    first = json.loads(lines[40])
    t = pd.Timestamp(first["timestamp"])
    row = load.filter(load["interval_start"] == t)
    assert row["total_kwh"][0] * 12 == pytest.approx(first["home_load"]["total_load_kw"], abs=1e-3)


def test_historical_with_end_before_start_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="--start must be before --end"):
        run_historical(Gateway(), "2025-06-03", "2025-06-01", tmp_path / "x.jsonl")
