"""A small progress bar on stderr, shown only when stderr is a terminal.

Usage::

    with progress("Fetching connections") as bar:
        for page in pages:
            bar()                      # one step done
        bar.update(done=3, total=40)   # or set both at once (fits a client's on_page)

When stderr is not a terminal (a pipe, a file, CI, a test runner) nothing is
drawn and the handle is a cheap no-op, so callers never need to check.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressBar:
    """Handle yielded by :func:`progress`: call it to advance, or set totals with update()."""

    def __init__(self, bar: Progress | None, description: str, total: int | None) -> None:
        self._bar = bar
        self._lock = threading.Lock()  # client callbacks arrive from worker threads
        self._task = bar.add_task(description, total=total) if bar is not None else None
        self.completed = 0
        self.total = total

    @property
    def shown(self) -> bool:
        """True when a bar is actually drawn (stderr is a terminal)."""
        return self._bar is not None

    def __call__(self, steps: int = 1) -> None:
        """Advance by `steps`."""
        with self._lock:
            self.completed += steps
            self._refresh()

    def update(
        self, done: int | None = None, total: int | None = None, description: str | None = None
    ) -> None:
        """Set how many steps are done, the total (when it becomes known) or the label."""
        with self._lock:
            if done is not None:
                self.completed = done
            if total is not None:
                self.total = total
            if self._bar is not None and self._task is not None and description is not None:
                self._bar.update(self._task, description=description)
            self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.completed, total=self.total)


def is_terminal(stream: IO[str] | None = None) -> bool:
    """True when the stream (stderr by default) is an interactive terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


@contextmanager
def progress(
    description: str,
    total: int | None = None,
    *,
    enabled: bool = True,
    stream: IO[str] | None = None,
) -> Iterator[ProgressBar]:
    """A progress bar on stderr for the duration of the block; quiet unless stderr is a terminal.

    total: number of steps, or None while unknown (a spinner until update() sets it).
    enabled: False forces quiet (e.g. --quiet); True still draws only on a terminal.
    """
    stream = stream if stream is not None else sys.stderr
    if not (enabled and is_terminal(stream)):
        yield ProgressBar(None, description, total)
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream, stderr=stream is sys.stderr),
        transient=True,
    )
    with bar:
        yield ProgressBar(bar, description, total)
