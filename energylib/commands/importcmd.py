"""``energy import powerpal|amber FILE...``: load saved exports and responses into the store.

``powerpal``: Powerpal CSV exports.  Overlapping exports merge: rows present in
several files are stored once, and importing a file again changes nothing.  A
bad row stops the import with the file and line; nothing is stored from a set
of files that does not read cleanly.

``amber``: saved Amber API responses (``/sites/{id}/prices`` JSON, or usage with
``--kind usage``), e.g. kept from earlier downloads; each series is written once.
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
    p.add_argument("source", choices=("powerpal", "amber"), help="export format")
    p.add_argument(
        "files", nargs="+", help="CSV exports or saved JSON responses (overlapping ones are fine)"
    )
    p.add_argument(
        "--kind", choices=("prices", "usage"), default="prices", help="amber: what the files hold"
    )
    p.add_argument(
        "--timezone",
        default="Australia/Sydney",
        help="IANA zone of datetime_local (default %(default)s)",
    )
    p.add_argument(
        "--site",
        default=None,
        help="site name in the store (default: home; amber: AMBER_SITE_ID or 'default')",
    )
    p.add_argument(
        "--data-dir", default=None, help="data folder (default ENERGYLIB_DATA_DIR or ./data)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from collections import defaultdict
    from pathlib import Path

    from energylib.config import load_settings
    from energylib.ingest.powerpal import merge_powerpal_exports, read_powerpal_csv
    from energylib.schema import DataValidationError
    from energylib.store import ParquetStore

    settings = load_settings()
    root = Path(args.data_dir) / "processed" if args.data_dir else settings.processed_dir
    store = ParquetStore(root)
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"no such file(s): {missing}", file=sys.stderr)
        return 2
    if args.source == "amber":
        return _amber(args, store, settings.amber_site_id or "default")
    args.site = args.site or "home"
    try:
        # Group by resolution first: a 1-min and a 30-min export are two series.
        by_minutes: dict[int, list] = defaultdict(list)
        for f in args.files:
            data, meta = read_powerpal_csv(f, timezone=args.timezone, site=args.site)
            by_minutes[meta.interval_minutes].append((data, meta))
        merged = [merge_powerpal_exports(parts) for parts in by_minutes.values()]
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


def _amber(args: argparse.Namespace, store, default_site: str) -> int:
    from energylib.ingest.backfill import store_amber_responses
    from energylib.schema import DataValidationError

    try:
        result = store_amber_responses(
            store,
            args.files,
            kind=args.kind,
            site=args.site or default_site,
            timezone=args.timezone,
        )
    except (DataValidationError, ValueError) as exc:
        print(f"import failed, nothing stored:\n{exc}", file=sys.stderr)
        return 1
    print(
        f"amber {args.kind} from {len(args.files)} file(s): {result.inserted} inserted, "
        f"{result.updated} updated, {result.unchanged} unchanged"
    )
    return 0
