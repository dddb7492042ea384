"""The streamed export workbook written by rust_xlsxwriter (through rvgsrust-xlsxwriter).

A 50,000-connection export is 1.5 million cells. XlsxWriter, pure Python,
spends about 4 microseconds on each; rust_xlsxwriter, the same author's
writer in Rust, about a fifth of that. Where the binding is installed (it
ships wheels for Linux and Windows on x86-64 and macOS on Apple silicon, and
`pyproject.toml` asks for it only there), exports are written with it;
elsewhere, or with ALMMIGRATE_XLSX_WRITER=xlsxwriter, by XlsxWriter. Small
workbooks (templates, reports) always go through XlsxWriter: they need notes
and dropdowns, and their speed does not matter.

The classes here give the few calls an export makes (`xlsx.SheetStreams`
and `xlsx.print_layout`) under XlsxWriter's names, so the row loop and the
house formats are the same code for both writers; a test writes one export
with each and compares every cell's value, type and format, and each sheet's
panes, filters and print set-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rvgsrust_xlsxwriter

__all__ = ["RustBook", "RustSheet"]


class RustSheet:
    """A worksheet in constant-memory mode, with the XlsxWriter calls an export makes."""

    def __init__(self, sheet: Any) -> None:
        self._sheet = sheet
        # The row loop calls these 1.5 million times: bound straight to the
        # binding's one typed write (bool, int, float, str each kept as such).
        self.write_string: Callable[..., None] = sheet.write
        self.write_number: Callable[..., None] = sheet.write
        self.write_boolean: Callable[..., None] = sheet.write

    def set_column(self, first: int, last: int, width: float) -> None:
        for column in range(first, last + 1):
            self._sheet.set_column_width(column, width)

    def freeze_panes(self, row: int, column: int) -> None:
        self._sheet.freeze_panes(row, column)

    def autofilter(self, first_row: int, first_col: int, last_row: int, last_col: int) -> None:
        self._sheet.autofilter(first_row, first_col, last_row, last_col)

    def set_landscape(self) -> None:
        self._sheet.set_landscape()

    def fit_to_pages(self, width: int, height: int) -> None:
        self._sheet.set_print_fit_to_pages(width, height)

    def repeat_rows(self, first: int, last: int | None = None) -> None:
        self._sheet.set_repeat_rows(first, first if last is None else last)

    def set_footer(self, text: str) -> None:
        self._sheet.set_footer(text)


# XlsxWriter's format properties that exports use, as the binding's setters.
_SETTERS: dict[str, Callable[[Any, Any], Any]] = {
    "font_name": lambda f, v: f.set_font_name(v),
    "font_size": lambda f, v: f.set_font_size(v),
    "font_color": lambda f, v: f.set_font_color(v),
    "bg_color": lambda f, v: f.set_background_color(v),
    "num_format": lambda f, v: f.set_num_format(v),
    "bold": lambda f, v: f.set_bold() if v else f,
    "italic": lambda f, v: f.set_italic() if v else f,
    "quote_prefix": lambda f, v: f.set_quote_prefix() if v else f,
    "text_wrap": lambda f, v: f.set_text_wrap() if v else f,
    "valign": lambda f, v: f.set_vertical_align(v),
}


class RustBook:
    """A workbook whose sheets stream their rows to temporary files in tmpdir."""

    def __init__(self, tmpdir: str) -> None:
        self._book = rvgsrust_xlsxwriter.Workbook()
        self._book.set_tempdir(tmpdir)

    def add_format(self, properties: dict[str, Any]) -> Any:
        """The format with these XlsxWriter-named properties (an unknown one is an error)."""
        unknown = sorted(set(properties) - set(_SETTERS))
        if unknown:
            raise ValueError(f"format properties the Rust writer does not map: {unknown}")
        made = self._book.add_format()
        for name, value in properties.items():
            _SETTERS[name](made, value)
        return made

    def add_worksheet(self, name: str) -> RustSheet:
        return RustSheet(self._book.add_worksheet(name, constant_memory=True))

    def save(self) -> bytes:
        """The workbook's bytes (built in memory: a few MB), from its row files."""
        return bytes(self._book.save_to_buffer())
