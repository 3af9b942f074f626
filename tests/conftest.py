"""Shared fixtures. Tests never reach the internet: only loopback servers they start."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from influx_fixture import influxd  # noqa: F401 - a real influxd for the tests that ask

from energylib.schema import FrameMeta, interval_index
from energylib.simulate.default_year import DEFAULT_SEED, generate

# Real public data and API formats sit in ../shared beside the project root, as CI lays them out.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory):
    """No test reads or writes the user's data/: the data folder is a session folder (a test
    that needs its own sets ENERGYLIB_DATA_DIR itself)."""
    folder = tmp_path_factory.mktemp("energylib_data")
    patch = pytest.MonkeyPatch()
    patch.setenv("ENERGYLIB_DATA_DIR", str(folder))
    yield folder
    patch.undo()


def _shared(name: str, what: str) -> Path:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"{what} absent: no {folder} (CI lays out ../shared beside the project)")
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real AEMO, SGSC, CityLearn, epftoolbox files); skips where absent."""
    return _shared("data", "real data")


@pytest.fixture(scope="session")
def shared_formats() -> Path:
    """``../shared/formats`` (the APIs' own documents: Amber's OpenAPI spec, real ENTSO-E
    responses); skips where absent."""
    return _shared("formats", "API formats")


@pytest.fixture(scope="session")
def default_years():
    """``default_years(market="nem", interval_minutes=5)``: the generated default year
    (seed 2025) of a market at an interval length, built once per session and shared."""
    built: dict[tuple[str, int], dict] = {}

    def year(market: str = "nem", interval_minutes: int = 5) -> dict:
        key = (market, interval_minutes)
        if key not in built:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                built[key] = generate(market, seed=DEFAULT_SEED, interval_minutes=interval_minutes)
        return built[key]

    return year


@pytest.fixture(scope="session")
def nem_year(default_years) -> dict:
    """The default Sydney year at 5 min (the simulator's frames by key)."""
    return default_years("nem")


@pytest.fixture(scope="session")
def nl_year(default_years) -> dict:
    """The default Amsterdam year at 5 min."""
    return default_years("nl")


@pytest.fixture
def store(tmp_path):
    from energylib.store import ParquetStore

    return ParquetStore(tmp_path / "processed")


def _make_frame(
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    n: int = 288,
    minutes: int = 5,
    seed: int = 0,
    **meta_kw,
) -> tuple[pl.DataFrame, FrameMeta]:
    """A canonical usage + price frame of ``n`` intervals."""
    rng = np.random.default_rng(seed)
    t = interval_index(start, start + timedelta(minutes=minutes * n), minutes)
    data = pl.DataFrame(
        {
            "interval_start": t,
            "energy_kwh": rng.random(n) * 0.2,
            "price_per_kwh": rng.normal(0.15, 0.2, n),
        }
    )
    defaults = dict(
        source="test",
        kind="usage",
        interval_minutes=minutes,
        site="s1",
        channel="general",
        currency="AUD",
        timezone="Australia/Sydney",
    )
    defaults.update(meta_kw)
    return data, FrameMeta(**defaults)


@pytest.fixture
def make_frame():
    """Factory for canonical usage + price frames: ``make_frame(start=, n=, minutes=, seed=, **meta)``."""
    return _make_frame


@pytest.fixture
def frame():
    return _make_frame()


@pytest.fixture(scope="session")
def shared_seeds() -> Path:
    """``../shared/seeds`` (the four systems' own documents: the gateway README, the Pi
    agent's plan); skips where absent."""
    return _shared("seeds", "system documents")
