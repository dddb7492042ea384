"""Adaptive rate control: find the limit an instance enforces, and never pass it.

`--rate auto` (the default of `import` and `migrate`) gives the client an
:class:`AdaptiveRate`. It follows the AIMD/CUBIC family (TCP congestion
control, AWS's adaptive retry mode), with the limit counted the way servers
count it:

- **Slow start.** Begin at START_RATE, grow by half each second up to
  KNEE_RATE, then by ADDITIVE_PER_S each second: a server with a burst reserve
  (a token bucket) accepts everything until the reserve is gone, and every
  request sent over its rate meanwhile comes back as a 429, so the climb past
  the usual limits is slow.
- **The first refusal.** A 429 (or a 503 with `Retry-After`) is one *event*:
  every worker is paused for the `Retry-After` (the client does that through
  its :class:`~almmigrate.ratelimit.RateLimiter`) and the limit becomes what
  the server accepted in the second before the refused request was sent: its
  own count, for a sliding window (Django REST Framework's throttles), however
  fast we were sending. Answers to requests sent before the pause ended belong
  to the same event.
- **Pacing by the window.** With a limit L known, at most L requests start in
  any second plus a jitter allowance (JITTER_S): the server counts arrivals,
  and the network moves them. Within that, requests are not evenly spaced: a
  pause or a slow stage is caught up within the next window at up to CATCH_UP
  times the limit, which a sliding window allows (evenly spaced requests never
  get back what a pause cost). For CONFIRM_S after the first limit is found the
  requests are evenly spaced, and only what the server can have refilled
  during the pause goes at once: a token bucket whose reserve let the slow
  start run over its rate would refuse the whole catch-up.
- **Later refusals.** Refused with our count, or a few fewer (under FELL_SHARE
  less), accepted in the second before: the network moved a request into
  another's window, or a busy server bunched the requests it counts. Once costs
  only the pause (caught up after it); twice within JITTER_MEMORY_S, the limit
  drops by one. Well under our count, even counting those sent up to ARRIVAL_SLACK_S
  before the second (jitter may have moved them into the server's), or as a pause
  ended: the limit fell, or a token bucket's reserve ran out. What the server
  accepted since the last refusal (at least SUSTAINED_S before), the pause
  included (the bucket refilled during it), under RESERVE_SHARE of our count
  says which: that is its sustained rate, and the limit. After PROBE_AFTER_S
  without a refusal the limit is raised slowly, in case the server's was; a
  refusal while probing goes back to it.
- **Headers.** `RateLimit-Limit/-Remaining/-Reset` (IETF draft, with
  `RateLimit-Policy: N;w=W`) and `X-RateLimit-*` are used when a server sends
  them: the limit and its window, and the rate never exceeds what the remaining
  quota allows until its reset.
- **Latency.** A server that queues instead of refusing (latency grows with
  the requests in flight) ends the climb without a pause: when the smoothed
  latency is twice the lowest seen (and 50 ms more), the rate falls below what
  was answered in the last second and is evenly spaced from then on.
- **Ceiling.** `--rate N` is never passed: at most N starts in any second. A
  number up to TRUSTED_CEILING is taken as the limit from the first request
  (no slow start); below it the controller still adapts.

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

START_RATE = 30.0  # requests/s before anything is known: moderate, below most API limits
GROWTH_PER_S = 1.5  # slow start: the rate grows by half every second without a refusal...
KNEE_RATE = 40.0  # ...up to this, then by ADDITIVE_PER_S each second (congestion avoidance):
ADDITIVE_PER_S = 5.0  # a reserve (token bucket) hides the limit, the overshoot costs 429s
TRUSTED_CEILING = KNEE_RATE  # a `--rate N` up to this is taken as the limit itself
BETA = 0.85  # multiplicative decrease (a server that queues): this share of what it answered
MARGIN = 0.05  # ...and the plateau then sits this far under it
RECOVERY_S = 3.0  # seconds from that decrease back up to the plateau (CUBIC's K)
JITTER_S = 0.025  # the window we count in is this much longer than the server's
JITTER_MEMORY_S = 10.0  # two refusals at our count within this: one less
RESERVE_SHARE = 0.85  # accepted since the last refusal under this share of our count: a
# reserve ran out (pauses and a busy machine lower it too: not much further)
FELL_SHARE = 0.1  # a refusal with this share fewer accepted than our count: the limit fell
ARRIVAL_SLACK_S = 0.1  # ...counted over this much more than the server's second: requests
# sent just before it may have reached the server inside it (network jitter, a busy machine)
CONFIRM_S = 3.0  # a limit just found paces evenly this long after the pause...
CATCH_UP = 2.0  # then a quiet spell is caught up at this many times the limit, not at once
PROBE_AFTER_S = 20.0  # seconds without a refusal before probing above the limit found...
MAX_PROBE_AFTER_S = 320.0  # ...doubled by each refusal that agrees with it, up to this
PROBE_PER_S = 0.01  # then: share of the limit added per second
MIN_RATE = 0.5  # never slower than this (a request every two seconds)
MEASURE_S = 1.0  # the measuring window at the server
SUSTAINED_S = 3.0  # the rate accepted since the last refusal is measured over at least this
LATENCY_RISE = 2.0  # smoothed latency over the lowest seen: the server queues our requests...
LATENCY_SLACK_S = 0.05  # ...by more than this too (noise on a busy machine is not a queue)
MIN_IN_FLIGHT = 2
MAX_IN_FLIGHT = 32
HEADROOM = 1.5  # in-flight slots over what Little's law needs: absorbs latency spikes


@dataclass(frozen=True)
class RateStatus:
    """What the controller knows, for the progress line and the report.

    rate: the pacing rate now (requests/s). limit: the limit found so far (the
    server's measured rate at the last refusal, the `--rate N` trusted as the
    limit, or from its headers), None until one is known. throttled: 429s (and
    503s with Retry-After) answered. events: refusals that changed what we do
    (one per burst of refusals). latency: smoothed seconds per request.
    in_flight: requests allowed in flight now.
    """

    rate: float
    limit: float | None
    throttled: int
    events: int
    latency: float | None
    in_flight: int


@dataclass(frozen=True)
class Pacing:
    """How the limiter spaces starts now.

    spacing: starts evenly spaced at this many a second; None: not spaced (bursts
    may catch up on a quiet spell, within the window). count, span: at most
    `count` starts in any `span` seconds (the limit as a sliding window counts
    it); count None: no window.
    """

    spacing: float | None
    count: int | None = None
    span: float = MEASURE_S
    burst: int = 1  # with spacing: starts that may go at once after a quiet spell


class Sent:
    """One request sent: when, and whether the server refused it (filled in by the answer)."""

    __slots__ = ("at", "number", "refused")

    def __init__(self, at: float, number: int = 0) -> None:
        self.at = at
        self.number = number  # how many were sent before it
        self.refused = False


class AdaptiveRate:
    """Decides the request rate (and in-flight count) of one client from the answers it gets.

    ceiling: `--rate N`, never passed; None for no ceiling. A ceiling up to
    TRUSTED_CEILING is taken as the limit itself: the run starts at it.
    start: the first rate of the slow start (default START_RATE).
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
        start = START_RATE if start is None else start
        self._base = min(start, ceiling) if ceiling is not None else start
        self._fixed_in_flight = concurrency
        self._began: float | None = None  # first send: slow start counts from here
        self._event_at: float | None = None  # time of the last refusal that counted
        self._slow_start = True
        self._limit: float | None = None  # the limit believed, per second
        self._window = MEASURE_S  # the server's window (seconds), from its headers
        self._windowed = False  # pacing by the limit as a window (else by the curve)
        self._smooth_until = 0.0  # a limit just found: evenly spaced until then...
        self._catch_up = 1  # ...but this many may go at once after the pause
        self._deficit = 0  # what that pause left to catch up, for the next refusal's measure
        self._jitter_at: float | None = None  # the last refusal at our count
        self._probe_after = PROBE_AFTER_S
        self._steady_since = 0.0  # when the limit was last confirmed or set: probing counts from
        self._floor = self._base  # curve: the rate right after the last decrease
        self._sent: deque[Sent] = deque()
        self._accepted = 0  # answers that were not refusals, in all
        self._resumed_at: float | None = None  # when the last pause ended
        self._sent_count = 0  # requests sent, in all
        self._sent_at_event = 0  # ...when the last refusal that counted was answered
        self._refused_since_event = 0  # refusals of requests sent since then
        self._throttled = 0
        self._events = 0
        self._latency: float | None = None
        self._base_latency: float | None = None  # the lowest latency seen: no queue
        self._answers: deque[float] = deque()  # times of accepted answers, the last seconds
        self._quota_rate: float | None = None  # from RateLimit headers
        self._quota_until = 0.0
        self._history: list[tuple[float, float]] = []  # (time, rate) at each change, for plots
        if ceiling is not None and ceiling <= TRUSTED_CEILING:
            # A moderate number the user gave is the limit: start there, no slow start.
            self._set_limit(ceiling, now=None)

    # ------------------------------------------------------------ reading

    def rate(self, now: float | None = None) -> float:
        """The pacing rate at `now` (requests per second, averaged over the window)."""
        with self._lock:
            return self._rate(self._clock() if now is None else now)

    def pacing(self, now: float | None = None) -> Pacing:
        """How the limiter spaces starts at `now`: even spacing, a window, or both."""
        with self._lock:
            now = self._clock() if now is None else now
            rate = self._rate(now)
            windows: list[tuple[int, float]] = []
            if self._windowed and self._limit is not None:
                windows.append(self._limit_window(now))
            if self.ceiling is not None:
                count = max(1, math.floor(self.ceiling))
                windows.append((count, count / self.ceiling))
            quota = self._quota_rate is not None and now < self._quota_until
            spaced = not self._windowed or now < self._smooth_until or quota
            if not windows:
                return Pacing(rate)
            count, span = min(windows, key=lambda w: w[0] / w[1])
            if not spaced:
                # Within the window, but not all at once: a token bucket refills meanwhile.
                return Pacing(CATCH_UP * count / span, count, span)
            burst = self._catch_up if now < self._smooth_until and not quota else 1
            return Pacing(rate, count, span, burst)

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
        """(time, rate) before and after every refusal that counted, for a rate-over-time table."""
        with self._lock:
            return list(self._history)

    # ------------------------------------------------------------ events

    def sent(self, now: float | None = None) -> Sent:
        """Record a request leaving; pass the returned record to :meth:`answered`."""
        with self._lock:
            now = self._clock() if now is None else now
            if self._began is None:
                self._began = now
                if self._windowed:
                    self._steady_since = now
            record = Sent(now, self._sent_count)
            self._sent_count += 1
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
            if self._resumed_at is not None and record.at < self._resumed_at:
                return  # sent before the last refusal's pause ended: part of the same burst
            self._refused_since_event += 1
            pause = 1.0 if retry_after is None else retry_after  # the client's pause
            self._refused(record, now, pause)
            self._resumed_at = now + pause

    # ------------------------------------------------------------ internals

    def _rate(self, now: float) -> float:
        if self._windowed and self._limit is not None:
            count, span = self._limit_window(now)
            rate = count / span
        else:
            rate = self._curve(now)
        if self._quota_rate is not None and now < self._quota_until:
            rate = min(rate, self._quota_rate)
        if self.ceiling is not None:
            rate = min(rate, self.ceiling)
        return max(MIN_RATE, rate)

    def _limit_window(self, now: float) -> tuple[int, float]:
        """The limit as the server counts it: (count, span), the span with our jitter allowance."""
        limit = self._probed(now)
        if limit * self._window >= 1:
            return math.floor(limit * self._window), self._window + JITTER_S
        return 1, 1 / limit + JITTER_S  # under one a window: one per its own interval

    def _probed(self, now: float) -> float:
        """The limit, raised slowly once it has held for a while (in case it was raised)."""
        assert self._limit is not None
        probing = now - self._steady_since - self._probe_after
        if probing <= 0:
            return self._limit
        return self._limit * (1 + PROBE_PER_S * probing)

    def _curve(self, now: float) -> float:
        if self._slow_start or self._limit is None or self._event_at is None:
            since = 0.0 if self._began is None else max(0.0, now - self._began)
            if self._base >= KNEE_RATE:
                return self._base + ADDITIVE_PER_S * since
            knee = math.log(KNEE_RATE / self._base) / math.log(GROWTH_PER_S)
            if since <= knee:
                return self._base * GROWTH_PER_S**since
            return KNEE_RATE + ADDITIVE_PER_S * (since - knee)
        plateau = self._limit * (1 - MARGIN)
        if self._floor >= plateau:
            return self._floor
        t = now - self._event_at
        # CUBIC: concave up to the plateau at RECOVERY_S, then flat (a queueing server
        # says so again through its latency when we pass what it serves).
        if t < RECOVERY_S:
            return plateau - (plateau - self._floor) * ((RECOVERY_S - t) / RECOVERY_S) ** 3
        return plateau

    def _set_limit(self, limit: float, now: float | None) -> None:
        if self.ceiling is not None:
            limit = min(limit, self.ceiling)
        self._limit = max(MIN_RATE, limit)
        self._windowed = True
        self._slow_start = False
        if now is not None:
            self._steady_since = now

    def _refused(self, record: Sent, now: float, pause: float) -> None:
        """A refusal sent after the last one was answered: what it says about the limit.

        The client pauses every worker for the Retry-After; here the limit is set.
        Two measures: what the server accepted in the second before the refused
        request was sent (its own count, for a sliding window), and what it
        accepted since the last refusal, that pause included (its sustained rate,
        for a token bucket whose reserve ran out).
        """
        before = self._rate(now)
        measured = self._measured(record)
        if not self._windowed or self._limit is None:
            if measured is not None:
                # The first limit. A sliding window lets the pause be caught up in a burst
                # right after it; a token bucket whose reserve let the slow start run over
                # its rate would refuse that burst. Pace evenly for a while, and let go at
                # once only what the lowest rate the server may have sustained refilled
                # during the pause (see _lowest).
                self._set_limit(measured, now)
                self._catch_up = max(1, math.floor(self._lowest(record) * pause))
                self._smooth_until = now + pause + CONFIRM_S
                self._deficit = max(0, math.floor(measured) - self._catch_up)
            else:
                # Refused before we had sent for long (right after a pause, or the very first
                # requests): nothing to measure over a second. Start slowly again, from what
                # the server took meanwhile when it took any: a low limit the start rate
                # used up at once (3 a second, gone in 0.1 s at 30) is then found by the
                # next refusal, where restarting at most of our rate was refused as quickly
                # each time and never found it. Not the limit itself: a window a previous
                # run left nearly full, or a 503 blip, would hold the run far under it.
                taken = self._accepted_before(record)
                self._base = max(MIN_RATE, min(BETA * before, taken or BETA * before))
                self._began = now
                self._slow_start = True
        elif now - self._steady_since > self._probe_after:
            # Refused while probing above the limit: it was not raised. Back to it, and
            # probe less often.
            self._probe_after = min(MAX_PROBE_AFTER_S, 2 * self._probe_after)
            self._steady_since = now
        elif measured is None:
            # Refused as a pause ended: the burst that caught up was more than the server
            # had (a token bucket refills only its rate during a pause). What it took
            # since the last refusal, the pause included, is what it sustains.
            sustained = self._sustained(record, at_least=0.0)
            self._set_limit(BETA * self._limit if sustained is None else sustained, now)
        else:
            # The server refused with `measured` accepted in the second before: its
            # count is at most that, give or take those the network moved across the
            # window's edge. Ours is at most `count` by construction. Whether the limit
            # fell is judged on what may have reached the server in its second: paced
            # at our count, a burst leaves just over our window after the one before it,
            # and 100 ms of jitter moved three of ten into the server's (it counted 10,
            # we 7, and a 10/s limit was taken for 6.3).
            count = math.floor(self._limit * self._window) / self._window
            reached = self._accepted_before(record, ARRIVAL_SLACK_S) / MEASURE_S
            sustained = self._sustained(record)
            owed = sustained
            if sustained is not None and self._deficit:
                # The pause after the first limit was caught up only in part: add back
                # what a sliding window would have taken, so it does not look like a
                # reserve running out.
                owed = sustained + self._deficit / (record.at - (self._event_at or record.at))
            self._deficit = 0
            if measured >= count - 1:
                self._jittered(now, count)
            elif sustained is not None and owed is not None and owed < RESERVE_SHARE * count:
                # A reserve ran out (a token bucket): what it accepted since the last
                # refusal, the pause included (the bucket refilled during it), is what it
                # sustains.
                self._set_limit(sustained, now)
            elif reached < (1 - FELL_SHARE) * count:
                # Well under our count even so: the limit fell. The lower of the two
                # measures (the server's second, not the slack: a fall is not overshot).
                self._set_limit(measured if sustained is None else min(measured, sustained), now)
            else:
                # A little under our count: the network bunched requests (a busy server
                # counts them when it gets to them), or the limit fell a little: as at
                # our count, once costs the pause, twice within 10 s one less.
                self._jittered(now, count)
        self._sent_at_event = self._sent_count
        self._refused_since_event = 0
        self._event_at = now
        self._events += 1
        self._history.append((now, before))
        self._history.append((now, self._rate(now)))

    def _lowest(self, refused: Sent) -> float:
        """The lowest rate a token bucket can have that accepted what this one did.

        A bucket with at most a second of reserve accepts at most rate x (t + 1) in
        any t seconds: the most that bound asks of the last 1, 1.5 or 2 s sent.
        """
        began = self._began if self._began is not None else refused.at
        lowest = 0.0
        for span in (1.0, 1.5, 2.0):
            span = min(span, refused.at - began)
            since = refused.at - span
            taken = sum(1 for s in self._sent if since < s.at <= refused.at and not s.refused)
            lowest = max(lowest, taken / (span + MEASURE_S))
        return lowest

    def _jittered(self, now: float, count: float) -> None:
        """Refused at our count: the network moved a request into another's window.

        Once is the price of counting close to the limit (the pause is caught up
        after it). Again within JITTER_MEMORY_S: we count one more than the server
        does (a request sent just over a second before another reached it just
        under), so one less.
        """
        last = self._jitter_at
        self._jitter_at = now
        if last is None or now - last > JITTER_MEMORY_S:
            return
        self._jitter_at = None
        self._set_limit(count - 1 / self._window, now)
        self._probe_after = min(MAX_PROBE_AFTER_S, 2 * self._probe_after)

    def _sustained(self, refused: Sent, at_least: float = SUSTAINED_S) -> float | None:
        """Accepted a second, of those sent since the last refusal up to `refused`.

        The pause that refusal caused is included: a bucket refills during it, a
        window empties (and the burst that catches up is counted). None when the
        last refusal is too recent to say.
        """
        if self._event_at is None or refused.at - self._event_at <= at_least:
            return None
        sent = refused.number + 1 - self._sent_at_event
        accepted = sent - self._refused_since_event
        if accepted <= 0:
            return None  # nothing taken at all: unavailable (503s), not a count
        return max(MIN_RATE, accepted / (refused.at - self._event_at))

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
        if self._limit is None or self._slow_start or self._windowed:
            self._limit = answered
        self._windowed = False  # a queue, not a count: pace evenly by the curve
        self._floor = max(MIN_RATE, BETA * min(answered, current))
        self._slow_start = False
        self._event_at = now
        self._events += 1
        self._history.append((now, current))
        self._history.append((now, self._floor))

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
        # second, not 21.
        return max(MIN_RATE, self._accepted_before(refused) / MEASURE_S)

    def _accepted_before(self, refused: Sent, slack: float = 0.0) -> int:
        """Requests the server accepted in the MEASURE_S (plus slack) before `refused` was sent.

        slack: count those sent this much earlier too (they may have reached it inside).
        Those sent with it count too (a burst leaves at one instant); not yet answered
        counts as accepted.
        """
        window = refused.at - MEASURE_S - slack
        return sum(1 for s in self._sent if window < s.at <= refused.at and not s.refused)

    def _in_flight(self, now: float) -> int:
        if self._fixed_in_flight is not None:
            return self._fixed_in_flight
        if self._latency is None:
            return 4
        # Paced by a window, a pause is caught up at CATCH_UP times the rate: as many
        # more in flight.
        catching_up = self._windowed and now >= self._smooth_until
        headroom = max(HEADROOM, CATCH_UP) if catching_up else HEADROOM
        needed = self._rate(now) * self._latency * headroom + 1
        return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, math.ceil(needed)))

    def _read_headers(self, headers: Mapping[str, str], now: float) -> None:
        """RateLimit-* / X-RateLimit-*: the limit, and the quota left until its reset."""
        lowered = {k.lower(): v for k, v in headers.items()}
        limit = _number(lowered, "ratelimit-limit", "x-ratelimit-limit")
        remaining = _number(lowered, "ratelimit-remaining", "x-ratelimit-remaining")
        reset = _number(lowered, "ratelimit-reset", "x-ratelimit-reset")
        window = _policy_window(lowered.get("ratelimit-policy", ""))
        if reset is not None and reset > 1e9:  # an epoch (GitHub style), not seconds
            reset = max(0.0, reset - time.time())
        if limit is not None and window:
            self._window = window
            if (
                self._limit is None
                or not self._windowed
                or abs(limit / window - self._limit) > 1e-9
            ):
                self._set_limit(limit / window, now)
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
