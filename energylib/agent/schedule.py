"""Clock-aligned jobs that survive the clock jumping.

A job with period ``P`` seconds runs at the multiples of ``P`` since the Unix epoch
(plus an ``offset_s``): a 5-minute job at :00, :05, :10 ...; a 1-minute job on every
minute.  :meth:`Scheduler.run_pending` runs each job whose slot has come, once, then
sets its next slot to the first multiple *after now*, so:

* **late or forward jump** (the process was suspended, NTP stepped the clock ahead):
  the job runs once, not once per missed slot; the missed slots are counted and logged;
* **backward jump** (NTP stepped the clock back more than ``jump_tolerance_s``): the next
  slot is re-aligned from the new time (the current slot runs at once), so the job does not stall until the old time
  comes round again;
* a job that raises is logged with its traceback and keeps its schedule; one failing
  job never stops the others;
* a ``background`` job (the collectors: network calls) runs on a worker thread when the
  scheduler is ``threaded`` (the live agent), so a slow API never delays the jobs on the
  scheduler's own thread (the decisions); a slot that comes while the job's previous run is
  still in flight is skipped (counted in ``missed``).  Unthreaded (simulated clocks, tests)
  every job runs in turn on the calling thread.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)


def next_slot(now: datetime, period_s: float, offset_s: float = 0.0) -> datetime:
    """The first aligned slot strictly after ``now`` [UTC]: ``k * period_s + offset_s`` since the epoch."""
    t = now.timestamp() - offset_s
    k = math.floor(t / period_s) + 1
    return datetime.fromtimestamp(k * period_s + offset_s, UTC)


def current_slot(now: datetime, period_s: float, offset_s: float = 0.0) -> datetime:
    """The latest aligned slot at or before ``now`` [UTC]."""
    t = now.timestamp() - offset_s
    return datetime.fromtimestamp(math.floor(t / period_s) * period_s + offset_s, UTC)


@dataclass
class Job:
    """A named job: ``func(now)`` every ``period_s`` seconds on aligned slots.

    ``run_at_start`` runs it at the first :meth:`Scheduler.run_pending` too.
    """

    name: str
    period_s: float
    func: Callable[[datetime], object]
    offset_s: float = 0.0
    run_at_start: bool = True
    background: bool = False
    next_due: datetime | None = None
    last_run: datetime | None = None
    runs: int = 0
    failures: int = 0
    missed: int = 0
    last_error: str | None = None
    in_flight: Future | None = None


@dataclass
class Scheduler:
    """Runs :class:`Job` s on a clock (anything with ``now()`` and ``sleep(s)``).

    Parameters
    ----------
    clock : object
        :class:`~energylib.agent.clock.SystemClock` or ``SimulatedClock``.
    jump_tolerance_s : float
        A backwards step larger than this re-aligns every job [s].
    threaded : bool
        Run ``background`` jobs on worker threads (see the module docstring).
    """

    clock: object
    jump_tolerance_s: float = 5.0
    jobs: list[Job] = field(default_factory=list)
    clock_jumps: int = 0
    threaded: bool = False
    _last_now: datetime | None = None
    _pool: ThreadPoolExecutor | None = None

    def add(
        self,
        name: str,
        period_s: float,
        func: Callable[[datetime], object],
        *,
        offset_s: float = 0.0,
        run_at_start: bool = True,
        background: bool = False,
    ) -> Job:
        """Add a job; returns it (its counters are live)."""
        if period_s <= 0:
            raise ValueError(f"job {name!r}: period_s must be > 0 s, got {period_s}")
        job = Job(name, float(period_s), func, float(offset_s), run_at_start, background)
        self.jobs.append(job)
        return job

    def job(self, name: str) -> Job:
        for j in self.jobs:
            if j.name == name:
                return j
        raise KeyError(f"no job {name!r}; jobs: {[j.name for j in self.jobs]}")

    def run_pending(self) -> list[str]:
        """Run every job that is due now; returns their names in the order run."""
        now = self.clock.now()
        if (
            self._last_now is not None
            and (self._last_now - now).total_seconds() > self.jump_tolerance_s
        ):
            self.clock_jumps += 1
            log.warning(
                "clock jumped backwards by %.0f s (%s -> %s); re-aligning %d job(s)",
                (self._last_now - now).total_seconds(),
                self._last_now.isoformat(),
                now.isoformat(),
                len(self.jobs),
            )
            for job in self.jobs:
                job.next_due = current_slot(now, job.period_s, job.offset_s)  # this slot runs now
        self._last_now = now
        ran = []
        for job in self.jobs:
            if job.next_due is None:
                job.next_due = (
                    now if job.run_at_start else next_slot(now, job.period_s, job.offset_s)
                )
            if now < job.next_due:
                continue
            late_slots = int((now - job.next_due).total_seconds() // job.period_s)
            if late_slots > 0:
                job.missed += late_slots
                log.warning(
                    "job %s is %d slot(s) late (clock jump or overrun); running once now",
                    job.name,
                    late_slots,
                )
            # From the slot time, not the end of the run: an overrun makes the next slot late
            # (it then runs at once) rather than skipped.
            job.next_due = next_slot(now, job.period_s, job.offset_s)
            if job.background and self.threaded:
                if job.in_flight is not None and not job.in_flight.done():
                    job.missed += 1
                    log.warning("job %s is still running; skipping its %s slot", job.name, now)
                    continue
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(thread_name_prefix="agent-job")
                job.in_flight = self._pool.submit(self._run, job, now)
            else:
                self._run(job, now)
            ran.append(job.name)
        return ran

    @staticmethod
    def _run(job: Job, now: datetime) -> None:
        try:
            job.func(now)
            job.last_error = None
        except Exception as exc:  # one job's failure must not stop the others
            job.failures += 1
            job.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", job.name)
        job.runs += 1
        job.last_run = now

    def shutdown(self) -> None:
        """Wait for background jobs in flight (their HTTP timeouts bound the wait)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def seconds_to_next(self) -> float:
        """Seconds until the earliest due job [s] (0 if one is due)."""
        now = self.clock.now()
        dues = [j.next_due for j in self.jobs if j.next_due is not None]
        if not dues or len(dues) < len(self.jobs):
            return 0.0
        return max(0.0, (min(dues) - now).total_seconds())

    def run_forever(
        self, should_stop: Callable[[], bool] = lambda: False, max_sleep_s: float = 30.0
    ) -> None:
        """Run jobs until ``should_stop()``; sleeps at most ``max_sleep_s`` at a time so a
        clock step is noticed quickly."""
        while not should_stop():
            self.run_pending()
            self.clock.sleep(min(self.seconds_to_next(), max_sleep_s))

    def run_until(self, end: datetime, step_s: float | None = None) -> int:
        """Simulated time: advance the clock slot by slot until ``end``; returns jobs run.

        Each step moves the clock to the next due slot (or by ``step_s``) and runs what is due.
        """
        count = 0
        while self.clock.now() < end:
            count += len(self.run_pending())
            wait = self.seconds_to_next() if step_s is None else step_s
            remaining = (end - self.clock.now()).total_seconds()
            if remaining <= 0:
                break
            self.clock.sleep(min(max(wait, 1e-3), remaining))
        return count
