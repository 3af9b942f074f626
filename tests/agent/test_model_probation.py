"""Model delivery probation against realised prices: a delivered model that runs but
forecasts badly (finite, wrong numbers) is rolled back; one that forecasts as well as the
model before it passes.  The central store is the tests' real Postgres; the decisions are
a real decision log."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from energylib.agent.decision_log import Decision, DecisionLog
from energylib.agent.model_delivery import ModelDelivery, hourly_forecast_errors, publish_model
from energylib.agent.models import ModelWatcher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from postgres_fixture import pg_url, postgres_server  # noqa: E402, F401

pytestmark = pytest.mark.postgres

T0 = datetime(2025, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def price(t: datetime) -> float:
    """Constant within each hour, a daily swing of +-0.10/kWh."""
    return 0.25 + 0.10 * math.sin(2 * math.pi * t.hour / 24)


def _decide(log, delivery, watcher, start, hours, forecast, rng, version=None) -> list[bool]:
    """Decisions every 15 min, each with the hour-ahead forecast ``forecast(true_next)``;
    the delivery judges after each.  Returns its answers (True: rolled back)."""
    rolled = []
    for i in range(int(hours * 4)):
        t = start + i * STEP
        ahead = price(t.replace(minute=0) + timedelta(hours=1))
        hourly = [price(t), forecast(ahead, rng)]
        version = version or watcher.version
        log.write(
            Decision(
                t, "hold", 0.0, 0.0, "", price(t), 1.0, False, version, 1.0,
                {"battery_soc_fraction": 0.5}, {"hourly_price_per_kwh": hourly},
            )
        )  # fmt: skip
        rolled.append(delivery.check(version, now=t + timedelta(seconds=1)))
    return rolled


def good(ahead, rng):
    return ahead + float(rng.normal(0, 0.003))


def bad(ahead, rng):
    return 0.50 - ahead  # finite, plausible range, wrong


def test_a_model_that_forecasts_badly_is_rolled_back_against_realised_prices(
    tmp_path,
    pg_url,  # noqa: F811
):
    rng = np.random.default_rng(3)
    models = tmp_path / "models"
    watcher = ModelWatcher(models, validate=lambda p: {"bytes": p.stat().st_size}, load=Path)
    log = DecisionLog(tmp_path / "decisions.db")
    delivery = ModelDelivery(pg_url, watcher, decisions_db=log.path, probation_hours=6, min_hours=4)
    files = {}
    for name in ("model_a", "model_b", "model_c"):
        files[name] = tmp_path / f"{name}.onnx"
        files[name].write_bytes(name.encode() * 10)

    # v1: no model before it, judged against persistence; forecasts well, passes
    assert publish_model(files["model_a"], pg_url) == 1
    assert delivery.poll(now=T0) is True
    v1 = watcher.version
    assert not any(_decide(log, delivery, watcher, T0, 12, good, rng))
    assert delivery.probation is None

    # v2 runs (finite forecasts) but forecasts badly: rolled back after its 6 h
    t1 = T0 + timedelta(hours=12)
    assert publish_model(files["model_b"], pg_url) == 2
    assert delivery.poll(now=t1) is True
    v2 = watcher.version
    assert v2 != v1 and delivery.status()["probation"]["previous_model_version"] == v1
    rolled = _decide(log, delivery, watcher, t1, 8, bad, rng)
    assert rolled.count(True) == 1
    # judged only once 6 h had passed, and at once then
    assert rolled.index(True) == 6 * 4
    assert watcher.version == v1
    status = delivery.status()
    reason = status["refused"]["2"]
    assert "MAE" in reason and f"the previous model {v1}" in reason
    assert status["installed"]["version"] == 1 and status["probation"] is None
    assert (models / "rejected" / "model_b.v2.onnx").exists()
    # the same numbers by hand: v2's hourly errors are |0.5 - 2 x price| of each hour
    errs, _ = hourly_forecast_errors(log.path, t1, t1 + timedelta(hours=6, seconds=1), v2)
    hours = [t1 + timedelta(hours=h) for h in range(1, 7)]
    assert errs.size == 6
    np.testing.assert_allclose(errs, [abs(0.5 - 2 * price(h)) for h in hours], atol=1e-12)
    assert f"MAE {errs.mean():.4f}/kWh over 6 h" in reason
    assert delivery.poll(now=t1 + timedelta(hours=9)) is False  # never downloaded again

    # v3 forecasts as well as v1: passes its probation and stays
    t2 = t1 + timedelta(hours=9)
    assert publish_model(files["model_c"], pg_url) == 3
    assert delivery.poll(now=t2) is True
    v3 = watcher.version
    assert not any(_decide(log, delivery, watcher, t2, 8, good, rng))
    assert watcher.version == v3 and delivery.probation is None
    assert delivery.status()["installed"]["version"] == 3


def test_too_few_judged_hours_keep_the_model_on_probation(tmp_path):
    log = DecisionLog(tmp_path / "decisions.db")
    watcher = ModelWatcher(tmp_path / "models", validate=lambda p: {}, load=Path)
    delivery = ModelDelivery(
        "postgresql://u:pw@127.0.0.1:1/db", watcher, decisions_db=log.path,
        probation_hours=1, min_hours=4,
    )  # fmt: skip
    delivery.probation = {
        "version": 2, "model_version": "m@2", "previous_model_version": None,
        "started_at": T0.isoformat(), "failures": 0, "decisions_left": 0,
    }  # fmt: skip
    rng = np.random.default_rng(0)
    # two hours of decisions: one judged hour is not four
    assert not any(_decide(log, delivery, watcher, T0, 2, bad, rng, version="m@2"))
    errs, _ = hourly_forecast_errors(log.path, T0, T0 + timedelta(hours=2), "m@2")
    assert errs.size == 1
    assert delivery.probation is not None and delivery.probation["model_version"] == "m@2"


def test_a_probation_survives_a_restart_and_still_rolls_back(
    tmp_path,
    pg_url,  # noqa: F811
):
    rng = np.random.default_rng(5)
    models = tmp_path / "models"

    def watcher_():
        return ModelWatcher(models, validate=lambda p: {}, load=Path)

    watcher = watcher_()
    log = DecisionLog(tmp_path / "decisions.db")
    kw = {"decisions_db": log.path, "probation_hours": 6, "min_hours": 4}
    delivery = ModelDelivery(pg_url, watcher, **kw)
    for name in ("model_a", "model_b"):
        (tmp_path / f"{name}.onnx").write_bytes(name.encode() * 10)
    publish_model(tmp_path / "model_a.onnx", pg_url)
    assert delivery.poll(now=T0) is True
    v1 = watcher.version
    assert not any(_decide(log, delivery, watcher, T0, 7, good, rng))
    publish_model(tmp_path / "model_b.onnx", pg_url)
    assert delivery.poll(now=T0 + timedelta(hours=7)) is True
    v2 = watcher.version
    t1 = T0 + timedelta(hours=7)
    assert not any(_decide(log, delivery, watcher, t1, 3, bad, rng))
    # the agent restarts mid-probation: a new watcher loads the newest file (v2)
    watcher = watcher_()
    watcher.poll()
    watcher.poll()
    assert watcher.version == v2
    delivery = ModelDelivery(pg_url, watcher, **kw)
    assert delivery.probation["version"] == 2 and delivery.probation["model_version"] == v2
    rolled = _decide(log, delivery, watcher, t1 + timedelta(hours=3), 4, bad, rng)
    assert rolled.count(True) == 1 and rolled.index(True) == 3 * 4
    assert watcher.version == v1  # v1's file installed again
    assert (models / "rejected" / "model_b.v2.onnx").exists()
    assert delivery.status()["installed"]["version"] == 1 and "2" in delivery.status()["refused"]
    again = ModelDelivery(pg_url, watcher_(), **kw)
    assert again.probation is None and again.poll(now=t1 + timedelta(hours=8)) is False
