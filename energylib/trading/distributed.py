"""Scale-out on Dask's distributed scheduler: communities of thousands, sweeps of scenarios.

The work splits two ways, and a run is their product:

* **by feeder** (:class:`Feeder`): a large community is many feeders, each its own local
  market behind one transformer.  A feeder either carries its homes (real data: a
  :class:`~energylib.trading.homes.Community`) or names generated homes
  (``n_homes`` from home ``first`` of a seed's population), which the worker generates
  itself, so only the shared :class:`~energylib.trading.homes.MarketYear` travels (once,
  scattered to every worker).
* **by scenario** (:class:`Scenario`): mechanisms and their parameters (loss, margin,
  score threshold, forecast ...).

:func:`run_distributed` sends one task per (feeder, scenario) to the scheduler, shows a
progress bar as tasks finish, and combines each scenario's feeders into one
:class:`~energylib.trading.community.CommunityResult` (:func:`~energylib.trading.community.summarise`
over all of them: the feeder peak is the peak of the summed feeders).

The scheduler (``scheduler=``)
------------------------------
``None``
    A :class:`dask.distributed.LocalCluster` of worker processes (one thread each) on this
    machine, started for the run and closed after it.
an address (``"tcp://10.0.0.5:8786"``)
    An existing scheduler: your own cluster (``dask scheduler`` on one machine,
    ``dask worker tcp://10.0.0.5:8786`` on each of the others, energylib installed on all).
a :class:`dask.distributed.Client`
    Used as it is (not closed).
``"synchronous"``
    No Dask at all: the tasks run one after the other in this process (the reference a
    cluster is measured against, and the way to debug a task).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl
from tqdm import tqdm

from energylib.dispatch.assets import Battery, GridLimits
from energylib.trading.community import (
    DEFAULT_MECHANISMS,
    CommunityResult,
    TradingOptions,
    run_community,
    summarise,
)
from energylib.trading.homes import (
    TRADING_BATTERY,
    TRADING_GRID,
    Community,
    HomeMix,
    MarketYear,
    generated_community,
)

SYNCHRONOUS = "synchronous"


@dataclass(frozen=True, eq=False)
class Feeder:
    """One feeder's homes: given, or generated on the worker.

    Parameters
    ----------
    name : str
        The feeder's label (the ``feeder`` column of the results).
    community : Community, optional
        Its homes (real data); when given the other fields are ignored.
    n_homes, first, seed : int
        Generated homes ``first .. first + n_homes - 1`` of ``seed``'s population
        (:func:`~energylib.trading.homes.generated_community`).
    mix : HomeMix
        Their heterogeneity.
    battery : Battery
        The battery a generated home gets when it gets one.
    grid : GridLimits
        Connection limits of generated homes.
    """

    name: str
    community: Community | None = None
    n_homes: int = 0
    first: int = 0
    seed: int = 0
    mix: HomeMix = field(default_factory=HomeMix)
    battery: Battery = TRADING_BATTERY
    grid: GridLimits = TRADING_GRID

    def build(self, year: MarketYear) -> Community:
        """The feeder's community on ``year``."""
        if self.community is not None:
            return self.community
        if self.n_homes < 1:
            raise ValueError(f"feeder {self.name!r} has no homes: give a community or n_homes >= 1")
        return generated_community(
            self.n_homes,
            year,
            mix=self.mix,
            seed=self.seed,
            first=self.first,
            battery=self.battery,
            grid=self.grid,
        )


def split_feeders(community: Community, size: int) -> list[Feeder]:
    """Cut a community into feeders of ``size`` homes (the last may be smaller)."""
    if size < 1:
        raise ValueError(f"feeder size must be >= 1 home, got {size}")
    return [
        Feeder(
            f"feeder-{k}",
            community.subset(slice(a, a + size), f"{community.description}, feeder {k}"),
        )
        for k, a in enumerate(range(0, community.n_homes, size))
    ]


def generated_feeders(
    n_homes: int,
    size: int,
    *,
    seed: int = 0,
    mix: HomeMix | None = None,
    battery: Battery = TRADING_BATTERY,
    grid: GridLimits = TRADING_GRID,
) -> list[Feeder]:
    """``n_homes`` generated homes in feeders of ``size`` (home ``i`` is the same however
    the community is cut)."""
    if size < 1 or n_homes < 1:
        raise ValueError(f"need n_homes >= 1 and size >= 1, got {n_homes} and {size}")
    mix = mix or HomeMix()
    return [
        Feeder(f"feeder-{k}", None, min(size, n_homes - a), a, seed, mix, battery, grid)
        for k, a in enumerate(range(0, n_homes, size))
    ]


@dataclass(frozen=True)
class Scenario:
    """What to run on every feeder.

    Parameters
    ----------
    name : str
        The scenario's label.
    mechanisms : tuple of str
        Mechanisms (:data:`energylib.trading.market.MECHANISMS`).
    options : TradingOptions
        Node and market behaviour.
    optimum : bool
        Also solve each feeder's cooperative optimum.
    """

    name: str = "base"
    mechanisms: tuple[str, ...] = DEFAULT_MECHANISMS
    options: TradingOptions = field(default_factory=TradingOptions)
    optimum: bool = False


@dataclass(frozen=True, eq=False)
class TaskResult:
    """What one (feeder, scenario) task sends back: small tidy frames, no arrays, and
    where and how long it ran (``process``: the worker's process id; ``seconds``)."""

    scenario: str
    feeder: str
    households: pl.DataFrame
    intervals: pl.DataFrame
    optimum: pl.DataFrame | None
    seconds: float
    process: int


def run_task(year: MarketYear, feeder: Feeder, scenario: Scenario) -> TaskResult:
    """Build a feeder's homes and run a scenario on them (what each Dask task does)."""
    t0 = time.perf_counter()
    community = feeder.build(year)
    result = run_community(
        community,
        scenario.mechanisms,
        scenario.options,
        optimum=scenario.optimum,
        feeder=feeder.name,
    )
    tag = pl.lit(scenario.name).alias("scenario")
    return TaskResult(
        scenario=scenario.name,
        feeder=feeder.name,
        households=result.households.with_columns(tag),
        intervals=result.intervals.with_columns(tag),
        optimum=result.optimum_totals,
        seconds=time.perf_counter() - t0,
        process=os.getpid(),
    )


@contextmanager
def dask_client(scheduler=None, n_workers: int | None = None) -> Iterator[object]:
    """A :class:`dask.distributed.Client` for ``scheduler`` (see the module docstring).

    ``None`` starts a LocalCluster of ``n_workers`` processes (default: the machine's
    cores) on loopback and closes it afterwards; an address connects to that scheduler.
    """
    from distributed import Client, LocalCluster  # slow import, only where Dask is used

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None:
        with (
            LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    with Client(str(scheduler)) as client:
        yield client


def combine(
    results: Sequence[TaskResult], currency: str, description: str
) -> dict[str, CommunityResult]:
    """Each scenario's feeders as one :class:`CommunityResult` (frames only)."""
    out = {}
    for name in dict.fromkeys(r.scenario for r in results):
        part = [r for r in results if r.scenario == name]
        households = pl.concat([r.households for r in part])
        intervals = pl.concat([r.intervals for r in part])
        optima = [r.optimum for r in part if r.optimum is not None]
        totals = pl.concat(optima) if optima else None
        out[name] = CommunityResult(
            summary=summarise(households, intervals, totals).with_columns(
                pl.lit(name).alias("scenario"), pl.lit(len(part)).alias("feeders")
            ),
            households=households,
            intervals=intervals,
            optimum=None,
            optimum_totals=totals,
            runs={},
            currency=currency,
            description=f"{description}, {len(part)} feeder(s), scenario {name}",
            seconds={r.feeder: r.seconds for r in part},
            processes={r.feeder: r.process for r in part},
        )
    return out


def run_distributed(
    year: MarketYear,
    feeders: Sequence[Feeder],
    scenarios: Sequence[Scenario] = (Scenario(),),
    *,
    scheduler=None,
    n_workers: int | None = None,
    progress: bool = True,
    description: str = "",
) -> dict[str, CommunityResult]:
    """Run every scenario on every feeder on a Dask cluster (or in this process).

    Parameters
    ----------
    year : MarketYear
        Calendar, prices and weather every feeder shares (sent once to each worker).
    feeders : sequence of Feeder
        The community, cut into feeders (:func:`split_feeders`, :func:`generated_feeders`).
    scenarios : sequence of Scenario
        What to run on each feeder.
    scheduler : None, str or Client
        ``None``: a LocalCluster; an address; a Client; or ``"synchronous"`` (no Dask).
    n_workers : int, optional
        Worker processes of the LocalCluster (default: the machine's cores).
    progress : bool
        A progress bar over the tasks.
    description : str
        What the community is (for the results).

    Returns
    -------
    dict of str to CommunityResult
        One per scenario name, feeders combined.
    """
    feeders = list(feeders)
    scenarios = list(scenarios)
    if not feeders or not scenarios:
        raise ValueError("run_distributed needs at least one feeder and one scenario")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique, got {names}")
    jobs = [(f, s) for s in scenarios for f in feeders]
    bar = tqdm(total=len(jobs), desc="market tasks", unit="task", disable=not progress)
    results: list[TaskResult] = []
    if scheduler == SYNCHRONOUS:
        for f, s in jobs:
            results.append(run_task(year, f, s))
            bar.update(1)
    else:
        from distributed import as_completed  # slow import, only where Dask is used

        with dask_client(scheduler, n_workers) as client:
            shared = client.scatter(year, broadcast=True)
            futures = [client.submit(run_task, shared, f, s, pure=False) for f, s in jobs]
            for future in as_completed(futures):
                results.append(future.result())
                bar.update(1)
    bar.close()
    order = {(s.name, f.name): i for i, (f, s) in enumerate(jobs)}
    results.sort(key=lambda r: order[(r.scenario, r.feeder)])
    homes = sum(f.community.n_homes if f.community is not None else f.n_homes for f in feeders)
    return combine(results, year.currency, description or f"{homes} homes")
