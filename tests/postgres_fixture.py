"""A real PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` on a temporary directory.

The server listens only on 127.0.0.1 (a free port) with its unix socket in the
temporary directory, trusts local connections (so any password in a test URL is
accepted and never checked), and is stopped at the end of the session.  initdb
refuses to run as root, so as root the server runs as the ``postgres`` user when
it exists, else as ``nobody``.  Without the binaries the tests that need it skip
and say how to install them.

Import the fixtures from a ``conftest.py`` (``from postgres_fixture import *``),
or import them into a test module.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_pg_binary", "pg_url", "postgres_server"]


def find_pg_binary(name: str) -> str | None:
    """Path of a PostgreSQL server binary: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A running throw-away server; ``url(db)`` gives a connection URL."""

    base: Path
    port: int
    pg_ctl: str
    run_as: list[str]
    user: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def url(self, dbname: str = "postgres", password: str = "not-checked") -> str:
        return f"postgresql://{self.user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c max_connections=40"
        )
        cmd = [
            *self.run_as,
            self.pg_ctl,
            "-D",
            str(self.data_dir),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "60",
        ]
        return subprocess.run(
            [*cmd, "-o", options, *args], check=check, capture_output=True, text=True
        )

    def start(self) -> None:
        try:
            self._ctl("start")
        except subprocess.CalledProcessError as exc:
            log = (
                (self.base / "server.log").read_text()
                if (self.base / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"pg_ctl start failed: {exc.stderr}\n{log[-2000:]}") from exc

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast", check=False)

    def restart(self) -> None:
        """Restart the server (every open connection drops)."""
        self._ctl("restart", "-m", "fast")

    def crash(self) -> None:
        """Stop the server abruptly (``pg_ctl stop -m immediate``: no checkpoint, as a power
        cut would to anything not yet written) and start it again (crash recovery)."""
        self._ctl("stop", "-m", "immediate")
        self.start()

    def connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.connect() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return name


def _start_server() -> PostgresServer:
    initdb, pg_ctl = find_pg_binary("initdb"), find_pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's `postgresql` "
            "package (.ci/run does) to run the Postgres tests"
        )
    base = Path(tempfile.mkdtemp(prefix="energylib-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            user = pwd.getpwnam("nobody")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", user.pw_name, "--"]
    subprocess.run(
        [
            *run_as,
            initdb,
            "-D",
            str(base / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    last: Exception | None = None
    for _ in range(3):  # a free port can be taken between probing and binding
        server = PostgresServer(base=base, port=_free_port(), pg_ctl=pg_ctl, run_as=run_as)
        try:
            server.start()
            return server
        except RuntimeError as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"could not start PostgreSQL: {last}")


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the test session, on 127.0.0.1 and a temporary directory."""
    server = _start_server()
    try:
        yield server
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(server.base)


@pytest.fixture
def pg_url(postgres_server) -> str:
    """URL of a fresh, empty database on the session's server (with a password that is not checked)."""
    return postgres_server.url(postgres_server.create_database(), password="s3cret-pw")
