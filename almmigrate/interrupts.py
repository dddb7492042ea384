"""Ctrl-C and SIGTERM during an import: the first stops the run, the next never lose its report.

The first press raises KeyboardInterrupt, as always (the CLI makes SIGTERM one too): the
import sends nothing more, awaits the requests in flight and writes the report of what
was done. A second press used to raise again wherever it landed: one that came before
the waiting had begun, or after it had ended, cut the run short before its report was
written. Inside :func:`first_interrupt_only`, a press after the first only sets
``Guard.again`` (the waiting for requests in flight stops at once), and after
``Guard.settle()`` every press does (the report is being written).

Signal handlers belong to the main thread: elsewhere the guard changes nothing.

What waits for worker threads must stop waiting at the second press: a ``with`` block
over a :class:`Pool` (``secrets.worker_pool``) that ends by an exception awaits the
work under way only until then (a plain ThreadPoolExecutor would wait for all of it,
and from the first press on the guard no longer raises to cut that short).
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, ParamSpec, TypeVar

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL = 0.2  # seconds between looks for a press while awaiting what is in flight
_active: list[Guard] = []
_P = ParamSpec("_P")
_T = TypeVar("_T")


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
            self._raising = False  # before: a press landing in previous() is a second one
            result = previous(signum, frame)  # raises KeyboardInterrupt, as a rule
            # It did not: a caller's handler that only notes the press (a notebook, a GUI)
            # did not stop the run, and keeps getting every press.
            self._raising = True
            return result

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
    previous: dict[int, Callable[[int, Any], Any]] = {}
    try:
        for sig in _SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):
                previous[sig] = handler
                signal.signal(sig, guard._handler(handler))
        _active.append(guard)
        yield guard
    finally:
        _put_back(guard, previous)


def _put_back(guard: Guard, previous: dict[int, Callable[[int, Any], Any]]) -> None:
    """Put the handlers the guard replaced back, even if a press lands meanwhile.

    A press cut short the putting back: the guard's handler stayed, and from then on
    every Ctrl-C of the process only set the flag of a guard nobody looked at. Such a
    press is raised once the handlers are back, as it would have been a moment later.
    """

    def put_back() -> None:
        if guard in _active:
            _active.remove(guard)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    to_the_end(put_back, tries=None)


def to_the_end(action: Callable[[], None], *, tries: int | None = 3) -> None:
    """Run a clean-up to its end: a Ctrl-C or SIGTERM during it starts it again, and is
    raised once it is done. tries: how many presses start it again (None: any number;
    3 lets a user pressing Ctrl-C over and over still get out of a slow removal)."""
    interrupt: KeyboardInterrupt | None = None
    for _ in itertools.count() if tries is None else range(tries):
        try:
            action()
            break
        except KeyboardInterrupt as error:
            interrupt = interrupt or error
    if interrupt is not None:
        raise interrupt


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
        _await_until_pressed(futures)


def _await_until_pressed(futures: Collection[Future[Any]]) -> None:
    while not all(future.done() for future in futures) and not pressed_again():
        wait(futures, timeout=POLL)


class Pool(ThreadPoolExecutor):
    """A thread pool whose ``with`` block, ended by an exception (Ctrl-C above all), starts
    nothing more and awaits the work under way only until Ctrl-C comes again.

    ThreadPoolExecutor's own ``__exit__`` waits for every thread whatever comes: inside a
    guard (the final read of ``import --verify``, the reads of ``almmigrate test``) a
    second press could not stop that waiting, and a request retrying on a throttled
    server (up to --max-wait) held the run that long.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock_under_way = threading.Lock()
        self._under_way: set[Future[Any]] = set()

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock_under_way:
            self._under_way.add(future)
        future.add_done_callback(self._ended)  # only what has not ended is kept
        return future

    def _ended(self, future: Future[Any]) -> None:
        with self._lock_under_way:
            self._under_way.discard(future)

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool | None:
        if exc_type is None:
            return super().__exit__(exc_type, exc_val, exc_tb)
        self.shutdown(wait=False, cancel_futures=True)
        with self._lock_under_way:
            under_way = list(self._under_way)
        if issubclass(exc_type, KeyboardInterrupt):
            await_unless_pressed_again(under_way)
        else:
            # Ended by a failure: a Ctrl-C during the waiting is the user's to stop the run
            # with (exit 130), not to be taken for the end of the waiting.
            _await_until_pressed(under_way)
        return None
