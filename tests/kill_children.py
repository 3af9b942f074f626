"""Processes the crash tests kill (tests/pg/test_sync_kill9.py): each runs one sync job.

They start from a forkserver that has imported this module (and so the library) once, so
each starts in milliseconds without sharing the test process's threads (polars' pool)."""

from __future__ import annotations

import os
from datetime import datetime

from energylib.agent.decision_sync import DecisionSync
from energylib.simulate.influx import InfluxWriter
from energylib.store.influx_sync import sync_influx_to_postgres


def influx_sync(influx_url: str, database: str, url: str, until: str) -> None:
    sync_influx_to_postgres(
        InfluxWriter(influx_url, version=1, database=database),
        url,
        batch_intervals=3,
        until=datetime.fromisoformat(until),
        progress=False,
    )


def decision_copy(db: str, url: str) -> None:
    DecisionSync(db, url, "site", batch_rows=10).sync()


JOBS = {"influx_sync": influx_sync, "decision_copy": decision_copy}


def main(ready, job: str, args: tuple) -> None:
    ready.set()
    JOBS[job](*args)
    os._exit(0)
