"""How many requests a client sent, retried, was refused and failed, and how fast: `RequestStats`."""

from __future__ import annotations

import threading
from typing import Any


class RequestStats:
    """Counters for one client, updated from every worker thread.

    requests: HTTP requests sent (every attempt); retries: attempts repeated;
    throttled: 429 answers; failures: calls that ended in an error after retries;
    bytes: response body bytes; elapsed: seconds from the first request sent to
    the last answer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.throttled = 0
        self.failures = 0
        self.bytes = 0
        self._first: float | None = None
        self._last: float | None = None

    def add(
        self,
        *,
        requests: int = 0,
        retries: int = 0,
        throttled: int = 0,
        failures: int = 0,
        bytes: int = 0,
    ) -> None:  # noqa: A002
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled
            self.failures += failures
            self.bytes += bytes

    def mark(self, started: float, ended: float) -> None:
        """Widen the elapsed window to cover one request."""
        with self._lock:
            self._first = started if self._first is None else min(self._first, started)
            self._last = ended if self._last is None else max(self._last, ended)

    @property
    def elapsed(self) -> float:
        with self._lock:
            if self._first is None or self._last is None:
                return 0.0
            return self._last - self._first

    def snapshot(self) -> dict[str, Any]:
        """Every counter, plus the achieved request rate (requests per second)."""
        elapsed = self.elapsed
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "failures": self.failures,
                "bytes": self.bytes,
                "elapsed": round(elapsed, 3),
                "rate": round(self.requests / elapsed, 2) if elapsed > 0 else None,
            }
