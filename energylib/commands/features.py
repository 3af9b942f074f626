"""``energy features``: the ML-ready feature table as a job (the gateway's feature engineering).

  energy features --once [--lookback-days N]       build the table of the last N days, once
  energy features --continuous [--interval S]      again every S seconds (default 3600)
  energy features --status                         what the table holds, the last run and error

The table (every input of the feature spec, plus rolling means and standard deviations of
load and price over FE_ROLLING_WINDOW_DAYS) goes into the store as kind ``features`` and,
where SUPABASE_DB_URL (or --to) is set, into Postgres too.  The site's series are read from
the store, or from Postgres where only Postgres has them (the gateway's readings, synced
from InfluxDB).  Site and windows default to
FE_SITE_ID, FE_LOOKBACK_DAYS (30) and FE_ROLLING_WINDOW_DAYS (7); the table is upserted
FE_BATCH_SIZE (1000) rows at a time, oldest first, with a progress bar.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="build the ML-ready feature table into the store (--once, --continuous, --status)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="build the table once (the default)")
    mode.add_argument(
        "--continuous", action="store_true", help="rebuild every --interval seconds until stopped"
    )
    mode.add_argument("--status", action="store_true", help="show the table and the last run")
    p.add_argument(
        "--interval", type=float, default=3600.0, help="seconds between runs (default 3600)"
    )
    p.add_argument("--count", type=int, help="continuous: stop after N runs")
    p.add_argument(
        "--lookback-days", type=float, help="days of data (default FE_LOOKBACK_DAYS or 30)"
    )
    p.add_argument(
        "--rolling-window-days",
        type=float,
        help="window of the rolling statistics (default FE_ROLLING_WINDOW_DAYS or 7)",
    )
    p.add_argument(
        "--source", default="simulated", help="series source (default simulated; gateway: synced)"
    )
    p.add_argument("--site", help="site id (default FE_SITE_ID or default)")
    p.add_argument(
        "--batch-size",
        type=int,
        help="rows per upsert into each store (default FE_BATCH_SIZE or 1000)",
    )
    p.add_argument(
        "--spec",
        default="TOTAL_PRICE_WEATHER_TIME",
        help="feature spec (default %(default)s; TRADING_24, CONSUMPTION_TIME)",
    )
    p.add_argument("--data-dir", type=Path, help="data folder (default DATA_DIR or ./data)")
    p.add_argument(
        "--to", metavar="URL", help="also upsert into Postgres (default SUPABASE_DB_URL)"
    )
    p.add_argument("--quiet", action="store_true", help="print only errors")
    p.set_defaults(func=run)


def _record(path: Path, ok: bool, text: str) -> None:
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    data["last_run"] = now
    if ok:
        data.update(last_ok=now, last_summary=text)
    else:
        data.update(last_error=text, last_error_at=now)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError as exc:
        print(f"features: cannot write {path}: {exc.strerror}", file=sys.stderr)


def _once(args, settings, stores, status_path: Path) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.forecast.feature_table import build_feature_table, write_feature_table
    from energylib.schema import DataValidationError
    from energylib.store.postgres import PostgresSyncError

    t0 = time.perf_counter()
    site = args.site or settings.fe_site_id or "default"
    try:
        # the series are read where they are: the Parquet store, else Postgres (the
        # gateway's readings reach Postgres through energy sync --source influxdb)
        holder = next(
            (st for st in stores if not st.series(args.source, "load", site=site).is_empty()),
            stores[0],
        )
        table, meta = build_feature_table(
            holder,
            source=args.source,
            site=site,
            spec=args.spec,
            lookback_days=args.lookback_days or settings.fe_lookback_days,
            rolling_window_days=args.rolling_window_days or settings.fe_rolling_window_days,
        )
        written = write_feature_table(
            stores,
            table,
            meta,
            batch_rows=args.batch_size or settings.fe_batch_size,
            progress=not args.quiet,
        )
    except (LookupError, KeyError, ValueError, DataValidationError, PostgresSyncError) as exc:
        # batches upserted before a failure stay; the next run rewrites nothing stored
        message = str(exc).strip("'\"")
        _record(status_path, False, message)
        print(f"features failed: {message}", file=sys.stderr)
        return 1
    first, last = table["interval_start"].min(), table["interval_start"].max()
    text = (
        f"{table.height} rows x {table.width - 1} features of {meta.source}/{meta.site} "
        f"({meta.channel}) {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC; "
        + "; ".join(
            f"{name}: inserted {i}, updated {u} in {n} batch(es)" for name, i, u, n in written
        )
        + f"; {time.perf_counter() - t0:.1f} s"
    )
    _record(status_path, True, text)
    if not args.quiet:
        print(text)
    return 0


def _status(args, settings, stores, status_path: Path) -> int:
    from energylib.forecast.feature_table import KIND

    try:
        local = json.loads(status_path.read_text()) if status_path.is_file() else {}
    except (OSError, ValueError):
        local = {}
    print("feature table status")
    print(f"  last run:   {local.get('last_run', 'never')}")
    print(
        f"  last ok:    {local.get('last_ok', 'never')}  {local.get('last_summary', '')}".rstrip()
    )
    if local.get("last_error") and local.get("last_error_at", "") >= local.get("last_ok", ""):
        print(f"  last error: {local['last_error_at']}: {local['last_error']}")
    else:
        print("  last error: none since the last successful run")
    for store in stores:
        try:
            series = store.series(args.source, KIND)
        except Exception as exc:  # noqa: BLE001 - an unreachable store is reported, not raised
            print(f"  {store!r}: unreadable ({exc})")
            continue
        if series.is_empty():
            print(f"  {store!r}: no feature table yet (run energy features --once)")
        for row in series.iter_rows(named=True):
            print(
                f"  {store!r}: {row['site']}/{row['channel']}: {row['rows']} rows, "
                f"{row['first']:%Y-%m-%d %H:%M} .. {row['last']:%Y-%m-%d %H:%M} UTC"
            )
    return 0


def run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import load_settings, secret
    from energylib.store import ParquetStore
    from energylib.store.postgres import PostgresStore, PostgresSyncError

    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"features: {exc}", file=sys.stderr)
        return 2
    root = Path(args.data_dir) if args.data_dir else settings.data_dir
    stores: list = [ParquetStore(root / "processed")]
    url = args.to or secret(settings.supabase_db_url)
    if url:
        try:
            stores.append(PostgresStore(url))
        except PostgresSyncError as exc:
            print(f"features: {exc}", file=sys.stderr)
            return 2
    status_path = root / "features_status.json"
    if args.status:
        return _status(args, settings, stores, status_path)
    if not args.continuous:
        return _once(args, settings, stores, status_path)
    if args.interval <= 0:
        print(f"features: --interval must be > 0 seconds, got {args.interval}", file=sys.stderr)
        return 2
    runs = failures = 0
    try:
        while args.count is None or runs < args.count:
            started = time.monotonic()
            failures += _once(args, settings, stores, status_path) != 0
            runs += 1
            if args.count is not None and runs >= args.count:
                break
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    return 1 if failures == runs and runs else 0
