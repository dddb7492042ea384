"""A fake clock for code that many threads run at once (a rate limiter's workers)."""

from __future__ import annotations

import threading


class StoppedClock:
    """A clock that never moves, with a sleep that only records: each caller's wait is
    exactly how far its slot is from now, however the threads interleave and however late
    each one runs (on the real clock a test could only bound a span, and a thread that
    took its slot a few microseconds late failed it)."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
