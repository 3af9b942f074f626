"""The default year's store contract, determinism and ensure/write helpers."""

from __future__ import annotations

import hashlib
import warnings

import pandas as pd
import polars as pl
import pytest

from energylib.schema import validate
from energylib.simulate import sample
from energylib.simulate.default_year import (
    ensure_default_year,
    generate,
    has_default_year,
    write_default_year,
)
from energylib.store import ParquetStore

START = pd.Timestamp("2024-12-31T13:00Z")
END = pd.Timestamp("2025-12-31T13:00Z")
NEM_COLUMNS = {
    "load": [
        "total_kwh",
        "fridge_kwh",
        "washing_machine_kwh",
        "dishwasher_kwh",
        "ev_charging_kwh",
        "air_conditioning_kwh",
        "stove_kwh",
        "water_heater_kwh",
        "computers_kwh",
        "misc_kwh",
        "lighting_kwh",
        "base_kwh",
    ],
    "weather": ["ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_speed_m_s"],
    "pv": ["pv_kwh"],
    "prices/general": ["price_per_kwh", "spot_per_kwh", "descriptor", "spike_status"],
    "prices/feed_in": ["price_per_kwh", "spot_per_kwh"],
    "battery": ["soc_pct", "soh_pct", "cycles_count", "voltage_v", "temp_c"],
    "carbon": ["intensity_kg_per_kwh"],
}


def test_nem_year_has_every_kind_with_standard_columns(nem_year):
    assert set(nem_year) == set(NEM_COLUMNS)
    for key, (frame, meta) in nem_year.items():
        assert frame.columns == ["interval_start", *NEM_COLUMNS[key]], key
        validate(frame, meta)
        assert frame.height == 105_120
        assert frame["interval_start"][0] == START
        assert frame["interval_start"][-1] == END - pd.Timedelta(minutes=5)
        assert (meta.source, meta.site, meta.timezone, meta.interval_minutes) == (
            "simulated",
            "default",
            "Australia/Sydney",
            5,
        )
        assert meta.kind == key.split("/")[0]
        assert meta.channel == (key.split("/")[1] if "/" in key else "general")
    assert nem_year["prices/general"][1].currency == "AUD"


def test_nl_year_is_amsterdam_in_euros(nl_year):
    assert set(nl_year) == {"load", "weather", "pv", "prices/general", "prices/general/15min"}
    for _key, (frame, meta) in nl_year.items():
        validate(frame, meta)
        assert (meta.site, meta.timezone) == ("nl-default", "Europe/Amsterdam")
    assert nl_year["load"][0]["interval_start"][0] == pd.Timestamp("2024-12-31T23:00Z")
    assert nl_year["prices/general"][1].currency == "EUR"


def test_same_seed_same_frames_other_seed_differs(default_years):
    # Hourly: the seed drives the same generator at any interval, at a tenth of the cost.
    hourly = default_years("nem", 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = generate("nem", seed=2025, interval_minutes=60)
        other = generate("nem", seed=2026, interval_minutes=60)
    for key in hourly:
        assert hourly[key][0].equals(again[key][0]), key
    assert not hourly["load"][0].equals(other["load"][0])


def _digest(root):
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.parquet")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_in_the_store(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = ParquetStore(tmp_path / "a"), ParquetStore(tmp_path / "b")
        write_default_year(a, ("nl",), seed=7)
        write_default_year(b, ("nl",), seed=7)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_ensure_default_year_generates_only_where_missing(tmp_path):
    store = ParquetStore(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not has_default_year(store, "nl")
        assert ensure_default_year(store, markets=("nl",)) is True
        assert has_default_year(store, "nl")
        before = _digest(tmp_path)
        assert ensure_default_year(store, markets=("nl",)) is False
    assert _digest(tmp_path) == before
    prices, meta = store.read(
        "simulated", "prices", site="nl-default", channel="general", resample_to=60
    )
    assert prices.height == 8760 and meta.currency == "EUR"
    load, _ = store.read("simulated", "load", site="nl-default")
    assert load.height == 105_120


def test_rewriting_the_year_changes_nothing(tmp_path):
    store = ParquetStore(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = write_default_year(store, ("nl",))
        second = write_default_year(store, ("nl",))
    assert first["nl:load"] == 105_120
    assert all(v == 0 for v in second.values())


def test_sample_is_a_week_of_load_and_prices():
    data, meta = sample(days=2, seed=3)
    assert data.height == 2 * 288
    assert {"total_kwh", "price_per_kwh"} <= set(data.columns)
    assert data.columns == ["interval_start", "total_kwh", "pv_kwh", "price_per_kwh"]
    assert data["pv_kwh"].sum() > 0 and data["total_kwh"].sum() > 0
    assert meta.currency == "AUD" and meta.interval_minutes == 5
    validate(data, meta)
    again, _ = sample(days=2, seed=3)
    assert data.equals(again)


def test_other_interval_lengths_and_annual_kwh():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = generate("nem", seed=1, interval_minutes=30, annual_kwh=8_000)
    load, meta = out["load"]
    assert load.height == 17_520 and meta.interval_minutes == 30
    assert load["total_kwh"].sum() == pytest.approx(8_000.0)
    assert out["prices/general"][0].height == 17_520
    assert out["prices/general"][0]["spot_per_kwh"].dtype == pl.Float64
