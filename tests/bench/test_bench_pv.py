"""Benchmark (make bench): energylib's PV against SAM's PVWatts v8 (PySAM) and pvlib's ModelChain.

Run: ``.venv/bin/python -m pytest tests/bench/test_bench_pv.py -s -q --override-ini norecursedirs=``
(needs PySAM: ``pip install nrel-pysam``, the project's ``bench`` extra; skipped without it).

The system (issue 19): 6.6 kWdc on a 5.5 kWac inverter, a roof mount tilted 20 degrees facing
the equator, PVWatts' default 14.0757 % losses, on each of pvlib's bundled TMY3 files.

Printed, measured in one run:

* annual AC energy of energylib's ``pvwatts_v8`` and ``energylib_v1`` presets as a ratio to
  PySAM's ``Pvwattsv8`` reading the same file;
* the same models on both sides: energylib against pvlib's ``ModelChain`` (Perez, NOCT-SAM,
  physical IAM, PVWatts DC and inverter);
* time of an hourly PV year: PySAM (from the file, and from arrays in memory), ModelChain and
  energylib (with the sun position computed, and cached), as ratios to PySAM's; then a
  5-min year (12x the steps) against PySAM's hourly year (target: no more time).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pvlib
import pytest

from energylib.ingest.weather import bundled_tmy_files
from energylib.site import Site
from energylib.solar import (
    PVSystem,
    clear_solar_position_cache,
    pv_ac_kwh,
    pv_model,
)

pv8 = pytest.importorskip("PySAM.Pvwattsv8", reason="PySAM absent: pip install nrel-pysam")

KWDC, KWAC, TILT, LOSSES = 6.6, 5.5, 20.0, 14.0757
SAME_AS_MODELCHAIN = pv_model(
    transposition="perez", cell_temperature="noct_sam", weather_pressure_temperature=True
)


def tmy3(path) -> tuple[pd.DataFrame, pd.DataFrame, dict, Site]:
    """The file through pvlib: raw rows (hour-end stamps), weather on interval starts, meta."""
    raw, meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    day = pd.to_datetime(raw["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
    hour = raw["Time (HH:MM)"].str[:2].astype(int)
    starts = pd.DatetimeIndex(day + pd.to_timedelta(hour - 1, unit="h"))
    starts = pd.DatetimeIndex([t.replace(year=1990) for t in starts]).tz_localize(raw.index.tz)
    w = pd.DataFrame(
        {c: raw[c].to_numpy(dtype=float) for c in ("ghi", "dni", "dhi", "temp_air", "wind_speed")},
        index=starts,
    )
    w["pressure"] = raw["pressure"].to_numpy(dtype=float) * 100.0  # mbar -> Pa
    w["albedo"] = raw["albedo"].to_numpy(dtype=float)
    site = Site(path.stem, meta["latitude"], meta["longitude"], meta["altitude"], "UTC", "nem")
    return raw, w.sort_index(), meta, site


def pysam_model(solar_resource):
    m = pv8.default("PVWattsNone")
    if isinstance(solar_resource, dict):
        m.SolarResource.solar_resource_data = solar_resource
    else:
        m.SolarResource.solar_resource_file = str(solar_resource)
    sd = m.SystemDesign
    sd.system_capacity = KWDC
    sd.dc_ac_ratio = KWDC / KWAC
    sd.array_type = 1  # fixed roof mount
    sd.module_type = 0  # standard
    sd.tilt = TILT
    sd.azimuth = 180.0
    sd.losses = LOSSES
    return m


def pysam_in_memory(raw: pd.DataFrame, meta: dict) -> dict:
    """The same rows as arrays (hour-start stamps; minute 30 = SAM's midpoint convention)."""
    hour_end = raw["Time (HH:MM)"].str[:2].astype(int)
    day = pd.to_datetime(raw["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
    return {
        "lat": meta["latitude"],
        "lon": meta["longitude"],
        "tz": meta["TZ"],
        "elev": meta["altitude"],
        "year": [1990] * len(raw),
        "month": day.dt.month.tolist(),
        "day": day.dt.day.tolist(),
        "hour": (hour_end - 1).tolist(),
        "minute": [30] * len(raw),
        **{
            k: raw[c].astype(float).tolist()
            for k, c in (("dn", "dni"), ("df", "dhi"), ("gh", "ghi"))
        },
        "tdry": raw["temp_air"].astype(float).tolist(),
        "wspd": raw["wind_speed"].astype(float).tolist(),
        "pres": raw["pressure"].astype(float).tolist(),
    }


def modelchain(site: Site, weather: pd.DataFrame):
    loc = pvlib.location.Location(site.latitude, site.longitude, "UTC", site.altitude_m)
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=TILT,
        surface_azimuth=180.0,
        albedo=0.2,  # pvlib's default is 0.25
        module_parameters={"pdc0": KWDC * 1000, "gamma_pdc": -0.0037},
        inverter_parameters={"pdc0": KWAC * 1000 / 0.96, "eta_inv_nom": 0.96},
        temperature_model_parameters={"noct": 49.0, "module_efficiency": 0.19},
        losses_parameters={
            "soiling": LOSSES,
            **dict.fromkeys(
                ("shading", "snow", "mismatch", "wiring", "connections", "lid")
                + ("nameplate_rating", "age", "availability"),
                0.0,
            ),
        },
    )
    mc = pvlib.modelchain.ModelChain(
        system,
        loc,
        transposition_model="perez",
        aoi_model="physical",
        spectral_model="no_loss",
        temperature_model="noct_sam",
        losses_model="pvwatts",
        airmass_model="kastenyoung1989",
    )
    w = weather[["ghi", "dni", "dhi", "temp_air", "wind_speed", "pressure"]].copy()
    w.index = w.index + pd.Timedelta(minutes=30)  # sun at the interval midpoints
    return mc, w


def best_of(fn, repeat: int = 5, setup=None) -> tuple[float, float]:
    """Fastest wall and CPU time of ``repeat`` runs [s].  On a shared machine the CPU time
    (this process's) is the steadier measure of the work; both are printed."""
    wall, cpu = [], []
    for _ in range(repeat):
        if setup:
            setup()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def five_minute(weather: pd.DataFrame) -> pd.DataFrame:
    """A 5-min year: each hour's values held for its twelve 5-min intervals."""
    idx = pd.date_range(weather.index[0], periods=len(weather) * 12, freq="5min")
    w = pd.DataFrame(np.repeat(weather.to_numpy(), 12, axis=0), index=idx, columns=weather.columns)
    return w


@pytest.mark.parametrize("path", bundled_tmy_files(), ids=lambda p: p.name)
def test_bench_pv_energy_against_pysam_and_modelchain(path):
    raw, weather, meta, site = tmy3(path)
    sam = pysam_model(path)
    sam.execute()
    sam_kwh = float(sam.Outputs.annual_energy)
    rows = {}
    for preset in ("pvwatts_v8", "energylib_v1"):
        system = PVSystem(KWDC, TILT, inverter_kwac=KWAC, losses_pct=LOSSES, model=preset)
        rows[preset] = pv_ac_kwh(weather, site, system, 60).sum()
    mc, w = modelchain(site, weather)
    mc.run_model(w)
    mc_kwh = float(np.nansum(np.clip(mc.results.ac.to_numpy(dtype=float), 0, None))) / 1000
    same = PVSystem(KWDC, TILT, inverter_kwac=KWAC, losses_pct=LOSSES, model=SAME_AS_MODELCHAIN)
    ours_same = pv_ac_kwh(weather, site, same, 60).sum()
    print(
        f"\n{path.name}: {meta['Name']} ({site.latitude}, {site.longitude}), 6.6 kWdc / 5.5 kWac roof"
    )
    print(f"  PySAM Pvwattsv8 (reads the file)       {sam_kwh:9.1f} kWh")
    for preset, kwh in rows.items():
        print(f"  energylib {preset:14s}             {kwh:9.1f} kWh  = {kwh / sam_kwh:.4f} x PySAM")
    print(f"  pvlib ModelChain (Perez, NOCT-SAM ...)  {mc_kwh:9.1f} kWh")
    print(
        f"  energylib, the same models             {ours_same:9.1f} kWh  = {ours_same / mc_kwh:.5f} x ModelChain"
    )
    assert abs(rows["pvwatts_v8"] / sam_kwh - 1) < 0.01
    assert abs(ours_same / mc_kwh - 1) < 1e-3


def test_bench_pv_year_time_against_pysam_and_modelchain():
    path = bundled_tmy_files()[-1]  # Greensboro NC
    raw, weather, meta, site = tmy3(path)
    v8 = PVSystem(KWDC, TILT, inverter_kwac=KWAC, losses_pct=LOSSES, model="pvwatts_v8")
    v1 = PVSystem(KWDC, TILT, inverter_kwac=KWAC, losses_pct=LOSSES)
    same = PVSystem(KWDC, TILT, inverter_kwac=KWAC, losses_pct=LOSSES, model=SAME_AS_MODELCHAIN)
    sam_file = pysam_model(path)
    sam_mem = pysam_model(pysam_in_memory(raw, meta))
    mc, w = modelchain(site, weather)
    w5 = five_minute(weather)
    for s in (v8, v1, same):  # warm-up: numba's cached kernels, the module table, imports
        pv_ac_kwh(weather, site, s, 60)
        pv_ac_kwh(w5, site, s, 5)
    sam_file.execute()
    sam_mem.execute()
    mc.run_model(w)

    t = {
        "PySAM Pvwattsv8 hourly, reads the file": best_of(sam_file.execute),
        "PySAM Pvwattsv8 hourly, arrays in memory": best_of(sam_mem.execute),
        "pvlib ModelChain hourly (same models)": best_of(lambda: mc.run_model(w)),
    }
    for label, system in (("pvwatts_v8", v8), ("energylib_v1", v1), ("same models", same)):
        for minutes, weather_ in ((60, weather), (5, w5)):
            steps = "hourly" if minutes == 60 else "5-min "

            def once(system=system, weather_=weather_, minutes=minutes):
                pv_ac_kwh(weather_, site, system, minutes)

            t[f"energylib {label:12s} {steps}, sun computed"] = best_of(
                once, setup=clear_solar_position_cache
            )
            t[f"energylib {label:12s} {steps}, sun cached"] = best_of(once)
    ref_file = t["PySAM Pvwattsv8 hourly, reads the file"][1]
    ref_mem = t["PySAM Pvwattsv8 hourly, arrays in memory"][1]
    ref_mc = t["pvlib ModelChain hourly (same models)"][1]
    print(
        f"\nPV year, {path.name}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print("  CPU time of this process (best of 5), as ratios to the references' CPU time")
    head = f"  {'':48s} {'wall ms':>8s} {'CPU ms':>8s}"
    print(f"{head} {'/PySAM file':>12s} {'/PySAM mem':>11s} {'/ModelChain':>12s}")
    for k, (w, c) in t.items():
        print(
            f"  {k:48s} {w * 1e3:8.1f} {c * 1e3:8.1f} {c / ref_file:12.2f} {c / ref_mem:11.2f} "
            f"{c / ref_mc:12.2f}"
        )
    print("  target: a 5-min year in no more time than PySAM's hourly year (ratio <= 1)")
