"""Injected faults and request counters: the simulator's outermost ASGI layer.

Faults act before the API sees a request (latency, throttling, 503) or after
it answered (a dropped connection), so a client meets them the way it would
meet a slow, busy or flaky SD Elements instance.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
THROTTLES = ("token-bucket", "sliding-window")
# What a failing instance (fail_rate) says, by the status it answers.
FAIL_DETAILS = {
    500: "A server error occurred.",
    502: "Bad gateway.",
    503: "Service temporarily unavailable, try again later.",
    504: "Gateway timeout.",
}
FAIL_STATUSES = tuple(FAIL_DETAILS)


@dataclass(frozen=True)
class Faults:
    """What goes wrong on the simulated instance.

    latency_ms: added to every request.
    rate_limit: requests per second over all clients, None for no limit; over it the
        answer is 429 with Retry-After. Checked when a request arrives, before the latency.
    throttle: how the limit is counted. "token-bucket": `rate_limit` tokens a second with
        one second's worth in reserve (lenient: a burst is absorbed). "sliding-window":
        at most rate_limit x throttle_window requests in any window of throttle_window
        seconds, only accepted requests counted, Retry-After the time until the oldest
        leaves the window rounded up to whole seconds (Django REST Framework's throttles).
    throttle_window: the sliding window's length in seconds.
    limit_headers: send RateLimit-Limit/-Remaining/-Reset/-Policy on every answer.
    capacity: requests the instance works on at once; each takes latency_ms and the
        others queue, so latency grows with concurrent requests (no 429). None: unbounded.
    fail_rate: share of requests answered `fail_status` before they are processed.
    fail_status: the status of those answers: 503 (unavailable), or 500, 502, 504.
    drop_rate: share of writes (POST, PATCH) that are processed and committed, after
        which the connection is closed without any response.
    seed: makes the fail and drop decisions reproducible.
    retry_after_date: send Retry-After as an HTTP date instead of seconds.
    echo_rejects: answer every write 400 with the request body echoed back as a
        Python repr (as a debug-mode framework does): secrets come back escaped.
    revoke_after_writes: the token is revoked once this many writes were committed:
        every request after that is answered 401.
    write_error_bytes: when more than 0, every write is answered 500 with a JSON error
        body this long (a server echoing a huge payload back).
    html_create_answer: a POST is processed and committed, then answered with an HTML
        page (a proxy's page in place of the API's JSON).
    """

    latency_ms: float = 0
    rate_limit: float | None = None
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int | None = None
    retry_after_date: bool = False
    fail_status: int = 503
    echo_rejects: bool = False
    revoke_after_writes: int | None = None
    write_error_bytes: int = 0
    html_create_answer: bool = False
    throttle: str = "token-bucket"
    throttle_window: float = 1.0
    limit_headers: bool = False
    capacity: int | None = None

    def __post_init__(self) -> None:
        if self.throttle not in THROTTLES:
            raise ValueError(f"throttle must be one of {', '.join(THROTTLES)}")
        if self.throttle_window <= 0:
            raise ValueError("throttle_window must be more than 0")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError("capacity must be at least 1 (or None for unbounded)")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be 0 or more")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be more than 0 (or None for no limit)")
        for name in ("fail_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.fail_status not in FAIL_STATUSES:
            raise ValueError(f"fail_status must be one of {', '.join(map(str, FAIL_STATUSES))}")
        if self.revoke_after_writes is not None and self.revoke_after_writes < 0:
            raise ValueError("revoke_after_writes must be 0 or more (or None)")
        if self.write_error_bytes < 0:
            raise ValueError("write_error_bytes must be 0 or more")


class Hold:
    """An instance that stops answering: from the first request that finds `when()` true,
    every request waits, unanswered, until `release()`.

    A test that interrupts a run "once 20 objects are written" holds the answers there:
    the run cannot finish before the interrupt lands, however slowly the test gets to it.
    """

    def __init__(self, when: Callable[[], bool]) -> None:
        self._when = when
        self.holding = threading.Event()  # set once a request waits
        self._released = threading.Event()

    def release(self) -> None:
        """Answer the requests waiting and every one after."""
        self._released.set()

    async def wait(self) -> None:
        if self._released.is_set() or not (self.holding.is_set() or self._when()):
            return
        self.holding.set()
        while not self._released.is_set():
            await asyncio.sleep(0.005)


class SimStats:
    """Counters of what the simulator saw; thread-safe, read from tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.writes = 0
            self.throttled = 0
            self.failed = 0
            self.dropped = 0
            self.queued = 0  # requests that waited for a free worker (Faults.capacity)
            self.by_method: Counter[str] = Counter()
            self.by_path: Counter[str] = Counter()
            self.by_status: Counter[int] = Counter()

    def count_request(self, method: str, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_method[method] += 1
            self.by_path[f"{method} {_path_template(path)}"] += 1

    def count(self, name: str, status: int | None = None) -> None:
        with self._lock:
            if name:
                setattr(self, name, getattr(self, name) + 1)
            if status is not None:
                self.by_status[status] += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "writes": self.writes,
                "throttled": self.throttled,
                "failed": self.failed,
                "dropped": self.dropped,
                "queued": self.queued,
                "by_method": dict(self.by_method),
                "by_path": dict(self.by_path),
                "by_status": dict(self.by_status),
            }

    def __repr__(self) -> str:
        d = self.as_dict()
        keys = ("requests", "writes", "throttled", "failed", "dropped")
        return "SimStats(" + ", ".join(f"{k}={d[k]}" for k in keys) + ")"


def _path_template(path: str) -> str:
    """`/api/v2/connections/alm/17/` -> `/api/v2/connections/alm/{id}/`, for per-path counts."""
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


class TokenBucket:
    """`rate` tokens a second, up to one second's worth in reserve."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one is available."""
        with self._lock:
            self._refill()
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def headers(self) -> list[tuple[bytes, bytes]]:
        with self._lock:
            self._refill()
            reset = math.ceil((self.capacity - self.tokens) / self.rate)
            return _limit_headers(int(self.capacity), int(self.tokens), reset, 1.0)


class SlidingWindow:
    """At most `limit` accepted requests in any `window` seconds, as Django REST Framework counts.

    DRF's SimpleRateThrottle keeps the times of accepted requests, drops those
    older than the window when one arrives, refuses it when `limit` remain, and
    answers Retry-After = the time until the oldest leaves, rounded up.
    """

    def __init__(self, rate: float, window: float) -> None:
        self.window = window
        self.limit = max(1, round(rate * window))
        self.history: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            if len(self.history) >= self.limit:
                return self.window - (now - self.history[0])
            self.history.append(now)
            return 0.0

    def _prune(self, now: float) -> None:
        while self.history and self.history[0] <= now - self.window:
            self.history.popleft()

    def headers(self) -> list[tuple[bytes, bytes]]:
        with self._lock:
            now = time.monotonic()
            self._prune(now)
            left = self.window - (now - self.history[0]) if self.history else 0.0
            remaining = self.limit - len(self.history)
            return _limit_headers(self.limit, remaining, math.ceil(left), self.window)


def _limit_headers(
    limit: int, remaining: int, reset: int, window: float
) -> list[tuple[bytes, bytes]]:
    values = {
        b"ratelimit-limit": str(limit),
        b"ratelimit-remaining": str(max(0, remaining)),
        b"ratelimit-reset": str(max(0, reset)),
        b"ratelimit-policy": f"{limit};w={window:g}",
    }
    return [(name, value.encode("ascii")) for name, value in values.items()]


class FaultMiddleware:
    """Counts every request and injects the configured faults."""

    def __init__(self, app: ASGIApp, stats: SimStats, faults: Faults | None = None) -> None:
        self.app = app
        self.stats = stats
        self.hold: Hold | None = None
        self.set_faults(faults or Faults())

    def set_faults(self, faults: Faults) -> None:
        # One object swap, so a request in flight sees either the old or the new faults.
        limiter: TokenBucket | SlidingWindow | None = None
        if faults.rate_limit and faults.throttle == "sliding-window":
            limiter = SlidingWindow(faults.rate_limit, faults.throttle_window)
        elif faults.rate_limit:
            limiter = TokenBucket(faults.rate_limit)
        self._state = (faults, limiter, random.Random(faults.seed))
        self._capacity: asyncio.Semaphore | None = None  # made in the server's loop
        self._capacity_of: Faults | None = None

    @property
    def faults(self) -> Faults:
        return self._state[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults, limiter, rng = self._state
        method = scope["method"]
        self.stats.count_request(method, scope["path"])
        if self.hold is not None:
            await self.hold.wait()
        wait = limiter.take() if limiter is not None else 0.0  # checked on arrival
        await self._work(faults)
        if limiter is not None and wait > 0:
            self.stats.count("throttled", 429)
            await _throttled(send, wait, faults.retry_after_date)
            return
        # Draw for every request (and every write) so a seed gives the same sequence.
        fail_roll = rng.random()
        drop_roll = rng.random() if method in WRITE_METHODS else 1.0
        if fail_roll < faults.fail_rate:
            status = faults.fail_status
            self.stats.count("failed", status)
            await _send_json(send, status, {"detail": FAIL_DETAILS[status]})
            return
        if drop_roll < faults.drop_rate:
            self.stats.count("dropped")
            await _drop_after_processing(self.app, scope, receive, send)
            return
        if faults.echo_rejects and method in WRITE_METHODS:
            self.stats.count("", 400)
            await _echo_reject(receive, send)
            return
        if await self._misbehave(faults, method, scope, receive, send):
            return
        if limiter is not None and faults.limit_headers:
            await self.app(
                scope, receive, _with_headers(self._counting_send(send), limiter.headers())
            )
            return
        await self.app(scope, receive, self._counting_send(send))

    async def _work(self, faults: Faults) -> None:
        """The latency; with a capacity, requests beyond it queue for a free worker."""
        if faults.capacity is None:
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000.0)
            return
        if self._capacity is None or self._capacity_of is not faults:
            self._capacity = asyncio.Semaphore(faults.capacity)
            self._capacity_of = faults
        if self._capacity.locked():
            self.stats.count("queued")
        async with self._capacity:
            await asyncio.sleep(faults.latency_ms / 1000.0)

    async def _misbehave(
        self, faults: Faults, method: str, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Answer as a server that disagrees with the client's assumptions; True when it did."""
        if (
            faults.revoke_after_writes is not None
            and self.stats.writes >= faults.revoke_after_writes
        ):
            self.stats.count("", 401)
            await _send_json(send, 401, {"detail": "Invalid token."})
            return True
        if method not in WRITE_METHODS:
            return False
        if faults.write_error_bytes > 0:
            self.stats.count("", 500)
            await _send_json(send, 500, {"detail": "E" * faults.write_error_bytes})
            return True
        if faults.html_create_answer and method == "POST":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            self.stats.count("", 200)
            page = b"<html><head><title>Welcome</title></head><body>Signed in.</body></html>"
            await _send(send, 200, page, b"text/html; charset=utf-8")
            return True
        return False

    def _counting_send(self, send: Send) -> Send:
        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.stats.count("", int(message["status"]))
            await send(message)

        return counted


def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def added(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return added


async def _throttled(send: Send, wait: float, as_date: bool) -> None:
    seconds = max(1, math.ceil(wait))
    unit = "second" if seconds == 1 else "seconds"
    retry_after = formatdate(time.time() + seconds, usegmt=True) if as_date else str(seconds)
    await _send_json(
        send,
        429,
        {"detail": f"Request was throttled. Expected available in {seconds} {unit}."},
        [(b"retry-after", retry_after.encode("ascii"))],
    )


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send(send, status, json.dumps(body).encode("utf-8"), b"application/json", headers)


async def _send(
    send: Send,
    status: int,
    payload: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """One whole answer: status, content type and length, any other headers, the body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode("ascii")),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _echo_reject(receive: Receive, send: Send) -> None:
    """400 with the request body echoed back as a Python repr, as text."""
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    try:
        echoed: Any = json.loads(raw)
    except ValueError:
        echoed = raw
    payload = f"Invalid request: {echoed!r}".encode()
    await _send(send, 400, payload, b"text/plain; charset=utf-8")


async def _drop_after_processing(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Let the app process (and commit) the request, then close the socket unanswered."""

    async def swallow(message: Message) -> None:
        return None

    await app(scope, receive, swallow)
    # With uvicorn, `send` is a bound method of the connection's RequestResponseCycle.
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if cycle is None or transport is None:
        raise RuntimeError("drop_rate needs the uvicorn server (no transport to close)")
    transport.abort()
    # Tell uvicorn the peer is gone, so it does not try to send a 500 on a dead socket.
    cycle.disconnected = True
