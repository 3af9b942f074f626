import subprocess
import sys

from energylib.cli import build_parser, main


def test_help_lists_the_report_command(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "report" in out


def test_every_command_module_registers_a_runnable_command():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices, "no commands registered"
    for name, p in sub.choices.items():
        assert callable(p.get_default("func")), f"command {name} sets no func"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "energylib.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "energylib" in out.stdout
