"""``energy report``: run the studies in params/report.yaml and render the HTML reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="run the studies through papermill and render HTML reports",
        description="Run every study listed in the plan (params/report.yaml) through papermill, one "
        "progress line per notebook, then render the HTML pages and an index page: with Quarto where "
        "it is installed (reports/_site/), else with nbconvert (reports/*.html).",
    )
    p.add_argument(
        "--plan", default="params/report.yaml", help="list of studies (default: %(default)s)"
    )
    p.add_argument(
        "--parallel", type=int, default=2, help="notebooks run at once (default: %(default)s)"
    )
    p.add_argument(
        "--no-quarto",
        action="store_true",
        help="render with nbconvert even where quarto is installed",
    )
    p.add_argument(
        "--no-data",
        action="store_true",
        help="do not generate the default year when the store is empty",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-notebook lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.report import ReportError, run_report

    try:
        result = run_report(
            args.plan,
            parallel=args.parallel,
            use_quarto=False if args.no_quarto else None,
            prepare_data=not args.no_data,
            progress=not args.quiet,
        )
    except ReportError as err:
        print(f"report failed: {err}", file=sys.stderr)
        return 1
    for html in result.html:
        print(f"report: {html}")
    if result.index:
        print(f"index: {result.index}")
    print_headlines(args.plan)
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(f"done in {sum(result.seconds.values()):.1f} s ({stages})")
    return 0


def print_headlines(plan: str) -> None:
    """Print the headline table of every study in the plan that saved one."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    import polars as pl
    from rich.console import Console

    from energylib.commands.scenarios import print_headline
    from energylib.config import PROJECT_ROOT
    from energylib.report import load_plan

    for study in load_plan(plan):
        out = study.parameters.get("headline_out")
        if out and (PROJECT_ROOT / out).is_file():
            print(f"\n{Path(out).name.split('.')[0]}:")
            print_headline(pl.read_parquet(PROJECT_ROOT / out), console=Console(width=120))
