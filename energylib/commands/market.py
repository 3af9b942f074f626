"""``energy market --params FILE [--scheduler ADDRESS]``: run a community energy market study.

Reads a params file (``params/community_nem.yaml``, ``params/community_nl.yaml``), builds
the homes and the year's prices, runs the no-market baseline, every mechanism and the
cooperative optimum (:func:`energylib.trading.study.run_study`) with a progress bar, prints
the summary table and, with ``--output``, writes the result frames as Parquet.

``--scheduler``: ``local`` starts a Dask LocalCluster on this machine; an address
(``tcp://10.0.0.5:8786``) sends the work to your own Dask cluster, split by feeder
(``scale.feeder_size`` in the params, or ``--feeder-size``) and by mechanism.
"""

from __future__ import annotations

import argparse
import sys

from energylib.commands import add_quiet

SHORT = {
    "none": "alone",
    "peer_matching": "peer",
    "uniform_auction": "uniform",
    "continuous_auction": "continuous",
    "cooperative_optimum": "optimum",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "market",
        help="run a community energy market study (mechanisms, savings, the optimum)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--params", required=True, metavar="FILE", help="the study's params (YAML)")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler: 'local' (a LocalCluster) or an address (default: the params' "
        "scale.scheduler; null there runs in this process)",
    )
    p.add_argument(
        "--feeder-size",
        type=int,
        default=None,
        metavar="N",
        help="with a scheduler: homes per feeder (default: the params' scale.feeder_size)",
    )
    p.add_argument(
        "--days", type=float, default=None, help="study this many days (default: the params')"
    )
    p.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="write summary/households/intervals Parquet here",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from energylib.trading.study import (
        MarketStudyError,
        headline,
        load_params,
        run_study,
        save_results,
    )

    overrides: dict = {}
    if args.days is not None:
        overrides["days"] = args.days
    if args.feeder_size is not None:
        overrides["scale"] = {"feeder_size": args.feeder_size}
    try:
        params = load_params(args.params, overrides)
        study = run_study(params, scheduler=args.scheduler, progress=not args.quiet)
    except MarketStudyError as err:
        print(f"market: {err}", file=sys.stderr)
        return 2
    console = Console()
    table = Table(title=f"{params.title} ({study.currency})")
    frame = headline(study)
    table.add_column("")
    for name in frame["mechanism"]:
        table.add_column(SHORT.get(name, name), justify="right")
    for col in frame.columns[1:]:
        cells = ("" if v is None or v != v else f"{v:,.4g}" for v in frame[col].to_list())
        table.add_row(col, *cells)
    console.print(table)
    # soft_wrap: paths and descriptions stay on one line, whatever the terminal's width
    console.print(f"homes: {study.result.description}", soft_wrap=True)
    console.print(f"prices: {study.year_description}", soft_wrap=True)
    if args.output:
        for path in save_results(study, args.output):
            console.print(f"wrote {path}", soft_wrap=True)
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in study.seconds.items())
    console.print(f"done in {sum(study.seconds.values()):.1f} s ({stages})", soft_wrap=True)
    return 0
