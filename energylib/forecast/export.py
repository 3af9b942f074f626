"""Export a checkpoint for the Pi (TorchScript, ONNX), load it back, forecast in one call.

An exported file carries the metadata (feature spec, scalers, time zone,
output names) beside the graph: TorchScript in an extra file
``energylib.json``, ONNX in the model's ``metadata_props``.  Loading needs
torch *or* onnxruntime and this module, never the training code.

* :func:`export_torchscript`, :func:`export_onnx`: checkpoint -> file;
* :func:`load_model`: file (``.pt`` TorchScript, ``.onnx``) -> forecaster with
  ``predict(history)``;
* :func:`predict`: one call, latest 48 steps in, day / week / month forecasts out;
* :func:`validate_model_file`: check a new model file before swapping it in;
* :func:`export_parity`: largest difference between eager and exported outputs.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl

from energylib.forecast.inference import ForecastRunner

METADATA_KEY = "energylib.json"
EXPORT_FORMAT = "energylib.forecast.export/1"


class ModelFileError(ValueError):
    """A model file cannot be used: says which file, what is wrong and what to do."""


def _meta_json(meta: Mapping) -> str:
    return json.dumps(dict(meta) | {"export_format": EXPORT_FORMAT})


def _traced(checkpoint: str | Path):
    """Eager model (CPU, eval) and a TorchScript trace of it."""
    # Optional: torch (with the checkpoint loader) exists where models are trained, not on a
    # Pi, which runs an exported model through onnxruntime; likewise below.
    import torch

    from energylib.forecast.checkpoint import load_checkpoint

    fc = load_checkpoint(checkpoint, device="cpu")
    cfg = fc.model.config
    example: tuple = (torch.zeros(1, cfg.sequence_length, cfg.n_features),)
    if cfg.n_future:
        example += (torch.zeros(1, max(cfg.horizons), cfg.n_future),)
    # Tracing with autograd on keeps the encoder on its standard (exportable) path instead of
    # the fused inference kernel; the traced graph computes the same function.
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript deprecation notices and tracer hints
        traced = torch.jit.trace(fc.model, example, check_trace=False)
    return fc, traced, example


def export_torchscript(checkpoint: str | Path, path: str | Path) -> Path:
    """Write a TorchScript model (with its metadata) from a checkpoint.

    Parameters
    ----------
    checkpoint : str or Path
        ``best.pt`` from :func:`energylib.forecast.train.train`.
    path : str or Path
        Output file, conventionally ``*.pt`` / ``*.ts``.
    """
    import torch  # optional: torch is absent on a Pi

    fc, traced, _ = _traced(checkpoint)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript still runs on torch 2.x
        torch.jit.save(traced, str(tmp), _extra_files={METADATA_KEY: _meta_json(fc.meta)})
    os.replace(tmp, path)
    return path


def export_onnx(checkpoint: str | Path, path: str | Path, opset: int = 17) -> Path:
    """Write an ONNX model (metadata in ``metadata_props``) from a checkpoint.

    Uses the TorchScript-based exporter (``dynamo=False``); every operator of the
    EnergyTransformer (linear, layer norm, softmax attention, GELU) exports at opset 17.
    The batch dimension is dynamic.  A model with known-future inputs has a second
    input, ``future``.
    """
    import onnx  # optional: onnx, only to export
    import torch  # optional: torch is absent on a Pi

    fc, _, example = _traced(checkpoint)
    names = fc.output_names
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with torch.enable_grad(), warnings.catch_warnings():  # standard encoder path, as in _traced
        # The legacy exporter is chosen on purpose (the dynamo one needs onnxscript); its
        # deprecation notice and tracer hints (shape checks traced as constants) are expected.
        warnings.simplefilter("ignore")
        inputs = ["inputs", "future"][: len(example)]
        torch.onnx.export(
            fc.model,
            example,
            str(tmp),
            input_names=inputs,
            output_names=names,
            dynamic_axes={i: {0: "batch"} for i in inputs} | {n: {0: "batch"} for n in names},
            opset_version=opset,
            dynamo=False,
        )
    model = onnx.load(str(tmp))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, _meta_json(fc.meta)
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


class TorchScriptForecaster(ForecastRunner):
    """A TorchScript model file with its metadata."""

    def __init__(self, path: str | Path):
        import torch  # optional: torch is absent on a Pi

        extra = {METADATA_KEY: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        self.module.eval()
        if not extra[METADATA_KEY]:
            raise ModelFileError(
                f"{path}: TorchScript file without energylib metadata; export it with export_torchscript"
            )
        super().__init__(json.loads(extra[METADATA_KEY]))
        self.path = Path(path)

    def run_scaled(self, x: np.ndarray, future: np.ndarray | None = None) -> list[np.ndarray]:
        import torch  # optional: torch is absent on a Pi

        with torch.inference_mode():
            args = (torch.from_numpy(x),) + (() if future is None else (torch.from_numpy(future),))
            out = self.module(*args)
        return [o.numpy() for o in out]


class OnnxForecaster(ForecastRunner):
    """An ONNX model file with its metadata, run by onnxruntime on the CPU.

    ``threads``: intra-op threads (None: onnxruntime's default, every core; 1 suits a
    small model on a shared machine or a Pi running other services).
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort  # optional: onnxruntime, only to run an .onnx file

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if not meta:
            raise ModelFileError(
                f"{path}: ONNX file without energylib metadata; export it with export_onnx"
            )
        super().__init__(json.loads(meta))
        self.path = Path(path)

    def run_scaled(self, x: np.ndarray, future: np.ndarray | None = None) -> list[np.ndarray]:
        feeds = {"inputs": x} | ({} if future is None else {"future": future})
        return self.session.run(self.output_names, feeds)


def load_model(path: str | Path, *, threads: int | None = None) -> ForecastRunner:
    """Load an exported model (``.onnx`` by onnxruntime, anything else as TorchScript).

    ``threads``: intra-op threads of the ONNX session (None: onnxruntime's default,
    which takes every core; TorchScript follows ``torch.set_num_threads``).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    try:
        return (
            OnnxForecaster(path, threads) if path.suffix == ".onnx" else TorchScriptForecaster(path)
        )
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure means the file is unusable
        raise ModelFileError(
            f"{path}: cannot load as {'ONNX' if path.suffix == '.onnx' else 'TorchScript'}: {exc}"
        ) from exc


_CACHE: dict[tuple, ForecastRunner] = {}


def predict(
    history: pl.DataFrame,
    model: str | Path | ForecastRunner,
    future: pl.DataFrame | None = None,
    *,
    threads: int | None = None,
) -> dict[str, pl.DataFrame]:
    """Forecasts at every horizon (day, week and month for the shipped specs) from the
    latest intervals of ``history``: one call.

    Parameters
    ----------
    history : polars.DataFrame
        Canonical frame at the model's interval with its feature columns; its latest
        ``spec.history_rows`` intervals (48 + 336 for the lags of ``TRADING_24``) must be present.
    model : str, Path or ForecastRunner
        An exported model file (loaded once and cached until the file changes) or a
        loaded forecaster.
    future : polars.DataFrame, optional
        Known-future inputs at the forecast intervals, for a model that reads them.
    threads : int, optional
        ONNX intra-op threads when loading a file (see :func:`load_model`).

    Returns
    -------
    dict of str to polars.DataFrame
        ``{"day", "week", "month"}``: ``interval_start`` (UTC), ``total_kwh`` [kWh per
        interval], ``price_per_kwh`` [currency/kWh].
    """
    if not isinstance(model, ForecastRunner):
        p = Path(model)
        key = (str(p.resolve()), p.stat().st_mtime, threads)
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = load_model(p, threads=threads)
        model = _CACHE[key]
    return model.predict(history, future)


def validate_model_file(path: str | Path, history: pl.DataFrame | None = None) -> dict:
    """Check that a model file is safe to swap in; raise :class:`ModelFileError` if not.

    Loads it, checks the metadata, runs a batch of two windows (the training medians) and checks every output's shape and finiteness; with
    ``history``, also runs :meth:`predict` on it.  Returns a summary (spec name,
    feature count, outputs, horizons).
    """
    runner = load_model(path)
    spec = runner.spec
    expected = [f"{t}_{h}" for t in spec.tasks for h in spec.horizon_names]
    if runner.output_names != expected:
        raise ModelFileError(
            f"{path}: outputs {runner.output_names} do not match its spec's {expected}; re-export it"
        )
    if len(runner.scalers.inputs.center) != spec.n_features:
        raise ModelFileError(
            f"{path}: input scaler has {len(runner.scalers.inputs.center)} columns for {spec.n_features} features; re-export it"
        )
    windows = np.tile(runner.scalers.inputs.center, (2, spec.sequence_length, 1))
    future = None
    if spec.n_future:
        if runner.scalers.future is None:
            raise ModelFileError(f"{path}: known-future inputs without their scaler; re-export it")
        future = np.tile(runner.scalers.future.center, (2, spec.max_horizon, 1))
    try:
        out = runner.predict_array(windows, future)
    except Exception as exc:  # noqa: BLE001 - a model that cannot run must not be swapped in
        raise ModelFileError(
            f"{path}: the model does not run on a (2, {spec.sequence_length}, {spec.n_features}) input: {exc}"
        ) from exc
    steps = dict(spec.horizons)
    for name, y in out.items():
        want = (2, steps[name.rsplit("_", 1)[1]])
        if y.shape != want:
            raise ModelFileError(f"{path}: output {name} has shape {y.shape}, expected {want}")
        if not np.isfinite(y).all():
            raise ModelFileError(
                f"{path}: output {name} has non-finite values; do not deploy this model"
            )
    if history is not None:
        frames = runner.predict(history)
        for hname, h in spec.horizons:
            if frames[hname].height != h:
                raise ModelFileError(
                    f"{path}: {hname} forecast has {frames[hname].height} rows, expected {h}"
                )
    return {
        "path": str(path),
        "feature_spec": spec.name,
        "n_features": spec.n_features,
        "outputs": runner.output_names,
        "horizons": dict(spec.horizons),
        "timezone": runner.timezone,
    }


def export_parity(
    checkpoint: str | Path, exported: str | Path | ForecastRunner, n: int = 16, seed: int = 0
) -> float:
    """Largest absolute difference between the eager checkpoint's and the exported model's
    standardised outputs on ``n`` random standardised windows."""
    from energylib.forecast.checkpoint import load_checkpoint  # optional: torch (see _traced)

    eager = load_checkpoint(checkpoint)
    other = exported if isinstance(exported, ForecastRunner) else load_model(exported)
    cfg = eager.model.config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cfg.sequence_length, cfg.n_features)).astype(np.float32)
    f = None
    if cfg.n_future:
        f = rng.standard_normal((n, max(cfg.horizons), cfg.n_future)).astype(np.float32)
    a, b = eager.run_scaled(x, f), other.run_scaled(x, f)
    return float(
        max(np.max(np.abs(np.asarray(u) - np.asarray(v))) for u, v in zip(a, b, strict=True))
    )
