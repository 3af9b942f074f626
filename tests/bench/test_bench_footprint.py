"""The Pi's footprint (issue 20): the `[agent]` extra alone, installed into a fresh venv from
the local wheel, its size on disk, and the agent's resident memory there with the ONNX
forecaster loaded while it makes a decision (target <= 150 MB).  Prints the figures.

Run:  .venv/bin/python -m pytest tests/bench/test_bench_footprint.py -s -q --override-ini norecursedirs=

Needs the package index (pip downloads the agent extra's wheels); the decision runs against
the local fake Amber server on loopback.  The fresh venv's files are evicted from the page
cache before the run (see :func:`drop_from_page_cache`), so its libraries load as after a
reboot.  The full venv's figure is printed beside it, from
the same decision in the development venv (torch, Jupyter, Dask installed but not imported).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agent_fakes import SITE, TOKEN, FakeAmber, seed_history, train_and_export

from energylib.agent.clock import SimulatedClock
from energylib.store import SqliteStore

ROOT = Path(__file__).resolve().parents[2]

# Peak resident memory from /proc (VmHWM): ru_maxrss would count the forking parent's pages.
# RssAnon (the process's own memory) and RssFile (mapped library pages) at the end.
DECIDE = """
import json, sys
def mb(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key + ":"))
    return int(line.split()[1]) / 1024
import energylib.agent.runner
imported = mb("VmHWM")
from energylib.cli import main
rc = main(["agent", "run", "--once", "--state-dir", sys.argv[1]])
heavy = ("torch", "jupyter", "papermill", "dask", "distributed", "flwr", "altair", "numba",
         "scipy", "pandas", "pvlib", "pyarrow")
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
print(json.dumps({"rc": rc, "heavy_loaded": loaded, "onnxruntime": "onnxruntime" in sys.modules,
                  "import_mb": imported, "rss_mb": mb("VmHWM"), "anon_mb": mb("RssAnon"),
                  "file_mb": mb("RssFile")}), file=sys.stderr)
"""


def drop_from_page_cache(folder: Path) -> None:
    """Evict ``folder``'s files from the page cache, as after a reboot.

    Files pip has just written sit in the page cache in large folios, and a process that maps
    them gets whole folios of library code counted in its RSS: ~50 MB more for the same
    agent than when the libraries are read from disk (measured on this machine's kernel).
    """
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def decide_rss(python: str, state: Path, env: dict) -> dict:
    proc = subprocess.run(
        [python, "-c", DECIDE, str(state)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.slow
def test_bench_agent_extra_size_and_rss(tmp_path, httpserver):
    venv = tmp_path / "pi"
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True,
    )  # fmt: skip
    wheel = next(wheels.glob("energylib-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"{wheel}[agent]"], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    size_mb = folder_mb(site)

    wall = datetime.now(UTC)
    now = wall.replace(minute=wall.minute - wall.minute % 30, second=0, microsecond=0)
    fake = FakeAmber(httpserver, SimulatedClock(now))
    state = tmp_path / "agent"
    seed_history(SqliteStore(state / "live.sqlite"), now, days=2)
    (state / "models").mkdir()
    train_and_export(state / "models", 1, "model_a.onnx")
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "AMBER_TOKEN": TOKEN,
        "AMBER_BASE_URL": fake.base_url,
        "AMBER_SITE_ID": SITE,
    }
    drop_from_page_cache(site)
    pi = decide_rss(str(venv / "bin" / "python"), state, env)
    dev = decide_rss(sys.executable, state, {**env, "PYTHONPATH": str(ROOT)})
    print(
        f"\n[agent] extra alone: site-packages {size_mb:.0f} MB; "
        f"agent peak RSS with the ONNX model, one decision: {pi['rss_mb']:.0f} MB "
        f"({pi['import_mb']:.0f} MB after importing the agent; at the end {pi['anon_mb']:.0f} MB "
        f"its own + {pi['file_mb']:.0f} MB mapped libraries) "
        f"(onnxruntime loaded: {pi['onnxruntime']}, heavy modules loaded: {pi['heavy_loaded']}); "
        f"the same decision in the dev venv: {dev['rss_mb']:.0f} MB; target <= 150 MB"
    )
    assert not pi["heavy_loaded"] and pi["onnxruntime"]
    shutil.rmtree(venv, ignore_errors=True)
