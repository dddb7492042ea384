"""How every sheet almmigrate writes prints: exports, templates and reports alike.

An audit export or a report is printed (or saved as PDF) for a sign-off: in
portrait a 30-column sheet runs to dozens of pages of two columns each with
no header after the first. Every sheet is therefore set landscape, one page
wide (as many pages tall as it needs), with its header row repeated on every
page and "sheet name - page N of M" in the footer. Long text (help and notes
columns) wraps in a format from `wrap_format`.
"""

from __future__ import annotations

from typing import Any

# &A is the sheet's name, &P the page number, &N the number of pages.
FOOTER = "&L&A&RPage &P of &N"


def set_print_layout(sheet: Any, *, header_row: int | None = 0) -> None:
    """Landscape, fit to the page width, header row on every page, name and page in the footer.

    sheet: an XlsxWriter worksheet. header_row: the 0-based row repeated at the
    top of every printed page (None: no header row, as on a page of help text).
    """
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # one page wide, as many tall as needed
    if header_row is not None:
        sheet.repeat_rows(header_row)
    sheet.set_footer(FOOTER)


def wrap_format(book: Any, **properties: Any) -> Any:
    """A cell format that wraps long text and aligns it to the top of its row."""
    return book.add_format({"text_wrap": True, "valign": "top", **properties})
