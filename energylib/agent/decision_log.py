"""The decision log: every decision with its inputs, forecast summary, model version, latency.

One SQLite file in WAL mode with ``synchronous=FULL``: a committed decision survives
the process being killed (and a power cut), and a kill mid-transaction leaves the
previous state (SQLite's journal), so restart finds nothing lost and nothing corrupt.

Faults it rides out without stopping the agent:

* **SQLite locked** (a reader holding a write lock, e.g. ``sqlite3`` shell with an open
  ``BEGIN EXCLUSIVE``): each write waits ``busy_timeout_s``, then retries with back-off
  ``retries`` times; if still locked the row stays queued in memory and is written with
  the next decision.
* **disk full** (``SQLITE_FULL``): writing stops, the agent keeps deciding and serving,
  :attr:`DecisionLog.disk_full` and :meth:`DecisionLog.status` say so; rows are queued in
  memory (up to ``max_pending``; beyond that the oldest are dropped and counted) and a
  write is tried again every ``full_retry_s`` seconds, so once space is freed the queue
  drains and nothing (within the bound) is lost.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energylib.dates import epoch_us, from_epoch_us

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    decided_at INTEGER NOT NULL UNIQUE,   -- decision slot, microseconds since the epoch (UTC)
    action TEXT NOT NULL,                 -- charge / discharge / hold
    battery_kw REAL NOT NULL,             -- + charge, - discharge [kW]
    ev_kw REAL NOT NULL,                  -- EV charge rate [kW]
    reason TEXT NOT NULL,
    price_per_kwh REAL,                   -- import price now [currency/kWh]
    data_age_s REAL,                      -- age of the newest price data [s]
    stale INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    inputs TEXT NOT NULL,                 -- JSON: the state the decision saw
    forecast TEXT NOT NULL                -- JSON: forecast summary
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (decided_at);
"""


@dataclass(frozen=True)
class Decision:
    """What the agent decided for one slot.

    Parameters
    ----------
    decided_at : datetime
        The decision slot (UTC).
    action : str
        ``charge``, ``discharge`` or ``hold``.
    battery_kw : float
        Battery power set-point [kW], + charging, - discharging, 0 hold.
    ev_kw : float
        EV charge rate [kW] (0: not charging).
    reason : str
        Why: the policy's reason, or why the agent fell back to a safe hold.
    price_per_kwh : float or None
        Import price at the decision [currency/kWh].
    data_age_s : float or None
        Age of the newest price data [s].
    stale : bool
        True when the data was too old and the agent held for safety.
    model_version : str
        Forecaster used (``none`` when it fell back).
    latency_ms : float
        Wall time of state build + forecast + policy [ms] (the log write is measured by the caller).
    inputs, forecast : dict
        The state seen and a forecast summary (JSON-serialisable).
    """

    decided_at: datetime
    action: str
    battery_kw: float
    ev_kw: float
    reason: str
    price_per_kwh: float | None
    data_age_s: float | None
    stale: bool
    model_version: str
    latency_ms: float
    inputs: dict[str, Any] = field(default_factory=dict)
    forecast: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> tuple:
        return (
            epoch_us(self.decided_at),
            self.action,
            float(self.battery_kw),
            float(self.ev_kw),
            self.reason,
            None if self.price_per_kwh is None else float(self.price_per_kwh),
            None if self.data_age_s is None else float(self.data_age_s),
            int(bool(self.stale)),
            self.model_version,
            float(self.latency_ms),
            json.dumps(self.inputs, default=str, separators=(",", ":")),
            json.dumps(self.forecast, default=str, separators=(",", ":")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "decided_at": self.decided_at.astimezone(UTC).isoformat(),
            "action": self.action,
            "battery_kw": self.battery_kw,
            "ev_kw": self.ev_kw,
            "reason": self.reason,
            "price_per_kwh": self.price_per_kwh,
            "data_age_s": self.data_age_s,
            "stale": self.stale,
            "model_version": self.model_version,
            "latency_ms": self.latency_ms,
            "inputs": self.inputs,
            "forecast": self.forecast,
        }


COLUMNS = (
    "decided_at",
    "action",
    "battery_kw",
    "ev_kw",
    "reason",
    "price_per_kwh",
    "data_age_s",
    "stale",
    "model_version",
    "latency_ms",
    "inputs",
    "forecast",
)


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's SQLITE_FULL ("database or disk is full") and OS ENOSPC."""
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == 13 or "disk is full" in str(exc) or "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno == 28


def is_locked(exc: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (5, 6) or "locked" in str(exc) or "busy" in str(exc)


class DecisionLog:
    """Append decisions to SQLite, surviving lock contention, a full disk and kills.

    Parameters
    ----------
    path : path
        The SQLite file (created with its folder).
    busy_timeout_s : float
        How long one write waits for a lock [s].
    retries : int
        Extra tries after a locked write, with doubling back-off from ``backoff_s``.
    backoff_s : float
        First back-off between locked tries [s].
    max_pending : int
        Rows kept in memory while the log cannot be written.
    full_retry_s : float
        After a disk-full error, how often a write is tried again [s of the caller's clock].
    max_page_count : int or None
        Cap the file at this many pages (``PRAGMA max_page_count``): a real size limit; tests
        use it to produce a genuine ``SQLITE_FULL``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 0.5,
        retries: int = 3,
        backoff_s: float = 0.05,
        max_pending: int = 10_000,
        full_retry_s: float = 300.0,
        max_page_count: int | None = None,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_page_count = max_page_count
        self.full_retry_s = full_retry_s
        self.pending: deque[tuple] = deque(maxlen=max_pending)
        self.dropped = 0
        self.written = 0
        self.disk_full = False
        self.disk_full_since: datetime | None = None
        self.locked_waits = 0
        self.last_error: str | None = None
        self._last_full_try: float | None = None
        self._sleep = time.sleep
        self._con: sqlite3.Connection | None = None
        self._open()

    # ----------------------------------------------------------------- connection
    def _open(self) -> sqlite3.Connection:
        if self._con is not None:
            return self._con
        con = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            if self.max_page_count is not None:
                con.execute(f"PRAGMA max_page_count={int(self.max_page_count)}")
            con.executescript(SCHEMA)
        except sqlite3.Error:
            con.close()
            raise
        self._con = con
        return con

    def close(self) -> None:
        """Try to write what is queued, then close."""
        if self.pending:
            self._flush(force=True)
        if self._con is not None:
            self._con.close()
            self._con = None

    # ----------------------------------------------------------------- writing
    def write(self, decision: Decision) -> bool:
        """Queue ``decision`` and write everything queued; True when all of it is on disk.

        Never raises for a locked database or a full disk: those are reported by
        :meth:`status` and logged once per episode.
        """
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
            log.error(
                "decision log: %d decision(s) queued in memory, dropping the oldest",
                len(self.pending),
            )
        self.pending.append(decision.as_row())
        return self._flush()

    def _flush(self, force: bool = False) -> bool:
        if not self.pending:
            return True
        now = time.monotonic()
        if (
            self.disk_full
            and not force
            and self._last_full_try is not None
            and now - self._last_full_try < self.full_retry_s
        ):
            return False
        rows = list(self.pending)
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                con = self._open()
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.executemany(
                        f"INSERT OR REPLACE INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                        rows,
                    )
                    con.execute("COMMIT")
                except BaseException:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if is_disk_full(exc):
                    self._last_full_try = now
                    if not self.disk_full:
                        self.disk_full = True
                        self.disk_full_since = datetime.now(UTC)
                        log.error(
                            "decision log %s: disk full (%s); stopped writing, the agent keeps deciding; "
                            "%d decision(s) queued in memory; free space to resume",
                            self.path,
                            exc,
                            len(self.pending),
                        )
                    self.last_error = f"disk full: {exc}"
                    return False
                if is_locked(exc):
                    self.locked_waits += 1
                    self.last_error = f"locked: {exc}"
                    if attempt < self.retries:
                        self._sleep(delay)
                        delay *= 2
                        continue
                    log.warning(
                        "decision log %s is locked by another process after %d tries; %d decision(s) queued",
                        self.path,
                        attempt + 1,
                        len(self.pending),
                    )
                    return False
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception(
                    "decision log %s: write failed; %d decision(s) queued",
                    self.path,
                    len(self.pending),
                )
                return False
            else:
                for _ in rows:
                    self.pending.popleft()
                self.written += len(rows)
                if self.disk_full:
                    log.warning(
                        "decision log %s: writing again after disk full; %d queued row(s) written",
                        self.path,
                        len(rows),
                    )
                self.disk_full = False
                self.disk_full_since = None
                self.last_error = None
                return True
        return False

    # ----------------------------------------------------------------- reading
    def status(self) -> dict[str, Any]:
        """Health of the log: rows written, queued, dropped, disk-full and lock state."""
        return {
            "path": str(self.path),
            "written": self.written,
            "pending": len(self.pending),
            "dropped": self.dropped,
            "disk_full": self.disk_full,
            "disk_full_since": self.disk_full_since.isoformat() if self.disk_full_since else None,
            "locked_waits": self.locked_waits,
            "last_error": self.last_error,
        }


def open_readonly(path: str | Path, timeout_s: float = 2.0) -> sqlite3.Connection:
    """A read-only connection (the kiosk's): cannot change the file."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)
    con.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    return con


def read_decisions(
    path: str | Path, *, limit: int | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Decisions from a log file, oldest first (the last ``limit`` when given)."""
    path = Path(path)
    if not path.exists():
        return []
    con = open_readonly(path)
    try:
        exists = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='decisions'"
        ).fetchone()
        if not exists:
            return []
        where, args = "", []
        if since is not None:
            where, args = "WHERE decided_at >= ?", [epoch_us(since)]
        sql = f"SELECT {', '.join(COLUMNS)} FROM decisions {where} ORDER BY decided_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = con.execute(sql, args).fetchall()
    finally:
        con.close()
    out = []
    for r in reversed(rows):
        d = dict(zip(COLUMNS, r, strict=True))
        d["decided_at"] = from_epoch_us(d["decided_at"]).isoformat()
        d["stale"] = bool(d["stale"])
        d["inputs"] = json.loads(d["inputs"])
        d["forecast"] = json.loads(d["forecast"])
        out.append(d)
    return out


def decision_stats(path: str | Path) -> dict[str, Any]:
    """Count, stale count and latency (last 1000) of the logged decisions, for metrics."""
    path = Path(path)
    empty = {"count": 0, "stale": 0, "by_action": {}, "latency_ms": []}
    if not path.exists():
        return empty
    con = open_readonly(path)
    try:
        if not con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='decisions'"
        ).fetchone():
            return empty
        count, stale = con.execute(
            "SELECT COUNT(*), COALESCE(SUM(stale), 0) FROM decisions"
        ).fetchone()
        by_action = dict(
            con.execute("SELECT action, COUNT(*) FROM decisions GROUP BY action").fetchall()
        )
        lat = [
            r[0]
            for r in con.execute(
                "SELECT latency_ms FROM decisions ORDER BY decided_at DESC LIMIT 1000"
            )
        ]
    finally:
        con.close()
    return {"count": int(count), "stale": int(stale), "by_action": by_action, "latency_ms": lat}
