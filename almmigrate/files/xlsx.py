"""Every .xlsx almmigrate writes (exports, reports, templates), through XlsxWriter's public API.

The house formats live here, made once per workbook: Calibri 11 everywhere,
typed cells (booleans and numbers as such), every text written as a text
cell so it never runs as a formula, and text a spreadsheet would take for a
formula also styled quotePrefix so it stays text when a person edits the
cell; masked secrets shaded; bold headers, a frozen header row and filters;
dropdowns and notes (templates); fills (a report's failed rows); long text
wrapped. Every sheet prints as a person expects (`print_layout`): landscape,
one page wide, its header row repeated on every page, "sheet | Page N of M"
in the footer.

Exports stream: constant-memory mode writes each row to a temporary file as
it comes, so 50,000 rows never sit in memory. The writer escapes control
characters itself (_xHHHH_), which every reader decodes; a text that escape
would give back changed is refused (`cells.xlsx_exact`), as is one longer than
Excel's cell (in UTF-16 units). Exports are written by rust_xlsxwriter where
its binding is installed (`rustbook`, about 3.5
times faster), else by XlsxWriter; the same code drives both.

Reading is in `workbook` (xlsx, xlsm, xls and ods through calamine), but for
`describe_workbook`: the notes and dropdowns of a workbook we wrote, read back
to tell whether a template is stale.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import xlsxwriter
import xlsxwriter.exceptions
from xlsxwriter.utility import quote_sheetname, xl_col_to_name, xl_range

from almmigrate.errors import InputError
from almmigrate.files import atomic, cells
from almmigrate.files import table as limits
from almmigrate.files.table import Table
from almmigrate.secrets import MASK

__all__ = [
    "BOOLEAN_FORMAT",
    "FONT",
    "FOOTER",
    "HouseBook",
    "column_letter",
    "cell_range",
    "house_workbook",
    "print_layout",
    "sheet_reference",
    "write_cell",
    "write_row",
    "write_workbook",
    "SheetStreams",
    "export_writer",
    "check_writer",
    "streamed_workbook",
]

# A font with only "bold" set has no face or size: LibreOffice then draws it in its
# own default (a serif), unlike the Calibri 11 of every other cell. Name them.
FONT = {"font_name": "Calibri", "font_size": 11}
# Excel shows a boolean cell as TRUE/FALSE whatever its format, but LibreOffice
# (7.x) shows one that has a filled cell to its right as 0/1 under the General
# format. With this format it shows TRUE/FALSE; it then saves the cell as a 0/1
# number, which the schema types back into a boolean.
BOOLEAN_FORMAT = '"TRUE";"TRUE";"FALSE"'
# &A is the sheet's name, &P the page number, &N the number of pages.
FOOTER = "&L&A&RPage &P of &N"
_WIDTH_SAMPLE = 50  # rows looked at to size the columns
_MAX_WIDTH = 60
_STYLED_STARTS = frozenset((*cells.FORMULA_STARTS, MASK[0]))
# Excel stores numbers as doubles: a bigger integer would lose digits.
# Never let XlsxWriter's convenience `write()` guess: text stays text.
_OPTIONS = {
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}
_NOTE_SIZE = {"width": 320, "height": 160}
# Which library writes exports (see export_writer).
WRITER_VARIABLE = "ALMMIGRATE_XLSX_WRITER"
PYTHON_WRITER = "xlsxwriter"
RUST_WRITER = "rust_xlsxwriter"

column_letter = xl_col_to_name  # 0 -> "A"
cell_range = xl_range  # (0, 0, 1, 2) -> "A1:C2"
sheet_reference = quote_sheetname  # "my sheet" -> "'my sheet'"


class HouseBook:
    """An XlsxWriter workbook and its house formats, each made once."""

    def __init__(self, book: Any, *, escapes_each_literal: bool = False) -> None:
        self.book = book
        # How the writer escapes text that holds _xHHHH_ (see cells.xlsx_exact).
        self.escapes_each_literal = escapes_each_literal
        self._styles: dict[tuple[tuple[str, Any], ...], Any] = {}
        self.header = self.style(bold=True)
        self.quoted = self.style(quote_prefix=True)
        self.masked = self.style(italic=True, font_color="#808080", bg_color="#E7E6E6")
        self.boolean = self.style(num_format=BOOLEAN_FORMAT)
        self.wrap = self.style(wrap=True)

    def style(self, **properties: Any) -> Any:
        """The format with these properties over the house font (made once per workbook).

        wrap=True: long text wraps, aligned to the top of its row.
        """
        if properties.pop("wrap", False):
            properties |= {"text_wrap": True, "valign": "top"}
        key = tuple(sorted(properties.items()))
        if key not in self._styles:
            self._styles[key] = self.book.add_format({**FONT, **properties})
        return self._styles[key]

    def sheet(self, name: str, *, header_row: int | None = 0, freeze: bool = True) -> Any:
        """A new sheet that prints well; its header row (0) frozen unless freeze is False."""
        sheet = self.book.add_worksheet(name)
        print_layout(sheet, header_row=header_row)
        if freeze and header_row == 0:
            sheet.freeze_panes(1, 0)
        return sheet


@contextlib.contextmanager
def house_workbook(
    target: IO[bytes] | str | os.PathLike[str], *, streaming: bool = True
) -> Iterator[HouseBook]:
    """A workbook written to target (a binary stream or a path), closed at the end.

    streaming: rows must be written in order and each goes straight to a
    temporary file (a large export); False keeps the sheets in memory, for
    small workbooks that add notes and dropdowns out of row order (templates).
    """
    with _row_folder() as tmpdir:
        with _in_row_folder(tmpdir):
            book = _xlsxwriter_book(target, tmpdir, streaming=streaming)
        yield HouseBook(book)
        _close(book)


def _xlsxwriter_book(
    target: IO[bytes] | str | os.PathLike[str], tmpdir: str, *, streaming: bool
) -> Any:
    where = os.fspath(target) if isinstance(target, os.PathLike) else target
    return xlsxwriter.Workbook(where, {**_OPTIONS, "constant_memory": streaming, "tmpdir": tmpdir})


def _close(book: Any) -> None:
    """Zip an XlsxWriter workbook into its target; an OSError as itself (XlsxWriter wraps it)."""
    try:
        book.close()
    except xlsxwriter.exceptions.FileCreateError as error:
        cause = error.args[0] if error.args else None
        if isinstance(cause, OSError):
            raise cause from None
        raise


@contextlib.contextmanager
def _row_folder() -> Iterator[str]:
    """The folder of a workbook's row files (constant-memory mode), removed even when a row
    generator fails half way, so no sheet data is left in the temporary folder."""
    # Named so that the next run removes it should this one be killed (atomic's partials).
    with contextlib.ExitStack() as stack:
        try:
            folder = stack.enter_context(atomic.temporary_folder("almmigrate-xlsx"))
        except OSError as error:
            reason = _row_folder_reason(error, tempfile.gettempdir())
            raise RowFolderFailed(error.errno, reason) from None
        yield os.fspath(folder)


class RowFolderFailed(OSError):
    """A writer failed in the temporary folder of its row files (full, removed), said as such:
    its strerror names the folder, for `atomic.cannot_write` to show."""


@contextlib.contextmanager
def _in_row_folder(tmpdir: str) -> Iterator[None]:
    """Failures of a writer's calls that write row files, as RowFolderFailed.

    XlsxWriter raises an OSError (ENOSPC when the temporary folder is full); the Rust
    writer panics: pyo3's PanicException, a BaseException, is not importable (pyo3 makes
    its module at run time), so it is told by its name; its text holds the OS error code.
    """
    try:
        yield
    except (RowFolderFailed, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except OSError as error:
        raise RowFolderFailed(error.errno, _row_folder_reason(error, tmpdir)) from None
    except BaseException as error:
        if type(error).__name__ != "PanicException":
            raise
        code = re.search(r"\bcode: (\d+)", str(error))
        if code is None:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            reason = f"the xlsx writer failed ({first}) writing in the temporary folder {tmpdir}"
            raise RowFolderFailed(errno.EIO, reason) from None
        failure = OSError(int(code[1]), os.strerror(int(code[1])))
        raise RowFolderFailed(failure.errno, _row_folder_reason(failure, tmpdir)) from None


def _row_folder_reason(error: OSError, folder: str) -> str:
    if error.errno == errno.ENOSPC:
        return f"no space left in the temporary folder {folder} (TMPDIR names another)"
    return f"{error.strerror or error} in the temporary folder {folder}"


def print_layout(sheet: Any, *, header_row: int | None = 0) -> None:
    """Landscape, fit to the page width, header row on every page, name and page in the footer.

    An audit export or a report is printed (or saved as PDF) for a sign-off: in
    portrait a 30-column sheet runs to dozens of pages of two columns each, with
    no header after the first. header_row: the 0-based row repeated at the top of
    every printed page (None: no header row, as on a page of help text).
    """
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # one page wide, as many tall as needed
    if header_row is not None:
        sheet.repeat_rows(header_row)
    sheet.set_footer(FOOTER)


def write_cell(
    book: HouseBook,
    sheet: Any,
    row: int,
    column: int,
    value: Any,
    style: Any = None,
    quoted: Any = None,
) -> None:
    """One cell: booleans and numbers typed, any other value as text that never runs.

    A text a spreadsheet would take for a formula is written with quoted (the
    house quotePrefix format unless given) so it stays text when edited.
    """
    if value is None or value == "":
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value, style)
    elif isinstance(value, int | float) and _exact_number(value):
        sheet.write_number(row, column, exact_float(value), style)
    else:
        text = value if isinstance(value, str) else cells.value_text(value)
        if len(text) > limits.MAX_CELL_CHARS // 2:
            _check_length(sheet.name, row + 1, column_letter(column), text)
        if not cells.xlsx_exact(text, escapes_each_literal=book.escapes_each_literal):
            _not_exact(sheet.name, row + 1, column_letter(column), text)
        if cells.looks_like_formula(text):
            style = book.quoted if quoted is None else quoted
        sheet.write_string(row, column, text, style)


def write_row(
    book: HouseBook,
    sheet: Any,
    row: int,
    values: Iterable[Any],
    styles: Mapping[int, Any] | None = None,
) -> None:
    """write_cell along a row (0-based); styles: a format by column index (a cell does not
    take its column's format)."""
    for index, value in enumerate(values):
        write_cell(book, sheet, row, index, value, (styles or {}).get(index))


def describe_workbook(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cell values, dropdowns and notes of a workbook almmigrate wrote, sheet by sheet.

    For telling whether two templates are the same (`template --check`): the bytes of
    two equal workbooks differ (timestamps). Read with openpyxl, which sees the
    validations and notes that the data reader (calamine) does not.
    """
    from openpyxl import load_workbook

    book = load_workbook(path)
    described: dict[str, Any] = {}
    for sheet in book.worksheets:
        cells = [[c.value for c in row] for row in sheet.iter_rows()]
        notes = {
            c.coordinate: c.comment.text
            for row in sheet.iter_rows()
            for c in row
            if c.comment is not None
        }
        validations = sorted(
            (str(v.sqref), v.type, v.formula1, bool(v.showErrorMessage))
            for v in sheet.data_validations.dataValidation
        )
        described[sheet.title] = {"cells": cells, "notes": notes, "validations": validations}
    return described


def add_note(sheet: Any, row: int, column: int, text: str) -> None:
    """A note (comment) on a cell, sized to be read without resizing."""
    sheet.write_comment(row, column, text, {"author": "almmigrate", **_NOTE_SIZE})


def _exact_number(value: int | float) -> bool:
    if isinstance(value, int):
        return -cells.MAX_EXACT_INT <= value <= cells.MAX_EXACT_INT
    return math.isfinite(value)


# ---------------------------------------------------------------- exports


def write_workbook(stream: IO[bytes], tables: list[Table]) -> None:
    """Write the tables as sheets of one streamed workbook to a binary stream."""
    with streamed_workbook(stream, [t.name for t in tables]) as sheets:
        for table in tables:
            sheets.write(table)


@contextlib.contextmanager
def streamed_workbook(stream: IO[bytes], names: list[str]) -> Iterator[SheetStreams]:
    """A streamed workbook whose sheets (in this order) are filled in any order, each row
    by row; closed (written to stream) at the end, left unwritten when the block fails.

    Written by rust_xlsxwriter where it is installed (`export_writer`), else XlsxWriter.
    """
    rust = export_writer() == RUST_WRITER
    with _row_folder() as tmpdir:
        with _in_row_folder(tmpdir):
            if rust:
                from almmigrate.files.rustbook import RustBook

                book: Any = RustBook(tmpdir)
            else:
                book = _xlsxwriter_book(stream, tmpdir, streaming=True)
            sheets = SheetStreams(HouseBook(book, escapes_each_literal=rust), names, tmpdir)
        yield sheets
        if rust:
            with _in_row_folder(tmpdir):
                content = book.save()
            stream.write(content)
        else:
            _close(book)


def export_writer() -> str:
    """The library that writes exports: RUST_WRITER where installed, else PYTHON_WRITER.

    ALMMIGRATE_XLSX_WRITER=xlsxwriter chooses XlsxWriter even where the Rust
    writer is installed (=rust_xlsxwriter insists on it); anything else is an error.
    """
    chosen = os.environ.get(WRITER_VARIABLE, "").strip().lower()
    if chosen not in ("", PYTHON_WRITER, RUST_WRITER):
        raise InputError(
            f"{WRITER_VARIABLE}={chosen!r}: say {PYTHON_WRITER} or {RUST_WRITER}, or leave it unset"
        )
    if chosen == PYTHON_WRITER:
        return PYTHON_WRITER
    try:
        import almmigrate.files.rustbook  # noqa: F401
    except ImportError:
        if chosen == RUST_WRITER:
            raise InputError(
                f"{WRITER_VARIABLE}={RUST_WRITER}, but rvgsrust-xlsxwriter is not installed "
                "(it has wheels for Linux and Windows on x86-64 and macOS on Apple silicon)"
            ) from None
        return PYTHON_WRITER
    return RUST_WRITER


def check_writer(path: str | os.PathLike[str]) -> None:
    """Refuse, before any request, an .xlsx output while ALMMIGRATE_XLSX_WRITER names no
    writer this installation has (InputError, exit 2): found only when the file is written,
    it would end a run that has already read, sent or tested everything."""
    if str(path).lower().endswith(".xlsx"):
        export_writer()


class SheetStreams:
    """The sheets of a streamed workbook: each started (column widths, header), given its
    rows in order, possibly in several goes, then finished (filters). Each sheet keeps its
    own row file, so one can be filled while another waits."""

    def __init__(self, book: HouseBook, names: list[str], tmpdir: str) -> None:
        self.book = book
        self._sheets = {name: book.sheet(name) for name in names}
        self._last_row = dict.fromkeys(names, 0)
        self._tmpdir = tmpdir

    def write(self, table: Table) -> None:
        """A whole sheet at once."""
        rows = iter(table.rows)
        head = list(itertools.islice(rows, _WIDTH_SAMPLE))
        self.size(table, head)
        self.start(table)
        self.extend(table, itertools.chain(head, rows))
        self.finish(table)

    def size(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Column widths sized on the sheet's first rows (of rows; at any time before the end)."""
        _check_width(table)
        sheet = self._sheets[table.name]
        head = list(itertools.islice(rows, _WIDTH_SAMPLE))
        with _in_row_folder(self._tmpdir):
            for index, column in enumerate(table.columns):
                width = _column_width(column, (row.get(column) for row in head))
                sheet.set_column(index, index, width)

    def start(self, table: Table) -> None:
        """The header row: before any other row."""
        _check_width(table)
        sheet = self._sheets[table.name]
        with _in_row_folder(self._tmpdir):
            for index, column in enumerate(table.columns):
                sheet.write_string(0, index, column, self.book.header)

    def extend(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """The next rows of the sheet (table gives its name and columns; its rows are unused)."""
        with _in_row_folder(self._tmpdir):
            self._last_row[table.name] = _write_rows(
                self.book, self._sheets[table.name], table, rows, self._last_row[table.name]
            )

    def finish(self, table: Table) -> None:
        if table.columns:
            last_row = self._last_row[table.name]
            with _in_row_folder(self._tmpdir):
                self._sheets[table.name].autofilter(0, 0, last_row, len(table.columns) - 1)


def _write_rows(
    book: HouseBook, sheet: Any, table: Table, rows: Iterable[dict[str, Any]], after: int
) -> int:
    """Write rows below row `after` (0-based); the last row written."""
    # The loop over cells is written out, not through write_cell: it runs
    # 1.5 million times for 50,000 connections.
    last_row = after
    write_string, write_number, write_boolean = (
        sheet.write_string,
        sheet.write_number,
        sheet.write_boolean,
    )
    boolean, each_literal, exact = book.boolean, book.escapes_each_literal, cells.xlsx_exact
    for last_row, row in enumerate(rows, start=after + 1):
        if last_row >= limits.MAX_SHEET_ROWS:
            _too_many(table, f"more than {limits.MAX_SHEET_ROWS - 1:,} rows")
        for index, column in enumerate(table.columns):
            value = row.get(column)
            if value is None:
                continue
            kind = value.__class__
            if kind is bool:
                write_boolean(last_row, index, value, boolean)
            elif kind is int and -cells.MAX_EXACT_INT <= value <= cells.MAX_EXACT_INT:
                write_number(last_row, index, value)
            elif kind is float and math.isfinite(value):
                write_number(last_row, index, exact_float(value))
            else:
                text = value if kind is str else cells.value_text(value)  # no cell type holds it
                if not text:
                    continue
                if len(text) > limits.MAX_CELL_CHARS // 2:  # else fits, however counted
                    _check_length(table.name, last_row + 1, column, text)
                if not exact(text, escapes_each_literal=each_literal):
                    _not_exact(table.name, last_row + 1, column, text)
                # A first character a spreadsheet takes for a formula, or the mask: styled.
                style = _text_style(text, book) if text[0] in _STYLED_STARTS else None
                write_string(last_row, index, text, style)
    return last_row


class _ExactFloat(float):
    """A float that prints all its digits: XlsxWriter writes numbers with 16 significant
    digits, one short of what some doubles need to read back exactly (0.1 + 0.2)."""

    def __format__(self, spec: str) -> str:
        return repr(float(self))


def exact_float(value: float) -> float:
    """value, or the same double marked to be written with every digit it needs."""
    if isinstance(value, int):
        return value
    return value if float(f"{value:.16G}") == value else _ExactFloat(value)


def _check_width(table: Table) -> None:
    if len(table.columns) > limits.MAX_SHEET_COLUMNS:
        _too_many(table, f"{len(table.columns):,} columns")


def _too_many(table: Table, what: str) -> None:
    """Past Excel's limits for a sheet: XlsxWriter would drop the extra cells silently."""
    raise InputError(
        f"{what} do not fit in one Excel sheet (at most {limits.MAX_SHEET_ROWS:,} rows "
        f"with the header and {limits.MAX_SHEET_COLUMNS:,} columns); "
        "export to .json or to a folder of CSV files instead",
        sheet=table.name,
    )


def _check_length(sheet: str, row: int, column: str, text: str) -> None:
    """Refuse text longer than an Excel cell holds: Excel counts UTF-16 units, so an emoji
    is two (XlsxWriter would cut the text short, rust_xlsxwriter write more than Excel reads)."""
    units = len(text.encode("utf-16-le")) // 2
    if units <= limits.MAX_CELL_CHARS:
        return
    counted = f" ({units} as Excel counts them: UTF-16 units)" if units != len(text) else ""
    raise InputError(
        f"{len(text)} characters{counted} do not fit in one Excel cell "
        f"(at most {limits.MAX_CELL_CHARS}); export to .json instead",
        sheet=sheet,
        row=row,
        column=column,
    )


def _not_exact(sheet: str, row: int, column: str, text: str) -> None:
    found = [c for c in cells.NONCHARACTERS if c in text]
    if found:
        # Said as the character it is: the text may hold no _xHHHH_ at all.
        why = (
            f"this text holds the noncharacter U+{ord(found[0]):04X}, which an .xlsx cannot "
            f"hold (a reader gives back _x{ord(found[0]):04X}_)"
        )
    else:
        why = (
            "this text holds _xHHHH_ sequences, the way an .xlsx spells a character, that "
            "this writer cannot keep apart from the text around them"
        )
    raise InputError(
        f"{why}: it would read back changed; export to .json instead",
        sheet=sheet,
        row=row,
        column=column,
    )


def _text_style(text: str, book: HouseBook) -> Any:
    if cells.looks_like_formula(text):
        return book.quoted  # Excel and LibreOffice keep it a text when the cell is edited
    return book.masked if text == MASK else None


def _column_width(column: str, values: Iterator[Any]) -> float:
    longest = len(column) + 3  # room for the autofilter button
    for value in values:
        if value is not None:
            text = cells.list_text(value) if isinstance(value, list) else str(value)
            longest = max(longest, max((len(line) for line in text.splitlines()), default=0))
    return min(longest + 2, _MAX_WIDTH)
