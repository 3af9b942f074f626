"""Which optional extra installs a module, and the message that says so.

The core install is the library a Raspberry Pi needs with ``[agent]``; the rest comes in
extras (``pyproject.toml``): ``[study]`` the year-long studies (numba, scipy, pvlib,
HiGHS, pyarrow), ``[train]``, ``[report]``, ``[scale]``, ``[pg]``, ``[agent]``.  A command
that reaches a module of an extra that is not installed ends with the install line, not
a traceback.
"""

from __future__ import annotations

import importlib.util

#: Top-level module -> the extra that installs it.
EXTRA_OF = {
    "numba": "study",
    "llvmlite": "study",
    "scipy": "study",
    "pvlib": "study",
    "highspy": "study",
    "pyarrow": "study",
    "torch": "train",
    "sklearn": "train",
    "onnx": "train",
    "papermill": "report",
    "nbconvert": "report",
    "nbformat": "report",
    "ipykernel": "report",
    "jupyterlab": "report",
    "altair": "report",
    "vl_convert": "report",
    "dask": "scale",
    "distributed": "scale",
    "flwr": "scale",
    "psycopg": "pg",
    "fastapi": "agent",
    "uvicorn": "agent",
    "onnxruntime": "agent",
}


def install_hint(module: str | None) -> str | None:
    """``"pvlib is not installed: pip install 'energylib[study]'"`` for a module of an extra
    (``module`` may be dotted), None for any other module."""
    top = (module or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return f"{top} is not installed: it comes with the '{extra}' extra, pip install 'energylib[{extra}]'"


def missing(*modules: str) -> list[str]:
    """The modules of ``modules`` that are not installed (looked up without importing them)."""
    return [m for m in modules if not _installed(m)]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False
