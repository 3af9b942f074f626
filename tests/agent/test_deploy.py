"""The Pi deployment files: systemd units, kiosk launcher, install script, README commands."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from energylib.cli import build_parser

PI = Path(__file__).resolve().parents[2] / "pi_agent"
UNITS = ("energy-agent.service", "energy-kiosk.service")


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(PI / "systemd" / name)
    return cp


@pytest.mark.parametrize("name", UNITS)
def test_units_restart_always_after_network_as_an_unprivileged_user(name):
    u = _unit(name)
    assert (
        "network-online.target" in u["Unit"]["After"]
        and "network-online.target" in u["Unit"]["Wants"]
    )
    assert u["Service"]["Restart"] == "always"
    assert (
        u["Service"]["User"] == "@USER@"
    )  # filled in by install.sh with an unprivileged system user
    assert u["Service"]["NoNewPrivileges"] == "true"
    assert u["Service"]["ExecStart"].endswith(("-m pi_agent run", "-m pi_agent kiosk"))
    assert u["Install"]["WantedBy"] == "multi-user.target"


def test_install_script_creates_a_system_user_and_fills_the_units():
    text = (PI / "systemd" / "install.sh").read_text()
    assert "useradd --system" in text and "/usr/sbin/nologin" in text
    for token in ("@APP_DIR@", "@USER@", "@STATE_DIR@"):
        assert token in text
    assert "systemctl enable --now energy-agent.service energy-kiosk.service" in text


@pytest.mark.parametrize("script", ["install.sh", "kiosk-browser.sh"])
def test_shell_scripts_parse(script):
    bash = shutil.which("bash")
    r = subprocess.run([bash, "-n", str(PI / "systemd" / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_kiosk_launcher_opens_the_local_page_full_screen():
    text = (PI / "systemd" / "kiosk-browser.sh").read_text()
    assert "--kiosk" in text and "http://127.0.0.1:8080/" in text
    assert "healthz" in text  # waits for the web app after a power cut
    assert "exited_cleanly" in text  # no "restore pages?" bubble after a power cut


def test_readme_agent_commands_exist():
    readme = (PI / "README.md").read_text()
    commands = set(re.findall(r"energy agent ([a-z-]+)", readme)) | set(
        re.findall(r"-m pi_agent ([a-z-]+)", readme)
    )
    assert {"run", "kiosk", "check-model", "decisions"} <= commands
    parser = build_parser()
    for c in commands:
        extra = ["model.onnx"] if c in ("check-model", "publish-model") else []
        parser.parse_args(["agent", c, *extra])  # SystemExit if a documented command did not exist
