"""Excel workbooks (.xlsx): streamed writing and guarded reading.

Writing uses openpyxl's write-only mode, so rows go to disk as they come;
each row is handed to openpyxl's sheet stream as ready XML (see `_XmlRows`).

Reading refuses a file that is not a zip, and zip bombs (declared sizes and
ratios), before any XML is parsed. openpyxl reads the workbook's parts
(sheet names and states, shared strings, styles) through defusedxml; each
data sheet is then read in one streamed pass by `xlsx_sheet` (expat with no
DTD allowed), which also finds merged cells and formulas without a cached
value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles import Font, PatternFill
from openpyxl.styles.numbers import BUILTIN_FORMATS_MAX_SIZE
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from almmigrate.errors import InputError
from almmigrate.secrets import MASK
from almmigrate.tabular import cells
from almmigrate.tabular import table as limits
from almmigrate.tabular.table import ALL_SHEETS, DATA_SHEETS, Table
from almmigrate.tabular.xlsx_sheet import ForbiddenXML, FormulaWithoutValue, SheetReader

if not openpyxl.DEFUSEDXML:  # pragma: no cover - defusedxml is a dependency
    raise ImportError("almmigrate needs defusedxml so that workbooks are parsed safely")

# A font with only "bold" set has no face or size: LibreOffice then draws it in its
# own default (a serif), unlike the Calibri 11 of every other cell. Name them.
_HEADER_FONT = Font(name="Calibri", family=2, size=11, bold=True)
_MASK_FONT = Font(name="Calibri", family=2, size=11, italic=True, color="808080")
_MASK_FILL = PatternFill("solid", fgColor="E7E6E6")
# Excel shows a boolean cell as TRUE/FALSE whatever its format, but LibreOffice
# (7.x) shows one that has a filled cell to its right as 0/1 under the General
# format. With this format it shows TRUE/FALSE; it then saves the cell as a 0/1
# number in that format, which reading takes back as a boolean.
_BOOLEAN_FORMAT = '"TRUE";"TRUE";"FALSE"'
_WIDTH_SAMPLE = 50  # rows looked at to size the columns
_MAX_WIDTH = 60
# Excel stores numbers as doubles: a bigger integer would lose digits.
_MAX_EXACT_INT = 2**53

# ---------------------------------------------------------------- writing

# Cell styles: plain, bold header, formula-like text (quotePrefix), masked secret, boolean.
_PLAIN, _HEADER, _FORMULA, _MASKED, _BOOLEAN = 0, 1, 2, 3, 4
# Without lxml, openpyxl builds and serialises an element tree per cell, which made
# 50,000 rows take most of a minute; rows are then written as XML text instead.
# Both hooks are openpyxl 3.1 internals: without them, the portable path is used.
_FAST_XML = (
    not openpyxl.LXML
    and hasattr(WriteOnlyWorksheet, "_values_to_row")
    and hasattr(WriteOnlyWorksheet, "_get_writer")
)

# Markup kept for repeated texts: short ones, and a bounded number (memory stays flat).
_KNOWN_TEXT_CHARS = 200
_KNOWN_TEXT_MAX = 20_000
Prepared = tuple[str, str, int] | None  # (cell type "n" | "b" | "s", text, style), None = empty


def write_workbook(stream: IO[bytes], tables: list[Table]) -> None:
    """Write the tables as sheets of one workbook to a binary stream."""
    workbook = Workbook(write_only=True)
    try:
        for table in tables:
            _write_sheet(workbook.create_sheet(table.name), table)
        workbook.save(stream)
    except BaseException:
        _discard(workbook)
        raise


def _discard(workbook: Workbook) -> None:
    """Close and delete openpyxl's per-sheet temporary files (mode 0600) after a failure."""
    for sheet in workbook.worksheets:
        writer = getattr(sheet, "_writer", None)
        rows = getattr(sheet, "_rows", None)
        with contextlib.suppress(Exception):
            if rows is not None:
                rows.close()
            if writer is not None:
                writer.close()
                writer.cleanup()


def _write_sheet(sheet: WriteOnlyWorksheet, table: Table) -> None:
    rows = iter(table.rows)
    head = list(itertools.islice(rows, _WIDTH_SAMPLE))
    for index, column in enumerate(table.columns, start=1):
        width = _column_width(column, (row.get(column) for row in head))
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    writer = _XmlRows(sheet, len(table.columns)) if _FAST_XML else _CellRows(sheet)
    writer.append([("s", cells.xlsx_escape(c), _HEADER) for c in table.columns])
    last_row = 1
    for last_row, row in enumerate(itertools.chain(head, rows), start=2):
        writer.append_row(table, last_row, row)
    if table.columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{last_row}"


def _column_width(column: str, values: Iterator[Any]) -> float:
    longest = len(column) + 3  # room for the autofilter button
    for value in values:
        if value is not None:
            text = cells.list_text(value) if isinstance(value, list) else str(value)
            longest = max(longest, max((len(line) for line in text.splitlines()), default=0))
    return min(longest + 2, _MAX_WIDTH)


def _prepared(table: Table, row: int, column: str, value: Any) -> Prepared:
    """How one value is stored: booleans and numbers typed, everything else escaped text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("b", "1" if value else "0", _BOOLEAN)
    if isinstance(value, int) and abs(value) <= _MAX_EXACT_INT:
        return ("n", str(value), _PLAIN)
    if isinstance(value, float) and math.isfinite(value):
        return ("n", repr(value), _PLAIN)  # repr is exact; openpyxl's "%.16g" is not
    if isinstance(value, int | float):
        value = str(value)
    elif cells.is_text_list(value):
        value = cells.list_text(value)
    elif not isinstance(value, str):
        value = cells.scalar_text(value)
    if value == "":
        return None
    if len(value) > limits.MAX_CELL_CHARS:
        raise InputError(
            f"{len(value)} characters do not fit in one Excel cell "
            f"(at most {limits.MAX_CELL_CHARS}); export to .json instead",
            sheet=table.name,
            row=row,
            column=column,
        )
    style = _FORMULA if cells.looks_like_formula(value) else _MASKED if value == MASK else _PLAIN
    return ("s", cells.xlsx_escape(value), style)


def _styled(cell: WriteOnlyCell, style: int) -> WriteOnlyCell:
    if style == _HEADER:
        cell.font = _HEADER_FONT
    elif style == _FORMULA:
        # Tells Excel and LibreOffice to keep the text a text when the cell is edited.
        cell.quotePrefix = True
    elif style == _MASKED:
        cell.font = _MASK_FONT
        cell.fill = _MASK_FILL
    elif style == _BOOLEAN:
        cell.number_format = _BOOLEAN_FORMAT
    return cell


class _CellRows:
    """Rows as openpyxl cells: the portable way (used when openpyxl writes through lxml)."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        self.sheet = sheet

    def append(self, prepared: list[Prepared]) -> None:
        self.sheet.append([self._cell(p) for p in prepared])

    def append_row(self, table: Table, number: int, row: dict[str, Any]) -> None:
        self.append([_prepared(table, number, c, row.get(c)) for c in table.columns])

    def _cell(self, prepared: Prepared) -> WriteOnlyCell | None:
        if prepared is None:
            return None
        kind, text, style = prepared
        cell = WriteOnlyCell(self.sheet, text)
        cell.data_type = kind  # "s" keeps "=..." a text, never a formula
        return _styled(cell, style)


class _XmlRows:
    """Rows written as XML text into openpyxl's own sheet stream (same markup openpyxl writes)."""

    def __init__(self, sheet: WriteOnlyWorksheet, width: int) -> None:
        self.sheet = sheet
        self.letters = [get_column_letter(i) for i in range(1, width + 1)]
        self.known_text: dict[str, str] = {}
        self.styles = {_PLAIN: ""}
        for style in (_HEADER, _FORMULA, _MASKED, _BOOLEAN):
            style_id = _styled(WriteOnlyCell(sheet, ""), style).style_id
            self.styles[style] = f' s="{style_id}"'
        sheet._get_writer()
        # Hand each appended row (one XML string) to the stream untouched.
        sheet._values_to_row = lambda values, row_index: values
        sheet._writer.write_row = self._write

    @staticmethod
    def _write(xml: Any, values: list[str], row_index: int) -> None:
        xml._file(values[0])

    def append(self, prepared: list[Prepared]) -> None:
        number = self.sheet._max_row = self.sheet._max_row + 1
        parts = [f'<row r="{number}">']
        for letter, cell in zip(self.letters, prepared, strict=True):
            if cell is not None:
                parts.append(f'<c r="{letter}{number}"{self._after_reference(cell)}')
        parts.append("</row>")
        self.sheet.append(["".join(parts)])

    def append_row(self, table: Table, number: int, row: dict[str, Any]) -> None:
        """One data row; a text seen before reuses its markup (names, systems, flags repeat)."""
        row_number = self.sheet._max_row = self.sheet._max_row + 1
        parts = [f'<row r="{row_number}">']
        known = self.known_text
        for letter, column in zip(self.letters, table.columns, strict=True):
            value = row.get(column)
            if value is None:
                continue
            markup = known.get(value) if value.__class__ is str else None
            if markup is None:
                cell = _prepared(table, number, column, value)
                if cell is None:
                    continue
                markup = self._after_reference(cell)
                if (
                    value.__class__ is str
                    and len(value) <= _KNOWN_TEXT_CHARS
                    and len(known) < _KNOWN_TEXT_MAX
                ):
                    known[value] = markup
            parts.append(f'<c r="{letter}{row_number}"{markup}')
        parts.append("</row>")
        self.sheet.append(["".join(parts)])

    def _after_reference(self, cell: tuple[str, str, int]) -> str:
        """A cell's markup after its `r` attribute: style, type, value, end tag."""
        kind, text, style = cell
        if kind == "s":
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            return f'{self.styles[style]} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
        return f'{self.styles[style]} t="{kind}"><v>{text}</v></c>'


# ---------------------------------------------------------------- reading

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"


def read_workbook(path: Path) -> dict[str, Table]:
    """Read the layout's sheets of a workbook (others are ignored)."""
    _check_container(path)
    try:
        workbook = _open(path)
    except InputError:
        raise
    except Exception as error:  # openpyxl raises many kinds for a broken file
        raise InputError(f"cannot read this workbook: {_reason(error)}", file=str(path)) from None
    try:
        return _read_sheets(path, workbook)
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"cannot read this workbook: {_reason(error)}", file=str(path)) from None
    finally:
        workbook.archive.close()


def _open(path: Path) -> ExcelReader:
    """The workbook's parts except its sheets: names, shared strings, styles (via defusedxml).

    openpyxl's load_workbook would also parse every sheet once just to size it
    (all of it, when the file has no <dimension>, as write-only files do).
    """
    reader = ExcelReader(str(path), read_only=True, data_only=True)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    return reader


_FORBIDDEN_XML = {"EntitiesForbidden", "DTDForbidden", "ExternalReferenceForbidden"}
_BOMB = "it declares XML entities or a DTD (a possible XML bomb); refused"


def _reason(error: BaseException) -> str:
    """One line saying why openpyxl gave up (it wraps the real cause in a ValueError)."""
    cause: BaseException | None = error
    while cause is not None:
        if type(cause).__name__ in _FORBIDDEN_XML:
            return _BOMB
        cause = cause.__cause__ or cause.__context__
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    return f"{name}: {text[:200]}" if text else name


def _check_container(path: Path) -> None:
    """Refuse files that are not a sane .xlsx before any XML is parsed."""
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty", file=str(path))
    if size > limits.MAX_FILE_BYTES:
        raise InputError(
            f"the file is {size // 2**20} MB, more than the {limits.MAX_FILE_BYTES // 2**20} MB limit",
            file=str(path),
        )
    with path.open("rb") as handle:
        start = handle.read(4096)
    if not start.startswith(_ZIP_MAGIC):
        raise InputError(_not_a_workbook(start), file=str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(
            f"not a valid .xlsx workbook (broken zip: {error})", file=str(path)
        ) from None
    _check_sizes(path, members)


def _not_a_workbook(start: bytes) -> str:
    if start.startswith(_OLE_MAGIC):
        return "an old-style .xls workbook; open it and save it as .xlsx"
    try:
        text = start.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "not an Excel workbook (.xlsx): the file is binary data of another kind"
    if "\x00" not in text and ("," in text or ";" in text) and "\n" in text:
        return "a CSV file named .xlsx; rename it to .csv"
    return "not an Excel workbook (.xlsx): it is not a zip archive"


def _check_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        too_big = member.file_size > limits.MAX_MEMBER_BYTES
        bomb = member.file_size > limits.RATIO_CHECK_ABOVE and ratio > limits.MAX_RATIO
        if too_big or bomb:
            raise InputError(
                f"refused: {member.filename} unpacks to {member.file_size // 2**20} MB "
                f"(compressed {ratio:.0f} to 1); a workbook this size is not sane",
                file=str(path),
            )
    if total > limits.MAX_ARCHIVE_BYTES:
        raise InputError(
            f"refused: the workbook unpacks to {total // 2**20} MB, over the limit", file=str(path)
        )


def _read_sheets(path: Path, workbook: ExcelReader) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for sheet, relation in workbook.parser.find_sheets():
        name = str(sheet.name).strip().lower()
        if name not in ALL_SHEETS or name in tables or "chartsheet" in relation.Type:
            continue
        if (sheet.state or "visible") != "visible" and name in DATA_SHEETS:
            raise InputError(
                f'the sheet "{sheet.name}" is hidden; unhide it or delete it, then save',
                file=str(path),
            )
        if relation.target not in workbook.valid_files:
            raise InputError(f'the sheet "{sheet.name}" is missing from the file', file=str(path))
        tables[name] = _read_sheet(path, workbook, relation.target, name)
    return tables


def _read_sheet(path: Path, workbook: ExcelReader, member: str, name: str) -> Table:
    """One pass over a sheet's XML: header, typed cells, row numbers, merges and formulas."""
    reader = SheetReader(
        workbook.shared_strings,
        date_styles=workbook.wb._date_formats,
        timedelta_styles=workbook.wb._timedelta_formats,
        epoch=workbook.wb.epoch,
        boolean_styles=_boolean_styles(workbook.wb),
    )
    columns: list[str] = []
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    with workbook.archive.open(member) as source:
        try:
            for number, cells_in_row in reader.rows(source):
                values = _row_values(path, name, number, cells_in_row)
                if number == 1:
                    columns = _header(path, name, values)
                    continue
                if not any(v is not None for v in values):
                    continue
                if len(records) >= limits.MAX_ROWS:
                    raise InputError(
                        f"more than {limits.MAX_ROWS:,} rows; split the file",
                        file=str(path),
                        sheet=name,
                    )
                if not any(columns):
                    raise InputError(
                        "the first row must hold the column names", file=str(path), sheet=name
                    )
                _no_headless_values(path, name, number, columns, values)
                values += [None] * (len(columns) - len(values))
                records.append({c: v for c, v in zip(columns, values, strict=False) if c})
                numbers.append(number)
        except FormulaWithoutValue as error:
            raise InputError(
                f"cell {error} holds a formula with no saved value; "
                "open the file in Excel or LibreOffice and save it again, or type the value",
                file=str(path),
                sheet=name,
            ) from None
        except ForbiddenXML:
            raise InputError(_BOMB, file=str(path), sheet=name) from None
        except expat.ExpatError as error:
            raise InputError(
                f"broken XML in this sheet: {error}", file=str(path), sheet=name
            ) from None
    _no_merged_cells(path, name, reader.merged)
    return Table(name, [c for c in columns if c], records, row_numbers=numbers, file_format="xlsx")


def _boolean_styles(workbook: Workbook) -> set[int]:
    """Cell styles with the TRUE/FALSE number format booleans are written with."""
    wanted = _BOOLEAN_FORMAT.replace(" ", "").upper()
    codes = [str(code).replace(" ", "").upper() for code in workbook._number_formats]
    found = set()
    for index, style in enumerate(workbook._cell_styles):
        number = style.numFmtId - BUILTIN_FORMATS_MAX_SIZE
        if 0 <= number < len(codes) and codes[number] == wanted:
            found.add(index)
    return found


def _row_values(
    path: Path, name: str, number: int, cells_in_row: list[tuple[int, Any]]
) -> list[Any]:
    values: list[Any] = []
    for column, value in cells_in_row:
        index = column - 1
        if index >= len(values):
            values.extend([None] * (index + 1 - len(values)))
        values[index] = _cell_value(path, name, number, value)
    return values


def _no_merged_cells(path: Path, name: str, ranges: list[str]) -> None:
    if ranges and name in DATA_SHEETS:
        raise InputError(
            f"merged cells ({', '.join(ranges)}); unmerge them so every row has its own values",
            file=str(path),
            sheet=name,
        )


def _header(path: Path, name: str, values: list[Any]) -> list[str]:
    written = ["" if v is None else str(v) for v in values]
    limits.check_header(written, file=str(path), sheet=name, label=get_column_letter)
    return [column.strip() for column in written]


def _no_headless_values(
    path: Path, name: str, number: int, columns: list[str], values: list[Any]
) -> None:
    for index, value in enumerate(values):
        if value is not None and (index >= len(columns) or not columns[index]):
            raise InputError(
                "this cell has a value but its column has no header",
                file=str(path),
                sheet=name,
                row=number,
                column=get_column_letter(index + 1),
            )


def _cell_value(path: Path, name: str, number: int, value: Any) -> Any:
    if isinstance(value, str):
        limits.check_cell_length(value, file=str(path), sheet=name, row=number)
        return cells.xlsx_unescape(value) or None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return value
