"""Cell encoding shared by the formats: formula safety, escapes, and text forms of values.

Spreadsheet programs run text that starts with = + - @ tab or CR as a formula
(CSV injection). xlsx writes such text as an explicit text cell with the
quotePrefix style; CSV puts one apostrophe in front, and reading strips exactly
one, so every text reads back as written. (XlsxWriter and calamine escape and
decode the characters XML cannot hold, as _xHHHH_; `xlsx_exact` tells the few
texts whose escape reads back changed.)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet stores numbers as doubles: past this, a whole number has lost digits.
MAX_EXACT_INT = 2**53
_CSV_ESCAPE_STARTS = (*FORMULA_STARTS, "'")
# The .xlsx escape, as XlsxWriter writes it: a literal _xHHHH_ gets its underscore
# escaped (_x005F_xHHHH_), then each control character XML cannot hold becomes
# _xHHHH_, as do the noncharacters U+FFFE and U+FFFF.
_LITERAL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
# rust_xlsxwriter escapes each literal, also two sharing an underscore (_x0041_x0042_).
_EACH_LITERAL_ESCAPE = re.compile(r"_(?=x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
NONCHARACTERS = {"\ufffe": "_xFFFE_", "\uffff": "_xFFFF_"}
# How readers decode it, left to right: Excel any character (ECMA-376), calamine only
# U+0000 to U+00FF; a code that is no character (a surrogate, a noncharacter) stays
# as written. A text is written only where both read it back as it is.
_ESCAPED = re.compile(r"_x([0-9a-fA-F]{4})_")
_CALAMINE_DECODES = 0xFF
_UNDECODED = frozenset((*range(0xD800, 0xE000), 0xFFFE, 0xFFFF))


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


def xlsx_exact(text: str, *, escapes_each_literal: bool = False) -> bool:
    """True when text written to an .xlsx reads back the same.

    Not so where escapes meet: XlsxWriter escapes only the first of two literal
    _xHHHH_ sharing an underscore (`_x0041_x0042_` reads back `_x0041B`;
    rust_xlsxwriter, escapes_each_literal, escapes both), and both writers leave
    `_xHHHH` before a control character as it is, so the control character's
    escape closes it (`_x00ff` then CR reads back `ÿx000D_`); a noncharacter
    reads back as its escape. Decided by writing the escape and decoding it as
    Excel and as calamine do.
    """
    if "_x" not in text and "\ufffe" not in text and "\uffff" not in text:
        return True  # the escapes written are then each read back alone
    escaped = _escaped(text, escapes_each_literal)
    return _decoded(escaped, 0x10FFFF) == text == _decoded(escaped, _CALAMINE_DECODES)


def _escaped(text: str, escapes_each_literal: bool) -> str:
    if escapes_each_literal:
        text = _EACH_LITERAL_ESCAPE.sub("_x005F_", text)
    else:
        text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda found: f"_x{ord(found[0]):04X}_", text)
    for character, escape in NONCHARACTERS.items():
        text = text.replace(character, escape)
    return text


def _decoded(text: str, up_to: int) -> str:
    def character(found: re.Match[str]) -> str:
        code = int(found[1], 16)
        return found[0] if code > up_to or code in _UNDECODED else chr(code)

    return _ESCAPED.sub(character, text)
