"""A real InfluxDB 1.x server for tests (Debian's ``influxdb`` package: ``influxd``), on
loopback ports in a temporary folder; tests that need it skip where it is not installed."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import requests

__all__ = ["influxd"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def influxd(tmp_path):
    exe = shutil.which("influxd")
    if exe is None:
        pytest.skip(
            "influxd not installed (Debian package 'influxdb'); line protocol is tested above"
        )
    http, rpc = _free_port(), _free_port()
    conf = tmp_path / "influx.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{tmp_path}/meta"\n'
        f'[data]\n  dir = "{tmp_path}/data"\n  wal-dir = "{tmp_path}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{http}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    proc = subprocess.Popen(
        [exe, "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{http}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/ping", timeout=0.5).status_code == 204:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("influxd did not answer /ping within 10 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
