"""``energy backfill amber|entsoe|aemo``: fetch history into the Parquet store, window by window.

``--start`` and ``--end`` are days, both included (NEM days for Amber and AEMO,
the zone's local days for ENTSO-E).  ``--resume`` continues after the latest
stored interval.  A failure keeps everything fetched before it and prints the
command that resumes.

Exit codes, the same for every source: 0 done; 2 nothing ran (no token, an unknown
site, zone or region, --end before --start); 1 the backfill ran and a request failed
(the server refused the token, kept failing or was unreachable) after storing what
came before it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the library loads when a command runs
    from energylib.config import Settings
    from energylib.store import Store
from pathlib import Path

from energylib.commands import EXIT_FAILED, EXIT_USAGE, add_data_dir, add_quiet


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; use YYYY-MM-DD") from exc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backfill",
        help="fetch price (and usage) history into the store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])
    sources = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    amber = sources.add_parser(
        "amber",
        help="Amber Electric prices or usage (needs AMBER_TOKEN)",
        description="Fetch Amber Electric prices (general and feed-in) or the site's metered "
        "usage, 7 days per request. Needs AMBER_TOKEN (app.amber.com.au -> Developers).",
    )
    _window(amber)
    amber.add_argument(
        "--site", help="Amber site id (default AMBER_SITE_ID or the account's only active site)"
    )
    amber.add_argument(
        "--kind",
        choices=("prices", "usage"),
        default="prices",
        help="what to fetch (default %(default)s)",
    )
    amber.add_argument(
        "--resolution", type=int, choices=(5, 30), default=None, help="price resolution in minutes"
    )
    amber.add_argument("--window-days", type=int, default=None, help="days per request (default 7)")
    amber.add_argument(
        "--min-window-days",
        type=int,
        default=1,
        help="smallest window after repeated HTTP 429 answers (default %(default)s)",
    )
    _common(amber)
    entsoe = sources.add_parser(
        "entsoe",
        help="ENTSO-E day-ahead prices (needs ENTSOE_API_KEY)",
        description="Fetch ENTSO-E day-ahead prices of a bidding zone (its local days). Needs "
        "ENTSOE_API_KEY (transparency.entsoe.eu -> My account settings).",
    )
    _window(entsoe)
    entsoe.add_argument("--zone", default=None, help="bidding zone (default ENTSOE_ZONE, else NL)")
    _common(entsoe)
    aemo = sources.add_parser(
        "aemo",
        help="AEMO NEM wholesale prices from NEMWEB (no token)",
        description="Fetch AEMO's 5-minute NEM wholesale prices of a region from NEMWEB's public "
        "archive (no token).",
    )
    _window(aemo)
    aemo.add_argument(
        "--region",
        default="NSW1",
        help="NEM region: NSW1, QLD1, VIC1, SA1, TAS1 (default %(default)s)",
    )
    _common(aemo)


def _window(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--end", type=_day, required=True, help="last day (included), YYYY-MM-DD")
    p.add_argument(
        "--resume", action="store_true", help="continue after the latest stored interval"
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--base-url",
        default=None,
        help="API root to use instead of the public one (a mirror, a test server)",
    )
    add_data_dir(p)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import load_settings
    from energylib.store import ParquetStore

    settings = load_settings()
    root = Path(args.data_dir) / "processed" if args.data_dir else settings.processed_dir
    store = ParquetStore(root)
    if args.end < args.start:
        print(f"--end {args.end} is before --start {args.start}", file=sys.stderr)
        return EXIT_USAGE
    progress = not args.quiet
    if args.source == "amber":
        return _amber(args, store, progress)
    if args.source == "aemo":
        return _aemo(args, store, progress)
    return _entsoe(args, store, settings, progress)


def _amber(args: argparse.Namespace, store: Store, progress: bool) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.ingest.amber import AmberClient, AmberConfigError, backfill_amber
    from energylib.ingest.backfill import BackfillError
    from energylib.ingest.http import HttpError

    try:
        client = AmberClient(site_id=args.site, base_url=args.base_url)
        report = backfill_amber(
            store,
            args.start,
            args.end,
            kind=args.kind,
            resume=args.resume,
            resolution=args.resolution,
            window_days=args.window_days,
            min_window_days=args.min_window_days,
            client=client,
            progress=progress,
        )
    except AmberConfigError as exc:
        print(f"amber backfill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BackfillError as exc:
        print(str(exc.report), file=sys.stderr)
        return EXIT_FAILED
    except HttpError as exc:  # resolving the site failed before any window
        print(f"amber backfill: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report)
    return 0


def _aemo(args: argparse.Namespace, store: Store, progress: bool) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.ingest.aemo import backfill_aemo
    from energylib.ingest.backfill import BackfillError

    try:
        report = backfill_aemo(
            store,
            args.region,
            args.start,
            args.end,
            resume=args.resume,
            base_url=args.base_url,
            progress=progress,
        )
    except ValueError as exc:
        print(f"aemo backfill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BackfillError as exc:
        print(str(exc.report), file=sys.stderr)
        return EXIT_FAILED
    print(report)
    return 0


def _entsoe(args: argparse.Namespace, store: Store, settings: Settings, progress: bool) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.ingest.entsoe import EntsoeError, backfill_entsoe, zone_days

    if not settings.entsoe_api_key:
        print(
            "entsoe backfill: no ENTSO-E token configured: set ENTSOE_API_KEY in the environment "
            "or .env (transparency.entsoe.eu -> My account settings -> Web API security token)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    zone = args.zone or settings.entsoe_zone
    try:
        start, end = zone_days(zone, args.start, args.end)
    except ValueError as exc:  # an unknown zone: nothing ran (as Amber's unknown site)
        print(f"entsoe backfill: {exc} (--zone or ENTSOE_ZONE)", file=sys.stderr)
        return EXIT_USAGE
    kwargs = {"base_url": args.base_url} if args.base_url else {}
    try:
        report = backfill_entsoe(
            store, zone, start, end, resume=args.resume, progress=progress, **kwargs
        )
    except EntsoeError as exc:
        print(f"entsoe backfill: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report)
    return 0
