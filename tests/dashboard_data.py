"""A month of an agent's decisions, as the decision log holds them (for the dashboard's tests
and its benchmark): a daily price shape with noise, a battery that charges when cheap and
discharges when dear within its limits, and a forecaster that is right within noise."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from energylib.agent.decision_log import Decision, DecisionLog


def write_month(
    path: Path, start: datetime, days: float = 30.0, every_s: float = 60.0, seed: int = 0
) -> int:
    """Write ``days`` of decisions every ``every_s`` seconds; returns how many."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / every_s)
    log = DecisionLog(path)
    soc, cap, kw = 0.5, 13.5, 5.0
    h = every_s / 3600.0

    def price(t: datetime) -> float:
        hour = (t.hour + 10) % 24 + t.minute / 60  # Sydney
        return (
            0.20
            + 0.18 * math.exp(-((hour - 18.5) ** 2) / 4)
            - 0.10 * math.exp(-((hour - 12.5) ** 2) / 6)
        )

    for i in range(n):
        t = start + timedelta(seconds=i * every_s)
        p = price(t) * float(rng.lognormal(0, 0.05))
        if p < 0.15 and soc < 0.95:
            action, b = "charge", min(kw, (0.95 - soc) * cap / h)
        elif p > 0.30 and soc > 0.10:
            action, b = "discharge", -min(kw, (soc - 0.10) * cap / h)
        else:
            action, b = "hold", 0.0
        soc = min(1.0, max(0.0, soc + b * h / cap))
        hourly = [price(t + timedelta(hours=k)) * float(rng.lognormal(0, 0.08)) for k in range(24)]
        log.write(
            Decision(
                t,
                action,
                b,
                0.0,
                f"{action} at {p:.3f}",
                p,
                30.0,
                False,
                "model_a.onnx@abc" if i < n // 2 else "model_b.v2.onnx@def",
                float(rng.uniform(2, 6)),
                {"battery_soc_fraction": soc, "price_now_per_kwh": p},
                {"hourly_price_per_kwh": hourly, "model": "m"},
            )
        )
    log.close()
    return n
