"""The benchmark's other uses: the `energy forecast-benchmark` command, household load per
home (SGSC) and day-ahead rooftop PV through the library's PV model (CityLearn)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import yaml
from forecast_synthetic import market

from energylib.forecast.benchmark import run_protocol
from energylib.forecast.dayahead import DayAheadData
from energylib.forecast.solar_forecast import (
    CITYLEARN_SITE,
    PVCorrected,
    PVModelForecast,
    clear_sky_weather,
)
from energylib.schema import interval_index
from energylib.solar import PVSystem


def _epftoolbox_csv(path, days: int = 100) -> None:
    data = market(days=days)
    hours = interval_index(
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days),
        60,
    )
    pl.DataFrame(
        {
            "Date": [t.strftime("%Y-%m-%d %H:%M:%S") for t in hours],
            " Price": data.target.reshape(-1) * 1000,
            " Grid load forecast": data.exog[:, :, 0].reshape(-1),
            " Wind power forecast": data.exog[:, :, 1].reshape(-1),
        }
    ).write_csv(path)


def test_energy_forecast_benchmark_runs_a_params_file(tmp_path, capsys):
    from energylib.cli import main

    _epftoolbox_csv(tmp_path / "XX.csv")
    params = {
        "data": "epftoolbox",
        "path": str(tmp_path / "XX.csv"),
        "market": "XX",
        "known_future": ["grid_load_forecast_mw", "wind_power_forecast_mw"],
        "test_start": "2024-04-01",
        "test_end": "2024-04-09",
        "recalibration": "weekly",
        "models": [
            {"model": "naive", "season_days": 7},
            {"model": "ridge", "window": 60},
            {"model": "lear", "windows": [56], "path_steps": 40},
        ],
        "ensembles": {"LEAR + ridge": ["LEAR 56", "ridge"]},
        "reference": "naive week",
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    assert (
        main(
            [
                "forecast-benchmark",
                "--params",
                str(tmp_path / "p.yaml"),
                "--quiet",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "9 test days 2024-04-01 to 2024-04-09, recalibration weekly" in out
        and "LEAR + ridge" in out
    )
    table = pl.read_parquet(tmp_path / "out" / "table.parquet")
    assert set(table["model"]) == {"naive week", "ridge", "LEAR 56", "LEAR + ridge"}
    # every model beats last week's prices on this market, and the DM test says so
    assert (table.filter(pl.col("model") != "naive week")["dm_p_better"] < 0.05).all()
    assert pl.read_parquet(tmp_path / "out" / "forecasts.parquet").height == 4 * 9 * 24

    params["models"] = [{"model": "lear", "window": 56}]  # a typo'd option: named back
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    assert main(["forecast-benchmark", "--params", str(tmp_path / "bad.yaml"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "lear" in err and "window" in err


@pytest.mark.parametrize(
    "name", ["forecast_np_quick.yaml", "forecast_np_full.yaml", "forecast_aemo_store.yaml"]
)
def test_shipped_benchmark_params_name_known_options_models_and_ensemble_members(name):
    from energylib.config import PROJECT_ROOT
    from energylib.forecast.benchmark import PARAMS_KEYS, TransformerDayAhead, build_model

    params = yaml.safe_load((PROJECT_ROOT / "params" / name).read_text())
    assert set(params) <= PARAMS_KEYS
    models = [build_model(entry) for entry in params["models"]]
    outputs = {n for m in models for n in m.names}
    for members in (params.get("ensembles") or {}).values():
        assert set(members) <= outputs
    assert params.get("reference") in outputs | {None}
    for m in models:  # a transformer's sizes reach the model (``model`` names the kind)
        if isinstance(m, TransformerDayAhead):
            assert m.model == {"d_model": 32, "n_heads": 4, "d_ff": 64}


def test_a_market_in_the_store_is_benchmarked_from_a_params_file(shared_data, tmp_path):
    """Real AEMO prices (the wholesale channel) imported into a store, benchmarked by the
    shipped params/forecast_aemo_store.yaml (a short test period, the quick models)."""
    from energylib.config import PROJECT_ROOT
    from energylib.forecast.benchmark import benchmark_from_params, build_model
    from energylib.ingest.aemo import read_aemo_price_csv
    from energylib.store import ParquetStore

    store = ParquetStore(tmp_path / "store")
    for month in ("01", "02"):
        store.upsert(
            *read_aemo_price_csv(
                shared_data / "aemo_vic1" / f"PRICE_AND_DEMAND_2024{month}_VIC1.csv"
            )
        )
    shipped = yaml.safe_load((PROJECT_ROOT / "params" / "forecast_aemo_store.yaml").read_text())
    for entry in shipped["models"]:
        build_model(entry)  # every model of the shipped file is valid
    params = shipped | {
        "store_dir": str(tmp_path / "store"),
        "test_start": "2024-02-15",
        "test_end": "2024-02-28",
        "models": [
            {"model": "naive", "season_days": 1},
            {"model": "ridge", "window": 35, "lag_days": 2, "alpha": 10.0, "transform": "asinh"},
        ],
        "ensembles": {},
        "cache_dir": "",
    }
    result, table = benchmark_from_params(params, progress=False)
    assert result.data.per_day == 48 and len(result.days) == 14
    assert set(table["model"]) == {"naive day", "ridge"} and table["mae"].is_finite().all()
    # the actuals are the store's half-hourly averages of each NEM day
    first = result.data.day_index("2024-02-15")
    assert result.actual[0] == pytest.approx(result.data.target[first])
    with pytest.raises(LookupError, match="price_channel"):
        benchmark_from_params(params | {"price_channel": "general"}, progress=False)


def test_household_load_scores_each_home_against_its_better_naive_forecast(shared_data):
    from energylib.forecast.household_load import household_benchmark
    from energylib.ingest.households import read_sgsc_households

    homes = read_sgsc_households(shared_data / "sgsc_households")[:2]
    bench = household_benchmark(homes, test_fraction=0.05, progress=False)
    assert set(bench.per_home["model"]) == {
        "naive day",
        "naive week",
        "ridge (calendar + last 2 days)",
        "median 14 days",
    }
    for home in bench.per_home["home"].unique():
        rows = {
            r["model"]: r
            for r in bench.per_home.filter(pl.col("home") == home).iter_rows(named=True)
        }
        best = min(rows["naive day"]["mae"], rows["naive week"]["mae"])
        m = rows["median 14 days"]
        assert m["improvement_pct"] == pytest.approx(100 * (1 - m["mae"] / best))
    summary = bench.summary()
    assert summary.height == 4 and (summary["homes"] == 2).all()


def _homes_that_cool_with_the_weather(days: int = 200):
    """Two half-hourly homes whose load follows the day's temperature (air conditioning
    above 22 degC) and a weather frame of that temperature: what the weather ridge is for."""
    from energylib.schema import FrameMeta

    rng = np.random.default_rng(7)
    start = datetime(2012, 12, 31, 14, tzinfo=UTC)  # midnight, UTC+10
    times = interval_index(start, start + timedelta(days=days), 30)
    n = len(times)
    daily = 23 + rng.normal(0, 4.0, days)  # fronts come and go: a day's mean jumps
    slot = np.arange(n) % 48
    temperature = np.repeat(daily, 48) + 4 * np.sin((slot - 18) / 48 * 2 * np.pi)
    weather = pl.DataFrame({"interval_start": times, "temperature_c": temperature})
    homes = []
    for k, gain in enumerate((0.06, 0.1)):
        load = 0.25 + gain * np.maximum(temperature - 22, 0) + rng.gamma(2, 0.03, n)
        frame = pl.DataFrame({"interval_start": times, "energy_kwh": load})
        homes.append((frame, FrameMeta("test", "usage", 30, site=f"home-{k}")))
    return homes, weather


def test_the_weather_ridge_reads_the_target_days_weather_and_beats_the_calendar_ridge():
    from energylib.forecast.household_load import household_benchmark

    homes, weather = _homes_that_cool_with_the_weather()
    bench = household_benchmark(homes, test_fraction=0.25, weather=weather, progress=False)
    for home in ("home-0", "home-1"):
        mae = {
            r["model"]: r["mae"]
            for r in bench.per_home.filter(pl.col("home") == home).iter_rows(named=True)
        }
        assert (
            mae["ridge (weather + calendar + last 2 days)"]
            < 0.6 * mae["ridge (calendar + last 2 days)"]
        )
    without = household_benchmark(homes, test_fraction=0.25, progress=False)
    assert "ridge (weather + calendar + last 2 days)" not in set(without.per_home["model"])
    elsewhere = weather.with_columns(pl.col("interval_start").dt.offset_by("3y"))
    with pytest.raises(ValueError, match="weather covers none of home home-0"):
        household_benchmark(homes, weather=elsewhere, progress=False)


def _clear_sky_pv(site, system, days) -> DayAheadData:
    """A home whose measured PV is the PV model's clear-sky output shaded every afternoon."""
    day0 = np.datetime64("2016-06-01")
    dates = np.arange(day0, day0 + days)
    import pandas as pd

    from energylib.forecast.dayahead import slot_starts
    from energylib.solar import pv_ac_kwh

    idx = pd.DatetimeIndex(slot_starts(dates, 60, site.timezone).to_pandas()).tz_convert(
        site.timezone
    )
    clear = pv_ac_kwh(clear_sky_weather(site, idx, 60), site, system, 60).reshape(days, 24)
    shade = np.where(np.arange(24) >= 13, 0.4, 1.0)  # a tree to the west
    return DayAheadData(
        dates, clear * shade, np.zeros((days, 24, 0)), "pv_kwh", (), 60, site.timezone
    )


def test_pv_forecast_runs_the_pv_model_on_clear_sky_weather_scaled_by_yesterdays_clearness():
    system = PVSystem(kwdc=4.0)
    data = _clear_sky_pv(CITYLEARN_SITE, system, days=20)
    model = PVModelForecast(CITYLEARN_SITE, system)
    f = model.forecast(data.information_for(10))[model.name]
    clear = model.clear_sky_pv(data, np.array([10]))[0]
    k = data.target[9].sum() / model.clear_sky_pv(data, np.array([9]))[0].sum()
    assert 0.5 < k < 0.9  # the shaded afternoons
    assert f[:5].sum() == 0 and f[22:].sum() == 0  # no sun, no PV
    assert f.sum() == pytest.approx(k * clear.sum(), rel=0.08)  # near-linear in irradiance
    assert clear.max() < system.kwac  # an hour's kWh under the inverter's kW


def test_learned_pv_correction_finds_what_the_nominal_system_lacks():
    system = PVSystem(kwdc=4.0)
    data = _clear_sky_pv(CITYLEARN_SITE, system, days=70)
    physical = PVModelForecast(CITYLEARN_SITE, system)
    res = run_protocol(
        data,
        [physical, PVCorrected(physical, window=45, alpha=0.01)],
        "2016-07-20",
        "2016-08-08",
        recalibration="weekly",
        progress=False,
    )
    table = {r["model"]: r["mae"] for r in res.table(unit_factor=1.0).iter_rows(named=True)}
    assert table["PV model + learned correction"] < 0.3 * table["PV model (persisted clearness)"]
