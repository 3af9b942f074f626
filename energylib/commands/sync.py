"""``energy sync``: copy the Parquet store to Postgres (Supabase), idempotent and resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from energylib.commands import add_data_dir, add_quiet


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sync",
        help="upsert the store into Postgres (URL from --to or SUPABASE_DB_URL)",
        description="Upsert every dataset of the Parquet store into Postgres in batches. "
        "Re-running changes nothing; a run cut off resumes where it stopped.",
    )
    p.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://user:password@host:5432/db (default: SUPABASE_DB_URL)",
    )
    add_data_dir(p, "data folder whose store (DIR/processed) is synced")
    # The store folder itself, as before --data-dir.
    p.add_argument("--store", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--batch-rows",
        type=int,
        default=100_000,
        help="rows per COPY + upsert (default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="upsert every partition, also those unchanged since the last sync",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=5,
        help="reconnects after a dropped connection (default: %(default)s)",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.store import ParquetStore
    from energylib.store.postgres import PostgresSyncError, resolve_url
    from energylib.store.sync import sync_to_postgres

    try:
        url = resolve_url(args.to)
    except PostgresSyncError as err:
        print(f"sync: {err}", file=sys.stderr)
        return 2
    store = ParquetStore(args.store or (Path(args.data_dir) / "processed" if args.data_dir else None))
    if not store.datasets():
        print(
            f"sync: the store {store.root} is empty; nothing to sync (run a backfill or an import first)"
        )
        return 0
    try:
        report = sync_to_postgres(
            store,
            url,
            batch_rows=args.batch_rows,
            progress=not args.quiet,
            force=args.force,
            retries=args.retries,
        )
    except PostgresSyncError as err:
        print(f"sync failed: {err}", file=sys.stderr)
        return 1
    print(report)
    return 0
