"""Federated forecasting on Flower: params, households, local training, the simulation runtime.

The simulation test runs Flower's simulation runtime (Ray) once for the module: three
small households, FedAvg and FedProx for two rounds each, against local-only and
centralised training; the other tests inspect that run.  The deployment runtime (a
SuperLink and three SuperNode processes) is in test_federated_deployment.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from flwr.app import ArrayRecord, MetricRecord
from flwr.common.config import parse_config_args

from energylib.cli import main as energy
from energylib.forecast.features import CONSUMPTION_TIME, consumption_spec, feature_matrix
from energylib.forecast.federated import FederationParams, HouseholdRef
from energylib.forecast.federated.apps import EVALUATE_METRICS, TRAIN_METRICS
from energylib.forecast.federated.deployment import node_config_arg
from energylib.forecast.federated.households import load_household
from energylib.forecast.federated.params import FederationParamsError
from energylib.forecast.federated.training import (
    LocalOptions,
    build_model,
    fit,
    initial_model,
    load_shared,
    model_config_for,
    prepare_household,
    shared_state,
)
from energylib.schema import FrameMeta, interval_index
from energylib.store import ParquetStore

TZ = "Australia/Sydney"
#: A small spec: a 12-step window, day-ahead 12 steps (the lags stay 1 and 7 days).
TINY_SPEC = dataclasses.replace(CONSUMPTION_TIME, sequence_length=12, horizons=(("day", 12),))
TINY_MODEL = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}
#: Three homes of different size and habit: (daily kWh scale, evening peak hour, seed).
HOMES = {"home-small": (0.4, 18.0, 1), "home-mid": (1.0, 19.5, 2), "home-big": (2.5, 20.5, 3)}


def home_frame(scale: float, peak: float, seed: int, days: int = 45) -> pl.DataFrame:
    """Half-hourly metered usage of a synthetic home: a base load, a morning and an evening
    peak (weekends later and larger), noise; ``energy_kwh`` [kWh per half-hour]."""
    rng = np.random.default_rng(seed)
    start = datetime(2025, 3, 2, 13, tzinfo=UTC)  # local midnight in Sydney
    t = interval_index(start, start + timedelta(days=days), 30)
    hour = (np.arange(len(t)) * 0.5) % 24
    weekend = ((np.arange(len(t)) // 48) % 7) >= 5
    shape = (
        0.15
        + 0.5 * np.exp(-((hour - 7.5 - weekend) ** 2) / 2)
        + (0.9 + 0.3 * weekend) * np.exp(-((hour - peak) ** 2) / 3)
    )
    kwh = scale * shape * rng.lognormal(0.0, 0.25, len(t))
    return pl.DataFrame({"interval_start": t, "energy_kwh": kwh})


def write_homes(root, days: int = 45) -> list[HouseholdRef]:
    """A Parquet store with each home's usage, as a Pi's store holds it; refs to read them."""
    store = ParquetStore(root)
    for site, (scale, peak, seed) in HOMES.items():
        meta = FrameMeta("meter", "usage", 30, site, "general", timezone=TZ)
        store.upsert(home_frame(scale, peak, seed, days), meta)
    return [HouseholdRef("store", site, str(root), source="meter") for site in HOMES]


def tiny_params(out_dir, **changes) -> FederationParams:
    base = dict(
        dataset="simulated",
        households=3,
        feature_spec=TINY_SPEC.to_dict(),
        model=TINY_MODEL,
        rounds=2,
        strategies=("fedavg", "fedprox"),
        proximal_mu=0.1,
        batch_size=32,
        max_train_batches=4,
        window_stride=2,
        eval_windows=20,
        compare=("local", "centralised"),
        out_dir=str(out_dir),
        export=("onnx",),
        parallel_clients=2,
    )
    return FederationParams(**(base | changes))


# --------------------------------------------------------------------------- spec and params
def test_consumption_spec_reads_meter_data_alone_with_day_and_week_lags():
    frame = home_frame(1.0, 19.0, 0, days=10).rename({"energy_kwh": "total_kwh"})
    fm = feature_matrix(frame, CONSUMPTION_TIME, TZ)
    assert CONSUMPTION_TIME.tasks == ("consumption",) and CONSUMPTION_TIME.targets == ("total_kwh",)
    assert fm.inputs.shape == (frame.height, 9) and fm.targets.shape == (frame.height, 1)
    load = frame["total_kwh"].to_numpy()
    names = CONSUMPTION_TIME.feature_names
    np.testing.assert_allclose(
        fm.inputs[400:, names.index("total_kwh_lag_48")], load[352:-48], rtol=1e-6
    )
    np.testing.assert_allclose(
        fm.inputs[400:, names.index("total_kwh_lag_336")], load[64:-336], rtol=1e-6
    )
    hourly = consumption_spec(60)
    assert hourly.name == "CONSUMPTION_TIME_60MIN" and hourly.sequence_length == 24
    assert [f.lag for f in hourly.features if f.kind == "lag"] == [24, 168]


def test_params_file_error_names_the_file_line_and_fix(tmp_path):
    path = tmp_path / "fed.yaml"
    path.write_text("households: 3\nrounds: 2\nstrategies: [fedavg, fedsgd]\n")
    with pytest.raises(
        FederationParamsError, match=r"fed\.yaml, line 3: strategies: 'fedsgd' unknown; use any of"
    ):
        FederationParams.from_yaml(path)
    path.write_text("households: 3\nround: 2\n")
    with pytest.raises(
        FederationParamsError, match=r"line 2: unknown key\(s\) \['round'\]; known keys"
    ):
        FederationParams.from_yaml(path)
    path.write_text("learning_rate: 1e-3\nfraction_train: 1.5\n")
    with pytest.raises(FederationParamsError, match=r"line 2: fraction_train: must be a fraction"):
        FederationParams.from_yaml(path)


@pytest.mark.parametrize(
    "name", ["federated_sgsc", "federated_sgsc_full", "federated_citylearn", "federated_pi"]
)
def test_shipped_params_files_load(name):
    from energylib.config import PROJECT_ROOT

    params = FederationParams.from_yaml(PROJECT_ROOT / "params" / f"{name}.yaml")
    assert params.spec().tasks == ("consumption",)
    assert params.preset == "pi"


def test_energy_federate_reports_a_bad_params_file_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("runtime: cloud\n")
    assert energy(["federate", "--params", str(path)]) == 2
    assert (
        "line 1: runtime: 'cloud' unknown; use one of ('simulation', 'loopback')"
        in capsys.readouterr().err
    )
    assert energy(["federate", "--params", str(tmp_path / "missing.yaml")]) == 2


# --------------------------------------------------------------------------- households
def test_node_config_names_a_household_as_flower_parses_it(tmp_path):
    ref = HouseholdRef(
        "store", "home-1", str(tmp_path / "my store"), days=90, history_days=14, source="amber"
    )
    text = node_config_arg(ref.to_node_config() | {"model-dir": str(tmp_path / "models")})
    parsed = parse_config_args([text])  # what flower-supernode does with --node-config
    assert HouseholdRef.from_node_config(parsed) == ref
    assert parsed["model-dir"] == str(tmp_path / "models")
    with pytest.raises(
        ValueError, match="does not say where its household's data is.*--node-config"
    ):
        HouseholdRef.from_node_config({"partition-id": 0})


def test_new_household_keeps_recent_training_history_and_the_same_test_block(tmp_path):
    full_ref, *_ = write_homes(tmp_path / "store")
    new_ref = dataclasses.replace(full_ref, history_days=10)
    full, _ = load_household(full_ref, 30)
    new, _ = load_household(new_ref, 30)
    a = prepare_household(full_ref, TINY_SPEC)
    b = prepare_household(new_ref, TINY_SPEC)
    assert a.prepared.blocks == b.prepared.blocks  # same rows, same chronological split
    val_start = a.prepared.matrix.times[a.prepared.blocks["val"][0]]
    kept = new.filter(pl.col("total_kwh").is_not_null())
    assert kept["interval_start"].min() == val_start - timedelta(days=10)
    test0 = a.prepared.blocks["test"][0]
    assert full["total_kwh"][test0:].equals(new["total_kwh"][test0:])
    # Only windows inside the recent history remain (each needs 7 days of lags before it).
    assert 0 < len(b.train_anchors) < len(a.train_anchors) / 5
    assert np.array_equal(a.val_anchors, b.val_anchors)


# --------------------------------------------------------------------------- local training
@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    refs = write_homes(tmp_path_factory.mktemp("homes"))
    return [prepare_household(r, TINY_SPEC) for r in refs]


def test_only_parameters_are_shared_never_buffers_or_scalers(homes):
    config = model_config_for(TINY_SPEC, "pi", TINY_MODEL)
    model = build_model(config, homes[0])
    state = shared_state(model)
    assert list(state) == [n for n, _ in model.named_parameters()]
    assert not set(state) & {n for n, _ in model.named_buffers()}
    other = build_model(dataclasses.replace(config, d_model=32, n_heads=2), homes[0])
    with pytest.raises(ValueError, match="shape .* the model has|do not fit this model"):
        load_shared(other, state)


def test_fedprox_term_holds_local_weights_near_the_global_model(homes):
    config = model_config_for(TINY_SPEC, "pi", TINY_MODEL)
    start = shared_state(initial_model(config, 0))

    def drift(mu: float) -> float:
        m = build_model(config, homes[2])
        load_shared(m, start)
        fit(
            m,
            [homes[2]],
            LocalOptions(learning_rate=1e-2, batch_size=32, max_train_batches=10, proximal_mu=mu),
            1,
            seed=3,
        )
        return float(sum(((p.detach() - start[n]) ** 2).sum() for n, p in m.named_parameters()))

    assert drift(50.0) < 0.5 * drift(0.0)


# --------------------------------------------------------------------------- the simulation runtime
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One simulation-runtime study for the module, its progress output captured."""
    from energylib.forecast.federated.study import run_study

    root = tmp_path_factory.mktemp("federation")
    refs = write_homes(root / "store")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # The households are a store's (a Pi's own data) rather than a named dataset.
        result = run_study(tiny_params(root / "out"), refs, progress=True)
    return result, refs, out.getvalue()


@pytest.mark.slow
def test_simulation_runs_every_round_of_both_strategies_on_every_household(study):
    result, refs, _ = study
    rounds = result.run.rounds
    assert rounds.select("strategy", "round").rows() == [
        ("fedavg", 1),
        ("fedavg", 2),
        ("fedprox", 1),
        ("fedprox", 2),
    ]
    assert rounds["clients_train"].to_list() == [3] * 4 and rounds["failures"].to_list() == [0] * 4
    assert rounds["clients_evaluate"].to_list() == [3] * 4
    messages = result.run.messages
    assert messages.height == 2 * 2 * (3 + 3)
    assert messages["node_id"].n_unique() == 3
    # The model is the one the server sent out: round 2 starts from round 1's average.
    assert rounds["train_loss"].is_finite().all() and rounds["val_loss"].is_finite().all()
    assert (
        rounds["bytes_per_client"]
        > 4
        * sum(
            p.numel()
            for p in build_model(model_config_for(TINY_SPEC, "pi", TINY_MODEL)).parameters()
        )
    ).all()


@pytest.mark.slow
def test_every_message_a_client_sends_holds_only_weights_and_metrics(study):
    result, _, _ = study
    config = model_config_for(TINY_SPEC, "pi", TINY_MODEL)
    shapes = {n: tuple(p.shape) for n, p in build_model(config).named_parameters()}
    homes_data = [prepare_household(r, TINY_SPEC) for r in study[1]]
    scaler_arrays = [
        {float(v) for v in np.asarray(arr, dtype=np.float32)} - {0.0, 1.0}
        for h in homes_data
        for s in (h.prepared.scalers.inputs, h.prepared.scalers.targets)
        for arr in (s.center, s.scale)
    ]
    scaler_values = set().union(*scaler_arrays)
    readings = [np.asarray(h.frame["total_kwh"].drop_nulls(), dtype=np.float32) for h in homes_data]
    runs = {tuple(np.round(r[i : i + 3], 6)) for r in readings for i in range(len(r) - 3)}
    assert len(result.run.replies) == 24
    for reply in result.run.replies:
        content = reply.content
        kind = reply.metadata.message_type
        if kind == "train":
            assert set(content) == {"arrays", "metrics"}
            assert isinstance(content["arrays"], ArrayRecord) and isinstance(
                content["metrics"], MetricRecord
            )
            arrays = content["arrays"]
            assert {
                n: tuple(a.shape) for n, a in arrays.items()
            } == shapes  # the model's weights, nothing else
            assert set(content["metrics"]) == set(TRAIN_METRICS)
            values = [a.numpy() for a in arrays.values()]
        else:
            assert kind == "evaluate" and set(content) == {"metrics"}
            assert isinstance(content["metrics"], MetricRecord)
            assert set(content["metrics"]) == set(EVALUATE_METRICS)
            values = []
        metrics = [float(v) for v in content["metrics"].values()]
        assert all(np.isscalar(v) for v in content["metrics"].values())
        # No scaler fitted on a client's data, in any weight or metric: no scaler's values
        # travel in a weight array (one float32 weight equal to one of them by chance among
        # thousands is no leak; a scaler's whole centre or scale vector would be) ...
        for arr in values:
            flat = set(np.asarray(arr, dtype=np.float32).ravel().tolist())
            assert not any(len(sc) > 1 and sc <= flat for sc in scaler_arrays)
        assert not (set(metrics) & scaler_values - {0.0, 1.0})
        # ... and no run of a client's readings.
        for arr in values:
            flat = np.round(np.asarray(arr, dtype=np.float32).ravel(), 6)
            assert not any(tuple(flat[i : i + 3]) in runs for i in range(len(flat) - 3))


@pytest.mark.slow
def test_every_method_is_scored_on_the_same_test_windows_of_each_household(study):
    result, refs, _ = study
    scores = result.scores
    assert set(scores["method"]) == {"naive", "local", "fedavg", "fedprox", "centralised"}
    per_home = scores.group_by("household").agg(pl.col("test_windows").n_unique(), pl.len())
    assert (
        per_home.height == 3
        and (per_home["test_windows"] == 1).all()
        and (per_home["len"] == 5).all()
    )
    assert scores.filter(pl.col("method") == "naive")["mae_vs_naive"].to_list() == [1.0] * 3
    assert scores["mae_kwh"].is_finite().all() and scores["rmse_kwh"].is_finite().all()
    overall = result.overall()
    assert overall["method"].to_list() == ["naive", "local", "fedavg", "fedprox", "centralised"]
    gains = result.gains()
    assert {"gain_pct_fedavg", "gain_pct_fedprox"} <= set(gains.columns)
    row = gains.row(0, named=True)
    assert row["gain_pct_fedavg"] == pytest.approx(100 * (1 - row["fedavg"] / row["local"]))


@pytest.mark.slow
def test_progress_is_reported_once_per_round(study):
    _, _, output = study
    for strategy in ("fedavg", "fedprox"):
        for r in (1, 2):
            assert output.count(f"[{strategy}] round {r}/2: 3 client(s) trained") == 1


@pytest.mark.slow
def test_exported_federated_model_is_hot_swapped_by_the_agents_watcher(study, tmp_path):
    from energylib.agent.models import ModelWatcher
    from energylib.forecast.federated.params import resolve_out_dir
    from energylib.forecast.federated.training import household_forecaster

    result, refs, _ = study
    exported = sorted((resolve_out_dir(result.params) / "models").glob("*.onnx"))
    assert [p.stem for p in exported] == sorted(HOMES)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(exported[0].read_bytes())
    watcher = ModelWatcher(folder)  # the agent's loader: validate, load, swap
    assert watcher.poll() and watcher.version.startswith("model.onnx@")
    home = prepare_household(next(r for r in refs if r.key == exported[0].stem), TINY_SPEC)
    history = home.frame.tail(home.spec.history_rows)
    day = watcher.current.runner.predict(history)["day"]
    assert day.height == 12 and day["total_kwh"].is_finite().all()
    # The file is the federated model with this household's own scalers.
    model = build_model(model_config_for(TINY_SPEC, "pi", TINY_MODEL), home)
    load_shared(model, result.run.weights["fedavg"])
    eager = household_forecaster(model, home).predict(history)["day"]
    np.testing.assert_allclose(day["total_kwh"], eager["total_kwh"], rtol=1e-4, atol=1e-6)
    assert json.loads(json.dumps(watcher.status()))["swaps"] == 1
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- any spec, any household source
def test_a_client_trains_any_spec_from_its_own_store_and_sends_no_local_buffers(
    tmp_path, monkeypatch
):
    """A price spec (TRADING_24, with its per-household price profile) from a store holding
    load channels, prices, weather and battery: the ClientApp, called as Flower calls it,
    replies with the shared parameters only (the profile buffers and scalers stay)."""
    from flwr.app import Context, Message, MessageType, RecordDict
    from forecast_synthetic import SMALL_SPEC, synthetic_frame

    from energylib.forecast.federated.apps import RoundSetup, make_client_app
    from energylib.schema import LOAD_CHANNELS

    frame = synthetic_frame(days=24)
    store = ParquetStore(tmp_path / "store")
    kinds = {
        "load": [f"{c}_kwh" for c in LOAD_CHANNELS] + ["total_kwh"],
        "prices": ["price_per_kwh"],
        "weather": ["ghi_w_m2", "temp_air_c"],
        "battery": ["soc_pct", "soh_pct", "cycles_count"],
    }
    for kind, cols in kinds.items():
        channel = "general" if kind == "prices" else "all"
        meta = FrameMeta("home", kind, 30, "pi-1", channel, currency="AUD", timezone=TZ)
        store.upsert(frame.select("interval_start", *cols), meta)
    ref = HouseholdRef("store", "pi-1", str(tmp_path / "store"), source="home")
    params = FederationParams(
        feature_spec=SMALL_SPEC.to_dict(), model=TINY_MODEL, max_train_batches=3, batch_size=16
    )
    setup = RoundSetup.from_params(params)
    config = setup.model_config
    assert config.profile_slots == 48  # the price task forecasts on the household's own profile
    start = shared_state(initial_model(config, 0))
    config_record = setup.to_config()
    config_record["server-round"] = 1
    # The identity of the run Flower's runtime gives the process that builds messages.
    from flwr.supercore.task_identity import TaskIdentity

    for attr in ("_run_id", "_task_id", "_node_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1)
    message = Message(
        RecordDict({"arrays": ArrayRecord(start), "config": config_record}),
        dst_node_id=7,
        message_type=MessageType.TRAIN,
    )
    context = Context(
        run_id=1, node_id=7, node_config=ref.to_node_config(), state=RecordDict(), run_config={}
    )
    reply = make_client_app()(
        message, context
    )  # the deployment's app: the node config names the store
    assert set(reply.content) == {"arrays", "metrics"}
    sent = reply.content["arrays"]
    assert set(sent) == set(start) and not {"profile", "slot_keys"} & set(sent)
    assert any(not np.array_equal(sent[k].numpy(), start[k].numpy()) for k in start)  # it trained
    assert reply.content["metrics"]["steps"] == 3


def test_citylearn_households_read_hourly_and_ask_for_the_hourly_spec(shared_data):
    ref = HouseholdRef("citylearn", "3", str(shared_data / "citylearn_2022"))
    frame, tz = load_household(ref, 60)
    assert (
        frame.columns == ["interval_start", "total_kwh"]
        and frame.height == 8760
        and tz == "America/Los_Angeles"
    )
    with pytest.raises(
        ValueError, match="60-min but the feature spec reads 30-min.*CONSUMPTION_TIME_60MIN"
    ):
        load_household(ref, 30)


def test_sgsc_households_are_listed_in_id_order_and_read_half_hourly(shared_data):
    params = FederationParams(
        data_path=str(shared_data / "sgsc_households"),
        households=2,
        days=30,
        new_households=(1,),
        new_history_days=10,
    )
    refs = params.household_refs()
    assert [r.name for r in refs] == ["sgsc-10006414", "sgsc-10006664"]
    assert refs[1].history_days == 10 and refs[0].history_days is None
    frame, tz = load_household(refs[0], 30)
    assert tz == "Australia/Sydney" and frame.height <= 30 * 48 + 1
    assert (frame["interval_start"].diff().drop_nulls() >= timedelta(minutes=30)).all()


def test_generated_homes_differ_in_size_and_habits():
    from energylib.forecast.federated.households import simulated_home

    homes = [simulated_home(i, seed=0) for i in range(6)]
    assert len({round(h.annual_kwh) for h in homes}) == 6
    assert {h.has_ev for h in homes} == {True, False}
    frame, tz = load_household(HouseholdRef("simulated", "2", days=20), 30)
    assert frame.height == 20 * 48 and tz == "Australia/Sydney"
    # The home's own use pro rata (the year's seasons aside), an EV's charging on top.
    assert frame["total_kwh"].sum() > 0.6 * homes[2].annual_kwh * 20 / 365
