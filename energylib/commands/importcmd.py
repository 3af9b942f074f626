"""``energy import powerpal|amber|aemo|entsoe FILE...``: load saved files into the store.

``powerpal``: Powerpal CSV exports.  Overlapping exports merge: rows present in
several files are stored once, and importing a file again changes nothing.  A
bad row stops the import with the file and line; nothing is stored from a set
of files that does not read cleanly.

``amber``: saved Amber API responses (``/sites/{id}/prices`` JSON, or usage with
``--kind usage``), e.g. kept from earlier downloads; each series is written once.

``aemo``: AEMO "price and demand" monthly CSVs saved locally
(``PRICE_AND_DEMAND_202401_VIC1.csv``); stored as source ``aemo``, site = the region.

``entsoe``: day-ahead prices as entsoe-py's pandas output saved with ``to_csv`` (a time
column with UTC offsets, a price column in EUR/MWh), or saved API responses (XML);
``--zone`` names the bidding zone (default ENTSOE_ZONE or NL).

``sgsc``: the Smart Grid Smart City trial's households (one Parquet file; ``--customers``
picks some): kind ``usage``, site ``sgsc-<customer_id>``.

``citylearn``: CityLearn 2022 ``Building_<n>.csv`` files (``schema.json`` beside them):
kind ``load`` and the measured PV as kind ``pv``, site ``citylearn-<n>``.

Every file is read before anything is stored: a bad file stores nothing.
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
    p.add_argument(
        "source",
        choices=("powerpal", "amber", "aemo", "entsoe", "sgsc", "citylearn"),
        help="file format",
    )
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
        "--customers", nargs="+", type=int, default=None, help="sgsc: customer ids to import"
    )
    p.add_argument("--zone", default=None, help="entsoe: bidding zone (default ENTSOE_ZONE or NL)")
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
    if args.source in ("sgsc", "citylearn"):
        return _households(args, store)
    if args.source in ("aemo", "entsoe"):
        return _prices(args, store, args.zone or settings.entsoe_zone or "NL")
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
    from energylib.ingest.amber import store_amber_responses
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


def _prices(args: argparse.Namespace, store, zone: str) -> int:
    """AEMO CSVs or ENTSO-E CSV/XML files: read every file, then store each series once."""
    from energylib.ingest.aemo import read_aemo_price_csv
    from energylib.ingest.entsoe import EntsoeDocumentError, read_entsoe_csv, read_entsoe_xml
    from energylib.schema import DataValidationError

    frames = []
    try:
        for f in args.files:
            if args.source == "aemo":
                frames.append(read_aemo_price_csv(f))
            elif f.lower().endswith(".csv"):
                frames += read_entsoe_csv(f, zone=zone)
            else:
                frames += read_entsoe_xml(f, zone=zone)
    except (DataValidationError, EntsoeDocumentError, ValueError) as exc:
        print(f"import failed, nothing stored:\n{exc}", file=sys.stderr)
        return 1
    for data, meta in _merge(frames):
        result = store.upsert(data, meta)
        span = f"{data['interval_start'].min():%Y-%m-%d %H:%M} .. {data['interval_start'].max():%Y-%m-%d %H:%M} UTC"
        print(
            f"{meta.source} {meta.interval_minutes}-min prices for {meta.site}: {data.height} intervals "
            f"({span}); {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged"
        )
    return 0


def _merge(frames: list) -> list:
    """One frame per series (site, channel, resolution); a repeated interval keeps the
    later file's row, as an upsert of the files in turn would."""
    import polars as pl

    groups: dict[tuple, list] = {}
    for data, meta in frames:
        groups.setdefault((meta.site, meta.channel, meta.interval_minutes), []).append((data, meta))
    out = []
    for parts in groups.values():
        data = pl.concat([d for d, _ in parts], how="diagonal_relaxed")
        data = data.unique("interval_start", keep="last", maintain_order=True).sort(
            "interval_start"
        )
        out.append((data, parts[0][1]))
    return out


def _households(args: argparse.Namespace, store) -> int:
    """The SGSC trial's homes or CityLearn buildings, one series per home."""
    from energylib.ingest.households import read_citylearn_building, read_sgsc_households
    from energylib.schema import DataValidationError

    series = []
    try:
        if args.source == "sgsc":
            for f in args.files:
                series += read_sgsc_households(f, customers=args.customers)
        else:
            for f in args.files:
                data, meta = read_citylearn_building(f)
                series.append((data.select("interval_start", "total_kwh"), meta))
                series.append((data.select("interval_start", "pv_kwh"), meta.replace(kind="pv")))
    except (DataValidationError, LookupError, FileNotFoundError) as exc:
        print(f"import failed, nothing stored:\n{exc}", file=sys.stderr)
        return 1
    inserted = 0
    for data, meta in series:
        inserted += store.upsert(data, meta).inserted
    sites = sorted({m.site for _, m in series})
    print(f"{args.source}: {len(sites)} home(s) ({', '.join(sites[:5])}{' ...' if len(sites) > 5 else ''}); "
          f"{inserted} intervals inserted")  # fmt: skip
    return 0
