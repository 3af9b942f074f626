"""``energy train``: the forecasters.

* ``energy train --params params/train_pi.yaml [--resume CKPT]``: train the EnergyTransformer.
* ``energy train --train [--model-dir DIR]``: train the baseline load (ridge, profile) and
  solar (PV with a learned correction) forecasters of a site's stored series (the Parquet
  store, else Postgres at SUPABASE_DB_URL), scored on the
  last FORECAST_TEST_SIZE of the data, saved to DIR (FORECAST_MODEL_DIR; default
  DATA_DIR/models/baselines).
* ``energy train --evaluate``: score the saved baselines on the site's data now.
* ``energy train --status``: list the saved baselines, when and on what they were trained,
  and their test scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the EnergyTransformer forecaster from a params file")
    p.add_argument(
        "--params", default="params/train_pi.yaml", help="YAML params file (default: %(default)s)"
    )
    p.add_argument(
        "--resume", default=None, metavar="CKPT", help="continue from a checkpoint (last.pt)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    jobs = p.add_mutually_exclusive_group()
    jobs.add_argument(
        "--train", action="store_true", help="train the baseline load and solar forecasters"
    )
    jobs.add_argument("--evaluate", action="store_true", help="score the saved baselines")
    jobs.add_argument("--status", action="store_true", help="list the saved baselines")
    p.add_argument(
        "--model-dir",
        type=Path,
        help="baselines folder (default FORECAST_MODEL_DIR or DATA_DIR/models/baselines)",
    )
    p.add_argument("--data-dir", type=Path, help="data folder (default DATA_DIR or ./data)")
    p.add_argument("--source", default="simulated", help="series source (default %(default)s)")
    p.add_argument("--site", default="default", help="site id (default %(default)s)")
    p.add_argument(
        "--test-size", type=float, help="test fraction (default FORECAST_TEST_SIZE or 0.2)"
    )
    p.set_defaults(func=run)


def run_baselines(args: argparse.Namespace) -> int:
    """``--train``, ``--evaluate``, ``--status`` of the baseline forecasters."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.config import load_settings, secret
    from energylib.forecast import gateway_baselines as gb
    from energylib.store import ParquetStore

    try:
        settings = load_settings()
    except ValueError as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    data_dir = args.data_dir or settings.data_dir
    folder = args.model_dir or settings.forecast_model_dir or data_dir / "models" / "baselines"
    if args.status:
        saved = gb.load_models(folder)
        if not saved:
            print(f"no baseline models in {folder}; train them with energy train --train")
            return 0
        for name, (_, meta) in saved.items():
            t = meta["test"]
            print(
                f"{name:13s} trained {meta['trained_at']} on {meta['source']}/{meta['site']} "
                f"({meta['train_rows']} train / {meta['test_rows']} test half-hours): "
                f"MAE {t['mae_kwh']:.4f} kWh, skill vs naive {t['skill_vs_naive']:+.1%}"
            )
        return 0
    store = ParquetStore(data_dir / "processed")
    if settings.supabase_db_url and store.series(args.source, "load", site=args.site).is_empty():
        # the gateway's readings reach Postgres (energy sync --source influxdb), not the store
        from energylib.store.postgres import PostgresStore

        store = PostgresStore(secret(settings.supabase_db_url))
    test_size = args.test_size or settings.forecast_test_size
    try:
        if args.train:
            scores = gb.train_and_save(
                store, folder, source=args.source, site=args.site, test_size=test_size
            )
        else:
            saved = gb.load_models(folder)
            if not saved:
                print(
                    f"train: no models in {folder} to evaluate; run energy train --train",
                    file=sys.stderr,
                )
                return 1
            d = gb.load_site(store, args.source, args.site, test_size)
            scores = {n: gb.evaluate_model(n, arrays, d) for n, (arrays, _) in saved.items()}
    except (LookupError, ValueError) as err:
        print(f"train: {err}", file=sys.stderr)
        return 1
    verb = "trained and saved to" if args.train else "evaluated from"
    print(f"baselines of {args.source}/{args.site} {verb} {folder} (test: last {test_size:.0%}):")
    for name, t in scores.items():
        print(
            f"  {name:13s} MAE {t['mae_kwh']:.4f} kWh  RMSE {t['rmse_kwh']:.4f} kWh  "
            f"seasonal naive MAE {t['naive_mae_kwh']:.4f} kWh  skill {t['skill_vs_naive']:+.1%}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if (
        getattr(args, "train", False)
        or getattr(args, "evaluate", False)
        or getattr(args, "status", False)
    ):
        return run_baselines(args)
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.forecast.train import train_from_params

    path = Path(args.params)
    if not path.is_file():
        print(f"train: params file {path} not found", file=sys.stderr)
        return 2
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        print(f"train: {path} must hold a mapping of parameter names to values", file=sys.stderr)
        return 2
    try:
        result, exported = train_from_params(params, resume=args.resume, progress=not args.quiet)
    except (ValueError, KeyError, LookupError) as err:
        print(f"train: {err}", file=sys.stderr)
        return 1
    print(
        f"trained {result.parameters:,} parameters on {result.device} in {result.seconds:.1f} s: "
        f"best validation loss {result.best_val_loss:.4f} at epoch {result.best_epoch}"
        f"{' (early stop)' if result.stopped_early else ''}"
    )
    print(f"checkpoint: {result.best_checkpoint}  (resume from {result.last_checkpoint})")
    for fmt, p in exported.items():
        print(f"exported {fmt}: {p}")
    return 0
