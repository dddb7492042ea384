"""An .xlsx export's connection rows written while later pages are still being fetched.

Reading 20,000 connections mostly waits on the network (the client fetches
pages ahead on its workers); writing them to .xlsx is mostly CPU
(XlsxWriter's per-cell work). Done one after the other, the write added half
the fetch's time again; overlapped, it hides in the waiting.

Constant-memory writing needs each sheet's header row first, but the
connections sheet's columns are every param any connection uses, known only
once all are read. So :class:`EarlyXlsx` guesses them from the first
connections, then writes each connection's row as it is shaped. A connection
with a column outside the guess starts the early workbook again with the
columns seen so far (at most _MAX_STARTS times); after that, or on anything
else unexpected (a cell too long for Excel, a path that cannot be written), it
gives up and the export writes the file after the read, as it always did. The
file is the same either way: :meth:`EarlyXlsx.finish` keeps the early workbook
only when its columns are exactly those of every connection read.

An early workbook that is not kept (given up, or the read failed or was
interrupted) is discarded: its partial file and row files are removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from almmigrate.dataset import CONNECTIONS, ConnectionRecord, Dataset
from almmigrate.errors import InputError
from almmigrate.files import StreamedXlsx, Table, streamed_xlsx
from almmigrate.files.atomic import cannot_write
from almmigrate.layout import connection_columns, connection_rows
from almmigrate.models import Connection

# Connections read before the columns are guessed (five pages of 100): enough for
# every system's params to have shown up on most instances, early enough that
# nearly all the write overlaps the fetch.
GUESS_AFTER = 500
# Early workbooks started at most (a column outside the guess starts one again).
_MAX_STARTS = 3

Shaper = Callable[[Any], Callable[[Connection], ConnectionRecord]]


class _Discarded(Exception):
    """Thrown into an early workbook's file to remove it."""


class EarlyXlsx:
    """The early workbook of one export to `path` (see the module's doc)."""

    def __init__(self, path: Path, sheets: list[str], *, private: bool) -> None:
        self.path = path
        self.sheets = sheets
        self.private = private
        self.starts = 0  # early workbooks started
        self.gave_up = False
        self._records: list[ConnectionRecord] = []  # every connection so far (shared objects)
        self._table: Table | None = None  # the guessed connections sheet (columns only)
        self._known: frozenset[str] = frozenset()
        self._stack: contextlib.ExitStack | None = None
        self._file: StreamedXlsx | None = None

    def shaper(self, shape: Shaper) -> Shaper:
        """shape, each connection's record also written early."""

        def shaped(context: Any) -> Callable[[Connection], ConnectionRecord]:
            one = shape(context)

            def record(connection: Connection) -> ConnectionRecord:
                found = one(connection)
                self.add(found)
                return found

            return record

        return shaped

    def add(self, record: ConnectionRecord) -> None:
        """The next connection, in the order of the file's rows."""
        if self.gave_up:
            return
        self._records.append(record)
        if self._table is None:
            if len(self._records) >= GUESS_AFTER:
                self._start()
            return
        row = next(connection_rows([record]))
        if not self._known.issuperset(row):
            self._start()  # again, with this connection's columns too
            return
        self._write([row])

    def _start(self) -> None:
        self.discard()
        if self.starts == _MAX_STARTS:
            self._give_up()
            return
        self.starts += 1
        self._table = Table(CONNECTIONS, connection_columns(self._records), [])
        self._known = frozenset(self._table.columns)
        stack = contextlib.ExitStack()
        try:
            self._file = stack.enter_context(
                streamed_xlsx(self.path, self.sheets, private=self.private)
            )
        except InputError:
            self._give_up()  # the write after the read says why
            return
        self._stack = stack
        try:
            self._file.sheets.start(self._table)
        except (InputError, OSError):
            self._give_up()  # too many columns, or no room: the write after the read says so
            return
        self._write(connection_rows(self._records))

    def _write(self, rows: Iterable[dict[str, Any]]) -> None:
        assert self._file is not None and self._table is not None
        try:
            self._file.sheets.extend(self._table, rows)
        except (InputError, OSError):
            # A cell too long, too many rows, a full temporary folder: the write after the
            # read raises it, naming the file.
            self._give_up()

    def _give_up(self) -> None:
        self.discard()
        self.gave_up = True
        self._records = []

    def finish(self, dataset: Dataset, tables: list[Table], bar: Any) -> bool:
        """Write the other sheets (tables, rows counted on bar) and close the early workbook,
        when its rows are all of dataset's connections under the same columns; False
        (nothing written) otherwise."""
        table = self._table
        if (
            self.gave_up
            or self._file is None
            or table is None
            or len(self._records) != len(dataset.connections)
            # Lengths compared just above: a longer dataset is a False here, never a ValueError.
            or any(a is not b for a, b in zip(self._records, dataset.connections, strict=False))
            or connection_columns(dataset.connections) != table.columns
        ):
            self.discard()
            return False
        try:
            # Widths are sized on the first rows of the whole sheet, as when written at once.
            self._file.sheets.size(table, connection_rows(dataset.connections))
            if bar.shown:
                bar(len(dataset.connections))
            for other in tables:
                if other.name == CONNECTIONS:
                    self._file.sheets.finish(table)
                else:
                    self._file.sheets.write(other)
            self._file.meta(dataset.meta)
        except OSError as error:  # a full temporary folder; the export's finally discards
            raise cannot_write(self.path, error) from None
        stack, self._stack, self._file = self._stack, None, None
        assert stack is not None
        stack.close()  # the workbook zipped, renamed over path
        return True

    def discard(self) -> None:
        """Remove the early workbook, if one is open (its file and row files)."""
        stack, self._stack, self._file = self._stack, None, None
        if stack is not None:
            error = _Discarded()
            stack.__exit__(_Discarded, error, None)
