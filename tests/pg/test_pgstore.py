"""Postgres sync against a real server: tables, idempotent upserts, resume, dropped connections."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energylib.ingest.entsoe import read_entsoe_xml
from energylib.schema import FrameMeta, interval_index
from energylib.store import ParquetStore
from energylib.store.postgres import PostgresStore, PostgresSyncError, redact_url
from energylib.store.sync import sync_to_postgres

pytestmark = pytest.mark.postgres
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "entsoe"
START = datetime(2025, 1, 30, tzinfo=UTC)


def amber_like(
    n: int = 600, seed: int = 0, channel: str = "general"
) -> tuple[pl.DataFrame, FrameMeta]:
    """5-min prices with text, bool and nullable columns, across a month boundary."""
    rng = np.random.default_rng(seed)
    t = interval_index(START, START + timedelta(minutes=5 * n), 5)
    price = np.round(rng.normal(0.25, 0.1, n), 5)
    data = pl.DataFrame(
        {
            "interval_start": t,
            "price_per_kwh": price,
            "spot_per_kwh": np.round(price * 0.6, 5),
            "descriptor": rng.choice(["low", "neutral", "high", 'spike, "quoted"'], n),
            "is_forecast": rng.random(n) < 0.2,
            "price_high_per_kwh": pl.Series(
                [None if i % 3 else float(p) + 0.1 for i, p in enumerate(price)], dtype=pl.Float64
            ),
        }
    )
    meta = FrameMeta("amber", "prices", 5, "site-1", channel, "AUD", "Australia/Sydney")
    return data, meta


def filled_store(root: Path) -> ParquetStore:
    store = ParquetStore(root)
    for channel, seed in (("general", 1), ("feed_in", 2)):
        data, meta = amber_like(seed=seed, channel=channel)
        store.upsert(data, meta, nullable=("price_high_per_kwh",))
    for data, meta in read_entsoe_xml(FIXTURES / "A44_NL_2025-09-30_2025-10-01_changeover_A03.xml"):
        store.upsert(data, meta)
    return store


def pg_count(url: str, table: str) -> tuple[int, int]:
    """(rows, distinct keys) of a table."""
    with psycopg.connect(url) as con:
        return con.execute(
            f"SELECT count(*), count(DISTINCT (source, site, channel, interval_minutes, interval_start)) FROM energylib.{table}"
        ).fetchone()


def assert_same(store: ParquetStore, url: str) -> None:
    pg = PostgresStore(url)
    for channel in ("general", "feed_in"):
        want, wmeta = store.read("amber", "prices", site="site-1", channel=channel)
        got, gmeta = pg.read("amber", "prices", site="site-1", channel=channel)
        assert got.equals(want.select(got.columns)), channel
        assert set(got.columns) == set(want.columns)
        assert gmeta == wmeta
    for minutes in (60, 15):
        want, _ = store.read("entsoe", "prices", site="NL", interval_minutes=minutes)
        got, _ = pg.read("entsoe", "prices", site="NL", interval_minutes=minutes)
        assert got.equals(want)


def test_sync_creates_tables_and_copies_every_row(tmp_path, pg_url):
    store = filled_store(tmp_path)
    report = sync_to_postgres(store, pg_url, progress=False)
    assert report.inserted == report.rows == 2 * 600 + 24 + 96
    assert report.tables == {"energylib.prices"}
    assert pg_count(pg_url, "prices") == (1320, 1320)
    assert_same(store, pg_url)


def test_second_sync_skips_unchanged_partitions_and_force_changes_nothing(tmp_path, pg_url):
    store = filled_store(tmp_path)
    first = sync_to_postgres(store, pg_url, progress=False)
    again = sync_to_postgres(store, pg_url, progress=False)
    assert (again.synced, again.skipped, again.rows) == (0, first.partitions, 0)
    forced = sync_to_postgres(store, pg_url, progress=False, force=True)
    assert (forced.inserted, forced.updated, forced.unchanged) == (0, 0, 1320)
    assert pg_count(pg_url, "prices") == (1320, 1320)


def test_changed_rows_are_updated_and_only_their_partition_resynced(tmp_path, pg_url):
    store = filled_store(tmp_path)
    sync_to_postgres(store, pg_url, progress=False)
    data, meta = amber_like(seed=1, channel="general")
    feb = data.filter(pl.col("interval_start") >= datetime(2025, 2, 1, tzinfo=UTC)).head(7)
    store.upsert(
        feb.with_columns(pl.col("price_per_kwh") + 1.0), meta, nullable=("price_high_per_kwh",)
    )
    report = sync_to_postgres(store, pg_url, progress=False)
    assert report.synced == 1  # only amber/prices/2025-02
    assert (report.inserted, report.updated) == (0, 7)
    assert_same(store, pg_url)


def test_new_value_column_is_added_to_the_table(tmp_path, pg_url):
    store = filled_store(tmp_path)
    sync_to_postgres(store, pg_url, progress=False)
    data, meta = amber_like(n=12, seed=1, channel="general")
    store.upsert(
        data.with_columns(renewables_pct=pl.lit(42.5)), meta, nullable=("price_high_per_kwh",)
    )
    sync_to_postgres(store, pg_url, progress=False)
    got, _ = PostgresStore(pg_url).read("amber", "prices", site="site-1", channel="general")
    assert got["renewables_pct"].drop_nulls().to_list() == [42.5] * 12


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_terminated_backend_mid_sync_is_retried_without_duplicates(tmp_path, pg_url):
    store = filled_store(tmp_path)
    killed = []

    def kill_once(info):
        if not killed and info.batch == 1:
            killed.append(info)
            _terminate(pg_url, info.backend_pid)

    report = sync_to_postgres(
        store, pg_url, progress=False, batch_rows=100, retry_wait_s=0.05, on_batch=kill_once
    )
    assert killed and report.reconnects == 1
    assert pg_count(pg_url, "prices") == (1320, 1320)
    assert_same(store, pg_url)


def test_sync_that_gives_up_resumes_on_rerun_without_duplicates(tmp_path, pg_url):
    store = filled_store(tmp_path)
    seen = itertools.count()

    def kill_third_batch(info):
        if next(seen) == 2:
            _terminate(pg_url, info.backend_pid)

    with pytest.raises(PostgresSyncError, match="Run the sync again") as err:
        sync_to_postgres(
            store, pg_url, progress=False, batch_rows=100, retries=0, on_batch=kill_third_batch
        )
    assert "s3cret-pw" not in str(err.value)
    partial = pg_count(pg_url, "prices")[0]
    assert 0 < partial < 1320
    report = sync_to_postgres(store, pg_url, progress=False, batch_rows=100)
    assert report.synced == report.partitions and report.inserted == 1320 - partial
    assert pg_count(pg_url, "prices") == (1320, 1320)
    assert_same(store, pg_url)


def test_server_restart_mid_sync_is_survived(tmp_path, pg_url, postgres_server):
    store = filled_store(tmp_path)
    restarted = []

    def restart_once(info):
        if not restarted:
            restarted.append(True)
            postgres_server.restart()

    report = sync_to_postgres(
        store, pg_url, progress=False, batch_rows=200, retry_wait_s=0.1, on_batch=restart_once
    )
    assert restarted and report.reconnects >= 1
    assert pg_count(pg_url, "prices") == (1320, 1320)


def test_unreachable_server_error_hides_the_password(tmp_path):
    store = filled_store(tmp_path)
    url = "postgresql://me:TopSecret99@127.0.0.1:1/nowhere"
    with pytest.raises(PostgresSyncError) as err:
        sync_to_postgres(store, url, progress=False, retries=1, retry_wait_s=0.01)
    assert "TopSecret99" not in str(err.value)
    assert "me:***@127.0.0.1:1/nowhere" in str(err.value)


def test_redact_url_masks_password_in_urls_and_dsns():
    assert (
        redact_url("postgresql://u:p%40ss@db.x.supabase.co:5432/postgres")
        == "postgresql://u:***@db.x.supabase.co:5432/postgres"
    )
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert (
        redact_url("postgresql://h/db?user=u&password=zz&sslmode=require")
        == "postgresql://h/db?user=u&password=***&sslmode=require"
    )
    assert "zz" not in redact_url("host=h user=u password=zz dbname=d")


def test_read_errors_name_what_is_missing(tmp_path, pg_url):
    pg = PostgresStore(pg_url)
    with pytest.raises(LookupError, match="run `energy sync` first"):
        pg.read("amber", "prices")
    sync_to_postgres(filled_store(tmp_path), pg_url, progress=False)
    with pytest.raises(LookupError, match="pass site=, channel="):
        pg.read("amber", "prices")
    with pytest.raises(LookupError, match="no amber/prices rows"):
        pg.read("amber", "prices", site="elsewhere")
    assert "s3cret-pw" not in repr(pg)


def test_read_range_is_half_open(tmp_path, pg_url):
    sync_to_postgres(filled_store(tmp_path), pg_url, progress=False)
    lo, hi = datetime(2025, 1, 31, 23, tzinfo=UTC), datetime(2025, 2, 1, 1, tzinfo=UTC)
    got, _ = PostgresStore(pg_url).read("amber", "prices", lo, hi, site="site-1", channel="general")
    assert got.height == 24
    assert got["interval_start"].min() == lo and got["interval_start"].max() == hi - timedelta(
        minutes=5
    )


_site = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-20, max_value=20, allow_nan=False, allow_infinity=False),
            st.one_of(st.none(), st.text(alphabet="ab,\"' \n\\é", max_size=6)),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_upsert_read_roundtrip_is_exact(pg_url, rows):
    prices, texts, flags = zip(*rows, strict=True)
    t = interval_index(START, START + timedelta(minutes=30 * len(rows)), 30)
    data = pl.DataFrame(
        {
            "interval_start": t,
            "spot_per_kwh": pl.Series(prices, dtype=pl.Float64),
            "descriptor": pl.Series(texts, dtype=pl.String),
            "is_forecast": pl.Series(flags, dtype=pl.Boolean),
        }
    )
    meta = FrameMeta("test", "prices", 30, f"s{next(_site)}", "general", "EUR", "Europe/Amsterdam")
    pg = PostgresStore(pg_url)
    first = pg.upsert(data, meta, nullable=("descriptor",))
    again = pg.upsert(data, meta, nullable=("descriptor",))
    assert first.inserted == len(rows) and again.unchanged == len(rows)
    got, gmeta = pg.read("test", "prices", site=meta.site)
    assert gmeta == meta
    if data["descriptor"].null_count() == data.height:
        data = data.drop(
            "descriptor"
        )  # an all-null column reads back as absent, as in the Parquet store
    assert got.select(data.columns).equals(data)
