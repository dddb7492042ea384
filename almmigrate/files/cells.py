"""Cell encoding shared by the formats: formula safety, escapes, and text forms of values.

Spreadsheet programs run text that starts with = + - @ tab or CR as a formula
(CSV injection). xlsx writes such text as an explicit text cell with the
quotePrefix style; CSV puts one apostrophe in front, and reading strips exactly
one, so every text reads back as written. (XlsxWriter and calamine escape and
decode the characters XML cannot hold, as _xHHHH_.)
"""

from __future__ import annotations

import json
import math
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CSV_ESCAPE_STARTS = (*FORMULA_STARTS, "'")


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def csv_escape(text: str) -> str:
    """Text for a CSV cell: one apostrophe before formula-like or apostrophe-led text."""
    return "'" + text if text.startswith(_CSV_ESCAPE_STARTS) else text


def csv_unescape(text: str) -> str:
    """The original text of a CSV cell: strips exactly one leading apostrophe."""
    return text[1:] if text.startswith("'") else text


def list_text(values: list[Any]) -> str:
    """A list as the comma-separated text spreadsheets hold (fields_editable_on_project)."""
    return ",".join(str(v) for v in values)


def is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def scalar_text(value: Any) -> str:
    """Text form of a value that no spreadsheet cell type holds (dicts, odd lists)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def value_text(value: Any) -> str:
    """The text a file holds for a value where its type is lost (a CSV cell, before its
    escape; a list or dict in a workbook): TRUE/FALSE, a number's digits, a list of texts
    comma-separated, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return number_text(value)
    if is_text_list(value):
        return list_text(value)
    return scalar_text(value)


def number_text(value: int | float) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)
