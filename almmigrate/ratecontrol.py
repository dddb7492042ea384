"""Adaptive rate control: find the request rate an instance sustains, and stay just under it.

`--rate auto` (the default of `import` and `migrate`) gives the client an
:class:`AdaptiveRate`. It follows the AIMD/CUBIC family (TCP congestion
control, AWS's adaptive retry mode):

- **Slow start.** Begin at a moderate rate and raise it by half every second
  while every request succeeds.
- **Multiplicative decrease.** A 429 (or a 503 with `Retry-After`) is one
  *event*: every worker is paused for the `Retry-After` (the client does that
  through its :class:`~almmigrate.ratelimit.RateLimiter`) and the rate is set
  below the rate *measured at the server*: the requests it accepted in the
  second before the refused one was sent. That is the server's own count for a
  sliding-window limit (Django REST Framework's throttles), however fast we
  were sending. A refusal well below the limit found before means the server
  had let a burst through (a token bucket's reserve): then the measure is what
  it accepted since the previous refusal, pause included, which is its
  sustained rate. Answers to requests sent before the decrease belong to the
  same event and change nothing.
- **Slow probe.** After an event the rate climbs back along a cubic curve that
  flattens just under the limit found (a margin of a few per cent, since even
  evenly spaced requests drift into the same window once the network moves
  them), stays there, and only then probes above it, slowly, in case the limit
  was raised. Each event refused near the same limit widens the margin and
  doubles the wait before the next probe, so a run ends with a handful of 429s
  rather than one a second.
- **Headers.** `RateLimit-Limit/-Remaining/-Reset` (IETF draft, with
  `RateLimit-Policy: N;w=W`) and `X-RateLimit-*` are used when a server sends
  them: the rate never exceeds what the remaining quota allows until its reset.
- **Latency.** A server that queues instead of refusing (latency grows with
  the requests in flight) ends the climb the same way, without a pause: when
  the smoothed latency is twice the lowest seen (and 50 ms more), the rate
  falls below what was answered in the last second.
- **Ceiling.** A number given with `--rate N` is never passed; below it the
  controller still adapts.

Concurrency follows Little's law: the requests in flight needed to keep the
current rate at the observed latency, with headroom, within
[MIN_IN_FLIGHT, MAX_IN_FLIGHT] (see :meth:`AdaptiveRate.in_flight`).

Every method takes the time from an injectable clock, so the controller is
tested on a fake clock against simulated servers, with no timing assertions.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

START_RATE = 20.0  # requests/s before anything is known: moderate, below most API limits
GROWTH_PER_S = 1.5  # slow start: the rate grows by half every second without a refusal
BETA = 0.85  # multiplicative decrease: the rate falls to this share of the measured rate
MARGIN = 0.05  # the plateau sits this far under the limit found...
MAX_MARGIN = 0.1  # ...widened (doubled) by each event near it, up to this
RECOVERY_S = 3.0  # seconds from the decrease back up to the plateau (CUBIC's K)
PROBE_AFTER_S = 20.0  # seconds on the plateau before probing above the limit found...
MAX_PROBE_AFTER_S = 320.0  # ...doubled by each event near the same limit, up to this
PROBE_PER_S = 0.01  # then: share of the limit added per second
MIN_RATE = 0.5  # never slower than this (a request every two seconds)
MEASURE_S = 1.0  # the measuring window at the server
LATENCY_RISE = 2.0  # smoothed latency over the lowest seen: the server queues our requests...
LATENCY_SLACK_S = 0.05  # ...by more than this too (noise on a busy machine is not a queue)
MIN_IN_FLIGHT = 2
MAX_IN_FLIGHT = 32
HEADROOM = 1.5  # in-flight slots over what Little's law needs: absorbs latency spikes


@dataclass(frozen=True)
class RateStatus:
    """What the controller knows, for the progress line and the report.

    rate: the pacing rate now (requests/s). limit: the limit found so far (the
    server's measured rate at the last refusal, or from its headers), None
    until one is known. throttled: 429s (and 503s with Retry-After) answered.
    events: decreases (one per burst of refusals). latency: smoothed seconds per
    request. in_flight: requests allowed in flight now.
    """

    rate: float
    limit: float | None
    throttled: int
    events: int
    latency: float | None
    in_flight: int


class Sent:
    """One request sent: when, and whether the server refused it (filled in by the answer)."""

    __slots__ = ("at", "refused")

    def __init__(self, at: float) -> None:
        self.at = at
        self.refused = False


class AdaptiveRate:
    """Decides the request rate (and in-flight count) of one client from the answers it gets.

    ceiling: `--rate N`, never passed; None for no ceiling.
    start: the first rate (default START_RATE, or the ceiling when lower).
    concurrency: a fixed in-flight count (`--concurrency N`); None to follow Little's law.
    clock: injectable for tests.
    """

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        start: float | None = None,
        concurrency: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("the rate ceiling must be positive (or None)")
        self.ceiling = ceiling
        self._clock = clock
        self._lock = threading.Lock()
        if start is None:
            start = START_RATE
            if ceiling is not None and ceiling <= 2 * START_RATE:
                # A moderate number the user gave is a first guess worth trusting, just under.
                start = ceiling * (1 - MARGIN)
        self._base = min(start, ceiling) if ceiling is not None else start
        self._fixed_in_flight = concurrency
        self._began: float | None = None  # first send: slow start counts from here
        self._event_at: float | None = None  # time of the last decrease
        self._slow_start = True
        self._limit: float | None = None  # limit found (measured at the last event)
        self._margin = MARGIN
        self._probe_after = PROBE_AFTER_S
        self._floor = self._base  # the rate right after the last decrease
        self._sent: deque[Sent] = deque()
        self._accepted = 0  # answers that were not refusals, in all
        self._resumed_at: float | None = None  # when the last pause ended
        self._accepted_at_event = 0
        self._throttled = 0
        self._events = 0
        self._latency: float | None = None
        self._base_latency: float | None = None  # the lowest latency seen: no queue
        self._answers: deque[float] = deque()  # times of accepted answers, the last seconds
        self._quota_rate: float | None = None  # from RateLimit headers
        self._quota_until = 0.0
        self._history: list[tuple[float, float]] = []  # (time, rate) at each change, for plots

    # ------------------------------------------------------------ reading

    def rate(self, now: float | None = None) -> float:
        """The pacing rate at `now` (requests per second)."""
        with self._lock:
            return self._rate(self._clock() if now is None else now)

    def status(self) -> RateStatus:
        with self._lock:
            now = self._clock()
            return RateStatus(
                rate=round(self._rate(now), 2),
                limit=round(self._limit, 2) if self._limit is not None else None,
                throttled=self._throttled,
                events=self._events,
                latency=self._latency,
                in_flight=self._in_flight(now),
            )

    def in_flight(self) -> int:
        """Requests allowed in flight now: the fixed --concurrency, else Little's law."""
        with self._lock:
            return self._in_flight(self._clock())

    def history(self) -> list[tuple[float, float]]:
        """(time, rate) at every decrease and after it, for a rate-over-time table."""
        with self._lock:
            return list(self._history)

    # ------------------------------------------------------------ events

    def sent(self, now: float | None = None) -> Sent:
        """Record a request leaving; pass the returned record to :meth:`answered`."""
        with self._lock:
            now = self._clock() if now is None else now
            if self._began is None:
                self._began = now
            record = Sent(now)
            self._sent.append(record)
            horizon = now - 2 * MEASURE_S
            while self._sent and self._sent[0].at < horizon:
                self._sent.popleft()
            return record

    def answered(
        self,
        record: Sent,
        status: int,
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> None:
        """Take in an answer: its status, Retry-After (seconds) and rate-limit headers."""
        with self._lock:
            now = self._clock() if now is None else now
            if status < 500 or status == 503:
                sample = max(0.0, now - record.at)
                self._latency = (
                    sample if self._latency is None else 0.8 * self._latency + 0.2 * sample
                )
                if self._base_latency is None or sample < self._base_latency:
                    self._base_latency = sample
            if headers:
                self._read_headers(headers, now)
            refused = status == 429 or (status == 503 and retry_after is not None)
            if not refused:
                self._accepted += 1
                self._answers.append(now)
                while self._answers and self._answers[0] < now - MEASURE_S:
                    self._answers.popleft()
                if self._queueing(now):
                    self._slow_down(now)
                return
            record.refused = True
            self._throttled += 1
            if self._event_at is not None and record.at <= self._event_at:
                return  # sent before the last decrease: part of the same burst
            self._decrease(record, now)
            if retry_after is not None:
                self._resumed_at = now + retry_after

    # ------------------------------------------------------------ internals

    def _rate(self, now: float) -> float:
        rate = self._curve(now)
        if self._quota_rate is not None and now < self._quota_until:
            rate = min(rate, self._quota_rate)
        if self.ceiling is not None:
            rate = min(rate, self.ceiling)
        return max(MIN_RATE, rate)

    def _curve(self, now: float) -> float:
        if self._slow_start or self._limit is None or self._event_at is None:
            since = 0.0 if self._began is None else max(0.0, now - self._began)
            return self._base * GROWTH_PER_S ** min(since, 30.0)
        plateau = self._limit * (1 - self._margin)
        if self._floor >= plateau:
            return self._floor
        t = now - self._event_at
        # CUBIC: concave up to the plateau at RECOVERY_S, flat there, then a slow probe.
        if t < RECOVERY_S:
            return plateau - (plateau - self._floor) * ((RECOVERY_S - t) / RECOVERY_S) ** 3
        probing = t - RECOVERY_S - self._probe_after
        if probing <= 0:
            return plateau
        return plateau + self._limit * PROBE_PER_S * probing

    def _decrease(self, record: Sent, now: float) -> None:
        measured = self._measured(record)
        current = self._rate(now)
        previous = self._limit
        if measured is None:
            # Refused before we had sent for long (right after a pause, or the very first
            # request): nothing to measure; slow down and keep what was found before.
            self._floor = max(MIN_RATE, BETA * current)
        else:
            self._limit = self._found(measured, previous, now)
            self._floor = max(MIN_RATE, BETA * min(self._limit, current))
        self._accepted_at_event = self._accepted
        self._slow_start = self._limit is None
        if self._slow_start:
            self._base = self._floor
            self._began = now
        self._event_at = now
        self._events += 1
        self._history.append((now, current))
        self._history.append((now, self._floor))

    def _queueing(self, now: float) -> bool:
        """True when latency says the server queues our requests (and no event is recent)."""
        if self._latency is None or self._base_latency is None or self._accepted < 10:
            return False
        if self._event_at is not None and now - self._event_at < RECOVERY_S:
            return False
        rise = max(self._base_latency * LATENCY_RISE, self._base_latency + LATENCY_SLACK_S)
        return self._latency > rise and self._rate(now) * self._base_latency >= 1

    def _slow_down(self, now: float) -> None:
        """A decrease without a pause: to under what the server answered in the last second."""
        current = self._rate(now)
        answered = max(MIN_RATE, len(self._answers) / MEASURE_S)
        if self._limit is None or self._slow_start:
            self._limit = answered
        self._floor = max(MIN_RATE, BETA * min(answered, current))
        self._slow_start = False
        self._event_at = now
        self._events += 1
        self._history.append((now, current))
        self._history.append((now, self._floor))

    def _found(self, measured: float, previous: float | None, now: float) -> float:
        """The limit, from what the server accepted just now and what was found before."""
        if previous is None or self._event_at is None or self._slow_start:
            return measured
        span = max(now - self._event_at, MEASURE_S)
        if measured < previous * (1 - 2 * max(self._margin, MARGIN)):
            # Refused well below the last limit: a burst allowance ran out (a token bucket's
            # reserve). What the server accepted since the last refusal, its pause included,
            # is its sustained rate: already under the limit, no jitter to stay clear of.
            sustained = (self._accepted - self._accepted_at_event) / span
            self._margin = 0.0
            return max(MIN_RATE, min(measured, sustained))
        # Refused again at about the same rate: the network's jitter finds the limit (a
        # sliding window), or a reserve ran out a little above it. Take the new count, stay
        # further under it, and probe above it less often.
        self._margin = min(MAX_MARGIN, max(MARGIN, self._margin * 2))
        self._probe_after = min(MAX_PROBE_AFTER_S, self._probe_after * 2)
        return measured

    def _measured(self, refused: Sent) -> float | None:
        """Requests per second the server accepted in the MEASURE_S before `refused` was sent.

        None when we had been sending for less than a quarter of that (nothing to measure).
        """
        start = refused.at - MEASURE_S
        for since in (self._began, self._resumed_at):
            if since is not None:
                start = max(start, since)
        if refused.at - start < MEASURE_S / 4:
            return None
        # Counted over the whole second the server counts, not extrapolated from the part
        # since we began (or resumed): 15 accepted in our first 0.7 s is a limit of 15 a
        # second, not 21 (a guess that high makes the next refusal look like a burst ran
        # out, and the rate collapses to half the limit).
        window = refused.at - MEASURE_S
        accepted = sum(1 for s in self._sent if window <= s.at < refused.at and not s.refused)
        return max(MIN_RATE, accepted / MEASURE_S)

    def _in_flight(self, now: float) -> int:
        if self._fixed_in_flight is not None:
            return self._fixed_in_flight
        if self._latency is None:
            return 4
        needed = self._rate(now) * self._latency * HEADROOM + 1
        return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, math.ceil(needed)))

    def _read_headers(self, headers: Mapping[str, str], now: float) -> None:
        """RateLimit-* / X-RateLimit-*: cap the rate to the quota left until its reset."""
        lowered = {k.lower(): v for k, v in headers.items()}
        limit = _number(lowered, "ratelimit-limit", "x-ratelimit-limit")
        remaining = _number(lowered, "ratelimit-remaining", "x-ratelimit-remaining")
        reset = _number(lowered, "ratelimit-reset", "x-ratelimit-reset")
        window = _policy_window(lowered.get("ratelimit-policy", ""))
        if reset is not None and reset > 1e9:  # an epoch (GitHub style), not seconds
            reset = max(0.0, reset - time.time())
        if limit is not None and window:
            self._limit = limit / window
        if remaining is None or reset is None or reset <= 0:
            return
        self._quota_rate = max(MIN_RATE, remaining / reset)
        self._quota_until = now + reset


def _number(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        text = headers.get(name)
        if text is None:
            continue
        try:
            value = float(text.split(",")[0].split(";")[0].strip())
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None


def _policy_window(policy: str) -> float | None:
    """The window W of `RateLimit-Policy: 40;w=1` (seconds), if given."""
    for part in policy.split(",")[0].split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "w":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if seconds > 0 else None
    return None
