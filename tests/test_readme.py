"""The README stays true: every `energy` command it shows parses with the real CLI."""

import re
import shlex

import pytest

from energylib.cli import build_parser
from energylib.config import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.split("#")[0].strip()
    for block in BLOCKS
    for line in block.splitlines()
    if line.startswith("energy ")
]


def test_readme_shows_the_two_commands_first():
    first = BLOCKS[0]
    assert "make report" in first and "make test" in first


def test_readme_shows_energy_commands():
    # guards the parametrised test below, which would pass vacuously on an empty list
    assert COMMANDS, "no `energy ...` lines found in the README's bash blocks"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_energy_command_parses(command):
    parser = build_parser()
    args = parser.parse_args(shlex.split(command)[1:])
    assert callable(args.func)


def test_ci_runs_the_readme_test_command():
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
