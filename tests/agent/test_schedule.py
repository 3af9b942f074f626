"""Clock-aligned jobs and the clock jumping (simulated clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.agent.clock import SimulatedClock
from energylib.agent.schedule import Scheduler, current_slot, next_slot

T0 = datetime(2025, 3, 1, 12, 2, 30, tzinfo=UTC)


def _recorder(runs: list):
    return lambda now: runs.append(now)


def test_jobs_run_on_clock_aligned_slots():
    clock = SimulatedClock(T0)
    s = Scheduler(clock)
    five, one = [], []
    s.add("collect", 300, _recorder(five), run_at_start=False)
    s.add("decide", 60, _recorder(one), run_at_start=False)
    s.run_until(T0 + timedelta(minutes=30))
    assert [t.minute for t in five] == [5, 10, 15, 20, 25, 30][: len(five)]
    assert len(five) == 6  # 12:05 .. 12:30
    assert all(t.second == 0 and t.minute % 5 == 0 for t in five)
    assert all(t.second == 0 for t in one)
    assert len(one) == 30  # 12:03, 12:04 .. 12:32 (the run ends at 12:32:30)


def test_run_at_start_runs_immediately_then_aligns():
    clock = SimulatedClock(T0)
    s = Scheduler(clock)
    runs = []
    s.add("collect", 300, _recorder(runs))
    s.run_until(T0 + timedelta(minutes=6))
    assert runs[0] == T0
    assert runs[1] == datetime(2025, 3, 1, 12, 5, tzinfo=UTC)


def test_forward_clock_jump_runs_once_and_counts_missed_slots():
    clock = SimulatedClock(T0)
    s = Scheduler(clock)
    runs = []
    job = s.add("decide", 60, _recorder(runs))
    s.run_pending()
    clock.jump(3600)  # suspended for an hour / NTP stepped forwards
    s.run_pending()
    assert len(runs) == 2  # one catch-up run, not sixty
    assert job.missed >= 58
    s.run_until(clock.now() + timedelta(minutes=3))
    assert len(runs) == 5
    assert all(t.second == 0 for t in runs[2:])


def test_backward_clock_jump_realigns_instead_of_stalling():
    clock = SimulatedClock(T0)
    s = Scheduler(clock)
    runs = []
    s.add("decide", 60, _recorder(runs))
    s.run_until(T0 + timedelta(minutes=5))
    n = len(runs)
    clock.jump(-2 * 3600)  # NTP stepped two hours back
    s.run_until(clock.now() + timedelta(minutes=5))
    assert s.clock_jumps == 1
    # It kept deciding every minute after the jump instead of waiting two hours.
    assert len(runs) - n >= 4
    assert runs[-1] < T0


def test_a_failing_job_does_not_stop_the_others():
    clock = SimulatedClock(T0)
    s = Scheduler(clock)
    runs = []

    def boom(now):
        raise RuntimeError("collector exploded")

    bad = s.add("bad", 60, boom)
    s.add("good", 60, _recorder(runs))
    s.run_until(T0 + timedelta(minutes=5))
    assert bad.failures == bad.runs >= 5
    assert "collector exploded" in bad.last_error
    assert len(runs) >= 5


def test_overrunning_job_makes_the_next_decision_late_not_missing():
    clock = SimulatedClock(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    s = Scheduler(clock)
    decided = []
    s.add("slow", 300, lambda now: clock.advance(90))  # a 90 s collection
    decide = s.add("decide", 60, _recorder(decided))
    s.run_until(datetime(2025, 3, 1, 12, 10, tzinfo=UTC))
    slots = {current_slot(t, 60) for t in decided}
    # 12:00 .. 12:09: every minute slot has a decision although collections overran it.
    assert len(slots) >= 8
    assert slots == {datetime(2025, 3, 1, 12, m, tzinfo=UTC) for m in range(10)}
    assert decide.missed == 0
    assert any(t.second == 30 for t in decided)  # the overrun made some of them late


@settings(max_examples=50, deadline=None)
@given(
    seconds=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    period=st.sampled_from([60.0, 300.0, 3600.0, 86400.0]),
)
def test_next_slot_is_aligned_and_strictly_after_now(seconds, period):
    now = datetime.fromtimestamp(seconds, UTC)
    nxt = next_slot(now, period)
    assert nxt > now
    assert (nxt - now).total_seconds() <= period + 1e-6
    assert abs(nxt.timestamp() / period - round(nxt.timestamp() / period)) < 1e-9
    assert current_slot(now, period) <= now
