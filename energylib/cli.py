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
import sys

from energylib import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energy", description="energylib: home-energy workbench")
    parser.add_argument("--version", action="version", version=f"energylib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
