"""Clocks: the system clock, and a simulated one that tests and soak runs drive.

The agent never calls :func:`time.time` directly; it asks its clock, so a test runs
thirty days of schedule in seconds and can make the clock jump.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Wall-clock time (UTC) and real sleeping."""

    def now(self) -> datetime:
        """The current time, UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` [s] (at most; returns early if :meth:`wake` is called)."""
        self._event().wait(max(0.0, seconds))

    def wake(self) -> None:
        """Interrupt a :meth:`sleep` (used on shutdown)."""
        self._event().set()

    def _event(self) -> threading.Event:
        ev = getattr(self, "_ev", None)
        if ev is None:
            ev = self._ev = threading.Event()
        return ev

    @staticmethod
    def monotonic() -> float:
        """A monotonic reading [s] for measuring latency."""
        return time.perf_counter()


class SimulatedClock:
    """A clock that moves only when told: ``sleep`` advances it, ``jump`` shifts it.

    Parameters
    ----------
    start : datetime
        Time zone-aware start time.
    """

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a time zone-aware start (UTC)")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` [s] at once."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, seconds))

    def jump(self, seconds: float) -> None:
        """Shift the clock by ``seconds`` [s], forwards (> 0) or backwards (< 0): an NTP step."""
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)

    def wake(self) -> None:
        """Nothing sleeps on a simulated clock."""

    @staticmethod
    def monotonic() -> float:
        return time.perf_counter()
