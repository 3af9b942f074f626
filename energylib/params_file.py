"""Reading a study's YAML params file: where it is, that it parses, overrides on top.

Every params-driven study (the scenario study, the community market) reads its file the same
way; each turns the mapping into its own typed params and raises its own error type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from energylib.config import PROJECT_ROOT


def read_params_file(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    error: type[Exception] = ValueError,
) -> tuple[Path, dict[str, Any]]:
    """The file found and its top-level mapping, with ``overrides`` applied.

    A relative path is looked up in the current folder, then in the project root.
    ``overrides`` replace top-level keys; nested mappings merge one level deep.  A missing
    file, YAML that does not parse (with its line) or a top level that is not a mapping
    raise ``error`` naming the file.
    """
    p = Path(path)
    if not p.is_file() and not p.is_absolute() and (PROJECT_ROOT / p).is_file():
        p = PROJECT_ROOT / p
    if not p.is_file():
        raise error(f"params file {path} not found (looked in {Path.cwd()} and {PROJECT_ROOT})")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise error(
            f"{p}{line}: not valid YAML ({getattr(err, 'problem', err)}); fix the file"
        ) from None
    if not isinstance(raw, dict):
        raise error(f"{p}: expected a mapping of keys to values at the top level")
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return p, raw
