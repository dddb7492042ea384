"""The format-agnostic table every file format reads into and writes from, and the input limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from almmigrate.errors import InputError, Problem

# Sheet names of the file layout (README, "File layouts"), in the order they are written.
DATA_SHEETS = ("connectors", "connections", "projects")
META_SHEET = "_meta"
ALL_SHEETS = (*DATA_SHEETS, META_SHEET)

# Limits on what is read. Module attributes so that tests can lower them.
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_ROWS = 250_000
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
# Excel's own limits for one sheet (the header row counts): an .xlsx export past them is
# refused, as XlsxWriter would drop the extra cells without a word.
MAX_SHEET_ROWS = 1_048_576
MAX_SHEET_COLUMNS = 16_384
# Zip-bomb guards for .xlsx and .ods: what the parts may unpack to in all (the
# reader holds a sheet's cells in memory; 250,000 rows of 30 columns written
# by export unpack to about 575 MB), and the compression ratio above which a
# large part is refused.
MAX_UNPACKED_BYTES = 640 * 1024 * 1024
MAX_RATIO = 200
RATIO_CHECK_ABOVE = 16 * 1024 * 1024


def check_cell_length(
    text: str, *, file: str, sheet: str, row: int, column: str | None = None
) -> None:
    """Refuse a cell longer than a spreadsheet can hold (a sign of a broken or hostile file)."""
    if len(text) > MAX_CELL_CHARS:
        raise InputError(
            f"a cell holds {len(text):,} characters, more than {MAX_CELL_CHARS:,}",
            file=file,
            sheet=sheet,
            row=row,
            column=column,
        )


def check_header(
    columns: Sequence[str],
    *,
    file: str,
    sheet: str,
    label: Callable[[int], str | None] = lambda index: None,
) -> None:
    """Refuse a header that names one column twice, also by case or surrounding spaces.

    `name` and `Name ` would both be read as one column, one value silently
    winning over the other. label(index) names a column's position (a letter in a workbook).
    """
    seen: dict[str, str] = {}
    for index, column in enumerate(columns, start=1):
        key = column.strip().casefold()
        if not key:
            continue
        if key not in seen:
            seen[key] = column
            continue
        first = seen[key]
        if first == column:
            message = f'the column "{column.strip()}" appears twice in the header'
        else:
            message = (
                f'the columns "{first}" and "{column}" are the same column (names ignore case '
                "and surrounding spaces); keep one"
            )
        raise InputError(message, file=file, sheet=sheet, row=1, column=label(index))


@dataclass
class Table:
    """One sheet: named columns and rows of typed cells.

    rows: an iterable of {column: value}; values are str, bool, int, float,
        None (an empty cell) or a list of str. Writers consume it once, so a
        generator streams 50,000 rows without holding them.
    row_numbers: for a table read from a file, the row a person sees for each
        row (header is row 1; in JSON, the item number).
    file_format: for a table read from a file, "xlsx", "xls", "ods", "csv" or
        "json"; csv cells are all text, the others keep their types.
    warnings: what reading noticed about single cells (a date cell read as
        text), located by sheet, row and column.
    """

    name: str
    columns: list[str]
    rows: Iterable[dict[str, Any]]
    row_numbers: list[int] | None = None
    file_format: str | None = None
    warnings: list[Problem] = field(default_factory=list)

    def row_number(self, index: int) -> int:
        """The row a person sees for the index-th data row."""
        if self.row_numbers is not None:
            return self.row_numbers[index]
        return index + 2
