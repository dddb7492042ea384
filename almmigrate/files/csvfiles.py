"""CSV: every CSV file almmigrate reads (data, project maps, secrets files) and the data ones it writes.

One decoder and one delimiter sniffer for every CSV read, so each kind of file
is refused for the same faults with the same positions: not UTF-8 (the byte,
its line and column), UTF-16 with or without its byte-order mark, binary data,
a delimiter that is not a comma, semicolon or tab (told from the header line),
broken quoting (its line). Files are read as a stream, one record at a time.
Data files are written UTF-8 with a BOM (Excel needs it to show accents).

Reading uses the csv module on the decoded text, so 007, 1e5, NaN, null, N/A,
TRUE and spaces survive exactly; typing is left to the schema (layout).
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


# ---------------------------------------------------------------- reading any CSV

_DELIMITERS = (",", ";", "\t")
# A one-column header holding one of these was written with another delimiter.
_FOREIGN_DELIMITERS = (" ", "|", ":")


@dataclass
class CsvRecords:
    """A CSV file being read: its header, then its records one at a time.

    records yields (row number as a spreadsheet shows it, the row's cells);
    the header is row 1. Blank lines are yielded as empty records: each kind of
    file decides what a blank row means.
    """

    path: Path
    header: list[str]
    delimiter: str
    _reader: Any

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            for number, record in enumerate(self._reader, start=2):
                yield number, record
        except csv.Error as error:
            raise _unreadable(self.path, error, self._reader.line_num, number + 1) from None


def read_records(
    path: str | Path,
    *,
    what: str = "the file",
    expected: str = "",
    max_bytes: int | None = None,
    binary_nul: bool = True,
) -> CsvRecords:
    """Open a CSV file for reading: decoded, its delimiter told from the header line.

    what: how messages name the file ("the secrets file"). expected: the header
    a person should give, named when the file is empty. max_bytes: refuse a
    bigger file (default: the data files' limit). binary_nul: a NUL anywhere
    means binary data (else the caller checks its cells for control characters).
    Raises InputError naming the file and the line (and column) of the fault.
    """
    path = Path(path)
    lines = _lines(path, max_bytes or limits.MAX_FILE_BYTES, binary_nul)
    first = next(lines, None)
    if first is None:
        hint = f" (expected {expected})" if expected else ""
        raise InputError(f"{what} is empty{hint}", file=str(path))
    delimiter = sniff_delimiter(first)
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as error:
        raise _unreadable(path, error, reader.line_num, 1) from None
    if len(header) == 1 and any(mark in header[0].strip() for mark in _FOREIGN_DELIMITERS):
        raise _no_delimiter(path)
    return CsvRecords(path, header, delimiter, reader)


def sniff_delimiter(header_line: str) -> str:
    """Comma, or the semicolon or tab Excel and LibreOffice save with in some locales,
    told by the header line (a delimiter inside a value does not count there)."""
    header = re.split(r"[\r\n]", header_line, maxsplit=1)[0]
    counts = {mark: header.count(mark) for mark in _DELIMITERS}
    best = max(counts, key=lambda mark: counts[mark])
    return best if counts[best] > counts[","] else ","


def _unreadable(path: Path, error: csv.Error, line: int, row: int) -> InputError:
    if row == 1:
        return _no_delimiter(path, f" ({error})")
    return InputError(
        f"not a readable CSV file at line {line}: {error}; check for an unclosed quote",
        file=str(path),
    )


def _no_delimiter(path: Path, detail: str = "") -> InputError:
    return InputError(
        "the delimiter is not recognised: line 1 holds no comma, semicolon or tab between "
        f"the column names{detail}; save it as CSV with commas",
        file=str(path),
    )


def _lines(path: Path, max_bytes: int, binary_nul: bool) -> Iterator[str]:
    """The file's lines as text (newlines kept, for the csv module), refused as soon as one is
    not UTF-8 (or holds a NUL, when that means binary data)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"the file is {_megabytes(size)}, more than the {_megabytes(max_bytes)} limit",
                file=str(path),
            )
        with path.open("rb") as probe:
            start = probe.read(64)
    except FileNotFoundError:
        raise InputError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a CSV file", file=str(path)) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", file=str(path)) from None
    if start[:2] in _UTF16_BOMS:
        raise InputError("the file is UTF-16 text; save it as CSV UTF-8", file=str(path))
    if _utf16_without_bom(start):
        raise InputError(
            "the file is UTF-16 text without a byte-order mark; save it as CSV UTF-8",
            file=str(path),
        )
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            for line in handle:
                if binary_nul and "\x00" in line:
                    raise InputError("binary data, not a CSV text file", file=str(path))
                yield line
        except UnicodeDecodeError:
            raise InputError(_not_utf8(path), file=str(path)) from None


def _megabytes(size: int) -> str:
    return f"{size // 2**20} MB"


def _utf16_without_bom(start: bytes) -> bool:
    """Text every other byte of which is NUL: UTF-16 (LE or BE) of Latin text, no BOM."""
    pairs = [start[i : i + 2] for i in range(0, len(start) - 1, 2)]
    if len(pairs) < 4:
        return False
    return all(p[1] == 0 and _is_text(p[0]) for p in pairs) or all(
        p[0] == 0 and _is_text(p[1]) for p in pairs
    )


def _is_text(byte: int) -> bool:
    return 0x20 <= byte < 0x7F or byte in (0x09, 0x0A, 0x0D)


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


# ---------------------------------------------------------------- reading data files


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
    """Read one data CSV file; name None tells the sheet from the header.

    The file is read as a stream, one record at a time, so a file past the
    row limit is refused when the limit is reached, before the rest is read.
    """
    source = read_records(path)
    header = source.header
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
    for number, record in source:
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
