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
    """One object per thread that calls get(), made on first use; close() closes all.

    The object of a thread that has ended goes to the next new thread instead of a new
    one: a run of short-lived worker pools keeps as many as ran at once, and their open
    connections (a TLS handshake each) serve the next stage. Still one thread at a time.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made: list[tuple[threading.Thread, T]] = []
        self._closed = False

    def get(self) -> T:
        """This thread's object: one a thread that has ended left, or made now."""
        own: T | None = getattr(self._local, "own", None)
        if own is not None:
            return own
        with self._lock:
            if self._closed:
                raise RuntimeError("closed: no new thread may use it")
            left = next((i for i, (t, _) in enumerate(self._made) if not t.is_alive()), None)
            # Its thread is gone: nothing else can be using it.
            own = self._make() if left is None else self._made.pop(left)[1]
            self._made.append((threading.current_thread(), own))
        self._local.own = own
        return own

    def close(self) -> None:
        """Close every object made (those still in use fail their next use)."""
        with self._lock:
            self._closed = True
            made, self._made = self._made, []
        for _, own in made:
            own.close()
