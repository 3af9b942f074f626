"""Subcommands of the ``energy`` CLI: one module each, with ``register(subparsers)``.

Keep imports of heavy libraries (torch, papermill) inside the command
functions so that ``energy --help`` stays fast.
"""
