"""``energy features``: the feature table as a stored dataset, built as training builds it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from energylib.cli import main
from energylib.forecast.feature_table import KIND, build_feature_table, write_feature_table
from energylib.forecast.features import TOTAL_PRICE_WEATHER_TIME, feature_matrix, history_from_store
from energylib.schema import TIME
from energylib.store import ParquetStore

CUT = datetime(2025, 10, 20, tzinfo=UTC)  # 50 days of the default year are enough


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, nem_year):
    root = tmp_path_factory.mktemp("features_data")
    store = ParquetStore(root / "processed")
    for key in ("load", "prices/general", "weather"):
        frame, meta = nem_year[key]
        store.upsert(frame.filter(pl.col(TIME) >= CUT), meta)
    return root


def test_the_table_holds_the_training_inputs_and_rolling_statistics(data_dir):
    store = ParquetStore(data_dir / "processed")
    table, meta = build_feature_table(store, lookback_days=10, rolling_window_days=2)
    assert meta.kind == KIND and meta.channel == "total_price_weather_time"
    assert meta.currency == "AUD" and meta.timezone == "Australia/Sydney"
    assert table.height == 10 * 48
    end = table[TIME].max()
    # the same numbers training sees for these half-hours
    data, tz = history_from_store(store, "simulated", "default")
    fm = feature_matrix(data, TOTAL_PRICE_WEATHER_TIME, tz)
    rows = np.isin(fm.times.to_numpy(), table[TIME].to_numpy())
    np.testing.assert_allclose(
        table["lag336_price_per_kwh"].to_numpy(),
        fm.inputs[rows, [f.name for f in TOTAL_PRICE_WEATHER_TIME.features].index("price_lag_336")],
        rtol=1e-6,
    )
    assert table["hour_sin_enc"].abs().max() <= 1.0 and table.null_count().sum_horizontal()[0] == 0
    # a 2-day rolling mean of the last row: the mean of the 96 half-hours up to it
    last96 = data.filter(pl.col(TIME) <= end).tail(96)["total_kwh"].mean()
    assert table["roll2d_mean_total_kwh"][-1] == pytest.approx(last96, rel=1e-9)


def test_cli_once_status_continuous_and_errors(data_dir, capsys, monkeypatch):
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    d = ["--data-dir", str(data_dir)]
    assert main(["features", "--status", *d]) == 0
    assert "no feature table yet" in capsys.readouterr().out
    assert main(["features", "--once", "--lookback-days", "7", *d]) == 0
    out = capsys.readouterr().out
    assert "336 rows x 18 features" in out and "inserted 336" in out
    cont = ["features", "--continuous", "--interval", "0.1", "--count", "2", "--lookback-days", "7"]
    assert main([*cont, *d]) == 0
    assert capsys.readouterr().out.count("inserted 0, updated 0") == 2  # 7 days, unchanged
    assert main(["features", "--once", "--site", "nowhere", *d]) == 1
    assert "no load for source='simulated' site='nowhere'" in capsys.readouterr().err
    assert main(["features", "--status", *d]) == 0
    out = capsys.readouterr().out
    assert "default/total_price_weather_time: 336 rows" in out
    assert "last error:" in out and "nowhere" in out
    monkeypatch.setenv("FE_LOOKBACK_DAYS", "two")
    assert main(["features", "--once", *d]) == 2
    err = capsys.readouterr().err
    assert "FE_LOOKBACK_DAYS='two' is not a number" in err and "fix FE_LOOKBACK_DAYS" in err


def test_fe_batch_size_upserts_in_batches_oldest_first_with_progress(
    data_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    monkeypatch.setenv("FE_BATCH_SIZE", "100")
    out_dir = tmp_path / "fe"
    (out_dir / "processed").mkdir(parents=True)
    # the same source series, in a fresh folder
    src = ParquetStore(data_dir / "processed")
    dst = ParquetStore(out_dir / "processed")
    for kind in ("load", "prices", "weather"):
        for channel in ("general",) if kind == "prices" else (None,):
            frame, meta = src.read("simulated", kind, site="default", channel=channel)
            dst.upsert(frame, meta)
    assert main(["features", "--once", "--lookback-days", "7", "--data-dir", str(out_dir)]) == 0
    out = capsys.readouterr()
    assert "inserted 336, updated 0 in 4 batch(es)" in out.out  # 100 + 100 + 100 + 36
    assert "features to" in out.err and "4/4" in out.err  # the progress bar
    whole, _ = build_feature_table(dst, lookback_days=7)
    stored, _ = dst.read("simulated", KIND, site="default")
    assert stored.sort(TIME).equals(whole.select(stored.columns).sort(TIME))


class _FailsOnThirdUpsert(ParquetStore):
    calls = 0

    def upsert(self, frame, meta, **kw):
        type(self).calls += 1
        if type(self).calls == 3:
            raise OSError("disk full")
        return super().upsert(frame, meta, **kw)


def test_a_failing_feature_batch_keeps_the_batches_before_it(data_dir, tmp_path):
    table, meta = build_feature_table(ParquetStore(data_dir / "processed"), lookback_days=7)
    store = _FailsOnThirdUpsert(tmp_path / "processed")
    with pytest.raises(OSError, match="disk full"):
        write_feature_table([store], table, meta, batch_rows=100)
    kept, _ = store.read("simulated", KIND, site="default")
    assert kept.height == 200 and kept[TIME].max() == table.sort(TIME)[TIME][199]
    [(_, inserted, updated, batches)] = write_feature_table([store], table, meta, batch_rows=100)
    assert (inserted, updated, batches) == (136, 0, 4)
