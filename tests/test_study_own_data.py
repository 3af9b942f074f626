"""The study on a household's own data: every input from its own source, the answer right."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml
from study_data import DAYS, SOURCE, synthetic_year_start
from test_study import small_raw

from energylib.scenario import run
from energylib.schema import TIME, FrameMeta
from energylib.site import Site
from energylib.store import ParquetStore
from energylib.study import BASELINE, StudyError, load_inputs, params_from_dict, run_study
from energylib.study.frames import best_action, recommendation
from energylib.study.plan import make_plan

MELBOURNE = Site("my-home", -37.81, 144.96, 0.0, "Australia/Melbourne", "nem")


# --------------------------------------------------------------------------- no EV
@pytest.fixture(scope="module")
def no_ev_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("no_ev")
    synthetic_year_start(ParquetStore(root), ev=False)
    return root


@pytest.mark.parametrize("ev", ["absent", None, {}])
def test_no_ev_section_means_no_ev_energy_anywhere(no_ev_store, ev):
    raw = small_raw(no_ev_store)
    raw["scenarios"] = [s for s in raw["scenarios"] if "ev_strategy" not in s]
    if ev == "absent":
        del raw["ev"]
    else:
        raw["ev"] = ev
    params = params_from_dict(raw)
    assert params.ev is None
    result = run_study(params)
    plan = make_plan(params)
    year = result.inputs.year
    for spec in plan.specs():
        assert spec.ev is None
        flows = run(spec, year).flows
        assert flows.ev_charge_kwh.sum() == 0 and flows.ev_discharge_kwh.sum() == 0
    assert result.ev_strategies.height == 0
    assert set(result.headline["ev_strategy"]) == {"no EV"}
    # The baseline bill by hand: every kWh of the load bought at its interval's price, the
    # daily supply charge for 14 days and the monthly fee for 14 of January's 31 days.
    load, _ = ParquetStore(no_ev_store).read(SOURCE, "load", site="default")
    prices, _ = ParquetStore(no_ev_store).read(SOURCE, "prices", site="default", channel="general")
    energy = float((load["total_kwh"] * prices["price_per_kwh"]).sum())
    by_hand = energy + DAYS * 1.10 + 25.0 * DAYS / 31
    assert result.scenario(BASELINE)["bill_amount"] == pytest.approx(by_hand, rel=1e-12)


def test_an_ev_strategy_without_an_ev_is_refused(no_ev_store):
    raw = small_raw(no_ev_store)
    raw["ev"] = None
    with pytest.raises(StudyError, match="home has no EV; add an ev: section"):
        params_from_dict(raw)


# --------------------------------------------------------------------------- the answer
def _headline(rows) -> pl.DataFrame:
    keys = (
        "scenario",
        "npv_amount",
        "net_capex_amount",
        "year_one_saving_amount",
        "payback_text",
        "irr_text",
    )
    return pl.DataFrame([dict(zip(keys, r, strict=True)) for r in rows]).with_columns(
        pl.lit("AUD").alias("currency")
    )


def test_the_best_action_is_chosen_over_every_scenario_zero_capex_included():
    h = _headline(
        [
            (BASELINE, None, None, None, None, None),
            ("Solar 6.6 kW + smart EV charging", 4490.0, 7200.0, 1071.0, "6.7 years", "12.7 %"),
            ("Smart EV charging only", 7409.0, 0.0, 591.0, "immediate", "no IRR"),
            ("Solar 6.6 kW", -3184.0, 7200.0, 462.0, "not within 15 years", "-2.3 %"),
        ]
    )
    assert best_action(h)["scenario"] == "Smart EV charging only"
    text = recommendation(h, 15)
    assert text.startswith("Switch on smart EV charging only: it costs nothing to set up")
    assert "AUD 7,409" in text
    assert (
        "No hardware adds value beyond it: the best hardware option, Solar 6.6 kW + smart EV charging, is worth AUD 4,490"
        in text
    )


def test_hardware_is_recommended_when_it_beats_every_free_action():
    h = _headline(
        [
            ("Solar 6.6 kW", 5000.0, 7200.0, 900.0, "7.0 years", "11.0 %"),
            ("Smart EV charging only", 1000.0, 0.0, 80.0, "immediate", "no IRR"),
        ]
    )
    assert recommendation(h, 15).startswith(
        "Install Solar 6.6 kW: it costs AUD 7,200 after rebates"
    )


def test_nothing_worth_doing_says_keep_things_as_they_are():
    h = _headline([("Solar 6.6 kW", -500.0, 7200.0, 300.0, "not within 15 years", "2.0 %")])
    assert recommendation(h, 15).startswith("Keep things as they are")


def test_the_default_year_headline_recommends_its_best_scenario():
    from energylib.study import load_params

    result = run_study(load_params("params/scenarios_2025.yaml", {"inputs": {"max_days": 21}}))
    rows = result.headline.filter(pl.col("scenario") != BASELINE)
    top = rows.sort("npv_amount", descending=True).row(0, named=True)
    assert result.best["scenario"] == top["scenario"]
    assert top["scenario"].lower() in result.recommendation.lower()
    battery_rows = result.headline.filter(pl.col("battery") != "none")
    assert battery_rows.height and set(battery_rows["battery_policy"]) <= {
        "self-consumption",
        "price threshold",
        "forecast (yesterday)",
    }


# --------------------------------------------------------------------------- resolution
def test_a_30_min_load_in_a_5_min_study_needs_a_named_choice(no_ev_store):
    raw = small_raw(no_ev_store, interval_minutes=5)
    raw["ev"] = None
    raw["scenarios"] = [{"name": "Solar 6.6 kW", "pv_kw": 6.6}]
    raw["policy_comparison"] = None
    raw["sensitivity_scenario"] = None
    with pytest.raises(StudyError, match="inputs.load_upsampling: uniform"):
        load_inputs(params_from_dict(raw))
    raw["inputs"]["load_upsampling"] = "uniform"
    year = load_inputs(params_from_dict(raw)).year
    load, _ = ParquetStore(no_ev_store).read(SOURCE, "load", site="default")
    assert year.interval_minutes == 5 and len(year) == DAYS * 288
    assert year.load_kwh.sum() == pytest.approx(load["total_kwh"].sum())


# --------------------------------------------------------------------------- coverage and fills
def _hourly_usage(
    store: ParquetStore, start: str, end: str, source="meter", site="home"
) -> pl.DataFrame:
    times = pd.date_range(start, end, freq="60min", tz="Australia/Melbourne", inclusive="left")
    t = pl.from_pandas(pd.Series(times.tz_convert("UTC"), name=TIME)).dt.cast_time_unit("us")
    hour = times.hour.to_numpy()
    kwh = 0.3 + 0.5 * ((hour >= 17) & (hour < 21)) + 0.01 * (times.day_of_year.to_numpy() % 7)
    data = pl.DataFrame({TIME: t, "energy_kwh": kwh})
    store.upsert(data, FrameMeta(source, "usage", 60, site, "general", None, "Australia/Melbourne"))
    return data


def _hourly_spot(store: ParquetStore, start: str, end: str) -> None:
    times = pd.date_range(start, end, freq="60min", tz="UTC", inclusive="left")
    t = pl.from_pandas(pd.Series(times, name=TIME)).dt.cast_time_unit("us")
    spot = 0.10 + 0.08 * np.sin(np.arange(times.size) * 2 * np.pi / 24)  # never negative
    store.upsert(pl.DataFrame({TIME: t, "spot_per_kwh": spot}),
                 FrameMeta("aemo", "prices", 60, "VIC1", "wholesale", "AUD", "Australia/Melbourne"))  # fmt: skip


def _own_raw(store_dir, **changes) -> dict:
    raw = {
        "title": "Mine",
        "site": {"name": "my-home", "latitude": -37.81, "longitude": 144.96,
                 "timezone": "Australia/Melbourne", "market": "nem"},
        "interval_minutes": 60,
        "inputs": {"load": {"source": "meter", "site": "home"}, "prices": {"source": "aemo", "site": "VIC1"},
                   "store_dir": str(store_dir)},
        "tariff": {"kind": "nem_retail"},
        "pv": {"sizes_kw": [0.0, 5.0], "cost_per_kw": 1000.0},
        "scenarios": [{"name": "Solar 5 kW", "pv_kw": 5.0}],
    }  # fmt: skip
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def july_to_july(tmp_path_factory):
    """A meter year from July 2024 to July 2025 (as Powerpal exports run), prices for both years."""
    root = tmp_path_factory.mktemp("july")
    store = ParquetStore(root)
    _hourly_usage(store, "2024-07-01", "2025-07-01")
    _hourly_spot(store, "2024-06-30", "2026-01-02")
    return root


def test_a_period_the_data_does_not_cover_names_the_missing_months_and_the_fill(july_to_july):
    params = params_from_dict(_own_raw(july_to_july, period={"year": 2025}))
    with pytest.raises(StudyError) as err:
        load_inputs(params)
    text = str(err.value)
    assert "inputs.load does not cover calendar 2025" in text
    assert "months 2025-07, 2025-08, 2025-09, 2025-10, 2025-11, 2025-12 missing" in text
    assert "period: {start: 2024-07-01, end: 2025-07-01}" in text
    assert "inputs.fill: same_weekday_last_year" in text


def test_a_named_fill_fills_the_missing_months_and_says_so(july_to_july):
    raw = _own_raw(july_to_july, period={"year": 2025})
    raw["inputs"]["fill"] = "same_weekday_last_year"
    inputs = load_inputs(params_from_dict(raw))
    hours = int((pd.Timestamp("2026-01-01", tz="Australia/Melbourne") - pd.Timestamp("2025-07-01", tz="Australia/Melbourne")) / pd.Timedelta("1h"))  # fmt: skip
    assert inputs.filled == {"load": hours}
    assert (
        f"load: {hours:,} of 8,760 intervals (50%) filled with the same weekday a year earlier"
        in inputs.description
    )
    # A filled hour is the same hour 52 weeks earlier (the same weekday).
    year = inputs.year
    i = int(np.searchsorted(year.cal.interval_start, np.datetime64("2025-08-05T08:00")))
    j = int(np.searchsorted(year.cal.interval_start, np.datetime64("2024-08-06T08:00")))
    store = ParquetStore(july_to_july)
    usage, _ = store.read("meter", "usage", site="home")
    source = usage.filter(pl.col(TIME) == pd.Timestamp("2024-08-06T08:00", tz="UTC"))["energy_kwh"][
        0
    ]
    assert year.load_kwh[i] == pytest.approx(source) and j >= 0


def test_a_meter_year_that_is_not_a_calendar_year_is_studied_as_it_is(july_to_july):
    inputs = load_inputs(params_from_dict(_own_raw(july_to_july, period={"last_12_months": True})))
    assert (inputs.period.start, inputs.period.end) == (date(2024, 7, 1), date(2025, 7, 1))
    assert len(inputs.year) == 365 * 24
    assert inputs.period.label == "2024-07-01 to 2025-06-30"
    assert (
        "meter home 2024-07-01 to 2025-06-30, AEMO VIC1 spot with nem_retail (citipower network)"
        in inputs.description
    )


def test_prices_without_what_the_tariff_needs_say_which_tariff_fits(july_to_july):
    raw = _own_raw(
        july_to_july, period={"start": "2024-08-01", "end": "2024-09-01"}, tariff={"kind": "amber"}
    )
    with pytest.raises(StudyError, match="tariff amber needs Amber's all-in price.*nem_retail"):
        load_inputs(params_from_dict(raw))


# --------------------------------------------------------------------------- measured PV
def test_measured_pv_reconstructs_consumption_and_stays_in_every_scenario(tmp_path):
    store = ParquetStore(tmp_path)
    start, end = "2024-12-01", "2024-12-15"
    times = pd.date_range(start, end, freq="60min", tz="Australia/Melbourne", inclusive="left")
    t = pl.from_pandas(pd.Series(times.tz_convert("UTC"), name=TIME)).dt.cast_time_unit("us")
    hour = times.hour.to_numpy()
    use = 0.4 + 0.6 * ((hour >= 17) & (hour < 21))
    pv = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * 3.0
    imports, exports = np.clip(use - pv, 0, None), np.clip(pv - use, 0, None)
    meta = FrameMeta("amber", "usage", 60, "site1", "general", "AUD", "Australia/Melbourne")
    store.upsert(pl.DataFrame({TIME: t, "energy_kwh": imports}), meta)
    store.upsert(pl.DataFrame({TIME: t, "energy_kwh": exports}), meta.replace(channel="feed_in"))
    store.upsert(pl.DataFrame({TIME: t, "pv_kwh": pv}), FrameMeta("inverter", "pv", 60, "site1", "ac", None, "Australia/Melbourne"))  # fmt: skip
    _hourly_spot(store, "2024-11-30", "2024-12-16")
    raw = _own_raw(tmp_path, period={"start": start, "end": end})
    raw["inputs"].update(
        load={"source": "amber", "site": "site1"},
        pv_measured={"source": "inverter", "site": "site1"},
    )
    raw["batteries"] = [{"name": "B", "capacity_kwh": 10.0, "cost_per_unit": 5000.0}]
    raw["scenarios"] = [{"name": "Battery", "battery": "B"}, {"name": "More PV", "pv_kw": 5.0}]
    result = run_study(params_from_dict(raw))
    year = result.inputs.year
    np.testing.assert_allclose(year.load_kwh, use)
    np.testing.assert_allclose(year.existing_pv_kwh, pv)
    base = run(make_plan(result.params).baseline, year)
    # The baseline is the home as it was: the meter's imports and exports, recomputed.
    np.testing.assert_allclose(base.flows.import_kwh, imports, atol=1e-9)
    np.testing.assert_allclose(base.flows.export_kwh, exports, atol=1e-9)
    assert result.scenario("Battery")["saving_amount"] > 0


def test_measured_pv_without_an_export_channel_is_refused(july_to_july):
    raw = _own_raw(july_to_july, period={"start": "2024-08-01", "end": "2024-09-01"})
    raw["inputs"]["pv_measured"] = {"source": "inverter", "site": "x"}
    with pytest.raises(StudyError, match="no feed_in channel"):
        load_inputs(params_from_dict(raw))


# --------------------------------------------------------------------------- real files
SGSC_HOME = 10006684  # a complete 2013 in the trial's data


def _real_raw(store_dir, **changes) -> dict:
    raw = {
        "title": "An SGSC home on 2024 VIC1 prices",
        "site": {"name": "my-home", "latitude": -37.81, "longitude": 144.96,
                 "timezone": "Australia/Melbourne", "market": "nem"},
        "period": {"year": 2024},
        "interval_minutes": 30,
        "inputs": {"load": {"source": "sgsc", "site": f"sgsc-{SGSC_HOME}", "replay_from": "2013-01-01"},
                   "prices": {"source": "aemo", "site": "VIC1"}, "store_dir": str(store_dir)},
        "tariff": {"kind": "nem_retail"},
        "pv": {"sizes_kw": [0.0, 6.6], "cost_per_kw": 1000.0, "export_limit_kw": 5.0},
        "batteries": [{"name": "Powerwall 3", "capacity_kwh": 13.5, "charge_kw": 5.0, "discharge_kw": 11.5,
                       "cost_per_unit": 13400.0, "installation": 1500.0}],
        "scenarios": [{"name": "Solar 6.6 kW", "pv_kw": 6.6},
                      {"name": "Solar 6.6 kW + Powerwall 3", "pv_kw": 6.6, "battery": "Powerwall 3"}],
    }  # fmt: skip
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, shared_data):
    from energylib.cli import main

    root = tmp_path_factory.mktemp("real")
    aemo = sorted(
        str(p) for p in (shared_data / "aemo_vic1").glob("PRICE_AND_DEMAND_202[34]*_VIC1.csv")
    )
    sgsc = shared_data / "sgsc_households" / "sgsc_40_households_30min.parquet"
    assert main(["import", "aemo", *aemo[-13:], "--data-dir", str(root)]) == 0
    assert (
        main(["import", "sgsc", str(sgsc), "--customers", str(SGSC_HOME), "--data-dir", str(root)])
        == 0
    )
    return root / "processed"


@pytest.mark.slow
def test_a_study_on_imported_data_equals_the_same_study_on_the_same_arrays(real_store, shared_data):
    """The store path (import, read, align, convert) changes nothing: the readers' arrays,
    put together by hand, give the same headline."""
    from energylib.ingest.aemo import read_aemo_price_csv
    from energylib.ingest.households import read_sgsc_households
    from energylib.scenario import ScenarioYear
    from energylib.simulate.weather import generate_weather
    from energylib.study.inputs import WEATHER_SEED

    params = params_from_dict(_real_raw(real_store))
    from_store = run_study(params)

    start = pd.Timestamp("2024-01-01", tz="Australia/Melbourne").tz_convert("UTC")
    end = pd.Timestamp("2025-01-01", tz="Australia/Melbourne").tz_convert("UTC")
    grid = pd.date_range(start, end, freq="30min", inclusive="left")
    spot = pl.concat(
        [
            read_aemo_price_csv(p)[0]
            for p in sorted((shared_data / "aemo_vic1").glob("PRICE_AND_DEMAND_202*_VIC1.csv"))
        ]
    ).sort(TIME)
    five = spot.filter((pl.col(TIME) >= start) & (pl.col(TIME) < end))["spot_per_kwh"].to_numpy()
    spot_30 = five.reshape(-1, 6).mean(axis=1)
    ((usage, _),) = read_sgsc_households(shared_data / "sgsc_households", customers=[SGSC_HOME])
    shift = timedelta(weeks=round((date(2024, 1, 1) - date(2013, 1, 1)).days / 7))
    load = usage.with_columns(pl.col(TIME) + shift).filter(
        (pl.col(TIME) >= start) & (pl.col(TIME) < end)
    )
    assert load.height == grid.size
    w = generate_weather(MELBOURNE, start, end, 30, WEATHER_SEED)
    year = ScenarioYear.from_arrays(
        grid.tz_localize(None).to_numpy(), load["energy_kwh"].to_numpy(), MELBOURNE, 30,
        spot_per_kwh=spot_30, weather=w[["ghi", "dni", "dhi", "temp_air", "wind_speed"]],
    )  # fmt: skip
    from_arrays = run_study(params, year=year)
    cols = ["bill_amount", "saving_amount", "npv_amount"]
    np.testing.assert_allclose(
        from_arrays.headline.select(cols).fill_null(0).to_numpy(),
        from_store.headline.select(cols).fill_null(0).to_numpy(),
        rtol=1e-9,
    )
    assert "SGSC trial meter sgsc-10006684" in from_store.data_description
    assert "AEMO VIC1 spot with nem_retail (citipower network)" in from_store.data_description


def _powerpal_exports(folder, usage: pl.DataFrame, shift: timedelta, tz: str) -> list:
    """A real home's half-hours written as the Powerpal app exports them: 90-day files that
    overlap by a day at the seams, Wh, local and UTC clock times."""
    rows = usage.with_columns(pl.col(TIME) + shift).with_columns(
        pl.col(TIME)
        .dt.replace_time_zone(None)
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("datetime_utc"),
        pl.col(TIME)
        .dt.convert_time_zone(tz)
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("datetime_local"),
        (pl.col("energy_kwh") * 1000).round(1).alias("watt_hours"),
        (pl.col("energy_kwh") * 0.27).round(5).alias("cost_dollars"),
        pl.col(TIME).dt.convert_time_zone(tz).dt.hour().is_between(15, 20).alias("is_peak"),
    )
    files = []
    first, last = rows[TIME].min(), rows[TIME].max()
    for k in range((last - first).days // 89 + 1):
        lo, hi = first + timedelta(days=89 * k), first + timedelta(days=89 * k + 90)
        part = rows.filter((pl.col(TIME) >= lo) & (pl.col(TIME) < hi))
        if part.height:
            path = folder / f"powerpal-export-{k + 1}.csv"
            part.select(
                "datetime_utc", "datetime_local", "watt_hours", "cost_dollars", "is_peak"
            ).write_csv(path)
            files.append(path)
    return files


def _readme_commands(title: str) -> list[str]:
    import re

    from energylib.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_your_own_data_from_the_readme_to_the_report(tmp_path, monkeypatch, capsys, shared_data):
    """The README's "Your own data" commands, run as written on a real home's consumption
    (an SGSC household, exported as Powerpal files) and AEMO's real VIC1 files: the rendered
    report's headline figures are run_study's, and its answer is printed."""
    import glob
    import html
    import re
    import shlex
    import shutil

    from energylib.cli import main
    from energylib.config import PROJECT_ROOT
    from energylib.ingest.households import read_sgsc_households
    from energylib.study import headline_table, load_params

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENERGYLIB_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "params").mkdir()
    shutil.copy(PROJECT_ROOT / "params" / "my_household.yaml", tmp_path / "params")
    ((usage, _),) = read_sgsc_households(shared_data / "sgsc_households", customers=[SGSC_HOME])
    shift = timedelta(weeks=574)  # the trial's 2013 replayed on 2024, weekdays kept
    _powerpal_exports(tmp_path, usage, shift, "Australia/Melbourne")
    for p in (shared_data / "aemo_vic1").glob("PRICE_AND_DEMAND_202*_VIC1.csv"):
        if p.name >= "PRICE_AND_DEMAND_202312":
            shutil.copy(p, tmp_path)

    commands = _readme_commands("Your own data")
    assert [c.split()[:2] for c in commands] == [
        ["energy", "import"],
        ["energy", "import"],
        ["cp", "params/my_household.yaml"],
        ["energy", "scenarios"],
    ]
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "cp":
            shutil.copy(argv[1], argv[2])
            # What the user edits: the twelve months their export covers.
            mine = yaml.safe_load(Path(argv[2]).read_text())
            mine["period"] = {"year": 2024}
            Path(argv[2]).write_text(yaml.safe_dump(mine))
            continue
        expanded = [f for a in argv[1:] for f in (sorted(glob.glob(a)) if "*" in a else [a])]
        assert main(expanded) == 0, command
    printed = capsys.readouterr().out
    page = (tmp_path / "reports" / "mine.html").read_text()
    text = html.unescape(
        re.sub(
            r"\s+",
            " ",
            re.sub(
                r"<[^>]+>", " ", re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page, flags=re.S)
            ),
        )
    )
    expected = run_study(load_params(tmp_path / "params" / "mine.yaml"))
    for row in headline_table(expected).iter_rows():
        for cell in row:
            assert cell in text, f"{cell!r} not in the rendered report"
    assert expected.recommendation in text
    assert expected.recommendation[:50] in printed
    assert "Powerpal export 2024-01-01 to 2024-12-31" in text and "AEMO VIC1 spot" in text
    assert not (PROJECT_ROOT / "reports" / "mine.html").exists()
