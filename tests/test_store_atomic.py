"""A multi-partition upsert is all-or-nothing: killed at any point, the store holds every
partition from before it or every one from after it, never a year half old and half new."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import polars as pl
import pytest

from energylib.schema import FrameMeta
from energylib.schema import interval_index as grid
from energylib.store import ParquetStore
from energylib.store import parquet as parquet_module

YEAR = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
META = FrameMeta("test", "usage", 5, "s1", "general", "AUD", "Australia/Sydney")

# Upserts a year of 5-min rows whose price is argv[2] everywhere, over whatever is stored.
WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    import polars as pl
    from energylib.schema import FrameMeta, interval_index
    from energylib.store import ParquetStore
    t = interval_index(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), 5)
    data = pl.DataFrame({"interval_start": t, "energy_kwh": pl.Series([0.1] * len(t)),
                         "price_per_kwh": pl.Series([float(sys.argv[2])] * len(t))})
    meta = FrameMeta("test", "usage", 5, "s1", "general", "AUD", "Australia/Sydney")
    store = ParquetStore(sys.argv[1])
    print("go", flush=True)
    t0 = time.perf_counter()
    store.upsert(data, meta)
    print(f"done {time.perf_counter() - t0:.3f}", flush=True)
    """
)


def _year(price: float) -> pl.DataFrame:
    t = grid(*YEAR, 5)
    return pl.DataFrame(
        {
            "interval_start": t,
            "energy_kwh": pl.Series([0.1] * len(t)),
            "price_per_kwh": pl.Series([price] * len(t)),
        }
    )


def _stored_prices(root) -> list[float]:
    back, _ = ParquetStore(root).read("test", "usage", *YEAR, site="s1", channel="general")
    assert back.height == 365 * 288, "a partition went missing"
    return back["price_per_kwh"].unique().sort().to_list()


def _writer(root, price: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(price)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "go"
    return proc


def test_a_year_upsert_killed_at_random_points_is_all_old_or_all_new(tmp_path):
    root = tmp_path / "processed"
    ParquetStore(root).upsert(_year(0.10), META)
    # One run to the end tells how long the upsert takes here.
    proc = _writer(root, 0.20)
    took = float(proc.stdout.readline().split()[1])
    proc.wait()
    assert _stored_prices(root) == [0.20]
    rng = random.Random(14)
    killed_mid_way = 0
    for attempt in range(6):
        price = 0.30 + attempt / 100
        before = _stored_prices(root)
        proc = _writer(root, price)
        time.sleep(rng.uniform(0.0, took * 1.1))
        os.kill(proc.pid, signal.SIGKILL)
        finished = proc.stdout.read().startswith("done")
        proc.wait()
        killed_mid_way += not finished
        after = _stored_prices(root)  # a fresh store: rolls a committed upsert forward
        assert after in (before, [price]), f"half old, half new after a kill: {after}"
        folder = root / "test" / "usage"
        assert not (folder / parquet_module.JOURNAL).exists()
    assert killed_mid_way >= 3, "the kills did not land inside the upsert"
    # The next writer removes what dead writers left behind.
    ParquetStore(root).upsert(_year(0.99).head(1), META)
    assert not list((root / "test" / "usage").glob(".*.tmp"))


def _crash_writing_after(monkeypatch, months: int) -> None:
    """The upsert dies (as if killed) when it starts writing month ``months + 1``."""
    real = parquet_module._write_temporary
    calls = {"n": 0}

    def crashing(frame, path):
        calls["n"] += 1
        if calls["n"] > months:
            raise KeyboardInterrupt("simulated crash")
        return real(frame, path)

    monkeypatch.setattr(parquet_module, "_write_temporary", crashing)


def test_a_crash_before_the_journal_rolls_back(tmp_path, monkeypatch):
    root = tmp_path / "processed"
    ParquetStore(root).upsert(_year(0.10), META)
    _crash_writing_after(monkeypatch, 6)  # 6 of 12 months written
    with pytest.raises(KeyboardInterrupt):
        ParquetStore(root).upsert(_year(0.20), META)
    monkeypatch.undo()
    assert _stored_prices(root) == [0.10]
    assert not list((root / "test" / "usage").glob(".*.tmp"))


def test_a_crash_after_the_journal_rolls_forward_on_the_next_read(tmp_path, monkeypatch):
    root = tmp_path / "processed"
    ParquetStore(root).upsert(_year(0.10), META)
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src, dst):  # the journal's rename, then 5 partitions, then the crash
        calls["n"] += 1
        if calls["n"] > 6:
            raise KeyboardInterrupt("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(parquet_module.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        ParquetStore(root).upsert(_year(0.20), META)
    monkeypatch.undo()
    folder = root / "test" / "usage"
    assert (folder / parquet_module.JOURNAL).exists()
    # Before rolling forward the files on disk really are half old, half new ...
    halves = {pl.read_parquet(f)["price_per_kwh"][0] for f in folder.glob("*.parquet")}
    assert halves == {0.10, 0.20}
    # ... and a reader never sees that: it finishes the commit first.
    assert _stored_prices(root) == [0.20]
    assert not (folder / parquet_module.JOURNAL).exists()
    assert not list(folder.glob(".*.tmp"))
