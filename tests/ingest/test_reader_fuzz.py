"""Fuzz: random mutations of real-format Powerpal, AEMO and Amber files are either read into
valid frames or refused with the library's own error, never another exception.
(Thousands of probes with counts: tests/bench/test_bench_reader_fuzz.py.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reader_fuzz import mutations, probe, seeds

SEEDS = seeds()


def test_the_seeds_read():
    with tempfile.TemporaryDirectory() as folder:
        assert {
            name: probe(name, raw, Path(folder)) for name, raw in SEEDS.items()
        } == dict.fromkeys(SEEDS, "read")


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutated_files_are_read_or_refused_with_the_librarys_error(name):
    folder = Path(tempfile.mkdtemp())

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=mutations(name, SEEDS[name]) | st.binary(max_size=64))
    def check(body):
        assert probe(name, body, folder) in ("read", "refused")

    check()
