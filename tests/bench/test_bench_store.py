"""Benchmark (make bench): upsert and read back one year of 5-min data for 3 channels.

Targets (issue 2): upsert <= 1.0 s, read <= 0.2 s on a 2-core machine.
"""

import time
from datetime import UTC, datetime

import numpy as np
import polars as pl

from energylib.schema import FrameMeta, interval_index
from energylib.store import ParquetStore


def year_frames():
    t = interval_index(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), 5)
    rng = np.random.default_rng(0)
    out = []
    for channel in ("general", "controlled_load", "feed_in"):
        data = pl.DataFrame(
            {
                "interval_start": t,
                "energy_kwh": rng.random(len(t)) * 0.2,
                "price_per_kwh": rng.normal(0.2, 0.3, len(t)),
            }
        )
        out.append(
            (data, FrameMeta("bench", "usage", 5, "site", channel, "AUD", "Australia/Sydney"))
        )
    return out


def best_of(n, fn):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times)), result


def test_bench_store_year_three_channels(tmp_path):
    frames = year_frames()
    rows = sum(f[0].height for f in frames)
    runs = []
    for i in range(3):
        store = ParquetStore(tmp_path / f"s{i}")
        t0 = time.perf_counter()
        for data, meta in frames:
            store.upsert(data, meta)
        runs.append(time.perf_counter() - t0)
    upsert = min(runs)
    again = best_of(3, lambda: [store.upsert(d, m) for d, m in frames])[0]
    read_all = best_of(5, lambda: store.scan("bench", "usage").collect())
    read_one = best_of(5, lambda: store.read("bench", "usage", channel="general"))
    assert read_all[2].height == rows
    print(f"\nParquet store, {rows:,} rows (1 year x 5-min x 3 channels)")
    print(
        f"  upsert (fresh store)       {upsert:6.3f} s  {rows / upsert:>12,.0f} rows/s   target <= 1.0 s"
    )
    print(f"  upsert again (no change)   {again:6.3f} s  {rows / again:>12,.0f} rows/s")
    print(
        f"  read all 3 channels        {read_all[0]:6.3f} s  {rows / read_all[0]:>12,.0f} rows/s   target <= 0.2 s"
    )
    print(
        f"  read one channel           {read_one[0]:6.3f} s  {rows / 3 / read_one[0]:>12,.0f} rows/s"
    )
