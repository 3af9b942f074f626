"""``energy sync``: copy the Parquet store to Postgres (Supabase), idempotent and resumable."""

from __future__ import annotations

import argparse
import sys


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
    p.add_argument(
        "--store", metavar="DIR", help="Parquet store folder (default: the data dir's processed/)"
    )
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    store = ParquetStore(args.store)
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
            progress=not args.no_progress,
            force=args.force,
            retries=args.retries,
        )
    except PostgresSyncError as err:
        print(f"sync failed: {err}", file=sys.stderr)
        return 1
    print(report)
    return 0
