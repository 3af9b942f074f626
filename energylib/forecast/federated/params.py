"""The parameters of a federated run: households, model, rounds, strategy, runtime.

One typed record, :class:`FederationParams`, read from a YAML file
(``params/federated_sgsc.yaml``) or from a Flower run config; every key is checked
and a wrong one is reported with the file, the line and what to write instead.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from energylib.config import load_settings
from energylib.forecast.features import FeatureSpec, get_spec
from energylib.forecast.federated.households import DATASETS, HouseholdRef, household_refs

STRATEGIES = ("fedavg", "fedprox")
BASELINES = ("local", "centralised")
RUNTIMES = ("simulation", "loopback")
# Numeric keys and their type: YAML reads 1e-3 as text, a run config may give 5.0 for 5.
NUMBERS = {
    "days": int,
    "new_history_days": int,
    "simulated_seed": int,
    "rounds": int,
    "local_epochs": int,
    "fraction_train": float,
    "fraction_evaluate": float,
    "min_nodes": int,
    "proximal_mu": float,
    "learning_rate": float,
    "weight_decay": float,
    "batch_size": int,
    "max_train_batches": int,
    "window_stride": int,
    "grad_clip": float,
    "seed": int,
    "cpu_threads": int,
    "client_cpus": float,
    "parallel_clients": int,
    "eval_windows": int,
    "round_timeout_s": float,
}


class FederationParamsError(ValueError):
    """A federated params file or run config is wrong: says which key, where, and the fix.

    ``key`` is the offending parameter (None where no single key is at fault).
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class FederationParams:
    """How to train one forecaster across households without pooling their data.

    Parameters
    ----------
    dataset : str
        ``sgsc``, ``citylearn`` or ``simulated`` (a Pi federation names each household's
        data on its own SuperNode instead, see ``pi_agent/README.md``).
    data_path : str
        The dataset's folder or file, relative to the project root unless absolute.
    households : int or list
        How many households (the first in id order) or which (ids).
    days : int or None
        Keep each household's last ``days`` days [d].
    new_households : tuple of int
        Positions of households that joined recently (only ``new_history_days`` of
        training history each): who gains from federation.
    new_history_days : int
        Training history of a new household [d].
    simulated_seed : int
        Seed of generated homes.
    preset : str
        EnergyTransformer size preset (``pi``, ``seed``).
    feature_spec : str or dict
        Spec name (``CONSUMPTION_TIME``, ``CONSUMPTION_TIME_60MIN`` for hourly data ...) or
        a spec dict.
    horizons : dict or None
        Forecast horizons ``{name: steps}`` replacing the spec's (``{day: 48}``: day-ahead
        only); None keeps the spec's.
    model : dict
        Overrides of the preset's sizes (``d_model``, ``n_layers`` ...).
    split : tuple of float
        Chronological train / validation / test fractions of each household's rows.
    rounds : int
        Federated rounds.
    local_epochs : int
        Passes over its training windows each client makes per round.
    fraction_train, fraction_evaluate : float
        Fraction of the connected households sampled per round for training / evaluation.
    min_nodes : int or None
        Households that must be connected before a round starts (None: all of them in a
        simulation; set it for a Pi federation).
    strategies : tuple of str
        Run each of ``fedavg`` and ``fedprox``, one after the other, on the same nodes.
    proximal_mu : float
        FedProx's proximal weight mu (the local loss gets ``mu / 2 * ||w - w_global||^2``).
    learning_rate, weight_decay : float
        Local AdamW settings.
    batch_size : int
        Windows per step.
    max_train_batches : int or None
        Cap on local steps per epoch (a random subset of windows each epoch); None: every
        window.
    window_stride : int
        An epoch visits every ``window_stride``-th training window (from a random offset
        each epoch): windows one interval apart share all but one of their rows, so
        4 (every 2 hours at 30 min) keeps the variety at a quarter of the cost.
    grad_clip : float
        Largest gradient norm.
    seed : int
        Seed of the initial weights and of every local run.
    cpu_threads : int
        Torch threads per client process.
    client_cpus : float
        CPUs Ray reserves per ClientApp in a simulation.
    parallel_clients : int
        CPUs Ray may use in a simulation: clients training at once is
        ``parallel_clients / client_cpus``.
    compare : tuple of str
        Reference runs on the same households and test blocks: ``local`` (each household
        alone) and ``centralised`` (their data pooled: the upper bound privacy forbids).
    eval_windows : int or None
        Test windows scored per household (every k-th); None: all.
    runtime : str
        ``simulation`` (Flower's simulation runtime, Ray) or ``loopback`` (a SuperLink and
        one SuperNode process per household on this machine).
    out_dir : str
        Where the run writes its results and global weights, relative to the data folder
        unless absolute.
    export : tuple of str
        ``onnx`` / ``torchscript``: export the final federated model for each household
        (with that household's own scalers) into ``out_dir/models``.
    resume : bool
        Deployment: start from the federation's current global model
        (``out_dir/global/<strategy>.npz``, written after every run) instead of fresh
        weights, so a run every 3 hours continues the model of the last one.
    round_timeout_s : float
        Longest wait for a round's replies [s].
    """

    dataset: str = "sgsc"
    data_path: str = "../shared/data/sgsc_households"
    households: int | tuple = 10
    days: int | None = None
    new_households: tuple[int, ...] = ()
    new_history_days: int = 28
    simulated_seed: int = 0
    preset: str = "pi"
    feature_spec: str | dict = "CONSUMPTION_TIME"
    horizons: dict | None = None
    model: dict = field(default_factory=dict)
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    rounds: int = 5
    local_epochs: int = 1
    fraction_train: float = 1.0
    fraction_evaluate: float = 1.0
    min_nodes: int | None = None
    strategies: tuple[str, ...] = ("fedavg",)
    proximal_mu: float = 0.01
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    max_train_batches: int | None = None
    window_stride: int = 4
    grad_clip: float = 1.0
    seed: int = 2025
    cpu_threads: int = 1
    client_cpus: float = 1.0
    parallel_clients: int = 2
    compare: tuple[str, ...] = ("local", "centralised")
    eval_windows: int | None = 200
    runtime: str = "simulation"
    out_dir: str = "federated"
    export: tuple[str, ...] = ()
    resume: bool = False
    round_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> FederationParamsError:
            return FederationParamsError(f"{key}: {msg}", key)

        if self.dataset not in DATASETS[:3]:
            raise bad("dataset", f"{self.dataset!r} unknown; use one of {DATASETS[:3]}")
        for key in self.strategies:
            if key not in STRATEGIES:
                raise bad("strategies", f"{key!r} unknown; use any of {STRATEGIES}")
        if not self.strategies:
            raise bad("strategies", f"empty; list at least one of {STRATEGIES}")
        for key in self.compare:
            if key not in BASELINES:
                raise bad("compare", f"{key!r} unknown; use any of {BASELINES} (or [])")
        for key in self.export:
            if key not in ("onnx", "torchscript"):
                raise bad("export", f"{key!r} unknown; use onnx and/or torchscript")
        if self.runtime not in RUNTIMES:
            raise bad("runtime", f"{self.runtime!r} unknown; use one of {RUNTIMES}")
        for key in (
            "rounds",
            "local_epochs",
            "batch_size",
            "cpu_threads",
            "parallel_clients",
            "window_stride",
        ):
            if int(getattr(self, key)) < 1:
                raise bad(key, f"must be >= 1, got {getattr(self, key)}")
        for key in ("fraction_train", "fraction_evaluate"):
            if not 0.0 <= float(getattr(self, key)) <= 1.0:
                raise bad(key, f"must be a fraction in [0, 1], got {getattr(self, key)}")
        if self.fraction_train == 0.0:
            raise bad("fraction_train", "0 trains nobody; use a fraction above 0")
        if self.proximal_mu < 0:
            raise bad("proximal_mu", f"must be >= 0, got {self.proximal_mu}")
        if len(self.split) != 3 or abs(sum(self.split) - 1.0) > 1e-9 or min(self.split) <= 0:
            raise bad("split", f"{list(self.split)} must be three positive fractions summing to 1")
        try:
            get_spec(self.feature_spec)
        except (KeyError, TypeError, ValueError) as err:
            raise bad("feature_spec", str(err).strip("'\"")) from None

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, values: Mapping, where: str = "params") -> FederationParams:
        """Check and convert a mapping (a YAML file's, a run config's) into params.

        ``where`` names the source in errors (``params/federated_sgsc.yaml``).
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise FederationParamsError(
                f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}", unknown[0]
            )
        d = dict(values)
        for key in ("new_households", "strategies", "compare", "export", "split"):
            if key in d:
                v = d[key]
                d[key] = tuple(v) if isinstance(v, list | tuple) else (v,) if v else ()
        if isinstance(d.get("households"), list):
            d["households"] = tuple(d["households"])
        if "split" in d:
            d["split"] = tuple(float(x) for x in d["split"])
        if d.get("model") is None:
            d["model"] = {}
        for key, kind in NUMBERS.items():
            if d.get(key) is not None:
                try:
                    d[key] = kind(d[key])
                except (TypeError, ValueError):
                    raise FederationParamsError(
                        f"{where}: {key}: {d[key]!r} is not a number; write e.g. {kind(1)}", key
                    ) from None
        try:
            return cls(**d)
        except FederationParamsError as err:
            raise FederationParamsError(f"{where}: {err}", err.key) from None

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> FederationParams:
        """Read a params file; an error names the file and the key's line."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"params file {path} not found")
        text = path.read_text()
        values = yaml.safe_load(text) or {}
        if not isinstance(values, dict):
            raise FederationParamsError(f"{path}: must hold a mapping of parameter names to values")
        values |= overrides
        try:
            return cls.from_dict(values, where=str(path))
        except FederationParamsError as err:
            line = _key_lines(text).get(err.key or "")
            if line is None:
                raise
            raise FederationParamsError(
                str(err).replace(f"{path}: ", f"{path}, line {line}: ", 1), err.key
            ) from None

    def to_dict(self) -> dict:
        """Plain YAML / JSON values (tuples as lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        if isinstance(self.feature_spec, FeatureSpec):
            out["feature_spec"] = self.feature_spec.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    # ------------------------------------------------------------------ derived
    def spec(self) -> FeatureSpec:
        """The feature spec, with ``horizons`` replaced where given."""
        spec = get_spec(self.feature_spec)
        if self.horizons:
            spec = dataclasses.replace(
                spec, horizons=tuple((str(k), int(v)) for k, v in self.horizons.items())
            )
        return spec

    def household_refs(self) -> list[HouseholdRef]:
        """The federation's households (see :func:`household_refs`)."""
        return household_refs(
            self.dataset,
            self.data_path,
            list(self.households) if isinstance(self.households, tuple) else self.households,
            days=self.days,
            new_households=self.new_households,
            new_history_days=self.new_history_days,
            seed=self.simulated_seed,
        )


def _key_lines(text: str) -> dict[str, int]:
    """Line (1-based) of each top-level key of a YAML mapping."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value}


def params_from_run_config(run_config: Mapping) -> FederationParams:
    """Params from a Flower run config: ``params`` (JSON of a params mapping) and/or
    ``params-file`` (a YAML file on the SuperLink's machine), the first overriding the second."""
    values: dict = {}
    where = "run config"
    file = str(run_config.get("params-file") or "")
    if file:
        values |= yaml.safe_load(Path(file).read_text()) or {}
        where = f"run config params-file {file}"
    given = str(run_config.get("params") or "")
    if given:
        values |= json.loads(given)
    return FederationParams.from_dict(values, where=where)


def resolve_out_dir(params: FederationParams) -> Path:
    """``params.out_dir``, relative to the configured data folder unless absolute."""
    out = Path(params.out_dir).expanduser()
    return out if out.is_absolute() else load_settings().data_dir / out


def describe(params: FederationParams, households: Sequence[HouseholdRef]) -> str:
    """One line: what this run does."""
    return (
        f"{len(households)} {params.dataset} households x {params.rounds} round(s) x "
        f"{params.local_epochs} local epoch(s) of the '{params.preset}' preset "
        f"({', '.join(params.strategies)}; compared with {', '.join(params.compare) or 'nothing'})"
    )
