"""Postgres sync under crashes: the server stopped abruptly (``pg_ctl stop -m immediate``)
or the sync itself killed (SIGKILL) at random points.  Afterwards every row is in Postgres
and ``sync_state`` records a partition only where all its rows are."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psycopg
import pytest
from pg.test_pgstore import assert_same, filled_store, pg_count

from energylib.store.sync import sync_to_postgres

pytestmark = pytest.mark.postgres


def assert_state_honest(store, url: str) -> set[str]:
    """Every partition recorded as synced has its file's fingerprint and all its rows stored.

    Returns the recorded partitions ('source/kind/YYYY-MM')."""
    with psycopg.connect(url) as con:
        if con.execute("SELECT to_regclass('energylib.sync_state')").fetchone()[0] is None:
            return set()  # killed before it made the table
        state = con.execute(
            "SELECT source, kind, partition, fingerprint, rows FROM energylib.sync_state"
        ).fetchall()
        recorded = set()
        for source, kind, partition, fingerprint, rows in state:
            path = store.root / source / kind / f"{partition}.parquet"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == fingerprint
            stored = con.execute(
                f"SELECT count(*) FROM energylib.{kind} WHERE source = %s AND "
                "to_char(interval_start AT TIME ZONE 'UTC', 'YYYY-MM') = %s",
                (source, partition),
            ).fetchone()[0]
            assert stored == rows, f"{source}/{kind}/{partition} recorded with rows missing"
            recorded.add(f"{source}/{kind}/{partition}")
    return recorded


@pytest.mark.parametrize("seed", range(2))
def test_server_crash_at_a_random_point_loses_no_row(tmp_path, pg_url, postgres_server, seed):
    store = filled_store(tmp_path)
    rng = random.Random(seed)
    crashed = []
    if seed % 2 == 0:  # right after a partition's last batch (and its state row) commits
        at = rng.randrange(2)
        last_batches = iter(range(1000))

        def on_batch(info):
            if info.rows < 100 and next(last_batches) == at:  # a partial batch ends a partition
                crashed.append(info)
                postgres_server.crash()

        timer = None
    else:  # at a random moment, whatever the sync is doing
        on_batch = None
        timer = threading.Timer(
            rng.uniform(0.05, 0.4), lambda: crashed.append(postgres_server.crash())
        )
        timer.start()
    try:  # crash recovery takes seconds on a loaded machine: retries wait up to ~75 s in all
        report = sync_to_postgres(
            store,
            pg_url,
            progress=False,
            batch_rows=100,
            retries=8,
            retry_wait_s=0.3,
            on_batch=on_batch,
        )
    finally:
        if timer is not None:
            timer.join()
    assert crashed
    assert report.synced == report.partitions
    assert pg_count(pg_url, "prices") == (1320, 1320)
    assert_same(store, pg_url)
    assert len(assert_state_honest(store, pg_url)) == report.partitions


SYNC = textwrap.dedent(
    """
    import sys
    from energylib.store import ParquetStore
    from energylib.store.sync import sync_to_postgres
    print("go", flush=True)
    sync_to_postgres(ParquetStore(sys.argv[1]), sys.argv[2], progress=False, batch_rows=20)
    print("done", flush=True)
    """
)


def test_sync_killed_at_random_points_records_only_what_is_there(tmp_path, pg_url):
    store = filled_store(tmp_path)
    rng = random.Random(14)
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-c", SYNC, str(store.root), pg_url], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "go"
        time.sleep(rng.uniform(0.05, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert_state_honest(store, pg_url)
    report = sync_to_postgres(store, pg_url, progress=False)
    assert report.synced + report.skipped == report.partitions
    assert pg_count(pg_url, "prices") == (1320, 1320)
    assert_same(store, pg_url)
    assert len(assert_state_honest(store, pg_url)) == report.partitions


def test_after_a_reconnect_partitions_the_server_lost_are_redone(tmp_path, pg_url):
    """A reconnect makes the sync check what it recorded: a partition whose record is gone
    (as a crash under an asynchronous commit would leave it) is synced again."""
    store = filled_store(tmp_path)
    first = []

    def lose_the_first_partition(info):
        if not first:
            first.append(info)
        elif info.partition != first[0].partition and len(first) == 1:
            first.append(info)  # once: the next partition has begun
            lost = first[0]
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(
                    "DELETE FROM energylib.sync_state WHERE source = %s AND kind = %s "
                    "AND partition = %s",
                    (lost.source, lost.kind, lost.partition),
                )
                admin.execute(
                    f"DELETE FROM energylib.{lost.kind} WHERE source = %s AND "
                    "to_char(interval_start AT TIME ZONE 'UTC', 'YYYY-MM') = %s",
                    (lost.source, lost.partition),
                )
                admin.execute("SELECT pg_terminate_backend(%s)", (info.backend_pid,))

    report = sync_to_postgres(
        store,
        pg_url,
        progress=False,
        batch_rows=100,
        retry_wait_s=0.05,
        on_batch=lose_the_first_partition,
    )
    assert report.reconnects == 1
    assert report.synced == report.partitions
    assert pg_count(pg_url, "prices") == (1320, 1320)
    assert_same(store, pg_url)
    assert len(assert_state_honest(store, pg_url)) == report.partitions
