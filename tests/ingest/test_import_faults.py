"""``energy import`` on a bad day: a bad option or a full disk is a named error, never a
traceback, and what was stored stays as it was."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from energylib.cli import main
from energylib.store import ParquetStore

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "powerpal"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ENERGYLIB_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_unknown_timezone_is_a_named_error_naming_the_option(env, capsys):
    rc = main(
        ["import", "powerpal", str(FIX / "powerpal_30min_a.csv"), "--timezone", "Mars/Olympus"]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert 'unknown time zone "Mars/Olympus"' in err and "--timezone" in err
    assert "Traceback" not in err and "polars" not in err


@pytest.fixture
def small_disk(tmp_path):
    """A 256 kB tmpfs: a real file system that fills up (needs root; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def one_minute_export(path: Path, days: int) -> Path:
    """A Powerpal 1-min export of random readings (incompressible enough to be big)."""
    t = pl.datetime_range(
        datetime(2025, 4, 1),
        datetime(2025, 4, 1) + timedelta(days=days),
        "1m",
        closed="left",
        eager=True,
    )
    local = t.dt.replace_time_zone("UTC").dt.convert_time_zone("Australia/Sydney")
    wh = np.random.default_rng(1).integers(0, 60, len(t))
    pl.DataFrame(
        {
            "datetime_utc": t.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "datetime_local": local.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "watt_hours": wh,
            "cost_dollars": np.round(wh * 0.00031, 5),
            "is_peak": "false",
        }
    ).write_csv(path)
    return path


def test_disk_full_during_import_is_named_and_changes_nothing(tmp_path, small_disk, capsys):
    data_dir = small_disk / "data"
    assert (
        main(["import", "powerpal", str(FIX / "powerpal_30min_a.csv"), "--data-dir", str(data_dir)])
        == 0
    )
    store = ParquetStore(data_dir / "processed")
    before, _ = store.read("powerpal", "usage", site="home")
    files_before = {p: p.read_bytes() for p in (data_dir / "processed").rglob("*.parquet")}
    big = one_minute_export(tmp_path / "big.csv", days=60)
    capsys.readouterr()
    rc = main(["import", "powerpal", str(big), "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "disk full: about" in err and "MB needed" in err and "nothing changed" in err
    assert "Traceback" not in err and "ComputeError" not in err
    after, _ = ParquetStore(data_dir / "processed").read("powerpal", "usage", site="home")
    assert after.equals(before)
    assert {p: p.read_bytes() for p in (data_dir / "processed").rglob("*.parquet")} == files_before
    assert not list((data_dir / "processed").rglob(".*.tmp"))
