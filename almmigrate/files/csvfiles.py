"""CSV: one table a file, UTF-8 with BOM on write, every cell read as text, as a stream.

Reading uses the csv module on the decoded text, so 007, 1e5, NaN, null, N/A,
TRUE and spaces survive exactly; typing is left to the schema (layout).
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from almmigrate.errors import InputError
from almmigrate.files import cells
from almmigrate.files import table as limits
from almmigrate.files.table import Table

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# ---------------------------------------------------------------- writing


def write_csv(stream: IO[str], table: Table) -> None:
    """Write one table; the stream is opened with newline="" and encoding utf-8-sig."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(table.columns)
    for number, row in enumerate(table.rows, start=2):
        cells_out = [csv_cell(row.get(column)) for column in table.columns]
        for column, text in zip(table.columns, cells_out, strict=True):
            if len(text) > limits.MAX_CELL_CHARS:
                raise InputError(
                    f"{len(text)} characters do not fit in one cell (at most "
                    f"{limits.MAX_CELL_CHARS}, as the CSV reader and Excel allow); "
                    "export to .json instead",
                    sheet=table.name,
                    row=number,
                    column=column,
                )
            if "\x00" in text:
                raise InputError(
                    "a value holds a NUL character, which a CSV file cannot carry; "
                    "export to .xlsx or .json instead",
                    sheet=table.name,
                    row=number,
                    column=column,
                )
        writer.writerow(cells_out)


def csv_cell(value: Any) -> str:
    """The text of one CSV cell: TRUE/FALSE, numbers, escaped text, empty for None."""
    if value is None:
        return ""
    if isinstance(value, int | float):  # bool too: TRUE/FALSE, never escaped
        return cells.value_text(value)
    return cells.csv_escape(cells.value_text(value))


# ---------------------------------------------------------------- reading


def sheet_of_header(columns: list[str]) -> str | None:
    """Which sheet a lone CSV file holds, told by its header."""
    names = {c.strip().lower() for c in columns}
    if "alias" in names:
        return "connections"
    if {"name", "system"} <= names:
        return "connectors"
    if {"id", "name", "application"} <= names:
        return "projects"
    if {"key", "value"} <= names:
        return "_meta"
    return None


def read_csv(path: Path, name: str | None = None) -> Table:
    """Read one CSV file; name None tells the sheet from the header.

    The file is read as a stream, one record at a time, so a file past the
    row limit is refused when the limit is reached, before the rest is read.
    """
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise InputError("the file is empty", file=str(path))
    try:
        reader = csv.reader(
            itertools.chain([first], lines), delimiter=_delimiter(first), strict=True
        )
        return _read_records(path, name, reader)
    except csv.Error as error:
        raise InputError(f"not a readable CSV file: {error}", file=str(path)) from None


def _read_records(path: Path, name: str | None, reader: Iterator[list[str]]) -> Table:
    header = next(reader, [])
    columns = [c.strip() for c in header]
    if name is None:
        name = sheet_of_header(columns)
        if name is None:
            raise InputError(
                "cannot tell what this CSV holds: its header needs alias (connections), "
                "name and system (connectors), or id, name and application (projects)",
                file=str(path),
            )
    _check_header(path, name, header)
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for number, record in enumerate(reader, start=2):
        if not any(record):
            continue  # a blank line, or a row of empty cells
        if len(record) != len(columns):
            raise InputError(
                f"this row has {len(record)} cells but the header has {len(columns)}; "
                "check for a stray comma or an unclosed quote",
                file=str(path),
                sheet=name,
                row=number,
            )
        if len(rows) >= limits.MAX_ROWS:
            raise InputError(
                f"more than {limits.MAX_ROWS:,} rows; split the file", file=str(path), sheet=name
            )
        rows.append(_row(path, name, number, columns, record))
        numbers.append(number)
    named = [c for c in columns if c]
    return Table(name, named, rows, row_numbers=numbers, file_format="csv")


def _delimiter(text: str) -> str:
    """Comma, or the semicolon or tab that Excel uses in some locales, told by the header line."""
    header = re.split(r"[\r\n]", text, maxsplit=1)[0]
    counts = {mark: header.count(mark) for mark in (",", ";", "\t")}
    best = max(counts, key=lambda mark: counts[mark])
    return best if counts[best] > counts[","] else ","


def _row(path: Path, name: str, number: int, columns: list[str], record: list[str]) -> dict:
    row: dict[str, Any] = {}
    for index, (column, text) in enumerate(zip(columns, record, strict=True), start=1):
        if not column:  # a trailing column Excel kept because a cell was once touched
            if text:
                raise InputError(
                    f"cell {index} of this row has a value but its column has no header",
                    file=str(path),
                    sheet=name,
                    row=number,
                )
            continue
        limits.check_cell_length(text, file=str(path), sheet=name, row=number, column=column)
        row[column] = cells.csv_unescape(text) if text else None
    return row


def _check_header(path: Path, name: str, header: list[str]) -> None:
    if not any(c.strip() for c in header):
        raise InputError("the first row must hold the column names", file=str(path), sheet=name)
    limits.check_header(header, file=str(path), sheet=name)


def _lines(path: Path) -> Iterator[str]:
    """The file's lines as text (newlines kept, for the csv module), refused as soon as one is
    not UTF-8 or holds a NUL."""
    size = path.stat().st_size
    if size > limits.MAX_FILE_BYTES:
        raise InputError(
            f"the file is {size // 2**20} MB, more than the {limits.MAX_FILE_BYTES // 2**20} MB limit",
            file=str(path),
        )
    with path.open("rb") as probe:
        if probe.read(2) in _UTF16_BOMS:
            raise InputError("the file is UTF-16 text; save it as CSV UTF-8", file=str(path))
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            for line in handle:
                if "\x00" in line:
                    raise InputError("binary data, not a CSV text file", file=str(path))
                yield line
        except UnicodeDecodeError:
            raise InputError(_not_utf8(path), file=str(path)) from None


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is (a NUL before it means binary data)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if b"\x00" in data:  # as a binary file is told, wherever its NUL is
            return "binary data, not a CSV text file"
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return (
            f"not UTF-8: byte 0x{data[error.start]:02x} at line {line}, column {column}; "
            "save it as CSV UTF-8"
        )
    return "not UTF-8; save it as CSV UTF-8"
