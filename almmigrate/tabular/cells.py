"""Cell encoding shared by the formats: formula safety, escapes, and text forms of values.

Spreadsheet programs run text that starts with = + - @ tab or CR as a formula
(CSV injection). xlsx writes such text as an explicit text cell with the
quotePrefix style; CSV puts one apostrophe in front, and reading strips exactly
one, so every text reads back as written.
"""

from __future__ import annotations

import json
import math
import re
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


# OOXML (ST_Xstring) escapes characters XML cannot hold as _xHHHH_; a literal
# "_xHHHH_" is itself escaped by writing its underscore as _x005F_. Excel and
# LibreOffice decode these; openpyxl does not, so we do both directions.
# CR is escaped too: an XML parser turns a raw CR into LF.
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\r\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_XML_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def xlsx_escape(text: str) -> str:
    return _XML_UNSAFE.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)


def xlsx_unescape(text: str) -> str:
    if "_x" not in text:
        return text
    return _XML_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def list_text(values: list[Any]) -> str:
    """A list as the comma-separated text spreadsheets hold (fields_editable_on_project)."""
    return ",".join(str(v) for v in values)


def is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def scalar_text(value: Any) -> str:
    """Text form of a value that no spreadsheet cell type holds (dicts, odd lists)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def number_text(value: int | float) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)
