"""Excel workbooks (.xlsx) written row by row through XlsxWriter's public API.

XlsxWriter's constant-memory mode streams each row to a temporary file as it
comes, so 50,000 rows never sit in memory. Cells are typed: booleans and
numbers as such, every text with `write_string`, so a text is never run as
a formula; text a spreadsheet would take for a formula also carries the
quotePrefix style, so it stays text when a person edits the cell. XlsxWriter
escapes control characters itself (_xHHHH_), which every reader decodes.

Reading is in `workbook` (xlsx, xlsm, xls and ods through calamine).
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import xlsxwriter

from almmigrate.errors import InputError
from almmigrate.files import cells
from almmigrate.files import table as limits
from almmigrate.files.printing import set_print_layout
from almmigrate.files.table import Table
from almmigrate.secrets import MASK

# A font with only "bold" set has no face or size: LibreOffice then draws it in its
# own default (a serif), unlike the Calibri 11 of every other cell. Name them.
FONT = {"font_name": "Calibri", "font_size": 11}
# Excel shows a boolean cell as TRUE/FALSE whatever its format, but LibreOffice
# (7.x) shows one that has a filled cell to its right as 0/1 under the General
# format. With this format it shows TRUE/FALSE; it then saves the cell as a 0/1
# number, which the schema types back into a boolean.
BOOLEAN_FORMAT = '"TRUE";"TRUE";"FALSE"'
_WIDTH_SAMPLE = 50  # rows looked at to size the columns
_MAX_WIDTH = 60
_STYLED_STARTS = frozenset((*cells.FORMULA_STARTS, MASK[0]))
# Excel stores numbers as doubles: a bigger integer would lose digits.
_MAX_EXACT_INT = 2**53
# Never let XlsxWriter's convenience `write()` guess: text stays text.
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}


def new_workbook(stream: IO[bytes] | str, tmpdir: str) -> Any:
    """A streaming XlsxWriter workbook whose row files live in tmpdir (removed by the caller)."""
    return xlsxwriter.Workbook(stream, {**WORKBOOK_OPTIONS, "tmpdir": tmpdir})


def write_workbook(stream: IO[bytes], tables: list[Table]) -> None:
    """Write the tables as sheets of one workbook to a binary stream."""
    # The row files of constant-memory mode go to a folder of our own, removed even
    # when a row generator fails half way, so no sheet data is left in /tmp.
    with tempfile.TemporaryDirectory(prefix="almmigrate-xlsx-") as tmpdir:
        book = new_workbook(stream, tmpdir)
        styles = _Styles(book)
        for table in tables:
            _write_sheet(book.add_worksheet(table.name), table, styles)
        book.close()


class _Styles:
    """The few cell formats an export uses, made once per workbook."""

    def __init__(self, book: Any) -> None:
        self.header = book.add_format({**FONT, "bold": True})
        self.formula = book.add_format({**FONT, "quote_prefix": True})
        self.masked = book.add_format(
            {**FONT, "italic": True, "font_color": "#808080", "bg_color": "#E7E6E6"}
        )
        self.boolean = book.add_format({**FONT, "num_format": BOOLEAN_FORMAT})


def _write_sheet(sheet: Any, table: Table, styles: _Styles) -> None:
    rows = iter(table.rows)
    head = list(itertools.islice(rows, _WIDTH_SAMPLE))
    for index, column in enumerate(table.columns):
        sheet.set_column(index, index, _column_width(column, (row.get(column) for row in head)))
    sheet.freeze_panes(1, 0)
    set_print_layout(sheet)
    for index, column in enumerate(table.columns):
        sheet.write_string(0, index, column, styles.header)
    last_row = 0
    write_string, write_number, write_boolean = (
        sheet.write_string,
        sheet.write_number,
        sheet.write_boolean,
    )
    for last_row, row in enumerate(itertools.chain(head, rows), start=1):
        for index, column in enumerate(table.columns):
            value = row.get(column)
            if value is None:
                continue
            kind = value.__class__
            if kind is bool:
                write_boolean(last_row, index, value, styles.boolean)
            elif kind is int and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
                write_number(last_row, index, value)
            elif kind is float and math.isfinite(value):
                write_number(last_row, index, exact_float(value))
            else:
                text = value if kind is str else cells.value_text(value)  # no cell type holds it
                if not text:
                    continue
                if len(text) > limits.MAX_CELL_CHARS:
                    _too_long(table, last_row + 1, column, text)
                # A first character a spreadsheet takes for a formula, or the mask: styled.
                style = _text_style(text, styles) if text[0] in _STYLED_STARTS else None
                write_string(last_row, index, text, style)
    if table.columns:
        sheet.autofilter(0, 0, last_row, len(table.columns) - 1)


class _ExactFloat(float):
    """A float that prints all its digits: XlsxWriter writes numbers with 16 significant
    digits, one short of what some doubles need to read back exactly (0.1 + 0.2)."""

    def __format__(self, spec: str) -> str:
        return repr(float(self))


def exact_float(value: float) -> float:
    """value, or the same double marked to be written with every digit it needs."""
    return value if float(f"{value:.16G}") == value else _ExactFloat(value)


def _too_long(table: Table, row: int, column: str, text: str) -> None:
    raise InputError(
        f"{len(text)} characters do not fit in one Excel cell "
        f"(at most {limits.MAX_CELL_CHARS}); export to .json instead",
        sheet=table.name,
        row=row,
        column=column,
    )


def _text_style(text: str, styles: _Styles) -> Any:
    if cells.looks_like_formula(text):
        return styles.formula  # Excel and LibreOffice keep it a text when the cell is edited
    return styles.masked if text == MASK else None


def _column_width(column: str, values: Iterator[Any]) -> float:
    longest = len(column) + 3  # room for the autofilter button
    for value in values:
        if value is not None:
            text = cells.list_text(value) if isinstance(value, list) else str(value)
            longest = max(longest, max((len(line) for line in text.splitlines()), default=0))
    return min(longest + 2, _MAX_WIDTH)
