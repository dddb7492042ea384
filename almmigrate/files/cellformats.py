"""What a workbook's cells hold that calamine does not say: error cells, percent formats.

calamine reads values, not formats, and reads an error in an old `.xls` or an
`.ods` as an empty cell. So, only where it matters:

- `.xls`: xlrd (the maintained .xls reader) reads the layout's sheets once
  more with their formats: the first error cell (`#DIV/0!`, `#N/A`) and the
  number cells shown as a percent.
- `.xlsx`: the cell styles (`xl/styles.xml`) are looked at first; only a
  workbook with a percent number format is read again, through openpyxl's
  read-only mode, for the number cells that use one.
- `.ods`: the container scan notes the sheets with an error or a percentage
  cell, or a tab in a text; their first error cell (`#DIV/0!`, `#N/A`),
  percentage cells and texts holding a tab (calamine drops `<text:tab/>`) are
  located in `content.xml` with expat (no DTD, nothing expanded).

A person who types `50%` gets 0.5 in the cell; read as 0.5 it would be sent
as 0.5 (or "0.5" to a text param), silently. Cells are (row, column), both
counted from 1 as a spreadsheet shows them.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from xlsxwriter.utility import xl_rowcol_to_cell

from almmigrate.files.container import parse_xml, xml_parser

Cell = tuple[int, int]  # (row, column), from 1
# Excel's built-in percent formats (0%, 0.00%); any other is in styles.xml.
_BUILTIN_PERCENT = {9, 10}
_QUOTED = re.compile(r'"[^"]*"|\\.')
_CHUNK = 1024 * 1024


@dataclass
class CellFormats:
    """One workbook's notes, by sheet name as the workbook spells it."""

    errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # first: (cell, "#N/A")
    percent: dict[str, set[Cell]] = field(default_factory=dict)
    tabs: dict[str, dict[Cell, str]] = field(default_factory=dict)  # a text with its tabs


def is_percent(format_code: str | None) -> bool:
    """True for a number format that shows a number as a percent (a `%` not in quotes)."""
    return bool(format_code) and "%" in _QUOTED.sub("", str(format_code))


def percent_text(value: float) -> str:
    """How a percent-formatted cell shows the number (0.5 -> "50%")."""
    return f"{value * 100:.15g}%"


def xls_formats(path: Path, sheets: set[str]) -> CellFormats:
    """Error cells and percent number cells of an .xls workbook's sheets named in `sheets`."""
    import xlrd  # here: only an .xls needs it

    found = CellFormats()
    book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    try:
        # The workbook's formats, shared by its sheets.
        percent = {key for key, code in book.format_map.items() if is_percent(code.format_str)}
        for sheet in book.sheets():
            if sheet.name.strip().lower() not in sheets:
                continue
            cells: set[Cell] = set()
            for row in range(sheet.nrows):
                for column, cell in enumerate(sheet.row(row)):
                    if cell.ctype == xlrd.XL_CELL_ERROR and sheet.name not in found.errors:
                        text = xlrd.error_text_from_code.get(cell.value, "an error")
                        found.errors[sheet.name] = (xl_rowcol_to_cell(row, column), text)
                    elif cell.ctype == xlrd.XL_CELL_NUMBER:
                        xf = book.xf_list[sheet.cell_xf_index(row, column)]
                        if xf.format_key in percent:
                            cells.add((row + 1, column + 1))
            if cells:
                found.percent[sheet.name] = cells
    finally:
        book.release_resources()
    return found


def xlsx_percent_cells(path: Path, sheets: set[str]) -> dict[str, set[Cell]]:
    """The number cells shown as a percent, by sheet; {} at once when no style shows one."""
    if not _xlsx_has_percent_style(path):
        return {}
    import openpyxl  # here: importing it costs 25 MB, and few workbooks show a percent

    found: dict[str, set[Cell]] = {}
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            if sheet.title.strip().lower() not in sheets:
                continue
            cells = {
                (cell.row, cell.column)
                for row in sheet.iter_rows()
                for cell in row
                if getattr(cell, "data_type", None) == "n"
                and isinstance(cell.value, int | float)
                and is_percent(getattr(cell, "number_format", None))
            }
            if cells:
                found[sheet.title] = cells
    finally:
        book.close()
    return found


def _xlsx_has_percent_style(path: Path) -> bool:
    """True when a cell style of the workbook (cellXfs) uses a percent number format."""
    with zipfile.ZipFile(path) as archive:
        if "xl/styles.xml" not in archive.namelist():
            return False
        styles = parse_xml(archive.read("xl/styles.xml"))
    custom, used = {}, set()
    for element in styles.iter():
        local = element.tag.rpartition("}")[2]
        if local == "numFmt":
            custom[int(element.get("numFmtId", "-1"))] = element.get("formatCode", "")
        elif local == "cellXfs":
            used = {int(xf.get("numFmtId", "0")) for xf in element}
    return any(n in _BUILTIN_PERCENT or is_percent(custom.get(n)) for n in used)


def ods_formats(path: Path, sheets: set[str]) -> CellFormats:
    """The first error cell, the percentage cells and the texts with a tab of an .ods
    content.xml's sheets.

    Rows and cells repeated (`number-rows-repeated`, `number-columns-repeated`)
    count as many times as they repeat. Names carry the prefixes LibreOffice writes
    (`table:`, `office:`, `calcext:`), as the container's scan expects. Raises
    container.ForbiddenXML for a DTD.
    """
    finder = _OdsCells(sheets)
    parser = xml_parser()
    parser.StartElementHandler = finder.start
    parser.EndElementHandler = finder.end
    parser.CharacterDataHandler = finder.text
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as stream:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    percent = {name: cells for name, cells in finder.percent.items() if cells}
    return CellFormats(errors=finder.errors, percent=percent, tabs=finder.tabs)


_TABLE_NS = "table:"
_OFFICE_NS = "office:"
# LibreOffice marks an error value (#N/A, #DIV/0!) here; its office:value-type says "string"
# with an empty value, which is all calamine reads. The error's text is the cell's paragraph.
_CALC_VALUE_TYPE = "calcext:value-type"
_CELLS = (_TABLE_NS + "table-cell", _TABLE_NS + "covered-table-cell")
# A cell's text: paragraphs one a line, with its spaces, tabs and line breaks; not its note.
_TEXT_NS = "text:"
_NOTE = _OFFICE_NS + "annotation"


class _OdsCells:
    """Counts rows and columns of the sheets asked for; notes the percentage cells and the
    first error cell (with its text) of each."""

    def __init__(self, sheets: set[str]) -> None:
        self.sheets = sheets
        self.percent: dict[str, set[Cell]] = {}
        self.errors: dict[str, tuple[str, str]] = {}
        self.sheet: str | None = None
        self.row = 0
        self.column = 0
        self.repeat_row = 1
        self.error_text: list[str] | None = None  # while inside a sheet's first error cell
        self.tabs: dict[str, dict[Cell, str]] = {}
        self.cell_text: list[str] = []  # the text of the cell open
        self.cell_at: tuple[Cell, int, int] | None = None  # its first cell and repeats
        self.paragraphs = 0
        self.has_tab = False
        self.in_note = 0

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        if tag == _TABLE_NS + "table":
            name = attributes.get(_TABLE_NS + "name", "")
            self.sheet = name if name.strip().lower() in self.sheets else None
            self.row = 0
        elif self.sheet is None:
            return
        elif tag == _TABLE_NS + "table-row":
            self.repeat_row = int(attributes.get(_TABLE_NS + "number-rows-repeated", "1"))
            self.row += 1
            self.column = 0
        elif tag in _CELLS:
            repeat = int(attributes.get(_TABLE_NS + "number-columns-repeated", "1"))
            self.cell_at = ((self.row, self.column + 1), self.repeat_row, repeat)
            self.cell_text, self.paragraphs, self.has_tab = [], 0, False
            if attributes.get(_OFFICE_NS + "value-type") == "percentage":
                cells = self.percent.setdefault(self.sheet, set())
                cells.update(
                    (self.row + r, self.column + c + 1)
                    for r in range(min(self.repeat_row, 1000))
                    for c in range(min(repeat, 1000))
                )
            if attributes.get(_CALC_VALUE_TYPE) == "error" and self.sheet not in self.errors:
                self.errors[self.sheet] = (xl_rowcol_to_cell(self.row - 1, self.column), "")
                self.error_text = []
            self.column += repeat
        elif tag == _NOTE:
            self.in_note += 1
        elif self.in_note or self.cell_at is None:
            return
        elif tag == _TEXT_NS + "p":
            self.cell_text.append("\n" if self.paragraphs else "")
            self.paragraphs += 1
        elif tag == _TEXT_NS + "tab":
            self.cell_text.append("\t")
            self.has_tab = True
        elif tag == _TEXT_NS + "s":
            self.cell_text.append(" " * int(attributes.get(_TEXT_NS + "c", "1")))
        elif tag == _TEXT_NS + "line-break":
            self.cell_text.append("\n")

    def text(self, data: str) -> None:
        if self.error_text is not None:
            self.error_text.append(data)
        if self.cell_at is not None and not self.in_note:
            self.cell_text.append(data)

    def end(self, tag: str) -> None:
        if tag == _NOTE:
            self.in_note = max(0, self.in_note - 1)  # opened only in the sheets asked for
        elif tag in _CELLS and self.cell_at is not None and self.sheet is not None:
            if self.has_tab:
                (row, column), rows, columns = self.cell_at
                text, cells = "".join(self.cell_text), self.tabs.setdefault(self.sheet, {})
                for r in range(min(rows, 1000)):
                    for c in range(min(columns, 1000)):
                        cells[(row + r, column + c)] = text
            self.cell_at = None
        if tag == _TABLE_NS + "table":
            self.sheet = None
        elif tag == _TABLE_NS + "table-row" and self.sheet is not None:
            self.row += self.repeat_row - 1
            self.repeat_row = 1
        elif tag in _CELLS and self.error_text is not None and self.sheet is not None:
            reference, _ = self.errors[self.sheet]
            self.errors[self.sheet] = (reference, "".join(self.error_text).strip() or "an error")
            self.error_text = None
