"""Benchmark (make bench): many random mutations of real-format files per reader, with counts.

Each probe mutates a small real-format Powerpal, AEMO or Amber file (tests/reader_fuzz.py)
and reads it: ``read`` (valid canonical frames), ``refused`` (the library's own error) or
``crash`` (any other exception: a bug).  Prints probes per reader and outcome; fails on
any crash.

Run: .venv/bin/python -m pytest tests/bench/test_bench_reader_fuzz.py -s -q --override-ini norecursedirs=
"""

from __future__ import annotations

import collections
import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reader_fuzz import mutations, probe, seeds

PROBES = int(os.environ.get("READER_FUZZ_PROBES", "2000"))


def _fuzz(name: str, raw: bytes, folder: Path, crashes: list[str]) -> collections.Counter:
    seen: collections.Counter = collections.Counter()

    @settings(
        max_examples=PROBES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(body=mutations(name, raw) | st.binary(max_size=64))
    def run(body):
        try:
            seen[probe(name, body, folder)] += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported: the point of the probe
            seen[f"crash {type(exc).__name__}"] += 1
            crashes.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]} <- {body[:120]!r}")

    run()
    return seen


def test_bench_reader_fuzz():
    folder = Path(tempfile.mkdtemp())
    crashes: list[str] = []
    for name, raw in seeds().items():
        t0 = time.perf_counter()
        seen = _fuzz(name, raw, folder, crashes)
        print(
            f"{name}: {sum(seen.values())} probes in {time.perf_counter() - t0:.1f} s: {dict(seen)}"
        )
    for line in crashes[:20]:
        print("CRASH", line)
    assert not crashes
