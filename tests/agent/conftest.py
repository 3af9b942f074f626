"""Fixtures for the agent tests (the fakes themselves are in ``tests/agent_fakes.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_fakes import SITE, START, TOKEN, FakeAmber, at_home, train_and_export

from energylib.agent.clock import SimulatedClock
from energylib.agent.config import AgentSettings


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def fake_amber(httpserver, clock) -> FakeAmber:
    return FakeAmber(httpserver, clock)


@pytest.fixture
def amber_env(monkeypatch, fake_amber):
    monkeypatch.setenv("AMBER_TOKEN", TOKEN)
    monkeypatch.setenv("AMBER_BASE_URL", fake_amber.base_url)
    monkeypatch.setenv("AMBER_SITE_ID", SITE)
    return fake_amber


@pytest.fixture
def settings(tmp_path) -> AgentSettings:
    return AgentSettings(state_dir=tmp_path / "agent", site=at_home(SITE), stale_after_min=30.0)


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, Path]:
    """Two valid exported models (different seeds) and two broken files."""
    folder = tmp_path_factory.mktemp("models_src")
    a = train_and_export(folder, 1, "model_a.onnx")
    b = train_and_export(folder, 2, "model_b.onnx")
    corrupt = folder / "corrupt.onnx"
    corrupt.write_bytes(a.read_bytes()[: len(a.read_bytes()) // 3])
    garbage = folder / "garbage.pt"
    garbage.write_bytes(b"not a torchscript archive")
    return {"a": a, "b": b, "corrupt": corrupt, "garbage": garbage}
