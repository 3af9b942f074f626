"""The Pi installs `.[agent]` only: the agent imports and decides without torch, Jupyter,
papermill, Dask, Flower or Altair (a subprocess in which importing them fails), with its
ONNX forecaster loaded through onnxruntime; and it never loads what its decisions do not
need (numba, pandas, scipy, pvlib, pyarrow): most of a Pi's memory budget."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime

from agent_fakes import SITE, TOKEN, seed_history

from energylib.agent.clock import SimulatedClock
from energylib.config import PROJECT_ROOT
from energylib.store import SqliteStore

# What only training, reports, scale-out and Postgres need: never on the Pi.
NOT_ON_THE_PI = (
    "torch", "jupyter", "jupyterlab", "jupyter_client", "ipykernel", "IPython", "papermill",
    "nbconvert", "nbformat", "altair", "vl_convert", "dask", "distributed", "flwr", "ray",
    "psycopg", "onnx", "sklearn",
    # the 'study' extra: the year-long studies' numba, scipy, pvlib, HiGHS and pyarrow
    "numba", "llvmlite", "scipy", "pvlib", "highspy", "pyarrow",
)  # fmt: skip
# Installed with the agent, but large in memory and not needed for one decision on Amber
# prices (the study kernels' numba, pvlib's pandas and scipy, Parquet's pyarrow).
NOT_IN_A_DECISION = ("numba", "llvmlite", "pandas", "scipy", "pvlib", "pyarrow", "sklearn")

BLOCKING_RUN = """
import json, resource, sys
BLOCKED = set(json.loads(sys.argv[1]))
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the agent extra)")
        return None
sys.meta_path.insert(0, NotInstalled())
from energylib.cli import main
rc = main(["agent", "run", "--once", "--state-dir", sys.argv[2]])
loaded = sorted({m.split(".")[0] for m in sys.modules})
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rc": rc, "loaded": loaded, "rss_mb": rss_mb}), file=sys.stderr)
"""


def run_agent_once(tmp_path, fake_amber, model_files, blocked=()) -> tuple[dict, dict]:
    """``energy agent run --once`` in a fresh interpreter in which importing ``blocked``
    fails: its decision and what it loaded (``loaded``: top-level module names)."""
    wall = datetime.now(UTC)
    now = wall.replace(minute=wall.minute - wall.minute % 30, second=0, microsecond=0)
    fake_amber.clock = SimulatedClock(now)  # the fake answers for the subprocess's real time
    state = tmp_path / "agent"
    seed_history(SqliteStore(state / "live.sqlite"), now, days=2)
    (state / "models").mkdir()
    shutil.copy(model_files["a"], state / "models" / "model_a.onnx")
    env = {
        **os.environ,
        "AMBER_TOKEN": TOKEN,
        "AMBER_BASE_URL": fake_amber.base_url,
        "AMBER_SITE_ID": SITE,
    }
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKING_RUN, json.dumps(list(blocked)), str(state)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    decision = json.loads(proc.stdout[proc.stdout.index("{") :])
    return decision, json.loads(proc.stderr.strip().splitlines()[-1])


def test_the_agent_decides_with_its_onnx_model_and_nothing_outside_the_agent_extra(
    tmp_path, fake_amber, model_files
):
    decision, report = run_agent_once(tmp_path, fake_amber, model_files, NOT_ON_THE_PI)
    assert decision["action"] in ("charge", "discharge", "hold", "idle")
    assert not set(report["loaded"]) & set(NOT_ON_THE_PI)
    assert "onnxruntime" in report["loaded"]  # the forecaster ran, without torch


def test_importing_the_agent_and_one_decision_load_no_numba_pandas_or_scipy(
    tmp_path, fake_amber, model_files
):
    decision, report = run_agent_once(tmp_path, fake_amber, model_files)
    assert decision["action"] in ("charge", "discharge", "hold", "idle")
    assert decision["forecast"]["model"].startswith("model_a.onnx@")  # the model decided
    assert not set(report["loaded"]) & set(NOT_IN_A_DECISION), report["loaded"]


def test_the_extras_split_what_the_pi_needs_from_the_rest():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for heavy in ("torch", "jupyterlab", "papermill", "dask", "distributed", "flwr", "psycopg",
                  "numba", "scipy", "pvlib", "highspy", "pyarrow"):  # fmt: skip
        assert heavy not in core, f"{heavy} is a core dependency: a Pi would install it"
    extras = project["optional-dependencies"]
    study = " ".join(extras["study"])
    assert all(p in study for p in ("numba", "scipy", "pvlib", "highspy", "pyarrow"))
    for needs_the_study in ("report", "train", "scale"):
        assert "energylib[study]" in extras[needs_the_study], needs_the_study
    agent = " ".join(extras["agent"])
    assert all(p in agent for p in ("fastapi", "uvicorn", "onnxruntime"))
    assert "torch" not in agent and "jupyter" not in agent
    assert any(p.startswith("torch==") for p in extras["train"])
    assert any("papermill" in p for p in extras["report"])
    assert any(p.startswith("dask") for p in extras["scale"]) and any(
        p.startswith("flwr") for p in extras["scale"]
    )
    assert any(p.startswith("psycopg") for p in extras["pg"])
    assert "energylib[agent,study,report,train,scale,pg]" in extras["dev"]
    install = (PROJECT_ROOT / "pi_agent" / "systemd" / "install.sh").read_text()
    assert '-e "$APP_DIR[agent]"' in install and "torch" not in install.split("pip install")[-1]


CORE_INSTALL = """
import json, sys
BLOCKED = set(json.loads(sys.argv[1]))
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
import energylib.agent.runner, energylib.store, energylib.ingest.amber, energylib.ingest.entsoe
import energylib.ingest.aemo, energylib.dispatch.rules, energylib.tariff, energylib.finance
import energylib.forecast.export
from energylib.agent.config import AgentSettings
from energylib.cli import main
try:
    main(["--help"])
except SystemExit as done:
    assert done.code == 0, done.code
print("simulate exit", main(["simulate", "default-year", "--data-dir", sys.argv[2]]), file=sys.stderr)
try:
    AgentSettings(policy="mpc")
except ValueError as err:
    print("mpc:", err, file=sys.stderr)
"""


def test_the_core_install_imports_the_library_and_names_the_extra_a_command_needs(tmp_path):
    fastapi_etc = ("fastapi", "uvicorn", "onnxruntime", "prometheus_client")
    proc = subprocess.run(
        [sys.executable, "-c", CORE_INSTALL, json.dumps([*NOT_ON_THE_PI, *fastapi_etc]),
         str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage: energy" in proc.stdout  # `energy --help` works on the core alone
    assert "simulate exit 2" in proc.stderr
    assert "pip install 'energylib[study]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "ENERGY_AGENT_POLICY='mpc' needs numba, scipy, highspy" in proc.stderr
    assert not list(tmp_path.rglob("*.parquet"))  # the simulate command stored nothing
