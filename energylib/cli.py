"""The ``energy`` command.

Each subcommand lives in its own module under :mod:`energylib.commands` and
exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a
callable taking the parsed arguments and returning an exit code).  This file
only discovers and dispatches them, so adding a command touches one new file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys

from energylib import __version__, commands
from energylib.config import SettingsError
from energylib.extras import install_hint


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energy", description="energylib: home-energy workbench")
    parser.add_argument("--version", action="version", version=f"energylib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    tidy_help(parser)
    return parser


def plain(text: str | None) -> str | None:
    """Help text without reStructuredText markup (``x``, :func:`x`, ``::``)."""
    if not text:
        return text
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return text.replace("::\n", ":\n")


def tidy_help(parser: argparse.ArgumentParser) -> None:
    """Every parser, recursively: plain help text, and a description where a command has none
    (its one-line help)."""
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        if action.help is not argparse.SUPPRESS:
            action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                if not child.description and helps.get(name):
                    text = helps[name]
                    child.description = text[:1].upper() + text[1:] + "."
                tidy_help(child)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SettingsError as err:  # a bad variable in the environment or .env
        print(f"energy: {err}", file=sys.stderr)
        return commands.EXIT_USAGE
    except ModuleNotFoundError as err:  # a module of an extra that is not installed
        hint = install_hint(err.name)
        if hint is None:
            raise
        print(f"energy {args.command}: {hint}", file=sys.stderr)
        return commands.EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
