"""Ctrl-C and SIGTERM during an import: the first stops the run, the next never lose its report.

The first press raises KeyboardInterrupt, as always (the CLI makes SIGTERM one too): the
import sends nothing more, awaits the requests in flight and writes the report of what
was done. A second press used to raise again wherever it landed: one that came before
the waiting had begun, or after it had ended, cut the run short before its report was
written. Inside :func:`first_interrupt_only`, a press after the first only sets
``Guard.again`` (the waiting for requests in flight stops at once), and after
``Guard.settle()`` every press does (the report is being written).

Signal handlers belong to the main thread: elsewhere the guard changes nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, wait
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL = 0.2  # seconds between looks for a press while awaiting what is in flight
_active: list[Guard] = []


class Guard:
    """The presses of Ctrl-C (or SIGTERM) during one import."""

    def __init__(self) -> None:
        self.again = threading.Event()  # a press after the first, or after settle()
        self._raising = True

    def settle(self) -> None:
        """From now on no press raises: what is left to do (the report) is short and must
        not be cut short."""
        self._raising = False

    def _handler(self, previous: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def handle(signum: int, frame: Any) -> Any:
            if not self._raising:
                self.again.set()
                return None
            self._raising = False
            return previous(signum, frame)  # raises KeyboardInterrupt

        return handle


@contextlib.contextmanager
def first_interrupt_only() -> Iterator[Guard]:
    """For the block, only the first Ctrl-C or SIGTERM raises (see the module's doc).

    A signal whose handler is not a Python function (the default action, or ignored) is
    left as it is: a SIGTERM still ends a program that never asked to catch it.
    """
    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = {}
    for sig in _SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = signal.signal(sig, guard._handler(handler))
    _active.append(guard)
    try:
        yield guard
    finally:
        _active.remove(guard)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def pressed_again() -> bool:
    """Whether Ctrl-C (or SIGTERM) came again after the one that stopped the run."""
    return any(guard.again.is_set() for guard in _active)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """For the block, no Ctrl-C or SIGTERM raises: a report half written would be lost."""
    with first_interrupt_only() as guard:
        guard.settle()
        yield


def await_unless_pressed_again(futures: Collection[Future[Any]]) -> None:
    """After a Ctrl-C, wait for the work under way (futures) to end, unless a press comes again.

    A cancelled future counts as ended (``wait`` alone would never see it end). Outside a
    guard the second press is a KeyboardInterrupt, which ends the waiting the same way.
    """
    with contextlib.suppress(KeyboardInterrupt):
        while not all(future.done() for future in futures) and not pressed_again():
            wait(futures, timeout=POLL)
