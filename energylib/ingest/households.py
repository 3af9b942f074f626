"""Real household datasets, as published: the Smart Grid Smart City trial and CityLearn 2022.

Both are collections of homes, so each reader returns one canonical frame per home
(``(data, meta)`` pairs, as every ``read_*`` in :mod:`energylib.ingest`).

Smart Grid Smart City (``sgsc_40_households_30min.parquet``)
    Columns ``customer_id``, ``reading_datetime`` (local clock text), ``general_supply_kwh``.
    The trial's meters keep fixed UTC+10 (every household-day has 48 half-hours, also on
    the daylight-saving days), so times are read in ``Etc/GMT-10`` and the site time zone
    is ``Australia/Sydney`` for local features.  A reading is labelled by the *start* of
    its half-hour: the source does not say, the trial's interval tables conventionally
    do, and the mean daily profile (morning rise from 06:00, evening peak in the
    18:00-19:30 half-hours) agrees.  Meter data of homes without PV: kind ``usage``,
    channel ``general``, ``energy_kwh`` [kWh per half-hour].  Missing readings stay
    missing (gaps are real); nothing is filled.

CityLearn 2022 (``Building_<n>.csv`` + ``schema.json``)
    One row per hour, 8,760 rows from 1 August 2016 (the first row is the last hour of
    31 July); ``hour`` 1-24 is the hour *ending* at that clock time; no date column.
    ``daylight_savings_status`` is 0 on every row and every day has 24 rows, and the
    PV peaks in the hour ending 12:00, so the clock is Pacific standard time (fixed
    UTC-8) all year; the site time zone is ``America/Los_Angeles``.
    ``non_shiftable_load`` is kWh in the hour; ``solar_generation`` is W per kW of
    installed PV, i.e. kWh per kWp / 1000.  Frames are kind ``load`` with ``total_kwh``
    (the home's consumption) and ``pv_kwh`` (its measured PV, scaled by the building's
    ``pv.attributes.nominal_power`` in ``schema.json``); ``meta.extra`` carries
    ``pv_kwp`` and, where the schema gives one, ``battery_kwh`` / ``battery_kw``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from energylib.schema import TIME, DataValidationError, FrameMeta, Problem, validate

SGSC_SOURCE = "sgsc"
SGSC_CLOCK = "Etc/GMT-10"  # POSIX sign: UTC+10, no daylight saving
SGSC_TIMEZONE = "Australia/Sydney"
SGSC_FILE = "sgsc_40_households_30min.parquet"

CITYLEARN_SOURCE = "citylearn"
CITYLEARN_CLOCK = "Etc/GMT+8"  # POSIX sign: UTC-8, Pacific standard time all year
CITYLEARN_TIMEZONE = "America/Los_Angeles"
CITYLEARN_FIRST_HOUR_END = datetime(2016, 8, 1)  # the first row's hour ends at midnight, 1 Aug


def sgsc_site(customer_id: int) -> str:
    """The store site name of an SGSC customer (``sgsc-10006414``)."""
    return f"sgsc-{int(customer_id)}"


def read_sgsc_households(
    path: str | Path,
    *,
    customers: Iterable[int] | None = None,
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Read the SGSC trial's half-hourly households.

    Parameters
    ----------
    path : path
        ``sgsc_40_households_30min.parquet``, or the folder holding it.
    customers : iterable of int, optional
        Only these ``customer_id`` values (default: every household, sorted by id).

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        One per household: ``interval_start`` (UTC) and ``energy_kwh`` [kWh per 30 min],
        kind ``usage``, channel ``general``, site ``sgsc-<customer_id>``.

    Raises
    ------
    DataValidationError
        The file lacks the published columns, a time does not parse, or a household
        repeats a reading (the message names the customer and the time).
    """
    path = Path(path)
    if path.is_dir():
        path = path / SGSC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no SGSC file at {path}; expected {SGSC_FILE}")
    raw = pl.read_parquet(path)
    need = {"customer_id", "reading_datetime", "general_supply_kwh"}
    if not need <= set(raw.columns):
        raise DataValidationError(
            [Problem(f"columns {raw.columns} lack {sorted(need - set(raw.columns))}",
                     fix="pass the SGSC trial's interval-reading file as published")],
            str(path),
        )  # fmt: skip
    if customers is not None:
        wanted = [int(c) for c in customers]
        raw = raw.filter(pl.col("customer_id").is_in(wanted))
        absent = sorted(set(wanted) - set(raw["customer_id"].unique().to_list()))
        if absent:
            raise LookupError(f"{path}: no customer(s) {absent}")
    times = pl.col("reading_datetime").str.to_datetime("%Y-%m-%d %H:%M", strict=False)
    frame = raw.with_columns(times.alias("_local"))
    bad = frame.filter(pl.col("_local").is_null() & pl.col("reading_datetime").is_not_null())
    if bad.height:
        raise DataValidationError(
            [Problem(f"{bad.height} reading_datetime values do not parse as 'YYYY-MM-DD HH:MM' "
                     f"(first {bad['reading_datetime'][0]!r}, customer {bad['customer_id'][0]})",
                     fix="pass the file as published")],
            str(path),
        )  # fmt: skip
    frame = frame.with_columns(
        pl.col("_local").dt.replace_time_zone(SGSC_CLOCK).dt.convert_time_zone("UTC").alias(TIME),
        pl.col("general_supply_kwh").cast(pl.Float64).alias("energy_kwh"),
    ).drop_nulls("energy_kwh")
    out = []
    for (cid,), part in sorted(frame.partition_by("customer_id", as_dict=True).items()):
        data = part.select(TIME, "energy_kwh").sort(TIME)
        meta = FrameMeta(
            source=SGSC_SOURCE,
            kind="usage",
            interval_minutes=30,
            site=sgsc_site(cid),
            channel="general",
            timezone=SGSC_TIMEZONE,
            extra={"customer_id": int(cid), "file": str(path)},
        )
        validate(data, meta, where=f"{path}, customer {cid}")
        out.append((data, meta))
    return out


def _citylearn_building_spec(schema: dict, name: str) -> dict:
    building = schema.get("buildings", {}).get(name)
    if building is None:
        return {}
    spec = {}
    pv = (building.get("pv") or {}).get("attributes") or {}
    if "nominal_power" in pv:
        spec["pv_kwp"] = float(pv["nominal_power"])
    battery = (building.get("electrical_storage") or {}).get("attributes") or {}
    if "capacity" in battery:
        spec["battery_kwh"] = float(battery["capacity"])
    if "nominal_power" in battery:
        spec["battery_kw"] = float(battery["nominal_power"])
    return spec


def read_citylearn_building(
    path: str | Path,
    *,
    schema: str | Path | dict | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Read one CityLearn 2022 building (``Building_<n>.csv``).

    Parameters
    ----------
    path : path
        The building's CSV.
    schema : path or dict, optional
        ``schema.json`` (default: the one beside the CSV), for the PV size [kWp].

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        ``total_kwh`` [kWh per hour] and ``pv_kwh`` [kWh per hour], kind ``load``,
        source ``citylearn``, site ``citylearn-<n>``, 60-min intervals.

    Raises
    ------
    DataValidationError
        Missing columns, a row count other than whole days, hours outside 1-24, or no
        PV size for the building (the message names the file).
    """
    path = Path(path)
    name = path.stem
    if schema is None:
        schema = path.parent / "schema.json"
    if not isinstance(schema, dict):
        schema_path = Path(schema)
        if not schema_path.is_file():
            raise FileNotFoundError(f"no schema.json beside {path}; pass schema=")
        schema = json.loads(schema_path.read_text())
    spec = _citylearn_building_spec(schema, name)
    where = str(path)
    if "pv_kwp" not in spec:
        raise DataValidationError(
            [Problem(f"schema.json has no pv.attributes.nominal_power for {name}",
                     fix="pass the schema.json published with the buildings")],
            where,
        )  # fmt: skip
    raw = pl.read_csv(path)
    need = {"month", "hour", "non_shiftable_load", "solar_generation"}
    if not need <= set(raw.columns):
        raise DataValidationError(
            [Problem(f"columns lack {sorted(need - set(raw.columns))}",
                     fix="pass a CityLearn 2022 Building_<n>.csv as published")],
            where,
        )  # fmt: skip
    hours = raw["hour"]
    if hours.min() < 1 or hours.max() > 24 or raw.height % 24:
        raise DataValidationError(
            [Problem(f"{raw.height} rows with hours {hours.min()}-{hours.max()}",
                     fix="expect whole days of hours 1-24 (the hour ending at that time)")],
            where,
        )  # fmt: skip
    # Row i covers the hour ending at CITYLEARN_FIRST_HOUR_END + i hours - ... i.e. it starts
    # one hour before its end; the first row is the hour 23:00-24:00 of 31 July.
    first_start = CITYLEARN_FIRST_HOUR_END - timedelta(hours=1)
    expected = (first_start.hour + pl.int_range(raw.height, eager=True)) % 24 + 1
    if not (expected == hours).all():
        row = int((expected != hours).arg_true()[0])
        raise DataValidationError(
            [Problem(f"line {row + 2}: hour {hours[row]} breaks the hourly sequence (expected {expected[row]})",
                     fix="pass the file as published: one row per hour, no rows removed")],
            where,
        )  # fmt: skip
    start = pl.datetime_range(
        first_start,
        first_start + timedelta(hours=raw.height - 1),
        interval="1h",
        eager=True,
        time_zone=CITYLEARN_CLOCK,
    ).dt.convert_time_zone("UTC")
    data = pl.DataFrame(
        {
            TIME: start,
            "total_kwh": raw["non_shiftable_load"].cast(pl.Float64),
            "pv_kwh": raw["solar_generation"].cast(pl.Float64) / 1000.0 * spec["pv_kwp"],
        }
    )
    meta = FrameMeta(
        source=CITYLEARN_SOURCE,
        kind="load",
        interval_minutes=60,
        site=f"citylearn-{name.split('_')[-1]}",
        channel="all",
        timezone=CITYLEARN_TIMEZONE,
        extra={**spec, "file": where},
    )
    validate(data, meta, where=where)
    return data, meta


def read_citylearn_buildings(folder: str | Path) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Every ``Building_<n>.csv`` in a CityLearn 2022 folder, in building order."""
    folder = Path(folder)
    files = sorted(folder.glob("Building_*.csv"), key=lambda p: int(p.stem.split("_")[-1]))
    if not files:
        raise FileNotFoundError(f"no Building_<n>.csv in {folder}")
    schema = json.loads((folder / "schema.json").read_text())
    return [read_citylearn_building(f, schema=schema) for f in files]
