"""``energy simulate``: the edge-gateway DER simulator, and the default year.

Modes (one of):

  --once                          one reading now (or --at TIME)
  --continuous --interval S       a reading every S seconds (--count N to stop)
  --scheduled --interval S        readings on clock boundaries (10:05:00, 10:10:00 ...)
  --historical --start D --end D --output FILE.jsonl
                                  readings over [D, D) to JSONL, and canonical frames into the store
  --generate-config --config FILE write the default JSON config

``energy simulate default-year [--seed N] [--data-dir DIR]`` writes the generated
2025 year (Sydney ``default`` and Amsterdam ``nl-default``) into the store.

Readings go to stdout as JSON lines (or --output, or the config's ``output_file``);
--enable-influxdb adds the documented InfluxDB sink: v2 at --influxdb-url with
--influxdb-token/--influxdb-org/--influxdb-bucket (or INFLUXDB_URL, INFLUXDB_TOKEN,
INFLUXDB_ORG, INFLUXDB_BUCKET), or v1 with --influxdb-database; the bucket's (v2) or a
retention policy's (v1) retention is set to --influxdb-retention-days (default 7).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def _time(text: str) -> pd.Timestamp:
    # Slow (pandas and pyarrow, ~60 MB resident), and only for `simulate`: every `energy`
    # command builds this parser, the agent's too, which never needs pandas.
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time; use YYYY-MM-DD or ISO 8601"
        ) from exc
    return ts


def add_influxdb_options(p: argparse.ArgumentParser) -> None:
    """The gateway's documented InfluxDB options (``energy simulate`` and ``energy sync``)."""
    p.add_argument(
        "--influxdb-url", help="InfluxDB server URL (default INFLUXDB_URL or http://localhost:8086)"
    )
    p.add_argument("--influxdb-token", help="InfluxDB v2 token (default INFLUXDB_TOKEN)")
    p.add_argument("--influxdb-org", help="InfluxDB v2 org (default INFLUXDB_ORG or edge-gateway)")
    p.add_argument(
        "--influxdb-bucket", help="InfluxDB v2 bucket (default INFLUXDB_BUCKET or der-data)"
    )
    p.add_argument(
        "--influxdb-retention-days",
        type=float,
        default=7.0,
        help="data retention [days] of the bucket / retention policy (0: forever; default 7)",
    )
    p.add_argument("--influxdb-database", help="InfluxDB 1.x database: selects the v1 /write API")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="DER gateway simulator and the default year",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="emit one reading")
    mode.add_argument(
        "--continuous", action="store_true", help="emit a reading every --interval seconds"
    )
    mode.add_argument(
        "--scheduled", action="store_true", help="emit readings aligned to clock boundaries"
    )
    mode.add_argument(
        "--historical", action="store_true", help="readings over --start..--end to --output"
    )
    mode.add_argument(
        "--generate-config", action="store_true", help="write the default config to --config"
    )
    p.add_argument("--config", type=Path, help="JSON config file (every field optional)")
    p.add_argument(
        "--interval",
        type=float,
        help="seconds between readings (default: the config's interval_seconds)",
    )
    p.add_argument("--count", type=int, help="stop after N readings (continuous/scheduled)")
    p.add_argument(
        "--at",
        type=_time,
        help="time of the --once reading (default now; without a zone: local time)",
    )
    p.add_argument(
        "--start",
        type=_time,
        help="historical: first day or time (without a zone: the site's local time)",
    )
    p.add_argument("--end", type=_time, help="historical: end time (excluded)")
    p.add_argument(
        "--output", type=Path, help="JSONL file (historical: required; others: instead of stdout)"
    )
    p.add_argument("--data-dir", type=Path, help="store folder root (default DATA_DIR or ./data)")
    p.add_argument(
        "--no-store", action="store_true", help="historical: do not write frames into the store"
    )
    p.add_argument("--enable-influxdb", action="store_true", help="write readings to InfluxDB")
    add_influxdb_options(p)
    p.set_defaults(func=run)

    s = p.add_subparsers(dest="simulate_command", metavar="{default-year}")
    d = s.add_parser("default-year", help="write the generated 2025 default year into the store")
    d.add_argument("--seed", type=int, default=2025, help="random seed (default %(default)s)")
    d.add_argument("--data-dir", type=Path, help="store folder root (default DATA_DIR or ./data)")
    d.add_argument(
        "--markets", default="nem,nl", help="comma-separated markets (default %(default)s)"
    )
    d.add_argument("--year", type=int, default=2025, help="calendar year (default %(default)s)")
    d.set_defaults(func=run_default_year)


def _store(data_dir: Path | None):
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import load_settings
    from energylib.store import ParquetStore

    root = Path(data_dir) / "processed" if data_dir else load_settings().processed_dir
    return ParquetStore(root)


def run_default_year(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.simulate.default_year import write_default_year

    markets = tuple(m.strip() for m in args.markets.split(",") if m.strip())
    bad = [m for m in markets if m not in ("nem", "nl")]
    if bad:
        print(f"error: unknown market(s) {bad}; use nem and/or nl", file=sys.stderr)
        return 2
    store = _store(args.data_dir)
    t0 = time.perf_counter()
    summary = write_default_year(store, markets, args.seed, year=args.year, progress=True)
    for key, rows in summary.items():
        print(f"{key:28s} {rows:>8d} rows written")
    print(
        f"default year {args.year} (seed {args.seed}) in {store.root} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def influx_writer(args: argparse.Namespace):
    """The InfluxDB writer the documented ``--influxdb-*`` options and ``INFLUXDB_*``
    variables name (options win)."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import load_settings, secret
    from energylib.simulate.influx import InfluxWriter

    settings = load_settings()
    url = args.influxdb_url or settings.influxdb_url
    if args.influxdb_database:
        return InfluxWriter(url, version=1, database=args.influxdb_database)
    token = args.influxdb_token or secret(settings.influxdb_token)
    if not token:
        raise ValueError("InfluxDB 2.x needs a token: --influxdb-token or INFLUXDB_TOKEN")
    return InfluxWriter(
        url,
        version=2,
        token=token,
        org=args.influxdb_org or settings.influxdb_org,
        bucket=args.influxdb_bucket or settings.influxdb_bucket,
    )


def _sinks(args, gateway_out):
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.simulate.influx import InfluxWriteError

    sinks = [gateway_out]
    if args.enable_influxdb:
        writer = influx_writer(args)
        try:
            done = writer.ensure_retention(args.influxdb_retention_days)
        except InfluxWriteError as exc:
            raise ValueError(str(exc)) from None
        print(f"InfluxDB: {done}", file=sys.stderr)
        sinks.append(writer)
    return sinks


def run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.simulate import gateway as gw
    from energylib.simulate.influx import BatchedWriter, InfluxWriteError

    modes = (args.once, args.continuous, args.scheduled, args.historical, args.generate_config)
    if not any(modes):
        print(
            "error: choose a mode: --once, --continuous, --scheduled, --historical, --generate-config "
            "(or the default-year subcommand)",
            file=sys.stderr,
        )
        return 2
    if args.generate_config:
        if not args.config:
            print("error: --generate-config needs --config FILE to write", file=sys.stderr)
            return 2
        path = gw.write_default_config(args.config)
        print(f"wrote default config to {path}")
        return 0
    try:
        config = gw.load_config(args.config)
        if args.interval is not None:
            if args.interval <= 0:
                raise gw.GatewayConfigError(f"--interval must be > 0 seconds, got {args.interval}")
            config["interval_seconds"] = max(1, int(round(args.interval)))
        gateway = gw.Gateway(config)
    except gw.GatewayConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    output = args.output or (Path(config["output_file"]) if config["output_file"] else None)
    if args.historical:
        if not (args.start and args.end and output):
            print(
                "error: --historical needs --start, --end and --output (or the config's output_file)",
                file=sys.stderr,
            )
            return 2
        store = None if args.no_store else _store(args.data_dir)
        try:
            n = gw.run_historical(
                gateway,
                args.start,
                args.end,
                output,
                store=store,
                sinks=[BatchedWriter(w) for w in _sinks(args, lambda p: None)[1:]],
                progress=True,
            )
        except (ValueError, InfluxWriteError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        where = f" and frames into {store.root}" if store is not None else ""
        print(f"wrote {n} readings to {output}{where}")
        return 0

    fh = open(output, "a") if output else sys.stdout  # noqa: SIM115 - closed below

    def emit(point: dict) -> None:
        fh.write(json.dumps(point, separators=(",", ":")) + "\n")
        fh.flush()

    try:
        sinks = _sinks(args, emit)
        if args.once:
            gw.run_once(gateway, sinks, at=args.at)
        else:
            interval = (
                args.interval if args.interval is not None else float(config["interval_seconds"])
            )
            gw.run_continuous(gateway, sinks, interval, args.count, scheduled=args.scheduled)
    except (ValueError, InfluxWriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if fh is not sys.stdout:
            fh.close()
    return 0
