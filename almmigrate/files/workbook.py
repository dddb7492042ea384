"""Workbooks read: .xlsx, .xlsm, .xls and .ods, through calamine (python-calamine).

`container` checks the file first (kind, size, zip bombs, parts that lie
about their size) and notes what calamine cannot report: formulas without a
saved value (.xlsx) and merged cells (.ods). calamine (Rust, pandas' own
engine) then reads the layout's sheets; it expands no XML entity and fetches
nothing external. An .ods text's tabs, which calamine drops, are put back from
its content.xml (`cellformats`) where the rest of the text is what calamine read.

Cells keep their type: text, booleans, whole numbers as int (spreadsheets
store every number as a double), other numbers as float. A date or time cell
becomes the text a person reads ("2026-01-02", "10:30") with a warning on
the cell: spreadsheet programs turn text that looks like a date into one.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any
from xml.parsers import expat

import python_calamine

from almmigrate.errors import InputError, Problem
from almmigrate.files import table as limits
from almmigrate.files.cellformats import (
    Cell,
    CellFormats,
    ods_formats,
    percent_text,
    xls_formats,
    xlsx_percent_cells,
)
from almmigrate.files.cells import MAX_EXACT_INT
from almmigrate.files.container import BOMB, Container, ForbiddenXML, check_workbook
from almmigrate.files.formulas import first_unreadable_cell, sheet_members
from almmigrate.files.table import ALL_SHEETS, DATA_SHEETS, Table
from almmigrate.files.xlsx import cell_range, column_letter
from almmigrate.secrets import error_reason

SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
_HIDDEN = (python_calamine.SheetVisibleEnum.Hidden, python_calamine.SheetVisibleEnum.VeryHidden)


def read_workbook(path: Path) -> dict[str, Table]:
    """Read the layout's sheets of a workbook (others are ignored)."""
    container = check_workbook(path)
    try:
        book = _open(path, container.kind)
    except InputError:
        raise
    except Exception as error:  # calamine raises several kinds for a broken file
        raise InputError(f"cannot read this workbook: {_reason(error)}", file=str(path)) from None
    with book:
        return _read_sheets(path, book, container)


def _open(path: Path, kind: str) -> Any:
    if SUFFIXES.get(path.suffix.lower()) == kind:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    # calamine tells the format by the name; a file named otherwise is told by its content.
    with path.open("rb") as handle:
        return python_calamine.CalamineWorkbook.from_filelike(handle)


def _reason(error: BaseException) -> str:
    """One line saying why calamine gave up."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if "entity" in text.lower() or "doctype" in text.lower() or "dtd" in text.lower():
        return BOMB
    if isinstance(error, python_calamine.PasswordError):
        return "it is protected by a password; save a copy without one"
    return error_reason(error)


def _read_sheets(path: Path, book: Any, container: Container) -> dict[str, Table]:
    members = _formula_members(path, container)
    formats = _cell_formats(path, container)
    tables: dict[str, Table] = {}
    for meta in book.sheets_metadata:
        name = str(meta.name).strip().lower()
        if name not in ALL_SHEETS or name in tables:
            continue
        if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
            continue
        if meta.visible in _HIDDEN and name in DATA_SHEETS:
            raise InputError(
                f'the sheet "{meta.name}" is hidden; unhide it or delete it, then save',
                file=str(path),
            )
        if meta.name in members:
            _no_unreadable_cell(path, name, members[meta.name])
        if meta.name in formats.errors:
            reference, error = formats.errors[meta.name]
            _refuse_cell(path, name, reference, f"the error {error}")
        try:
            sheet = book.get_sheet_by_name(meta.name)
        except Exception as error:
            raise InputError(
                f"cannot read this sheet: {_reason(error)}", file=str(path), sheet=name
            ) from None
        if name in DATA_SHEETS:
            _no_merged_cells(path, name, sheet, meta.name in container.merged_in)
        percent = formats.percent.get(meta.name, set())
        tabs = formats.tabs.get(meta.name, {})
        tables[name] = _SheetReader(path, name, container.kind, percent, tabs).read(sheet)
    return tables


def _with_tabs(kept: str | None, read: str) -> str:
    """The text with its tabs, where it is what calamine read but for them."""
    return kept if kept is not None and kept.replace("\t", "") == read else read


def _formula_members(path: Path, container: Container) -> dict[str, str]:
    """Sheet name -> zip member, for the .xlsx sheets in which the scan saw a formula."""
    if not container.sheets_with_formulas:
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            by_name = sheet_members(archive)
    except Exception as error:
        raise InputError(f"cannot read this workbook: {_reason(error)}", file=str(path)) from None
    return {n: m for n, m in by_name.items() if m in container.sheets_with_formulas}


def _no_unreadable_cell(path: Path, name: str, member: str) -> None:
    try:
        found = first_unreadable_cell(path, member)
    except ForbiddenXML:
        raise InputError(BOMB, file=str(path), sheet=name) from None
    except expat.ExpatError as error:
        raise InputError(f"broken XML in this sheet: {error}", file=str(path), sheet=name) from None
    if found is not None:
        _refuse_cell(path, name, *found)


def _refuse_cell(path: Path, name: str, reference: str, what: str) -> None:
    advice = (
        "fix it in the spreadsheet, or type the value"
        if what.startswith("the error")
        else "open the file in Excel or LibreOffice and save it again, or type the value"
    )
    raise InputError(f"cell {reference} holds {what}; {advice}", file=str(path), sheet=name)


def _cell_formats(path: Path, container: Container) -> CellFormats:
    """What calamine does not say about the layout's sheets (see almmigrate.files.cellformats)."""
    sheets = set(ALL_SHEETS)
    try:
        if container.kind == "xls":
            return xls_formats(path, sheets)
        if container.kind == "xlsx":
            return CellFormats(percent=xlsx_percent_cells(path, sheets))
        noted = container.errors_in | container.percent_in | container.tabs_in
        if any(n.strip().lower() in sheets for n in noted):
            return ods_formats(path, sheets)
    except ForbiddenXML:
        raise InputError(BOMB, file=str(path)) from None
    except Exception as error:  # a file calamine reads but its cells cannot be checked
        raise InputError(
            f"cannot check this workbook's error and percent cells: {_reason(error)}; "
            "save it as .xlsx",
            file=str(path),
        ) from None
    return CellFormats()


def _no_merged_cells(path: Path, name: str, sheet: Any, merged_in_ods: bool) -> None:
    ranges = sheet.merged_cell_ranges or []
    if ranges:
        where = ", ".join(cell_range(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges)
        raise InputError(
            f"merged cells ({where}); unmerge them so every row has its own values",
            file=str(path),
            sheet=name,
        )
    if merged_in_ods:
        raise InputError(
            "merged cells; unmerge them so every row has its own values",
            file=str(path),
            sheet=name,
        )


class _SheetReader:
    """One sheet's rows as typed records: header, row numbers, limits, date cells noted."""

    def __init__(
        self, path: Path, name: str, kind: str, percent: set[Cell], tabs: dict[Cell, str]
    ) -> None:
        self.path = path
        self.name = name
        self.kind = kind
        self.percent = percent  # number cells shown as a percent: (row, column) from 1
        self.tabs = tabs  # .ods text cells with their tabs, which calamine drops
        self.warnings: list[Problem] = []

    def read(self, sheet: Any) -> Table:
        rows = sheet.to_python(skip_empty_area=False)
        columns: list[str] = []
        width, blanks = 0, False
        records: list[dict[str, Any]] = []
        numbers: list[int] = []
        for index, raw in enumerate(rows):
            number = index + 1
            if number == 1:
                columns = self._header(raw)
                width, blanks = len(columns), not all(columns)
                continue
            values = [self._value(number, columns, i, v) for i, v in enumerate(raw)]
            if all(v is None for v in values):
                continue
            if len(records) >= limits.MAX_ROWS:
                raise InputError(
                    f"more than {limits.MAX_ROWS:,} rows; split the file",
                    file=str(self.path),
                    sheet=self.name,
                )
            if not any(columns):
                raise InputError(
                    "the first row must hold the column names", file=str(self.path), sheet=self.name
                )
            if len(values) > width or blanks:
                self._no_headless_values(number, columns, values)
            records.append({c: v for c, v in zip(columns, values, strict=False) if c})
            numbers.append(number)
            rows[index] = None  # let each converted row go
        named = [c for c in columns if c]
        return Table(
            self.name,
            named,
            records,
            row_numbers=numbers,
            file_format=self.kind,
            warnings=self.warnings,
        )

    def _header(self, raw: list[Any]) -> list[str]:
        written = [str(self._value(1, [], i, v) or "") for i, v in enumerate(raw)]
        limits.check_header(
            written, file=str(self.path), sheet=self.name, label=lambda i: column_letter(i - 1)
        )
        return [column.strip() for column in written]

    def _no_headless_values(self, number: int, columns: list[str], values: list[Any]) -> None:
        for index, value in enumerate(values):
            if value is not None and (index >= len(columns) or not columns[index]):
                raise InputError(
                    "this cell has a value but its column has no header",
                    file=str(self.path),
                    sheet=self.name,
                    row=number,
                    column=column_letter(index),
                )

    @staticmethod
    def _label(columns: list[str], index: int) -> str:
        """A cell's column as a problem names it: its header, or its letter."""
        return columns[index] if index < len(columns) and columns[index] else column_letter(index)

    def _value(self, number: int, columns: list[str], index: int, value: Any) -> Any:
        kind = value.__class__
        if kind is str:
            if not value:
                return None
            if self.tabs:
                value = _with_tabs(self.tabs.get((number, index + 1)), value)
            if len(value) > limits.MAX_CELL_CHARS:
                limits.check_cell_length(value, file=str(self.path), sheet=self.name, row=number)
            return value
        if kind is float or kind is int:
            if self.percent and (number, index + 1) in self.percent:
                self._shown_as_percent(number, columns, index, value)
            # Spreadsheets hold every number as a double: 7 comes back as 7.0.
            if kind is float and value.is_integer() and abs(value) <= MAX_EXACT_INT:
                return int(value)
            return value
        if kind is bool:
            return value
        text = date_text(value)
        self._warn(
            number,
            self._label(columns, index),
            f'a spreadsheet made this cell a {_what(value)}; read as the text "{text}". '
            "If that is not what was typed, format the cell as text and type it again",
        )
        return text

    def _shown_as_percent(self, number: int, columns: list[str], index: int, value: Any) -> None:
        """A person who typed 50% sees 50%, but the cell holds 0.5: said, as spreadsheet damage."""
        shown, read = percent_text(value), f"{value:.15g}"
        self._warn(
            number,
            self._label(columns, index),
            f"looks like a spreadsheet turned '{shown}' into {read}: the cell is shown as a "
            f"percent but holds the number {read}, which is what is read. If '{shown}' is "
            "meant, format the cell as text and type it again",
        )

    def _warn(self, number: int, column: str, message: str) -> None:
        self.warnings.append(
            Problem(message, sheet=self.name, row=number, column=column, severity="warning")
        )


def _what(value: Any) -> str:
    if isinstance(value, dt.timedelta):
        return "duration"
    if isinstance(value, dt.datetime):
        return "date and time" if value.time() != dt.time() else "date"
    return "date" if isinstance(value, dt.date) else "time"


def date_text(value: Any) -> str:
    """A date, time or duration as a person reads it in a cell (ISO order, no T)."""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)
