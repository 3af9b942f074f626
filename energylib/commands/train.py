"""``energy train --params params/train_pi.yaml [--resume CKPT]``: train the forecaster."""

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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
