"""A request-rate limiter shared by every worker thread of one client.

The limiter hands out start times (a token bucket in its "virtual scheduling"
form, GCRA): each caller is given the earliest moment it may send, so N
requests at R per second are spread over (N - burst) / R seconds however many
threads ask at once. A 429 from the server calls :meth:`RateLimiter.pause_until`,
which holds back *every* worker until the server's Retry-After has passed, not
just the one that was throttled.

The limiter keeps its own accounting (grants, time waited, pauses, first and
last start time) so tests and benchmarks can check the achieved rate without
timing anything themselves.

With an :class:`~almmigrate.ratecontrol.AdaptiveRate` (`--rate auto`) the
pacing is the controller's, read at every grant: evenly spaced at a rate, and/or
at most `count` starts in any `span` seconds (a sliding window, counted from
when each caller really left, so a thread that woke late counts late), and after
a pause the number that may go at once. The limiter also holds the in-flight
slots (:meth:`RateLimiter.slot`): a request takes one before its start time, so
a scheduled start always has a free worker and requests never bunch up behind a
slow one. It measures the time no request was in flight ("idle"), which shows
when a stage boundary left the pipe empty.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from almmigrate.ratecontrol import AdaptiveRate, Pacing

MAX_WINDOW = 4096  # starts remembered for a sliding window (a larger count is not enforced)


class _Grant:
    """One start handed out: its time (moved to when the caller really went)."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


@dataclass(frozen=True)
class LimiterStats:
    """What the limiter has done so far."""

    granted: int
    waited: float
    pauses: int
    first_start: float | None
    last_start: float | None
    idle: float = 0.0  # seconds with no request in flight, between the first and the last

    def achieved_rate(self) -> float | None:
        """Grants per second between the first and the last grant (None under two grants)."""
        if self.first_start is None or self.last_start is None or self.granted < 2:
            return None
        span = self.last_start - self.first_start
        return (self.granted - 1) / span if span > 0 else None


class RateLimiter:
    """Spaces requests to at most `rate` per second across threads; None means no limit.

    burst: how many requests may start back to back after an idle spell (1 = evenly spaced).
    controller: an AdaptiveRate that sets the rate (and the in-flight slots) as answers arrive.
    clock, sleep: injectable so the scheduling can be tested without waiting.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        controller: AdaptiveRate | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no limit)")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = 0.0  # theoretical arrival time of the next request at the steady rate
        self._credit = 0  # starts that may go at once when a pause ends (the controller's)
        self._paused_until = 0.0
        self._granted = 0
        self._waited = 0.0
        self._pauses = 0
        self._first: float | None = None
        self._last: float | None = None
        self.controller = controller
        self._slots = Slots(self.allowance, clock=clock)
        self._grants: deque[_Grant] = deque(maxlen=MAX_WINDOW)  # recent starts, in order

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds it waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                grant = self._schedule(now)
            delay = grant.at - now
            if delay > 0:
                self._sleep(delay)
                waited += delay
            with self._lock:
                # A 429 that arrived while we slept holds us back too: ask again.
                if self._paused_until > self._clock():
                    self._grants.remove(grant)
                    continue
                # The window counts when requests really leave: a late thread counts late.
                grant.at = max(grant.at, self._clock())
                start = grant.at
                self._granted += 1
                self._waited += waited
                self._first = start if self._first is None else min(self._first, start)
                self._last = start if self._last is None else max(self._last, start)
                return waited

    def _schedule(self, now: float) -> _Grant:
        """Reserve the next start time (lock held)."""
        earliest = max(now, self._paused_until)
        if self.controller is not None:
            pacing = self.controller.pacing(now)
        else:
            pacing = Pacing(self.rate)
        start = earliest
        if pacing.spacing is not None and self._credit > 0:
            self._credit -= 1  # part of the catch-up a pause ended with: at once
            self._tat = max(self._tat, earliest)
        elif pacing.spacing is not None:
            interval = 1.0 / pacing.spacing
            tolerance = (self.burst - 1) * interval
            tat = max(self._tat, earliest)
            start = max(earliest, tat - tolerance)
            self._tat = tat + interval
        if pacing.count is not None:
            # At most `count` starts in any `span`: a sliding window as the server counts,
            # so a quiet spell (a pause, a slow stage) may be caught up in a burst.
            if self._grants:
                start = max(start, self._grants[-1].at)
            if len(self._grants) >= pacing.count:
                start = max(start, self._grants[-pacing.count].at + pacing.span)
        grant = _Grant(start)
        self._grants.append(grant)
        return grant

    def pause_until(self, deadline: float) -> None:
        """Hold back every caller until `deadline` (a time of this limiter's clock)."""
        with self._lock:
            if deadline > self._paused_until:
                self._paused_until = deadline
                self._pauses += 1
            if self.controller is not None:
                # The controller says how many may go at once when the pause ends (its
                # pacing's burst: what the server refilled meanwhile), then evenly spaced.
                self._credit = self.controller.pacing(deadline).burst - 1
                self._tat = deadline
                return
            # After a pause, resume at the steady rate rather than in a burst: the server
            # has just said it is over its limit.
            rate = self.current_rate(deadline)
            if rate is not None:
                tolerance = (self.burst - 1) / rate
                self._tat = max(self._tat, deadline + tolerance)

    def current_rate(self, now: float | None = None) -> float | None:
        """Requests per second now: the controller's when there is one, else the fixed rate."""
        if self.controller is not None:
            return self.controller.rate(now)
        return self.rate

    def pause_for(self, seconds: float) -> None:
        """Hold back every caller for `seconds` from now."""
        self.pause_until(self._clock() + max(0.0, seconds))

    @property
    def paused_until(self) -> float:
        with self._lock:
            return self._paused_until

    def allowance(self) -> int | None:
        """Requests allowed in flight now: the controller's count, None for no limit."""
        return self.controller.in_flight() if self.controller is not None else None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot for a request (the controller's count, or no limit)."""
        with self._slots.hold():
            yield

    def stats(self) -> LimiterStats:
        with self._lock:
            return LimiterStats(
                granted=self._granted,
                waited=self._waited,
                pauses=self._pauses,
                first_start=self._first,
                last_start=self._last,
                idle=self._slots.idle,
            )


class Slots:
    """A count of things in flight that may not pass `allowance()` (None: no limit).

    The allowance may change at any time (Little's law as latency is measured).
    `idle`: seconds with nothing in flight between the first hold and the last release.
    """

    def __init__(
        self, allowance: Callable[[], int | None], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._allowance = allowance
        self._clock = clock
        self._condition = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._idle = 0.0
        self._idle_since: float | None = None

    @property
    def idle(self) -> float:
        with self._condition:
            return self._idle

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._condition:
            while True:
                allowed = self._allowance()
                if allowed is None or self._in_flight < allowed:
                    break
                self._condition.wait(0.05)  # the allowance may grow as latency is measured
            if self._in_flight == 0 and self._idle_since is not None:
                self._idle += max(0.0, self._clock() - self._idle_since)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._condition:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle_since = self._clock()
                self._condition.notify()
