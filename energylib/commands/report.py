"""``energy report``: run the studies in params/report.yaml and render the HTML reports."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="run the studies through papermill and render HTML reports")
    p.add_argument("--plan", default="params/report.yaml", help="list of studies (default: %(default)s)")
    p.add_argument("--parallel", type=int, default=1, help="notebooks run at once (default: %(default)s)")
    p.add_argument("--no-quarto", action="store_true", help="render with nbconvert even where quarto is installed")
    p.add_argument("--no-data", action="store_true", help="do not generate the default year when the store is empty")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from energylib.report import ReportError, run_report

    try:
        result = run_report(
            args.plan,
            parallel=args.parallel,
            use_quarto=False if args.no_quarto else None,
            prepare_data=not args.no_data,
        )
    except ReportError as err:
        print(f"report failed: {err}", file=sys.stderr)
        return 1
    for html in result.html:
        print(f"report: {html}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(f"done in {sum(result.seconds.values()):.1f} s ({stages})")
    return 0
