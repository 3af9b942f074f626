"""Subcommands of the ``energy`` CLI: one module each, with ``register(subparsers)``.

Keep imports of heavy libraries (torch, papermill) inside the command
functions so that ``energy --help`` stays fast.  Options every command names the same
way (``--data-dir``, ``--quiet``) and the exit codes are defined here.
"""

from __future__ import annotations

import argparse

# Exit codes, the same for the same kind of failure in every command.
EXIT_FAILED = 1  # the job ran and failed (HTTP errors, a failing cell): what was stored is kept
EXIT_USAGE = 2  # nothing ran: a bad option, a missing token or file; the message says the fix


def add_data_dir(p: argparse.ArgumentParser, what: str = "data folder") -> None:
    """``--data-dir DIR``: the one name for the data folder (its store is ``DIR/processed``)."""
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help=f"{what} (default: ENERGYLIB_DATA_DIR, else ./data)",
    )


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``--quiet``: the one name for no progress output (``--no-progress`` still works)."""
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)
