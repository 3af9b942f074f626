"""Flower's deployment runtime: a SuperLink and three SuperNode processes on loopback.

Each SuperNode reads its own household from a store named in its ``--node-config`` (as
a Pi does) and has a models folder for its agent; the one that evaluates the new model
exports it there, and the agent's watcher swaps it in.  The Pi units under pi_agent/systemd start the
same commands: their command lines are checked against Flower's own argument parsers.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from forecast.test_federated import TINY_SPEC, tiny_params, write_homes

from energylib.cli import build_parser
from energylib.forecast.federated.apps import TRAIN_METRICS
from energylib.forecast.federated.training import build_model, model_config_for

PI = Path(__file__).resolve().parents[2] / "pi_agent"
UNITS = ("energy-superlink.service", "energy-supernode.service", "energy-federate.service")


@pytest.mark.slow
def test_three_supernodes_train_one_round_over_loopback_and_a_pi_swaps_the_model_in(tmp_path):
    from energylib.agent.models import ModelWatcher
    from energylib.forecast.federated.deployment import LoopbackFederation

    refs = write_homes(tmp_path / "store")
    models = [tmp_path / f"agent-models-{i}" for i in range(3)]  # each Pi's agent folder
    # One household (drawn by Flower) evaluates the new model and exports it for its agent.
    params = tiny_params(
        tmp_path / "out",
        rounds=1,
        strategies=("fedavg",),
        compare=(),
        export=(),
        fraction_evaluate=0.34,
    )
    rounds_seen = []
    extra = {i: {"model-dir": str(m)} for i, m in enumerate(models)}
    with LoopbackFederation(refs, tmp_path / "federation", node_extra=extra) as fed:
        processes = list(fed.processes)  # the SuperLink, then one SuperNode per household
        assert len(processes) == 1 + 3 and all(p.poll() is None for p in processes)
        run = fed.run(
            params, progress=lambda s, r, row: rounds_seen.append((s, r, row["clients_train"]))
        )
    assert all(p.poll() is not None for p in processes)  # every process stopped on exit
    assert rounds_seen == [("fedavg", 1, 3)]
    row = run.rounds.row(0, named=True)
    assert (row["round"], row["clients_train"], row["clients_evaluate"], row["failures"]) == (
        1,
        3,
        1,
        0,
    )
    names = {
        n
        for n, _ in build_model(model_config_for(TINY_SPEC, "pi", params.model)).named_parameters()
    }
    train = run.messages.filter(run.messages["kind"] == "train")
    assert train.height == 3 and train["node_id"].n_unique() == 3
    for r in train.iter_rows(named=True):
        assert r["records"] == ["arrays:ArrayRecord", "metrics:MetricRecord"]
        assert set(r["array_names"]) == names
        assert set(json.loads(r["metrics"])) == set(TRAIN_METRICS)
        assert r["bytes"] > 4 * 1000
    assert set(run.weights["fedavg"]) == names
    # The SuperNode that evaluated exported the round's model into its agent's folder.
    exported = [m for m in models if (m / "federated.onnx").is_file()]
    assert len(exported) == 1 and [p.name for p in exported[0].iterdir()] == ["federated.onnx"]
    watcher = ModelWatcher(exported[0])
    assert watcher.poll() and watcher.current.runner.spec.tasks == ("consumption",)
    logs = sorted(p.name for p in (tmp_path / "federation").glob("supernode-*.log"))
    assert logs == ["supernode-0.log", "supernode-1.log", "supernode-2.log"]


# --------------------------------------------------------------------------- the Pi units
def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(PI / "systemd" / name)
    return cp


def _exec_argv(name: str, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart as systemd runs it: ``${VAR}`` one word, ``$VAR`` split on spaces."""
    words = shlex.split(_unit(name)["Service"]["ExecStart"].replace("@APP_DIR@", "/opt/energylib"))
    argv: list[str] = []
    for w in words:
        whole = re.fullmatch(r"\$\{(\w+)\}", w)
        split = re.fullmatch(r"\$(\w+)", w)
        if whole:
            argv.append(env[whole[1]])
        elif split:
            argv += env[split[1]].split()
        else:
            argv.append(re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], w))
    return argv


ENV = {
    "ENERGY_FEDERATION_TLS": "--ssl-ca-certfile /etc/energylib/federation/ca.crt "
    "--ssl-certfile /etc/energylib/federation/server.pem --ssl-keyfile /etc/energylib/federation/server.key",
    "ENERGY_SUPERNODE_TLS": "--root-certificates /etc/energylib/federation/ca.crt",
    "ENERGY_SUPERLINK": "coordinator.local:9100",
    "ENERGY_SUPERLINK_PORT": "9100",
    "ENERGY_NODE_CONFIG": 'dataset="store" path="/var/lib/energylib/processed" source="amber" key="home" '
    'model-dir="/var/lib/energylib/models"',
    "ENERGY_FEDERATION_PARAMS": "/opt/energylib/params/federated_pi.yaml",
    "ENERGY_FEDERATE_TLS": "--root-certificates /etc/energylib/federation/ca.crt",
}


def test_federation_units_run_flowers_commands_with_flags_flower_accepts():
    from flwr.superlink.cli.flower_superlink import _parse_args_run_superlink
    from flwr.supernode.cli.flower_supernode import _parse_args_run_supernode

    link = _exec_argv("energy-superlink.service", ENV)
    assert link[0].endswith("/.venv/bin/flower-superlink")
    args = _parse_args_run_superlink().parse_args(link[1:])
    assert args.port == 9100 and args.host == "0.0.0.0" and not args.insecure
    node = _exec_argv("energy-supernode.service", ENV)
    assert node[0].endswith("/.venv/bin/flower-supernode")
    args = _parse_args_run_supernode().parse_args(node[1:])
    assert (
        args.superlink == "coordinator.local:9100" and args.node_config == ENV["ENERGY_NODE_CONFIG"]
    )
    federate = _exec_argv("energy-federate.service", ENV)
    assert federate[0].endswith("/.venv/bin/energy")
    build_parser().parse_args(federate[1:])  # SystemExit if a flag did not exist
    timer = _unit("energy-federate.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 00/3:00:00"  # every 3 hours: the design's cadence
    for name in UNITS:
        u = _unit(name)
        assert u["Service"]["User"] == "@USER@" and u["Service"]["NoNewPrivileges"] == "true"
        assert "FLWR_TELEMETRY_ENABLED=0" in (PI / "systemd" / name).read_text()  # no calls home


def test_federation_install_script_parses_and_readme_commands_exist():
    bash = shutil.which("bash")
    r = subprocess.run(
        [bash, "-n", str(PI / "systemd" / "install-federation.sh")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    readme = (PI / "README.md").read_text()
    section = readme[readme.index("## Federated forecasting") :]
    for line in re.findall(r"^energy federate (.+)$", section, flags=re.M):
        build_parser().parse_args(["federate", *shlex.split(line.split("#")[0])])
    assert (
        "flower-superlink" in section
        and "flower-supernode" in section
        and "--node-config" in section
    )
