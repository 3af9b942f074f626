"""``python -m pi_agent [run|kiosk|status|decisions|check-model] [options]``: same as ``energy agent ...``.

With no action it runs the agent (``run``).
"""

from __future__ import annotations

import sys

from energylib.cli import main

ACTIONS = ("run", "kiosk", "status", "decisions", "check-model", "-h", "--help")


def run(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ACTIONS:
        argv = ["run", *argv]
    return main(["agent", *argv])


if __name__ == "__main__":
    raise SystemExit(run())
