import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from energylib.schema import DataValidationError
from energylib.store import ParquetStore, SqliteStore, Store

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["parquet", "sqlite"])
def any_store(request, tmp_path) -> Store:
    """Each embedded store: the contract tests below hold for every one of them."""
    if request.param == "parquet":
        return ParquetStore(tmp_path / "processed")
    return SqliteStore(tmp_path / "live.sqlite")


def test_every_store_is_a_store(any_store):
    assert isinstance(any_store, Store)


def test_upsert_then_read_round_trips(any_store, frame):
    data, meta = frame
    result = any_store.upsert(data, meta)
    assert result.inserted == data.height
    back, back_meta = any_store.read("test", "usage", site="s1", channel="general")
    assert back.equals(data)
    assert back_meta == meta


def test_parquet_upsert_writes_one_file_per_month(store, frame):
    assert store.upsert(*frame).files_written == 1


def test_upsert_is_idempotent_and_writes_nothing_the_second_time(store, frame):
    data, meta = frame
    store.upsert(data, meta)
    path = next(store.root.rglob("*.parquet"))
    before = path.stat().st_mtime_ns
    again = store.upsert(data, meta)
    assert (again.inserted, again.updated, again.unchanged, again.files_written) == (
        0,
        0,
        data.height,
        0,
    )
    assert path.stat().st_mtime_ns == before


def test_changed_rows_replace_stored_ones(store, frame):
    data, meta = frame
    store.upsert(data, meta)
    newer = data.slice(10, 5).with_columns(pl.col("price_per_kwh") + 1)
    result = store.upsert(newer, meta)
    assert (result.inserted, result.updated) == (0, 5)
    back, _ = store.read("test", "usage")
    assert back.height == data.height
    assert back["price_per_kwh"].slice(10, 5).to_list() == newer["price_per_kwh"].to_list()


def test_partitions_by_month_and_reads_a_range(store, make_frame):
    data, meta = make_frame(start=datetime(2025, 1, 31, tzinfo=UTC), n=288 * 2)
    store.upsert(data, meta)
    assert sorted(p.name for p in store.root.rglob("*.parquet")) == [
        "2025-01.parquet",
        "2025-02.parquet",
    ]
    part, _ = store.read(
        "test", "usage", start="2025-02-01T00:00:00+00:00", end="2025-02-01T01:00:00+00:00"
    )
    assert part.height == 12 and part["interval_start"][0] == datetime(2025, 2, 1, tzinfo=UTC)


def test_channels_and_sites_are_separate_series(any_store, make_frame):
    a, am = make_frame(seed=1)
    b, bm = make_frame(seed=2, channel="feed_in")
    any_store.upsert(a, am)
    any_store.upsert(b, bm)
    with pytest.raises(LookupError, match="pass site= and channel="):
        any_store.read("test", "usage")
    back, meta = any_store.read("test", "usage", channel="feed_in")
    assert back.equals(b) and meta.channel == "feed_in"
    series = any_store.series("test", "usage")
    assert series["channel"].to_list() == ["feed_in", "general"]
    assert series["rows"].to_list() == [b.height, a.height]
    assert any_store.datasets() == [("test", "usage")]


def test_parquet_summary_lists_every_series(store, make_frame):
    store.upsert(*make_frame(seed=1))
    store.upsert(*make_frame(seed=2, channel="feed_in"))
    assert store.summary().height == 2


def test_two_resolutions_of_one_series_read_with_explicit_resampling(any_store, make_frame):
    hourly, hm = make_frame(n=24, minutes=60, kind="prices")
    quarter, qm = make_frame(start=T0 + timedelta(days=1), n=96, minutes=15, kind="prices")
    hourly, quarter = hourly.drop("energy_kwh"), quarter.drop("energy_kwh")
    any_store.upsert(hourly, hm)
    any_store.upsert(quarter, qm)
    with pytest.raises(LookupError, match="resample_to"):
        any_store.read("test", "prices")
    mixed, meta = any_store.read("test", "prices", resample_to=15)
    assert meta.interval_minutes == 15 and mixed.height == 24 * 4 + 96
    finest, fmeta = any_store.read("test", "prices", resample_to="finest")
    assert finest.equals(mixed) and fmeta == meta
    only_hourly, m = any_store.read("test", "prices", interval_minutes=60)
    assert only_hourly.height == 24 and m.interval_minutes == 60
    one_day, m = any_store.read("test", "prices", end=T0 + timedelta(days=1), resample_to="finest")
    assert one_day.equals(hourly) and m.interval_minutes == 60  # one resolution: as stored


def test_overlapping_resolutions_never_count_energy_twice(any_store, make_frame):
    # A 30-min and a 60-min export of the same two days, plus a third day only hourly.
    half, hm = make_frame(n=96, minutes=30, kind="usage")
    hourly, _ = make_frame(n=72, minutes=60, kind="usage", seed=3)
    half = half.drop("price_per_kwh")
    hourly = hourly.drop("price_per_kwh")
    any_store.upsert(half, hm)
    any_store.upsert(hourly, hm.replace(interval_minutes=60))
    data, meta = any_store.read("test", "usage", resample_to=60)
    assert meta.interval_minutes == 60 and data.height == 72
    assert data["interval_start"].is_unique().all()
    expected = half["energy_kwh"].sum() + hourly["energy_kwh"][48:].sum()
    assert data["energy_kwh"].sum() == pytest.approx(expected)


def test_invalid_frame_writes_nothing_and_keeps_what_is_stored(any_store, frame):
    data, meta = frame
    any_store.upsert(data, meta)
    bad = data.with_columns(pl.lit(-1.0).alias("energy_kwh"))
    with pytest.raises(DataValidationError, match="negative energy"):
        any_store.upsert(bad, meta)
    back, _ = any_store.read("test", "usage")
    assert back.equals(data)


@pytest.mark.parametrize(
    ("kind", "hint"), [("parquet", "backfill|simulate"), ("sqlite", "collectors")]
)
def test_reading_an_empty_store_says_how_to_fill_it(tmp_path, kind, hint):
    empty = ParquetStore(tmp_path / "p") if kind == "parquet" else SqliteStore(tmp_path / "s.db")
    with pytest.raises(LookupError, match=hint):
        empty.read("amber", "prices")


def test_naive_range_bounds_are_refused(any_store, frame):
    any_store.upsert(*frame)
    with pytest.raises(ValueError, match="naive"):
        any_store.read("test", "usage", start=datetime(2025, 1, 1))


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta, UTC
    import numpy as np, polars as pl
    from energylib.schema import FrameMeta, interval_index
    from energylib.store import ParquetStore
    store = ParquetStore(sys.argv[1])
    t = interval_index(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC), 5)
    rng = np.random.default_rng(1)
    big = pl.DataFrame({"interval_start": t, "energy_kwh": rng.random(len(t)), "price_per_kwh": rng.random(len(t))})
    for site in range(400):  # rewrite the January partition again and again
        store.upsert(big, FrameMeta("test", "usage", 5, f"x{site}", "general", "AUD", "Australia/Sydney"))
    """
)


def test_killing_a_writer_mid_write_leaves_the_previous_contents(tmp_path, frame):
    store = ParquetStore(tmp_path / "processed")
    data, meta = frame
    store.upsert(data, meta)
    folder = store.root / "test" / "usage"
    for _attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root)])
        caught = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if list(folder.glob(".*.tmp")):
                time.sleep(0.02)  # let it get well into writing the file
                if list(folder.glob(".*.tmp")):
                    os.kill(proc.pid, signal.SIGKILL)
                    caught = True
                    break
            time.sleep(0.001)
        proc.wait()
        if caught and list(folder.glob(".*.tmp")):
            break  # killed while a temporary file was being written
    else:
        pytest.fail("could not catch the writer mid-write in 5 attempts")
    # The partition is a complete Parquet file holding our rows, whatever the writer had done before.
    back, _ = store.read("test", "usage", site="s1", channel="general")
    assert back.equals(data)
    assert pl.read_parquet(folder / "2025-01.parquet").height >= data.height
    # The next write clears the dead writer's temporary file.
    store.upsert(data.head(1).with_columns(pl.lit(0.5).alias("price_per_kwh")), meta)
    assert not list(folder.glob(".*.tmp"))


def test_concurrent_writers_do_not_lose_rows(store, make_frame):
    frames = [make_frame(seed=i, site=f"site{i}") for i in range(4)]
    threads = [threading.Thread(target=store.upsert, args=f) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.summary()["rows"].sum() == sum(f[0].height for f in frames)


# ---------------------------------------------------------------------- SQLite
def test_sqlite_uses_wal_and_same_upsert_semantics(tmp_path, frame):
    live = SqliteStore(tmp_path / "live.db")
    data, meta = frame
    first = live.upsert(data, meta)
    assert first.inserted == data.height
    again = live.upsert(data, meta)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, data.height)
    changed = live.upsert(data.head(3).with_columns(pl.col("price_per_kwh") + 1), meta)
    assert (changed.inserted, changed.updated) == (0, 3)
    with sqlite3.connect(live.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    back, back_meta = live.read("test", "usage")
    assert back.height == data.height and back_meta.currency == "AUD"
    assert back["price_per_kwh"].head(3).to_list() == (data["price_per_kwh"].head(3) + 1).to_list()
    assert back["interval_start"].to_list() == data["interval_start"].to_list()


def test_sqlite_reader_does_not_block_the_writer(tmp_path, make_frame):
    live = SqliteStore(tmp_path / "live.db")
    data, meta = make_frame()
    live.upsert(data, meta)
    reader = sqlite3.connect(live.path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM usage").fetchone()  # holds a read snapshot
    more, _ = make_frame(start=T0 + timedelta(days=1), seed=3)
    assert live.upsert(more, meta).inserted == more.height
    reader.rollback()
    reader.close()
    assert live.read("test", "usage")[0].height == data.height + more.height


def test_sqlite_rejects_unsafe_names(tmp_path, frame):
    data, meta = frame
    with pytest.raises(ValueError, match="not a valid table"):
        SqliteStore(tmp_path / "x.db").upsert(data, meta.replace(kind="usage; DROP TABLE x"))


def test_sqlite_read_only_never_creates_or_writes_the_file(tmp_path, frame):
    path = tmp_path / "kiosk" / "live.sqlite"
    ro = SqliteStore(path, read_only=True)
    assert not path.parent.exists()
    with pytest.raises(LookupError, match="nothing stored at .* yet"):
        ro.read("test", "usage")
    assert ro.datasets() == [] and ro.series("test", "usage").height == 0
    SqliteStore(path).upsert(*frame)
    back, _ = ro.read("test", "usage")  # the file appeared: the same store object reads it
    assert back.equals(frame[0])
    with pytest.raises(PermissionError):
        ro.upsert(*frame)


def test_sqlite_booleans_and_text_round_trip(tmp_path, frame):
    data, meta = frame
    data = data.with_columns(
        (pl.col("price_per_kwh") > 0.15).alias("is_forecast"),
        pl.lit("low").alias("descriptor"),
    )
    live = SqliteStore(tmp_path / "live.sqlite")
    live.upsert(data, meta)
    back, _ = live.read("test", "usage", columns=["is_forecast", "descriptor"])
    assert back.schema["is_forecast"] == pl.Boolean
    assert back.equals(data.select("interval_start", "is_forecast", "descriptor"))


def test_sqlite_prune_drops_rows_before_the_cutoff_only(tmp_path, frame):
    data, meta = frame
    live = SqliteStore(tmp_path / "live.sqlite")
    live.upsert(data, meta)
    cutoff = T0 + timedelta(hours=6)
    assert live.prune(cutoff) == 72
    back, _ = live.read("test", "usage")
    assert back["interval_start"].min() == cutoff and back.height == data.height - 72
