"""``energy federate --params params/federated_sgsc.yaml``: train the forecaster federated.

Runs the households of the params file as a Flower federation (``runtime: simulation``,
or ``loopback``: a SuperLink and one SuperNode process per household), then the
local-only and centralised references, and prints the accuracy of each against
seasonal naive, with a progress line per round.  ``--superlink HOST:PORT`` instead
submits the run to a running SuperLink (a Pi federation's coordinator; run it there,
the ServerApp writes its results on that machine).
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "federate", help="train the forecaster across households with Flower (FedAvg / FedProx)"
    )
    p.add_argument(
        "--params",
        default="params/federated_sgsc.yaml",
        help="YAML params file (default: %(default)s)",
    )
    p.add_argument(
        "--runtime",
        choices=("simulation", "loopback"),
        default=None,
        help="override the params' runtime",
    )
    p.add_argument("--rounds", type=int, default=None, help="override the params' rounds")
    p.add_argument(
        "--superlink",
        default=None,
        metavar="HOST:PORT",
        help="submit to this running SuperLink instead (the Pi federation's coordinator)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="with --superlink: plain HTTP (loopback or a trusted test network only)",
    )
    p.add_argument(
        "--root-certificates",
        default=None,
        metavar="PEM",
        help="with --superlink: the CA certificate the SuperLink's TLS certificate is signed with",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from energylib.forecast.federated.params import FederationParams, FederationParamsError

    overrides = {
        k: v for k, v in (("runtime", args.runtime), ("rounds", args.rounds)) if v is not None
    }
    try:
        params = FederationParams.from_yaml(args.params, **overrides)
    except (FileNotFoundError, FederationParamsError) as err:
        print(f"federate: {err}", file=sys.stderr)
        return 2
    if args.superlink:
        return _submit(params, args)
    import polars as pl

    from energylib.forecast.federated.apps import FederationError
    from energylib.forecast.federated.params import resolve_out_dir
    from energylib.forecast.federated.study import run_study

    try:
        study = run_study(params, progress=not args.quiet)
    except (FederationError, ValueError, LookupError, FileNotFoundError) as err:
        print(f"federate: {err}", file=sys.stderr)
        return 1
    with pl.Config(tbl_rows=60, tbl_cols=12, float_precision=4, tbl_hide_dataframe_shape=True):
        print("\nDay-ahead consumption on each household's test block (mean over households):")
        print(study.overall())
        print("\nPer household, MAE [kWh per interval] and gain of federation over local-only [%]:")
        cols = [
            "household",
            "train_days",
            "mean_daily_kwh",
            "new",
            *sorted(
                c
                for c in study.gains().columns
                if c in ("local", "centralised", "naive", *params.strategies)
                or c.startswith("gain_pct_")
            ),
        ]
        print(study.gains().select(cols))
    total = sum(study.seconds.values())
    print(
        f"\n{total:.0f} s in all ({', '.join(f'{k} {v:.0f} s' for k, v in study.seconds.items())}); "
        f"results in {resolve_out_dir(params)}"
    )
    return 0


def _submit(params, args: argparse.Namespace) -> int:
    from energylib.forecast.federated.apps import FederationError
    from energylib.forecast.federated.deployment import submit
    from energylib.forecast.federated.study import round_progress

    if not args.insecure and not args.root_certificates:
        print(
            "federate: --superlink needs --root-certificates PEM (TLS) or --insecure",
            file=sys.stderr,
        )
        return 2
    bar, update = round_progress(params, not args.quiet)
    try:
        result = submit(
            params,
            args.superlink,
            insecure=args.insecure,
            root_certificates=args.root_certificates,
            progress=update,
        )
    except (FederationError, FileNotFoundError) as err:
        print(f"federate: {err}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    last = result.rounds.sort("round").tail(len(params.strategies))
    for row in last.iter_rows(named=True):
        print(
            f"{row['strategy']}: round {row['round']}, {row['clients_train']} household(s), "
            f"validation loss {row['val_loss']:.4f}"
        )
    return 0
