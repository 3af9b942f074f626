from datetime import UTC, datetime

import polars as pl
import pytest

from energylib.schema import DataValidationError, FrameMeta, column_unit, interval_index, validate


def test_valid_frame_passes_unchanged(frame):
    data, meta = frame
    assert validate(data, meta) is data


def test_negative_prices_are_valid(make_frame):
    data, meta = make_frame()
    signed = data.with_columns(pl.col("price_per_kwh") - 0.5)
    assert (signed["price_per_kwh"] < 0).any() and (signed["price_per_kwh"] > 0).any()
    assert validate(signed, meta) is signed
    # The same values as energy are refused: the sign check is live, and prices are exempt.
    with pytest.raises(DataValidationError, match="negative energy"):
        validate(signed.with_columns(pl.col("price_per_kwh").alias("energy_kwh")), meta)


def test_naive_timestamps_are_rejected(frame):
    data, meta = frame
    naive = data.with_columns(pl.col("interval_start").dt.replace_time_zone(None))
    with pytest.raises(DataValidationError, match="naive"):
        validate(naive, meta)


def test_non_utc_timestamps_are_rejected(frame):
    data, meta = frame
    local = data.with_columns(pl.col("interval_start").dt.convert_time_zone("Australia/Sydney"))
    with pytest.raises(DataValidationError, match="not UTC"):
        validate(local, meta)


def test_misaligned_starts_name_their_rows(frame):
    data, meta = frame
    shifted = data.with_columns(
        pl.when(pl.int_range(pl.len()).is_between(10, 12))
        .then(pl.col("interval_start") + pl.duration(seconds=1))
        .otherwise(pl.col("interval_start"))
    )
    with pytest.raises(DataValidationError) as err:
        validate(shifted, meta)
    assert "rows 10-12" in str(err.value)
    assert "floor_to_grid" in str(err.value)


def test_duplicates_name_every_range(frame):
    data, meta = frame
    dup = pl.concat([data, data.slice(5, 2), data.slice(100, 1)]).sort("interval_start")
    with pytest.raises(DataValidationError) as err:
        validate(dup, meta)
    problem = next(p for p in err.value.problems if p.what == "duplicate intervals")
    assert problem.count == 6  # both copies of three intervals
    # intervals 5-6 (two copies each) then interval 100, two rows later after the sort
    assert problem.rows == ((5, 8), (102, 103))
    t = data["interval_start"]
    assert problem.times == ((t[5], t[6]), (t[100], t[100]))
    assert "on_duplicate" in str(err.value) or "deduplicate" in str(err.value)


def test_negative_energy_is_rejected_but_net_energy_may_be_negative(frame):
    data, meta = frame
    bad = data.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(-0.1)
        .otherwise(pl.col("energy_kwh"))
        .alias("energy_kwh")
    )
    with pytest.raises(DataValidationError, match="row 7"):
        validate(bad, meta)
    validate(data.with_columns((pl.col("energy_kwh") - 0.1).alias("net_grid_kwh")), meta)


def test_nan_and_null_are_rejected_unless_nullable(frame):
    data, meta = frame
    with_nan = data.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(float("nan"))
        .otherwise(pl.col("price_per_kwh"))
        .alias("price_per_kwh")
    )
    with pytest.raises(DataValidationError, match="NaN"):
        validate(with_nan, meta)
    with_null = data.with_columns(pl.lit(None, dtype=pl.Float64).alias("price_low_per_kwh"))
    with pytest.raises(DataValidationError, match="null"):
        validate(with_null, meta)
    validate(with_null, meta, nullable=("price_low_per_kwh",))


def test_wrong_units_are_caught(frame):
    data, meta = frame
    cents = data.with_columns(pl.col("price_per_kwh").abs() * 10 + 6)  # 6-10 "per kWh" all day long
    with pytest.raises(DataValidationError, match="wrong unit"):
        validate(cents, meta)
    per_mwh = data.with_columns(pl.col("price_per_kwh") * 1000)
    with pytest.raises(DataValidationError, match="beyond any market cap"):
        validate(per_mwh, meta)
    spike_hour = data.head(12).with_columns(pl.lit(15.0).alias("price_per_kwh"))  # a real NEM spike
    validate(spike_hour, meta)
    watt_hours = data.with_columns(pl.col("energy_kwh") * 1_000_000)
    with pytest.raises(DataValidationError, match="Wh"):
        validate(watt_hours, meta)
    unitless = data.with_columns(pl.col("energy_kwh").alias("energy"))
    with pytest.raises(DataValidationError, match="no unit"):
        validate(unitless, meta)


def test_error_lists_every_problem_at_once(frame):
    data, meta = frame
    bad = data.with_columns(
        (pl.col("energy_kwh") - 1).alias("energy_kwh"),
        pl.lit(float("nan")).alias("price_per_kwh"),
    )
    with pytest.raises(DataValidationError) as err:
        validate(bad, meta)
    whats = {p.what for p in err.value.problems}
    assert {"negative energy", "NaN values"} <= whats


def test_unsupported_interval_and_timezone(frame):
    data, _ = frame
    with pytest.raises(DataValidationError, match="interval length 7"):
        validate(data, FrameMeta("t", "usage", 7, currency="AUD"))
    with pytest.raises(DataValidationError, match="time zone"):
        validate(data, FrameMeta("t", "usage", 5, currency="AUD", timezone="Mars/Olympus"))


def test_column_units_by_name():
    assert column_unit("price_per_kwh") == "price"
    assert column_unit("intensity_kg_per_kwh") == "numeric"
    assert column_unit("import_kwh") == "energy"
    assert column_unit("battery_kw") == "power"
    assert column_unit("descriptor") == "text"
    assert column_unit("mystery") == "unknown"


def test_interval_index_is_half_open():
    t = interval_index(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC), 30)
    assert len(t) == 48 and t[0] == datetime(2025, 1, 1, tzinfo=UTC)
