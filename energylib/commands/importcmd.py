"""``energy import powerpal FILE...``: load Powerpal CSV exports into the store.

Overlapping exports merge: rows present in several files are stored once, and
importing a file again changes nothing.  A bad row stops the import with the
file and line; nothing is stored from a set of files that does not read cleanly.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import usage exports (Powerpal CSV) into the store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", choices=("powerpal",), help="export format")
    p.add_argument("files", nargs="+", help="CSV exports (several overlapping ones are fine)")
    p.add_argument(
        "--timezone",
        default="Australia/Sydney",
        help="IANA zone of datetime_local (default %(default)s)",
    )
    p.add_argument("--site", default="home", help="site name in the store (default %(default)s)")
    p.add_argument(
        "--data-dir", default=None, help="data folder (default ENERGYLIB_DATA_DIR or ./data)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from collections import defaultdict
    from pathlib import Path

    from energylib.config import load_settings
    from energylib.ingest.powerpal import read_powerpal_csv, read_powerpal_csvs
    from energylib.schema import DataValidationError
    from energylib.store import ParquetStore

    root = Path(args.data_dir) / "processed" if args.data_dir else load_settings().processed_dir
    store = ParquetStore(root)
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"no such file(s): {missing}", file=sys.stderr)
        return 2
    try:
        # Group by resolution first: a 1-min and a 30-min export are two series.
        by_minutes: dict[int, list[str]] = defaultdict(list)
        for f in args.files:
            _, meta = read_powerpal_csv(f, timezone=args.timezone, site=args.site)
            by_minutes[meta.interval_minutes].append(f)
        merged = [
            read_powerpal_csvs(files, timezone=args.timezone, site=args.site)
            for files in by_minutes.values()
        ]
    except DataValidationError as exc:
        print(f"import failed, nothing stored:\n{exc}", file=sys.stderr)
        return 1
    for data, meta in merged:
        result = store.upsert(data, meta)
        gaps = meta.extra["gaps"]
        span = f"{data['interval_start'].min()} .. {data['interval_start'].max()}"
        print(
            f"powerpal {meta.interval_minutes}-min usage for {meta.site}: {data.height} intervals ({span}) from "
            f"{len(meta.extra['files'])} file(s); {result.inserted} inserted, {result.updated} updated, "
            f"{result.unchanged} unchanged; {gaps.height} gap(s), {int(gaps['missing'].sum()) if gaps.height else 0} missing intervals"
        )
    return 0
