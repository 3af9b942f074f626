"""Flower's deployment runtime on this machine: a SuperLink and one SuperNode per household.

Each is a separate process, started from Flower's own commands, talking over the
network on loopback in insecure mode (plain HTTP on 127.0.0.1; across machines use
TLS, see ``pi_agent/README.md``):

* ``flower-superlink --insecure --disable-runtime-dependency-installation --port P``
  (the coordinator: Fleet, Control and Runtime APIs on one port);
* ``flower-supernode --insecure --superlink 127.0.0.1:P --port Q --node-config '...'``
  per household, its node config naming the household's data
  (:meth:`HouseholdRef.to_node_config`), as a Pi's would;
* ``flwr run pi_agent/federation loopback --stream --run-config run.toml``: submits the
  Flower app (``pi_agent/federation/pyproject.toml``: the ServerApp and ClientApp of
  :mod:`energylib.forecast.federated.apps`) with the params; the ServerApp writes the
  run's results to ``out-dir``.

The same commands, with addresses and TLS, run a federation of Pis.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import tomli_w

from energylib.config import PROJECT_ROOT
from energylib.forecast.federated.apps import ROUND_MARK, FederationError, FederationRun
from energylib.forecast.federated.households import HouseholdRef
from energylib.forecast.federated.params import FederationParams, resolve_out_dir

#: The Flower app a SuperLink runs: a pyproject.toml whose components are energylib's apps.
APP_DIR = PROJECT_ROOT / "pi_agent" / "federation"
SUPERLINK_NAME = "loopback"
ROUND_LINE = re.compile(ROUND_MARK + r" (\S+) (\d+) (\{.*\})")


def free_port() -> int:
    """A TCP port nothing listens on (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_config_arg(values: Mapping[str, object]) -> str:
    """``--node-config`` text: ``key=value`` pairs, strings quoted as TOML wants."""
    parts = []
    for k, v in values.items():
        if isinstance(v, bool):
            text = "true" if v else "false"
        elif isinstance(v, int | float):
            text = str(v)
        else:
            text = '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{k}={text}")
    return " ".join(parts)


def _bin(name: str) -> str:
    """A Flower command from this Python's environment (the venv's bin folder first)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(
            f"{name} not found beside {sys.executable} or on PATH; install Flower: pip install 'energylib[scale]'"
        )
    return found


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FederationError(
                f"the SuperLink exited with code {process.returncode}; its log {log} ends:\n{_tail(log)}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise FederationError(
        f"the SuperLink did not listen on 127.0.0.1:{port} within {timeout:.0f} s; see {log}"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LoopbackFederation:
    """A SuperLink and one SuperNode per household, as processes on this machine.

    Use as a context manager; :meth:`run` submits a federated run with ``flwr run`` and
    returns its :class:`FederationRun`.  Every process is stopped on exit (their
    SuperExec helpers follow their parent).

    Parameters
    ----------
    households : sequence of HouseholdRef
        One SuperNode each; its ``--node-config`` names the household's data.
    workdir : path, optional
        Logs, the Flower home (``FLWR_HOME``: its connection config and installed app)
        and results (default: a temporary folder, removed on exit).
    node_extra : mapping of int to mapping, optional
        Extra node-config entries by household position (``{0: {"model-dir": ...}}``:
        that node exports each round's federated model there for its agent).
    """

    def __init__(
        self,
        households: Sequence[HouseholdRef],
        workdir: str | Path | None = None,
        node_extra: Mapping[int, Mapping[str, object]] | None = None,
    ):
        self.households = list(households)
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="energylib-federation-"))
        self.node_extra = dict(node_extra or {})
        self.port = 0
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FLWR_HOME"] = str(self.workdir / "flwr-home")
        env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
        env.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
        # Flower's processes start each other by name (flower-superexec, flwr-clientapp ...).
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        return env

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as fh:
            p = subprocess.Popen(
                args,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        self.processes.append(p)
        self.logs.append(log)
        return p

    def __enter__(self) -> LoopbackFederation:
        home = self.workdir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (home / "config.toml").write_text(
            tomli_w.dumps(
                {
                    "superlink": {
                        "default": SUPERLINK_NAME,
                        SUPERLINK_NAME: {"address": f"127.0.0.1:{self.port}", "insecure": True},
                    }
                }
            )
        )
        try:
            link = self._start(
                "superlink",
                [
                    _bin("flower-superlink"),
                    "--insecure",
                    "--disable-runtime-dependency-installation",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
            )
            _wait_for_port(self.port, link, self.logs[-1])
            for i, h in enumerate(self.households):
                config = h.to_node_config() | dict(self.node_extra.get(i, {}))
                self._start(
                    f"supernode-{i}",
                    [
                        _bin("flower-supernode"),
                        "--insecure",
                        "--superlink",
                        f"127.0.0.1:{self.port}",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(free_port()),
                        "--node-config",
                        node_config_arg(config),
                    ],
                )
        except BaseException:
            self.close()
            raise
        return self

    def run(
        self,
        params: FederationParams,
        *,
        progress: Callable[[str, int, dict], None] | None = None,
        timeout: float = 1800.0,
    ) -> FederationRun:
        """Submit ``params`` to the SuperLink with ``flwr run`` and wait for the result.

        ``progress(strategy, round, row)`` is called for each round the ServerApp reports.
        """
        if not params.min_nodes:
            params = dataclasses.replace(params, min_nodes=len(self.households))
        return flwr_run(params, self.workdir, self.env, self.workdir / "result", progress, timeout)

    def close(self) -> None:
        """Stop every process (SuperNodes first), then remove a temporary work folder."""
        for p in reversed(self.processes):
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.processes.clear()

    def __exit__(self, *exc) -> None:
        self.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def flwr_run(
    params: FederationParams,
    workdir: Path,
    env: Mapping[str, str],
    out: Path,
    progress: Callable[[str, int, dict], None] | None = None,
    timeout: float = 1800.0,
) -> FederationRun:
    """``flwr run pi_agent/federation`` with ``params`` against the SuperLink that
    ``env``'s ``FLWR_HOME`` names; the ServerApp writes its result to ``out``."""
    run_config = workdir / "run.toml"
    run_config.write_text(tomli_w.dumps({"params": params.to_json(), "out-dir": str(out)}))
    log = workdir / "flwr-run.log"
    args = [
        _bin("flwr"),
        "run",
        str(APP_DIR),
        SUPERLINK_NAME,
        "--stream",
        "--run-config",
        str(run_config),
    ]
    deadline = time.monotonic() + timeout
    reported: set[tuple[str, int]] = set()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env),
            cwd=workdir,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            found = ROUND_LINE.search(line)
            if progress is not None and found:
                reported.add((found[1], int(found[2])))
                progress(found[1], int(found[2]), json.loads(found[3]))
            if time.monotonic() > deadline:
                proc.kill()
                raise FederationError(f"flwr run took longer than {timeout:.0f} s; see {log}")
            if (out / "params.json").exists():
                break  # the ServerApp wrote its result; the stream may stay open a while
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not (out / "params.json").exists():
        raise FederationError(
            f"the federated run wrote no result; flwr run's output ({log}) ends:\n{_tail(log)}"
        )
    run = FederationRun.load(out)
    if progress is not None:  # rounds whose log line the stream had not relayed yet
        for row in run.rounds.iter_rows(named=True):
            if (row["strategy"], row["round"]) not in reported:
                progress(row["strategy"], row["round"], row)
    return run


def submit(
    params: FederationParams,
    address: str,
    *,
    insecure: bool = False,
    root_certificates: str | Path | None = None,
    progress: Callable[[str, int, dict], None] | None = None,
    timeout: float = 6 * 3600.0,
) -> FederationRun:
    """Run ``params`` on a running SuperLink at ``address`` (``host:port``) with ``flwr run``.

    Run it on the coordinator: the ServerApp writes its result to ``params.out_dir`` on the
    SuperLink's machine, and this waits for it there.  ``insecure`` talks plain HTTP
    (loopback, a test network); otherwise ``root_certificates`` is the CA certificate the
    SuperLink's TLS certificate is signed with.
    """
    connection: dict[str, object] = {"address": address}
    if insecure:
        connection["insecure"] = True
    elif root_certificates:
        connection["root-certificates"] = str(Path(root_certificates).expanduser().resolve())
    with tempfile.TemporaryDirectory(prefix="energylib-flwr-") as tmp:
        workdir = Path(tmp)
        home = workdir / "flwr-home"
        home.mkdir()
        (home / "config.toml").write_text(
            tomli_w.dumps({"superlink": {"default": SUPERLINK_NAME, SUPERLINK_NAME: connection}})
        )
        env = dict(os.environ) | {"FLWR_HOME": str(home)}
        env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
        env.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
        out = resolve_out_dir(params) / time.strftime("run-%Y%m%dT%H%M%S")
        return flwr_run(params, workdir, env, out, progress, timeout)
