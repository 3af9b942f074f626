"""``energy forecast-benchmark --params params/forecast_np_quick.yaml``: the open day-ahead
benchmark's protocol (epftoolbox) for the library's models, with the DM test."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "forecast-benchmark",
        help="score day-ahead forecasters by the open benchmark's rules (epftoolbox protocol)",
    )
    p.add_argument(
        "--params",
        default="params/forecast_np_quick.yaml",
        help="YAML params file (default: %(default)s; params/forecast_np_full.yaml runs the full protocol)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write table.parquet, forecasts.parquet and timings.parquet here",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import polars as pl
    import yaml

    from energylib.forecast.benchmark import benchmark_from_params

    path = Path(args.params)
    if not path.is_file():
        print(f"forecast-benchmark: params file {path} not found", file=sys.stderr)
        return 2
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        print(
            f"forecast-benchmark: {path} must hold a mapping of parameter names to values",
            file=sys.stderr,
        )
        return 2
    try:
        result, table = benchmark_from_params(params, progress=not args.quiet)
    except (ValueError, KeyError, LookupError, FileNotFoundError) as err:
        print(f"forecast-benchmark: {path}: {err}", file=sys.stderr)
        return 1
    days = result.days
    print(
        f"{result.data.target_name}: {len(days)} test days {days[0]} to {days[-1]}, "
        f"recalibration {result.recalibration}"
    )
    with pl.Config(tbl_rows=60, tbl_cols=12, tbl_width_chars=160, float_precision=4):
        print(table)
        print(result.timings)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table.write_parquet(out / "table.parquet")
        result.forecast_frame().write_parquet(out / "forecasts.parquet")
        result.timings.write_parquet(out / "timings.parquet")
        print(f"written: {out}/table.parquet, forecasts.parquet, timings.parquet")
    return 0
