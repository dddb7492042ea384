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

import os
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table

# Columns the spinner and the space after it take before the description.
_SPINNER = 2
_MIN_BAR = 10


class ProgressBar:
    """Handle yielded by :func:`progress`: call it to advance, or set totals with update()."""

    def __init__(
        self,
        bar: Progress | None,
        description: str,
        total: int | None,
        stream: IO[str] | None = None,
    ) -> None:
        self._bar = bar
        self._stream = stream
        self._lock = threading.Lock()  # client callbacks arrive from worker threads
        self._task = bar.add_task(description, total=total) if bar is not None else None
        self.completed = 0
        self.total = total

    @property
    def label_width(self) -> int:
        """The columns a description may take on this terminal: all of it but the spinner."""
        return terminal_width(self._stream) - _SPINNER

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


def terminal_width(stream: IO[str] | None = None) -> int:
    """Columns of the terminal stderr (or stream) is: COLUMNS when set, as for every program."""
    fallback = shutil.get_terminal_size()  # COLUMNS, else stdout's terminal, else 80
    if os.environ.get("COLUMNS", "").isdigit():
        return fallback.columns
    stream = stream if stream is not None else sys.stderr
    try:
        return os.get_terminal_size(stream.fileno()).columns or fallback.columns
    except (AttributeError, ValueError, OSError):  # not a terminal: stdout may be one
        return fallback.columns


class FittingProgress(Progress):
    """A bar that fits the terminal: its description is never cut, the other columns give way.

    rich shares a narrow line out among the columns and cuts the description
    (the import's rate and 429s) to "Importing 38.2 req/s, li…". Here the
    description keeps its width, then the count, the time and the bar are
    shown in that order while they fit; the bar takes what is left.
    """

    def __init__(self, *columns: str | ProgressColumn, **options: Any) -> None:
        self._every_column = columns  # spinner, description, bar, count, elapsed
        super().__init__(*columns, **options)

    def make_tasks_table(self, tasks: Iterable[Task]) -> Table:
        tasks = list(tasks)
        if len(self._every_column) == 5 and hasattr(self, "live"):  # drawn, not being built
            self.columns = self._fitting(tasks, terminal_width(self.console.file))
        return super().make_tasks_table(tasks)

    def _fitting(self, tasks: list[Task], width: int) -> tuple[str | ProgressColumn, ...]:
        spinner, text, bar, count, elapsed = self._every_column
        used = _SPINNER + max((cell_len(t.description) for t in tasks), default=0)
        kept = {spinner, text}
        counted = max((2 * len(str(int(t.total or t.completed))) + 1 for t in tasks), default=3)
        for column, needs in ((count, counted), (elapsed, len("0:00:00"))):
            if used + 1 + needs <= width:  # one space between columns
                kept.add(column)
                used += 1 + needs
        if isinstance(bar, BarColumn) and used + 1 + _MIN_BAR <= width:
            bar.bar_width = min(40, width - used - 1)
            kept.add(bar)
        return tuple(c for c in self._every_column if c in kept)


def fitting_progress(console: Console, **options: Any) -> FittingProgress:
    """The bar every command draws: spinner, description, bar, count, time (see FittingProgress)."""
    return FittingProgress(
        SpinnerColumn(),
        TextColumn("{task.description}", table_column=Column(no_wrap=True)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        **options,
    )


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
        yield ProgressBar(None, description, total, stream)
        return
    bar = fitting_progress(Console(file=stream, stderr=stream is sys.stderr), transient=True)
    with bar:
        yield ProgressBar(bar, description, total, stream)
