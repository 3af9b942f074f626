"""Fixtures of the trading tests: the default year's prices, a real Dask LocalCluster."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def nem_full_year():
    """The default year's NEM prices and weather at 30 min (generated, offline)."""
    from energylib.trading.homes import market_year

    return market_year("nem", interval_minutes=30)


@pytest.fixture(scope="module")
def nem_year(nem_full_year):
    """Three weeks of it."""
    return nem_full_year.window(10, 21)


@pytest.fixture(scope="session")
def local_cluster():
    """A dask.distributed LocalCluster of two worker processes on loopback."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster
