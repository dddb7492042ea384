"""The shared rate limiter, on fake clocks: exact schedules, for one thread and for many."""

from __future__ import annotations

import threading

import pytest
from clocks import StoppedClock

from almmigrate.ratelimit import RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps; `on_sleep` lets a test act mid-wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            hook, self.on_sleep = self.on_sleep, None
            hook()


def limiter(rate: float | None, burst: int = 1) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep), clock


def test_requests_are_spaced_at_the_rate() -> None:
    limit, clock = limiter(10)
    starts = []
    for _ in range(5):
        limit.acquire()
        starts.append(round(clock.now - 100.0, 9))
    assert starts == [0.0, 0.1, 0.2, 0.3, 0.4]
    stats = limit.stats()
    assert stats.granted == 5
    assert stats.waited == pytest.approx(0.4)
    assert stats.achieved_rate() == pytest.approx(10)


def test_an_idle_limiter_does_not_save_up_more_than_the_burst() -> None:
    limit, clock = limiter(10, burst=3)
    for _ in range(3):
        assert limit.acquire() == 0.0  # the burst goes at once
    assert limit.acquire() == pytest.approx(0.1)
    clock.now += 60  # a long idle spell
    waits = [limit.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.1) and waits[4] == pytest.approx(0.1)


def test_no_rate_means_no_waiting() -> None:
    limit, clock = limiter(None)
    assert [limit.acquire() for _ in range(100)] == [0.0] * 100
    assert clock.sleeps == []
    assert limit.stats().granted == 100


def test_a_pause_holds_back_the_next_caller() -> None:
    limit, clock = limiter(None)
    limit.pause_for(2.5)
    assert limit.acquire() == pytest.approx(2.5)
    assert clock.now == pytest.approx(102.5)
    assert limit.stats().pauses == 1


def test_after_a_pause_requests_resume_at_the_rate_not_in_a_burst() -> None:
    limit, clock = limiter(4, burst=4)
    limit.pause_until(clock.now + 1)
    waits = [limit.acquire() for _ in range(3)]
    assert waits == [pytest.approx(1.0), pytest.approx(0.25), pytest.approx(0.25)]


def test_a_pause_that_starts_while_waiting_is_honoured() -> None:
    # A caller already scheduled (waiting its turn) when another worker gets a 429
    # must not go at its old time: it waits for the pause too.
    limit, clock = limiter(10)
    limit.acquire()
    clock.on_sleep = lambda: limit.pause_until(clock.now + 5)
    waited = limit.acquire()
    assert clock.now >= 100.0 + 0.1 + 5
    assert waited == pytest.approx(5.1)


def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    limit, clock = limiter(None)
    limit.pause_until(clock.now + 3)
    limit.pause_until(clock.now + 1)
    assert limit.paused_until == pytest.approx(103)
    assert limit.acquire() == pytest.approx(3)


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate)


def test_threads_share_one_schedule() -> None:
    # On a stopped clock (tests/clocks.py): on the real one a thread that took its slot a
    # few microseconds late failed a bound on the span (CI: 0.394922 s, not 0.395).
    rate, workers, each = 200.0, 8, 10
    clock = StoppedClock()
    limit = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    waits: list[float] = []

    def work() -> None:
        for _ in range(each):
            waits.append(limit.acquire())

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    granted = workers * each
    # Every slot of one schedule, one interval apart, handed out exactly once whichever
    # thread asked: two threads given one slot, or a slot skipped, would show here.
    assert sorted(waits) == pytest.approx([k / rate for k in range(granted)])
    stats = limit.stats()
    assert stats.granted == granted
    assert stats.first_start == 100.0
    assert stats.last_start == pytest.approx(100.0 + (granted - 1) / rate)
    assert stats.achieved_rate() == pytest.approx(rate)
