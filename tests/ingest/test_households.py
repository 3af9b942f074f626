"""The SGSC and CityLearn readers on the real published files."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from energylib.ingest.households import (
    read_citylearn_building,
    read_citylearn_buildings,
    read_sgsc_households,
)
from energylib.schema import TIME, DataValidationError


def test_sgsc_reads_every_household_on_a_half_hour_utc_grid(shared_data):
    homes = read_sgsc_households(shared_data / "sgsc_households")
    assert len(homes) == 40
    raw = pl.read_parquet(shared_data / "sgsc_households" / "sgsc_40_households_30min.parquet")
    assert sum(d.height for d, _ in homes) == raw.drop_nulls("general_supply_kwh").height
    data, meta = homes[0]
    assert meta.kind == "usage" and meta.interval_minutes == 30 and meta.site.startswith("sgsc-")
    minutes = data[TIME].dt.minute().unique().sort().to_list()
    assert minutes == [0, 30]
    # Fixed UTC+10: the published local 08:00 is 22:00 UTC the day before.
    first_local = raw.filter(pl.col("customer_id") == meta.extra["customer_id"])[
        "reading_datetime"
    ].min()
    assert first_local.endswith("08:00") and data[TIME][0].hour == 22


def test_sgsc_keeps_gaps_as_gaps(shared_data):
    ((data, _),) = read_sgsc_households(shared_data / "sgsc_households", customers=[10006414])
    steps = data[TIME].diff().drop_nulls().dt.total_minutes()
    assert (steps >= 30).all() and (steps % 30 == 0).all()


def test_sgsc_unknown_customer_is_named(shared_data):
    with pytest.raises(LookupError, match="no customer"):
        read_sgsc_households(shared_data / "sgsc_households", customers=[1])


def test_citylearn_building_is_a_year_of_hours_starting_in_august(shared_data):
    data, meta = read_citylearn_building(shared_data / "citylearn_2022" / "Building_1.csv")
    assert data.height == 8760 and meta.interval_minutes == 60
    # The first row is the hour ending at midnight on 1 August, Pacific standard time.
    assert data[TIME][0].isoformat() == "2016-08-01T07:00:00+00:00"
    raw = pl.read_csv(shared_data / "citylearn_2022" / "Building_1.csv")
    np.testing.assert_allclose(
        data["pv_kwh"].to_numpy(), raw["solar_generation"].to_numpy() / 1000 * 4.0
    )
    np.testing.assert_allclose(data["total_kwh"].to_numpy(), raw["non_shiftable_load"].to_numpy())
    assert meta.extra["pv_kwp"] == 4.0


def test_citylearn_pv_peaks_near_local_solar_noon(shared_data):
    data, _ = read_citylearn_building(shared_data / "citylearn_2022" / "Building_1.csv")
    local = data.with_columns(pl.col(TIME).dt.convert_time_zone("Etc/GMT+8").dt.hour().alias("h"))
    by_hour = local.group_by("h").agg(pl.col("pv_kwh").mean()).sort("h")
    assert by_hour["h"][int(by_hour["pv_kwh"].arg_max())] in (11, 12)


def test_citylearn_reads_all_seventeen(shared_data):
    homes = read_citylearn_buildings(shared_data / "citylearn_2022")
    assert [m.site for _, m in homes][:3] == ["citylearn-1", "citylearn-2", "citylearn-3"]
    assert len(homes) == 17


def test_citylearn_a_removed_row_is_named(shared_data, tmp_path):
    lines = (shared_data / "citylearn_2022" / "Building_1.csv").read_text().splitlines()
    del lines[100]
    bad = tmp_path / "Building_1.csv"
    bad.write_text("\n".join(lines[:-23]) + "\n")  # whole days, one hour missing inside
    (tmp_path / "schema.json").write_text(
        (shared_data / "citylearn_2022" / "schema.json").read_text()
    )
    with pytest.raises(DataValidationError, match="line 101"):
        read_citylearn_building(bad)
