"""Processes the crash tests kill (tests/pg/test_sync_kill9.py): each runs one sync job and
counts its committed batches in ``done`` (a shared integer), so the test can kill it at a
chosen point of its run.

They start from a forkserver that has imported this module (and so the library) once, so
each starts in milliseconds without sharing the test process's threads (polars' pool)."""

from __future__ import annotations

import os
from datetime import datetime

from energylib.agent.decision_sync import DecisionSync
from energylib.simulate.influx import InfluxWriter
from energylib.store.influx_sync import sync_influx_to_postgres


def influx_sync(done, influx_url: str, database: str, url: str, until: str) -> None:
    def committed(_until) -> None:
        with done.get_lock():
            done.value += 1

    sync_influx_to_postgres(
        InfluxWriter(influx_url, version=1, database=database),
        url,
        batch_intervals=3,
        until=datetime.fromisoformat(until),
        progress=False,
        on_window=committed,
    )


class _Counted(DecisionSync):
    """Counts the batches committed: each read of the log after the first follows one."""

    done = None

    def _local_rows(self, after: int) -> list[tuple]:
        if after:
            with self.done.get_lock():
                self.done.value += 1
        return super()._local_rows(after)


def decision_copy(done, db: str, url: str) -> None:
    sync = _Counted(db, url, "site", batch_rows=10)
    sync.done = done
    sync.sync()


JOBS = {"influx_sync": influx_sync, "decision_copy": decision_copy}


def main(ready, done, job: str, args: tuple) -> None:
    ready.set()
    JOBS[job](done, *args)
    os._exit(0)
