"""Baseline load and solar forecasters as a training job (the gateway's "model training"):
trained from a site's stored series, saved to a model folder, evaluated, listed.

Models (day-ahead, half-hourly, 48 steps from each anchor):

=============  ==================================================================================
name           what
=============  ==================================================================================
load_ridge     :class:`~energylib.forecast.baselines.RidgeAR` on ``total_kwh`` (48 lags, local
               hour and weekday and weather at the anchor)
load_profile   :func:`~energylib.forecast.baselines.hour_of_week_profile` of ``total_kwh``
solar_pv       a physical PV estimate with a learned correction: irradiance derated for cell
               temperature (the PVWatts form, ``GHI x (1 + gamma (T_cell - 25))``, cell
               temperature by pvlib's Faiman model), scaled and corrected by a ridge
               regression on it and its products with the local hour encodings, fitted on the
               training block; weather at the target hours is taken as known (a perfect weather
               forecast: the test measures the model, not the weather forecast)
=============  ==================================================================================

The split is chronological: the last ``test_size`` of the rows is the test block (the
gateway's ``FORECAST_TEST_SIZE``); training sees only the rows before it.  Each model is
saved as ``<name>.npz`` (arrays) with ``<name>.json`` (what, when, from which data, its
test scores: MAE, RMSE and the skill against seasonal naive, one day back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from pvlib.temperature import faiman

from energylib.forecast.baselines import (
    RidgeAR,
    calendar_regressors,
    hour_of_week_profile,
    profile_forecast,
    seasonal_naive,
    week_slots,
)
from energylib.forecast.features import history_from_store
from energylib.forecast.metrics import mae, rmse
from energylib.schema import TIME, interval_index
from energylib.store import Store

HORIZON = 48  # half-hours: a day ahead
STEP_MIN = 30
MODELS = ("load_ridge", "load_profile", "solar_pv")
TEMP_COEFFICIENT = -0.004  # [1/degC], a crystalline module's


@dataclass
class SiteData:
    """A site's half-hourly series on a gap-free grid, split into training and test blocks."""

    times: pl.Series
    load: np.ndarray
    pv: np.ndarray | None
    ghi: np.ndarray | None
    temp: np.ndarray | None
    wind: np.ndarray | None
    timezone: str
    split: int  # first test row

    @property
    def n(self) -> int:
        return len(self.load)

    def anchors(self, block: str) -> np.ndarray:
        """Anchor rows whose 48 lags and 48 targets lie inside the block: every half-hour
        in training, every 12 h in the test."""
        if block == "train":
            return np.arange(HORIZON - 1, self.split - HORIZON)
        return np.arange(self.split, max(self.split, self.n - HORIZON), HORIZON // 2)


def load_site(
    store: Store, source: str = "simulated", site: str = "default", test_size: float = 0.2
) -> SiteData:
    """Read a site's load, PV and weather half-hourly and split it.

    Raises
    ------
    LookupError
        The store holds no load for the site.
    ValueError
        ``test_size`` outside (0, 1), or too little data for a day-ahead test.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(
            f"test size must be a fraction in (0, 1) (FORECAST_TEST_SIZE), got {test_size}"
        )
    data, tz = history_from_store(store, source, site, kinds=("load", "pv", "weather"))
    grid = interval_index(
        data[TIME].min(), data[TIME].max() + timedelta(minutes=STEP_MIN), STEP_MIN
    )
    full = pl.DataFrame({TIME: grid}).join(data, on=TIME, how="left")

    def col(name: str) -> np.ndarray | None:
        return (
            full[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            if name in full.columns
            else None
        )

    n = full.height
    split = int(round(n * (1.0 - test_size)))
    if split < 4 * HORIZON or n - split < 2 * HORIZON:
        raise ValueError(
            f"{n} half-hours of {source}/{site}: too few for day-ahead training and a test "
            f"(need at least {4 * HORIZON} training and {2 * HORIZON} test half-hours)"
        )
    return SiteData(
        full[TIME], col("total_kwh"), col("pv_kwh"), col("ghi_w_m2"), col("temp_air_c"),
        col("wind_speed_m_s"), tz, split,
    )  # fmt: skip


def _exog(d: SiteData) -> np.ndarray:
    # hour and weekday only: a day-of-year term extrapolates outside a short training year
    parts = [calendar_regressors(d.times, d.timezone)[:, :4]]
    for w in (d.ghi, d.temp):
        if w is not None:
            parts.append(np.nan_to_num(w)[:, None])
    return np.column_stack(parts)


def _pv_regressors(d: SiteData) -> np.ndarray:
    """Physical PV proxy [W/m2 derated] and its products with the local hour encodings."""
    ghi = np.clip(np.nan_to_num(d.ghi), 0, None)
    temp = np.nan_to_num(d.temp, nan=20.0)
    wind = np.nan_to_num(d.wind, nan=1.0) if d.wind is not None else np.ones_like(ghi)
    cell = np.asarray(faiman(ghi, temp, wind), dtype=float)
    phys = ghi * (1.0 + TEMP_COEFFICIENT * (cell - 25.0)) / 1000.0
    cal = calendar_regressors(d.times, d.timezone)[:, :2]  # hour sin/cos
    return np.column_stack([phys, phys * cal[:, 0], phys * cal[:, 1], phys**2])


def _targets(y: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    return y[anchors[:, None] + np.arange(1, HORIZON + 1)[None, :]]


def train_models(d: SiteData) -> dict[str, dict[str, np.ndarray]]:
    """Fit every model the data allows on the training block; arrays per model."""
    out: dict[str, dict[str, np.ndarray]] = {}
    train = d.anchors("train")
    ridge = RidgeAR.fit(d.load, _exog(d), train, HORIZON, lags=48, alpha=10.0)
    out["load_ridge"] = {
        "lags": np.array(ridge.lags),
        "alpha": np.array(ridge.alpha),
        "x_mean": ridge.x_mean,
        "x_std": ridge.x_std,
        "y_mean": ridge.y_mean,
        "coef": ridge.coef,
    }
    slots = week_slots(d.times, d.timezone, STEP_MIN)
    out["load_profile"] = {"profile": hour_of_week_profile(d.load, slots, (0, d.split))}
    if d.pv is not None and d.ghi is not None:
        x = _pv_regressors(d)[: d.split]
        y = d.pv[: d.split]
        ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
        xa = np.column_stack([x[ok], np.ones(ok.sum())])
        coef = np.linalg.solve(xa.T @ xa + 1e-6 * np.eye(xa.shape[1]), xa.T @ y[ok])
        out["solar_pv"] = {"coef": coef}
    return out


def predict(
    name: str, arrays: dict[str, np.ndarray], d: SiteData, anchors: np.ndarray
) -> np.ndarray:
    """``(n_anchors, 48)`` forecasts of a saved model."""
    if name == "load_ridge":
        ridge = RidgeAR(
            int(arrays["lags"]), float(arrays["alpha"]), arrays["x_mean"], arrays["x_std"],
            arrays["y_mean"], arrays["coef"],
        )  # fmt: skip
        return ridge.predict(d.load, _exog(d), anchors)
    if name == "load_profile":
        slots = week_slots(d.times, d.timezone, STEP_MIN)
        return profile_forecast(arrays["profile"], slots, anchors, HORIZON)
    if name == "solar_pv":
        x = _pv_regressors(d)
        fitted = np.clip(np.column_stack([x, np.ones(len(x))]) @ arrays["coef"], 0, None)
        fitted[np.clip(np.nan_to_num(d.ghi), 0, None) <= 0] = 0.0  # no sun, no PV
        return _targets(fitted, anchors)
    raise ValueError(f"unknown model {name!r}; models: {', '.join(MODELS)}")


def evaluate_model(name: str, arrays: dict[str, np.ndarray], d: SiteData) -> dict[str, float]:
    """Test-block MAE and RMSE [kWh per half-hour], and skill vs seasonal naive (1 day)."""
    anchors = d.anchors("test")
    y = d.pv if name == "solar_pv" else d.load
    truth = _targets(y, anchors)
    fc = predict(name, arrays, d, anchors)
    naive = seasonal_naive(y, anchors, HORIZON, 48)
    m, ref = mae(truth, fc), mae(truth, naive)
    return {
        "mae_kwh": m,
        "rmse_kwh": rmse(truth, fc),
        "naive_mae_kwh": ref,
        "skill_vs_naive": 1.0 - m / ref if ref > 0 else float("nan"),
        "test_anchors": int(len(anchors)),
    }


def save_models(
    folder: str | Path, models: dict[str, dict[str, np.ndarray]], about: dict
) -> list[Path]:
    """Write each model's ``.npz`` and ``.json`` (atomically, via a temporary name)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, arrays in models.items():
        tmp = folder / f".{name}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(folder / f"{name}.npz")
        meta = folder / f"{name}.json"
        meta.with_suffix(".json.tmp").write_text(
            json.dumps({"model": name, **about}, indent=1, default=str)
        )
        meta.with_suffix(".json.tmp").replace(meta)
        written.append(folder / f"{name}.npz")
    return written


def load_models(folder: str | Path) -> dict[str, tuple[dict[str, np.ndarray], dict]]:
    """The saved models of a folder: name -> (arrays, metadata)."""
    folder = Path(folder)
    out = {}
    for name in MODELS:
        npz, meta = folder / f"{name}.npz", folder / f"{name}.json"
        if npz.is_file() and meta.is_file():
            with np.load(npz) as z:
                out[name] = ({k: z[k] for k in z.files}, json.loads(meta.read_text()))
    return out


def train_and_save(
    store: Store, folder: str | Path, *, source: str = "simulated", site: str = "default",
    test_size: float = 0.2,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Train every model, score it on the test block, save it; scores per model."""
    d = load_site(store, source, site, test_size)
    models = train_models(d)
    scores = {name: evaluate_model(name, arrays, d) for name, arrays in models.items()}
    about = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "site": site,
        "test_size": test_size,
        "train_rows": d.split,
        "test_rows": d.n - d.split,
        "data_from": d.times[0],
        "data_to": d.times[-1],
    }
    for name in models:
        save_models(folder, {name: models[name]}, about | {"test": scores[name]})
    return scores
