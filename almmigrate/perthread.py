"""`PerThread`: one object per thread, made on first use (each worker's own HTTP client).

Why the client needs it: httpcore's connection pool (1.0.9), shared by threads, can close
a connection that another thread has just begun a request on. Choosing a connection for
one thread, the pool reads a pooled connection's state (idle) and then polls its socket
(readable?) to see whether the server closed it; in between, the thread the connection was
just handed to marks it active and sends, and on loopback its answer is there by the time
the poll runs. The pool takes the answer for the server's close and closes the socket under
the request: `[Errno 9] Bad file descriptor`, or a read that waits out its whole timeout.
A GET is retried (after that wait), a create ends with an unknown outcome. A pool that
only its own thread ever uses cannot interleave like that. The same family of races is
reported upstream, open at httpcore 1.0.9: https://github.com/encode/httpcore/issues/1110
(a pool closes a connection it has already assigned to a waiting request). When a fixed
httpcore is the lower bound, one shared pool may come back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class PerThread(Generic[T]):
    """`make()` once per thread that calls get(); close() closes every one made.

    The objects of threads that have ended are closed as the next one is made, so a run
    of short-lived worker pools does not keep a connection open per thread it ever had.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made: list[tuple[threading.Thread, T]] = []
        self._closed = False

    def get(self) -> T:
        """This thread's object, made now if it has none."""
        own: T | None = getattr(self._local, "own", None)
        if own is not None:
            return own
        with self._lock:
            if self._closed:
                raise RuntimeError("closed: no new thread may use it")
            made = self._make()
            ended = [o for t, o in self._made if not t.is_alive()]
            self._made = [(t, o) for t, o in self._made if t.is_alive()]
            self._made.append((threading.current_thread(), made))
        self._local.own = made
        for other in ended:  # their threads are gone: nothing else can be using them
            other.close()
        return made

    def close(self) -> None:
        """Close every object made (those still in use fail their next use)."""
        with self._lock:
            self._closed = True
            made, self._made = self._made, []
        for _, own in made:
            own.close()
