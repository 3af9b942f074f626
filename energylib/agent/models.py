"""Watch a models folder; validate a new model file and swap it in without a restart.

The folder holds exported forecasters (``*.onnx``, ``*.pt``, ``*.ts``; see
:mod:`energylib.forecast.export`).  The *newest* file (modification time, then
name) is the candidate.  A candidate is validated with
:func:`energylib.forecast.export.validate_model_file` (it loads, has its metadata,
runs, gives finite outputs of the right shape) and loaded; only then does it
replace the model in use, by one reference assignment, so a decision running at
that moment finishes on the old model and the next one uses the new: no restart,
no missed decision.

A file that fails (corrupt, truncated, wrong shape, missing metadata) is refused:
the reason is logged once per file version and kept in :attr:`ModelWatcher.refused`,
and the previous model stays in use.  A model file that disappears is not a reason
to drop the loaded model either: it keeps running from memory, and the watcher says so.

Files still being copied are skipped until their size and time stop changing
between two polls (or the writer renames them in, the safe way: write ``x.onnx.tmp``
then rename; ``*.tmp`` files are ignored).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energylib.forecast.export import load_model, validate_model_file

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".onnx", ".pt", ".ts")


@dataclass(frozen=True)
class LoadedModel:
    """A validated forecaster in memory.

    ``version`` is ``<file name>@<first 12 hex of its SHA-256>``; ``runner`` has
    ``predict(history)`` and ``spec``.
    """

    version: str
    path: Path
    runner: Any
    loaded_at: datetime
    summary: dict


def file_version(path: Path) -> str:
    """``name@sha256[:12]`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"{path.name}@{h.hexdigest()[:12]}"


def _default_validate(path: Path) -> dict:
    return validate_model_file(path)


def _default_load(path: Path):
    return load_model(path)


class ModelWatcher:
    """Keeps the newest valid model of a folder loaded.

    Parameters
    ----------
    folder : path
        The models folder (created if missing).
    validate : callable, optional
        ``validate(path) -> dict``; raises on an unusable file.
    load : callable, optional
        ``load(path) -> runner``.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        validate: Callable[[Path], dict] | None = None,
        load: Callable[[Path], Any] | None = None,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._validate = validate or _default_validate
        self._load = load or _default_load
        self.current: LoadedModel | None = None
        self.previous: LoadedModel | None = None  # the model before the last swap (rollback)
        self.refused: dict[str, str] = {}  # version -> reason
        self.swaps = 0
        self.last_message: str | None = None
        self._seen: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) at the last poll
        self._tried: set[tuple[str, int, int]] = set()
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Version of the model in use, or ``none``."""
        cur = self.current
        return cur.version if cur is not None else "none"

    def candidates(self) -> list[Path]:
        """Model files of the folder, newest first."""
        out = []
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for e in entries:
            if e.is_file() and e.name.endswith(MODEL_SUFFIXES) and not e.name.startswith("."):
                out.append((e.stat().st_mtime_ns, e.name, Path(e.path)))
        out.sort(reverse=True)
        return [p for _, _, p in out]

    def poll(self) -> bool:
        """Look at the folder once; swap in a newer valid model.  True when a swap happened."""
        with self._lock:
            return self._poll()

    def _poll(self) -> bool:
        cands = self.candidates()
        if self.current is not None and not self.current.path.exists():
            msg = f"model file {self.current.path} was removed; still running {self.current.version} from memory"
            if self.last_message != msg:
                log.warning(msg)
                self.last_message = msg
        for path in cands:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            sig = (st.st_size, st.st_mtime_ns)
            key = (str(path), *sig)
            if self.current is not None and self.current.path == path and key in self._tried:
                return False  # the newest file is the one in use
            if key in self._tried:
                continue  # refused before, unchanged since: look at older files
            if self._seen.get(str(path)) != sig and self.current is not None:
                # First sight of this size/time: wait one poll in case it is still being written.
                self._seen[str(path)] = sig
                return False
            self._seen[str(path)] = sig
            self._tried.add(key)
            if self._try(path):
                return True
            # refused: keep looking at older files only when nothing is loaded yet
            if self.current is not None:
                return False
        if self.current is None and not cands:
            msg = f"no model file in {self.folder}; deciding without a forecaster (persistence fallback)"
            if self.last_message != msg:
                log.warning(msg)
                self.last_message = msg
        return False

    def _try(self, path: Path) -> bool:
        try:
            version = file_version(path)
        except OSError as exc:
            self._refuse(str(path), f"cannot read {path}: {exc}")
            return False
        if self.current is not None and version == self.current.version:
            return False
        try:
            summary = self._validate(path)
            runner = self._load(path)
        except Exception as exc:  # a model that cannot be used is refused, whatever the reason
            self._refuse(version, f"{type(exc).__name__}: {exc}")
            return False
        old = self.current.version if self.current else "none"
        self.previous = self.current
        self.current = LoadedModel(version, path, runner, datetime.now(UTC), dict(summary or {}))
        self.swaps += 1
        self.last_message = f"model {version} in use (was {old})"
        log.info("model swapped in: %s (was %s)", version, old)
        return True

    def install(self, path: Path) -> bool:
        """Validate, load and swap in ``path`` now (a delivered model, already complete on
        disk).  False when it is refused (the reason in :attr:`refused`) or already in use."""
        with self._lock:
            st = path.stat()
            self._seen[str(path)] = (st.st_size, st.st_mtime_ns)
            self._tried.add((str(path), st.st_size, st.st_mtime_ns))
            return self._try(path)

    def rollback(self, reason: str, quarantine: Path | None = None) -> bool:
        """Put the previous model back after the current one misbehaved in use.

        The current model's version is refused with ``reason``; its file moves to
        ``quarantine`` (a folder; default ``<folder>/rejected``) so that it is not picked up
        again as the newest file.  False when there is no previous model to go back to.
        """
        with self._lock:
            bad, good = self.current, self.previous
            if bad is None or good is None:
                return False
            target = quarantine or self.folder / "rejected"
            target.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                os.replace(bad.path, target / bad.path.name)
            self.current, self.previous = good, None
            self.swaps += 1
            self.refused[bad.version] = reason
            self.last_message = f"rolled back from {bad.version} to {good.version}: {reason}"
            log.error("model %s rolled back to %s: %s", bad.version, good.version, reason)
            return True

    def _refuse(self, version: str, reason: str) -> None:
        self.refused[version] = reason
        keep = self.current.version if self.current else "none"
        self.last_message = f"refused model {version}: {reason}; keeping {keep}"
        log.error("refused model %s: %s; keeping %s", version, reason, keep)

    def status(self) -> dict[str, Any]:
        cur = self.current
        return {
            "folder": str(self.folder),
            "version": self.version,
            "loaded_at": cur.loaded_at.isoformat() if cur else None,
            "swaps": self.swaps,
            "refused": dict(self.refused),
            "message": self.last_message,
        }
