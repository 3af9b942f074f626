"""Scale-out on a real dask.distributed LocalCluster of worker processes (loopback)."""

from __future__ import annotations

import os

import polars as pl
import pytest
from trading.cases import trading_pair

from energylib.trading.community import TradingOptions
from energylib.trading.distributed import (
    SYNCHRONOUS,
    Feeder,
    Scenario,
    generated_feeders,
    run_distributed,
    split_feeders,
)


@pytest.fixture(scope="module")
def year(nem_full_year):
    return nem_full_year.window(30, 2)


SCENARIOS = [
    Scenario("uniform", ("uniform_auction",), TradingOptions(seed=1), optimum=True),
    Scenario("cda-10pct-loss", ("continuous_auction",), TradingOptions(seed=1)),
]


def test_feeders_and_scenarios_on_a_local_cluster_match_one_process(local_cluster, year):
    feeders = generated_feeders(6, 3, seed=4)
    here = run_distributed(year, feeders, SCENARIOS, scheduler=SYNCHRONOUS, progress=False)
    # by address, as a user's own cluster is reached
    there = run_distributed(
        year, feeders, SCENARIOS, scheduler=local_cluster.scheduler_address, progress=False
    )
    assert set(here) == set(there) == {"uniform", "cda-10pct-loss"}
    for name in here:
        assert here[name].households.equals(there[name].households)
        assert here[name].intervals.equals(there[name].intervals)
        a, b = here[name].summary, there[name].summary
        assert a["mechanism"].to_list() == b["mechanism"].to_list()
        for col in ("bill", "saving", "traded_kwh", "peak_import_kwh"):
            assert a[col].to_list() == pytest.approx(b[col].to_list(), nan_ok=True)
    # the tasks ran in the cluster's worker processes, not here
    from distributed import Client

    with Client(local_cluster) as client:
        workers = set(client.run(os.getpid).values())
    assert len(workers) == 2
    ran = {pid for r in there.values() for pid in r.processes.values()}
    assert ran <= workers and os.getpid() not in ran
    assert {pid for r in here.values() for pid in r.processes.values()} == {os.getpid()}
    res = there["uniform"]
    assert res.households["feeder"].unique().sort().to_list() == ["feeder-0", "feeder-1"]
    assert res.households.filter(pl.col("mechanism") == "none").height == 6
    # each feeder's optimum was solved on a worker and the bound is their sum
    assert res.optimum_totals.height == 2
    assert res.summary["mechanism"].to_list()[-1] == "cooperative_optimum"


def test_real_homes_split_into_feeders_keep_every_home_once(year):
    c = trading_pair(days=1)
    feeders = split_feeders(c, 1)
    assert [f.community.names for f in feeders] == [("sunny",), ("evening",)]
    res = run_distributed(c.year, feeders, [Scenario()], scheduler=SYNCHRONOUS, progress=False)[
        "base"
    ]
    assert sorted(res.households.filter(pl.col("mechanism") == "none")["household"]) == [
        "evening",
        "sunny",
    ]
    # alone, each feeder of one home trades nothing
    assert res.summary.filter(pl.col("mechanism") != "none")["traded_kwh"].to_list() == [
        0.0,
        0.0,
        0.0,
    ]


def test_bad_splits_are_refused():
    with pytest.raises(ValueError, match="feeder size"):
        split_feeders(trading_pair(days=1), 0)
    with pytest.raises(ValueError, match="no homes"):
        Feeder("empty").build(trading_pair(days=1).year)
    with pytest.raises(ValueError, match="unique"):
        run_distributed(trading_pair(days=1).year, generated_feeders(2, 1), [Scenario(), Scenario()],
                        scheduler=SYNCHRONOUS, progress=False)  # fmt: skip
