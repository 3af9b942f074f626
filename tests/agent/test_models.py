"""Model files: validated hot swap without a missed decision; corrupt / missing files refused."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import timedelta

import pytest
from agent_fakes import START, make_agent, seed_history

from energylib.agent.decision_log import read_decisions
from energylib.store import SqliteStore


@pytest.fixture
def agent_with_history(settings, clock, fake_amber):
    seed_history(SqliteStore(settings.live_db), START, days=2)
    settings.models_path.mkdir(parents=True, exist_ok=True)
    return make_agent(settings, clock, fake_amber)


def _drop(src, folder, name, newer_by_s: float = 0.0):
    dst = folder / name
    shutil.copy(src, dst)
    if newer_by_s:
        st = os.stat(dst)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns + int(newer_by_s * 1e9)))
    return dst


def test_new_model_is_validated_and_swapped_in_without_a_missed_decision(
    agent_with_history, model_files, clock
):
    agent = agent_with_history
    folder = agent.settings.models_path
    _drop(model_files["a"], folder, "model_a.onnx")
    agent.scheduler.run_until(START + timedelta(minutes=10))
    assert agent.models.version.startswith("model_a.onnx@")
    assert agent.last_decision.model_version.startswith("model_a.onnx@")
    assert (
        agent.last_decision.inputs["price_steps"]["forecaster"] > 0
    )  # the forecast fed the policy

    _drop(model_files["b"], folder, "model_b.onnx", newer_by_s=5)
    agent.scheduler.run_until(START + timedelta(minutes=20))
    decisions = read_decisions(agent.settings.decisions_db)
    minutes = [d["decided_at"] for d in decisions]
    assert len(minutes) == len(set(minutes)) == 20  # one decision for every minute, none missed
    versions = [d["model_version"].split("@")[0] for d in decisions]
    assert versions[0] == "model_a.onnx" and versions[-1] == "model_b.onnx"
    switch = versions.index("model_b.onnx")
    assert set(versions[:switch]) == {"model_a.onnx"} and set(versions[switch:]) == {"model_b.onnx"}
    assert agent.models.swaps == 2


@pytest.mark.parametrize("broken", ["corrupt", "garbage"])
def test_corrupt_model_file_is_refused_and_logged_previous_model_kept(
    broken, agent_with_history, model_files, caplog
):
    agent = agent_with_history
    folder = agent.settings.models_path
    _drop(model_files["a"], folder, "model_a.onnx")
    agent.scheduler.run_until(START + timedelta(minutes=3))
    good = agent.models.version
    name = "model_new" + model_files[broken].suffix
    with caplog.at_level(logging.ERROR, logger="energylib.agent.models"):
        _drop(model_files[broken], folder, name, newer_by_s=5)
        agent.scheduler.run_until(START + timedelta(minutes=6))
    assert agent.models.version == good
    assert agent.last_decision.model_version == good
    assert any(k.startswith(name) for k in agent.models.refused)
    assert any("refused model" in r.getMessage() and name in r.getMessage() for r in caplog.records)
    assert len(read_decisions(agent.settings.decisions_db)) == 6


def test_model_in_use_overwritten_by_a_bad_file_keeps_running_from_memory(
    agent_with_history, model_files
):
    agent = agent_with_history
    path = _drop(model_files["a"], agent.settings.models_path, "model.onnx")
    agent.scheduler.run_until(START + timedelta(minutes=3))
    good = agent.models.version
    path.write_bytes(b"\x00" * 100)  # a half-finished copy over the file in use
    agent.scheduler.run_until(START + timedelta(minutes=6))
    assert agent.models.version == good
    assert agent.last_decision.model_version == good
    assert agent.models.refused


def test_missing_model_file_keeps_the_loaded_model(agent_with_history, model_files):
    agent = agent_with_history
    path = _drop(model_files["a"], agent.settings.models_path, "model_a.onnx")
    agent.scheduler.run_until(START + timedelta(minutes=3))
    good = agent.models.version
    path.unlink()
    agent.scheduler.run_until(START + timedelta(minutes=6))
    assert agent.last_decision.model_version == good
    assert "removed" in agent.models.status()["message"]


def test_without_any_model_the_agent_decides_on_fallbacks_and_says_so(agent_with_history):
    agent = agent_with_history
    agent.scheduler.run_until(START + timedelta(minutes=3))
    d = agent.last_decision
    assert d.model_version == "none"
    assert d.forecast["note"] == "no model loaded"
    assert d.inputs["price_steps"]["forecaster"] == 0
    assert not d.stale and d.action in ("charge", "discharge", "hold")


def test_fresh_install_fills_the_history_and_forecasts_from_the_first_decision(
    settings, clock, fake_amber, model_files
):
    # No seeded cache: the price-history, usage and weather collectors fill it on the first pass.
    settings.models_path.mkdir(parents=True, exist_ok=True)
    _drop(model_files["a"], settings.models_path, "model_a.onnx")
    clock.set(START + timedelta(hours=13))  # far enough into the NEM day for 26 h of history
    agent = make_agent(settings, clock, fake_amber)
    d = agent.run_once()
    assert d.model_version.startswith("model_a.onnx@"), d.forecast["note"]
    assert d.inputs["price_steps"]["forecaster"] > 0
