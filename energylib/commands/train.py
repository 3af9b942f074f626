"""``energy train``: the forecasters.

* ``energy train --params params/train_pi.yaml [--resume CKPT]``: train the EnergyTransformer.
* ``energy train --train [--model-dir DIR]``: train the baseline load (ridge, profile) and
  solar (PV with a learned correction) forecasters of a site's stored series (the Parquet
  store, else Postgres at SUPABASE_DB_URL), scored on the
  last FORECAST_TEST_SIZE of the data, saved to DIR (FORECAST_MODEL_DIR; default
  DATA_DIR/models/baselines).
* ``energy train --evaluate``: score the saved baselines on the site's data now, and the
  exported EnergyTransformer (the model the agent runs: ``--transformer FILE``, default
  ``model.onnx``, else ``model.pt``, in the --params file's ``checkpoint_dir``) on the test
  block of the data its params file names, against the seasonal naive forecast; its scores
  are kept beside it (``FILE.eval.json``).
* ``energy train --status``: list the saved baselines, when and on what they were trained,
  and their test scores; and the exported Transformer: file, spec, size, when written,
  and its last evaluation.
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
    p.add_argument(
        "--transformer",
        type=Path,
        metavar="FILE",
        help="exported EnergyTransformer (.onnx or .pt) for --evaluate and --status (default: "
        "model.onnx, else model.pt, in the --params file's checkpoint_dir under the data folder)",
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
    try:
        transformer = _transformer_file(args, data_dir)
    except (OSError, ValueError) as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    if args.status:
        _transformer_status(transformer)
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
            if not saved and transformer is None:
                print(
                    f"train: no models to evaluate: no baselines in {folder} (energy train "
                    "--train) and no exported Transformer (energy train --params, or "
                    "--transformer FILE)",
                    file=sys.stderr,
                )
                return 1
            if transformer is not None:
                _evaluate_transformer(transformer, args)
            if not saved:
                return 0
            d = gb.load_site(store, args.source, args.site, test_size)
            scores = {n: gb.evaluate_model(n, arrays, d) for n, (arrays, _) in saved.items()}
    except (LookupError, ValueError, OSError) as err:
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


def _read_params(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"params file {path} not found")
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path} must hold a mapping of parameter names to values")
    return params


def _transformer_file(args: argparse.Namespace, data_dir: Path) -> Path | None:
    """The exported Transformer to evaluate / list: --transformer, else model.onnx or
    model.pt in the params file's checkpoint_dir (None where there is none)."""
    if args.transformer is not None:
        if not args.transformer.is_file():
            raise ValueError(f"--transformer {args.transformer}: no such file")
        return args.transformer
    path = Path(args.params)
    if not path.is_file():
        return None
    folder = data_dir / _read_params(path).get("checkpoint_dir", "models/forecast")
    return next((f for f in (folder / "model.onnx", folder / "model.pt") if f.is_file()), None)


def _evaluate_transformer(path: Path, args: argparse.Namespace) -> None:
    """Score the exported model on the test block of its params file's data, against the
    seasonal naive forecast; print the table and keep it in ``path.eval.json``."""
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    import json
    from datetime import UTC, datetime

    from energylib.forecast.export import load_model
    from energylib.forecast.metrics import evaluate
    from energylib.forecast.train import load_training_data

    params = _read_params(Path(args.params))
    model = load_model(path, threads=1)
    data, tz = load_training_data(params)
    result = evaluate(
        data,
        tz,
        model,
        split=params.get("split", (0.7, 0.15, 0.15)),
        baselines=("seasonal_naive_day",),
        max_anchors=params.get("eval_windows"),
        origins=params.get("eval_origins", "all"),
    )
    rows = result.table.filter(result.table["model"] == "transformer")
    naive = {
        (r["task"], r["horizon"]): r["mae"]
        for r in result.table.filter(result.table["model"] != "transformer").iter_rows(named=True)
    }
    print(f"EnergyTransformer {path} ({model.spec.name}) on the test block of {args.params}:")
    scores = []
    for r in rows.iter_rows(named=True):
        print(
            f"  {r['task']:14s} {r['horizon']:6s} MAE {r['mae']:.4f}  seasonal naive "
            f"{naive[(r['task'], r['horizon'])]:.4f}  skill {r['skill_pct']:+.1f} %  "
            f"({r['windows']} windows)"
        )
        scores.append({k: r[k] for k in ("task", "horizon", "windows", "mae", "rmse", "skill_pct")})
    record = {
        "model": str(path),
        "bytes": path.stat().st_size,
        "mtime_ns": path.stat().st_mtime_ns,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": str(args.params),
        "scores": scores,
    }
    tmp = path.with_name(path.name + ".eval.json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path.with_name(path.name + ".eval.json"))


def _transformer_status(path: Path | None) -> None:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    import json
    from datetime import UTC, datetime

    from energylib.forecast.export import ModelFileError, load_model

    if path is None:
        print("no exported EnergyTransformer; train one with energy train --params FILE")
        return
    st = path.stat()
    when = datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")
    try:
        spec = load_model(path, threads=1).spec
        what = f"spec {spec.name}, tasks {', '.join(spec.tasks)}, horizons {dict(spec.horizons)}"
    except ModelFileError as err:
        what = f"unusable: {err}"
    print(f"transformer   {path} ({st.st_size / 1e6:.2f} MB, written {when}): {what}")
    report = path.with_name(path.name + ".eval.json")
    try:
        record = json.loads(report.read_text())
    except (OSError, ValueError):
        print("              not evaluated yet (energy train --evaluate)")
        return
    changed = (record.get("bytes"), record.get("mtime_ns")) != (st.st_size, st.st_mtime_ns)
    stale = " (the file changed since)" if changed else ""
    best = ", ".join(
        f"{s['task']}/{s['horizon']} MAE {s['mae']:.4f} skill {s['skill_pct']:+.1f} %"
        for s in record["scores"]
    )
    print(f"              evaluated {record['evaluated_at']}{stale}: {best}")


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
