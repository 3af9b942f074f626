"""``energy sync``: copy the Parquet store, or the gateway's InfluxDB, to Postgres (Supabase).

  energy sync [--once]                        the store, once (the default)
  energy sync --continuous [--interval S]     again every S seconds (SYNC_INTERVAL_SECONDS, 60)
  energy sync --status                        what is synced, what is pending, the last error
  energy sync --source influxdb ...           the gateway's readings from InfluxDB
                                              (--influxdb-url/-token/-org/-bucket or INFLUXDB_*,
                                              or --influxdb-database for InfluxDB 1.x)
  energy sync --supabase-schema               print the SQL that creates the tables in Supabase

Where to: Postgres directly (--to URL or SUPABASE_DB_URL), or Supabase's REST API
(SUPABASE_URL and SUPABASE_KEY, as the gateway documents; --target rest), which writes the
same tables; its tables are created once with the SQL of --supabase-schema.  Without
--target: Postgres where a Postgres URL is set, else the REST API.

Idempotent and resumable: a re-run changes nothing, a run cut off resumes where it
stopped.  Each run's outcome (and its error) is kept in ``DATA_DIR/sync_status.json``,
so ``--status`` shows the last error even when Postgres is down.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from energylib.commands import add_data_dir, add_quiet
from energylib.commands.simulate import add_influxdb_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sync",
        help="upsert the store or the gateway's InfluxDB into Postgres (--once, --continuous, --status)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="sync once (the default)")
    mode.add_argument(
        "--continuous", action="store_true", help="sync every --interval seconds until stopped"
    )
    mode.add_argument(
        "--status", action="store_true", help="show what is synced, pending, and the last error"
    )
    mode.add_argument(
        "--supabase-schema",
        action="store_true",
        help="print the SQL that creates the REST sync's tables (run it in Supabase's SQL editor)",
    )
    p.add_argument(
        "--target",
        choices=("postgres", "rest"),
        help="postgres: --to / SUPABASE_DB_URL; rest: Supabase's REST API, SUPABASE_URL and "
        "SUPABASE_KEY (default: postgres where a Postgres URL is set, else rest)",
    )
    p.add_argument(
        "--interval",
        type=float,
        help="seconds between continuous syncs (default SYNC_INTERVAL_SECONDS or 60)",
    )
    p.add_argument("--count", type=int, help="continuous: stop after N syncs")
    p.add_argument(
        "--source",
        choices=("store", "influxdb"),
        default="store",
        help="what to sync: the Parquet store or the gateway's InfluxDB (default %(default)s)",
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
        help="store: rows per COPY + upsert; influxdb: intervals per window "
        "(default SYNC_BATCH_SIZE; store 100000)",
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
    p.add_argument(
        "--interval-minutes",
        type=int,
        default=5,
        choices=(1, 5, 15, 30, 60),
        help="influxdb: interval of the stored frames [min] (default %(default)s)",
    )
    p.add_argument(
        "--timezone", default="UTC", help="influxdb: the site's IANA time zone (default UTC)"
    )
    add_influxdb_options(p)
    add_quiet(p)
    p.set_defaults(func=run)


def _status_path(args: argparse.Namespace, settings) -> Path:
    root = Path(args.data_dir) if args.data_dir else settings.data_dir
    return root / "sync_status.json"


def _record(path: Path, source: str, ok: bool, text: str) -> None:
    """Keep the outcome of a run in the status file (atomically; never fails the sync)."""
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    entry = data.setdefault(source, {})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    entry["last_run"] = now
    if ok:
        entry["last_ok"] = now
        entry["last_summary"] = text
    else:
        entry["last_error"] = text
        entry["last_error_at"] = now
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError as exc:
        print(f"sync: cannot write {path}: {exc.strerror}", file=sys.stderr)


def _sync_once(args, settings, url, status_path: Path) -> int:
    """One sync to ``url``: a Postgres URL, or a :class:`~energylib.store.supabase.SupabaseRest`."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.simulate.influx import InfluxWriteError
    from energylib.store.postgres import PostgresSyncError
    from energylib.store.supabase import SupabaseError, SupabaseRest

    try:
        if isinstance(url, SupabaseRest):
            from energylib.commands.simulate import influx_writer
            from energylib.store.influx_sync import sync_influx_to_supabase

            if args.source != "influxdb":
                raise ValueError(
                    "over Supabase's REST API only --source influxdb syncs (the gateway's cloud "
                    "sync); sync the store with --to postgresql://... or SUPABASE_DB_URL"
                )
            report = sync_influx_to_supabase(
                influx_writer(args),
                url,
                interval_minutes=args.interval_minutes,
                batch_intervals=args.batch_rows or settings.sync_batch_size,
                timezone=args.timezone,
                progress=not args.quiet,
            )
        elif args.source == "influxdb":
            from energylib.commands.simulate import influx_writer
            from energylib.store.influx_sync import sync_influx_to_postgres

            report = sync_influx_to_postgres(
                influx_writer(args),
                url,
                interval_minutes=args.interval_minutes,
                batch_intervals=args.batch_rows or settings.sync_batch_size,
                timezone=args.timezone,
                retries=args.retries,
                progress=not args.quiet,
            )
        else:
            from energylib.store import ParquetStore
            from energylib.store.sync import sync_to_postgres

            store = ParquetStore(
                args.store or (Path(args.data_dir) / "processed" if args.data_dir else None)
            )
            if not store.datasets():
                print(
                    f"sync: the store {store.root} is empty; nothing to sync "
                    "(run a backfill or an import first)"
                )
                return 0
            report = sync_to_postgres(
                store,
                url,
                batch_rows=args.batch_rows or 100_000,
                progress=not args.quiet,
                force=args.force,
                retries=args.retries,
            )
    except (PostgresSyncError, InfluxWriteError, SupabaseError, ValueError) as err:
        _record(status_path, args.source, False, str(err))
        print(f"sync failed: {err}", file=sys.stderr)
        return 1
    _record(status_path, args.source, True, str(report))
    print(report)
    return 0


def _status(args, settings, url, status_path: Path) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.store.postgres import PostgresSyncError, connect, redact_url
    from energylib.store.supabase import SupabaseRest

    try:
        local = json.loads(status_path.read_text()) if status_path.is_file() else {}
    except (OSError, ValueError):
        local = {}
    mine = local.get(args.source, {})
    rest = url if isinstance(url, SupabaseRest) else None
    shown = f"{rest.url}/rest/v1 ({rest.schema})" if rest else redact_url(url)
    print(f"sync status ({args.source} -> {shown})")
    print(f"  last run:   {mine.get('last_run', 'never')}")
    print(f"  last ok:    {mine.get('last_ok', 'never')}  {mine.get('last_summary', '')}".rstrip())
    err = mine.get("last_error")
    if err and mine.get("last_error_at", "") >= mine.get("last_ok", ""):
        print(f"  last error: {mine['last_error_at']}: {err}")
    else:
        print("  last error: none since the last successful run")
    if rest is not None:
        return _rest_status(args, rest)
    try:
        con = connect(url, retries=0)
    except PostgresSyncError as exc:
        print(f"  Postgres:   unreachable ({exc})")
        return 1
    with con:
        if args.source == "influxdb":
            from energylib.commands.simulate import influx_writer
            from energylib.store.influx_sync import read_state, target_name

            client = influx_writer(args)
            if _print_influx_state(client, read_state(con, target_name(client))):
                return 1
        else:
            from energylib.store import ParquetStore
            from energylib.store.sync import _fingerprint, _partitions, _state_table

            store = ParquetStore(
                args.store or (Path(args.data_dir) / "processed" if args.data_dir else None)
            )
            try:
                rows = con.execute(
                    f"SELECT source, kind, partition, fingerprint FROM {_state_table('energylib')}"
                ).fetchall()
            except Exception:  # noqa: BLE001 - no state table yet: nothing synced
                rows = []
            synced = {(r[0], r[1], r[2]): r[3] for r in rows}
            partitions = list(_partitions(store))
            pending = [
                f"{s}/{k}/{p.stem}"
                for s, k, p in partitions
                if synced.get((s, k, p.stem)) != _fingerprint(p.read_bytes())
            ]
            total = len(partitions)
            print(f"  synced:     {total - len(pending)} of {total} partition(s) of {store.root}")
            print(
                f"  pending:    {len(pending)} partition(s){': ' if pending else ''}"
                + ", ".join(pending[:10])
                + (" ..." if len(pending) > 10 else "")
            )
    return 0


def _rest_status(args, rest) -> int:
    """Synced and pending over Supabase's REST API (the InfluxDB source)."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.commands.simulate import influx_writer
    from energylib.store.influx_sync import read_rest_state, target_name
    from energylib.store.supabase import SupabaseError

    if args.source != "influxdb":
        print("  over Supabase's REST API only --source influxdb syncs")
        return 2
    client = influx_writer(args)
    try:
        state = read_rest_state(rest, target_name(client))
    except SupabaseError as exc:
        print(f"  Supabase:   {exc}")
        return 1
    return _print_influx_state(client, state)


def _print_influx_state(client, state: dict) -> int:
    """What the InfluxDB sync has copied (its watermark row) and what InfluxDB still holds
    after it; 1 where InfluxDB cannot be asked."""
    from energylib.simulate.influx import InfluxWriteError  # with the library (slow import)
    from energylib.store.influx_sync import pending_readings

    until = state["synced_until"]
    print(f"  synced:     {state['readings'] or 0} readings, until {until or 'nothing yet'}")
    if state["last_error"]:
        print(f"  server-side last error: {state['last_error']}")
    try:
        print(f"  pending:    {pending_readings(client, until)} readings in InfluxDB")
    except InfluxWriteError as exc:
        print(f"  pending:    unknown, InfluxDB unreachable ({exc})")
        return 1
    return 0


def _destination(args, settings):
    """A Postgres URL, or the Supabase REST client, per --target and the settings."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import secret
    from energylib.store.postgres import resolve_url
    from energylib.store.supabase import resolve_rest

    target = args.target
    if target is None:
        has_pg = args.to or secret(settings.supabase_db_url)
        has_rest = settings.supabase_url and secret(settings.supabase_key)
        if not has_pg and not has_rest:
            raise ValueError(
                "nowhere to sync to: set SUPABASE_DB_URL (or pass --to postgresql://user:"
                "password@host:5432/db) for Postgres, or SUPABASE_URL and SUPABASE_KEY for "
                "Supabase's REST API, in the environment or .env"
            )
        target = "rest" if has_rest and not has_pg else "postgres"
    return resolve_rest() if target == "rest" else resolve_url(args.to)


def run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import load_settings
    from energylib.store.postgres import PostgresSyncError

    try:
        settings = load_settings()
        if args.supabase_schema:
            from energylib.agent.decision_sync import table_ddl
            from energylib.store.influx_sync import schema_sql

            schema = settings.supabase_schema
            print(schema_sql(schema, table_ddl(schema)), end="")
            return 0
        url = _destination(args, settings)
    except (PostgresSyncError, ValueError) as err:
        print(f"sync: {err}", file=sys.stderr)
        return 2
    status_path = _status_path(args, settings)
    if args.status:
        return _status(args, settings, url, status_path)
    if not args.continuous:
        return _sync_once(args, settings, url, status_path)
    interval = args.interval if args.interval is not None else settings.sync_interval_seconds
    if interval <= 0:
        print(f"sync: --interval must be > 0 seconds, got {interval}", file=sys.stderr)
        return 2
    runs = failures = 0
    try:
        while args.count is None or runs < args.count:
            started = time.monotonic()
            failures += _sync_once(args, settings, url, status_path) != 0
            runs += 1
            if args.count is not None and runs >= args.count:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    print(f"sync: {runs} run(s), {failures} failed; see energy sync --status")
    return 1 if failures == runs and runs else 0
