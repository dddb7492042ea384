"""What kind of workbook a file is, and whether it is safe to hand to the reader.

Checked before any sheet is parsed, with a byte budget rather than trust:
the file's size; its first bytes (a zip for .xlsx/.xlsm/.ods, an OLE
compound file for .xls, anything else named in plain words); the sizes a
zip declares for its parts (bombs refused from the directory alone, at no
cost); then each XML part is inflated once in a stream, never past what it
declared, so a part that lies about its size is refused at its declared
size instead of growing in memory. The same pass notes the features the
reader cannot see for itself (calamine reads both as empty cells): formulas
and error cells in .xlsx sheets, merged cells and error cells in .ods sheets. No
workbook needs a DTD: any part that declares one is refused (XML bombs, XXE).

Every other look inside a workbook's XML (`formulas`) parses through
`xml_parser` / `parse_xml` from here, which refuse a DTD again.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
from xml.parsers import expat

import defusedxml.ElementTree as SafeTree

from almmigrate.errors import InputError
from almmigrate.files import table as limits

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CHUNK = 1024 * 1024
_TAIL = 4096  # bytes kept between chunks so a tag cut in two is still seen
# A formula (<f>, or <x:f> with a prefix), or a cell holding an error value (t="e"):
# both need a closer look. Plain byte searches: a regex here costs seconds on 100 MB.
_FORMULA_MARKS = (b"<f>", b"<f ", b"<f/", b":f>", b":f ", b't="e"', b"t='e'")
# XML keywords are upper case; a lower-case one is refused too, whatever a parser makes of it.
_DTD_MARKS = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")
BOMB = "it declares XML entities or a DTD (a possible XML bomb); refused"
_ODS_TABLE = re.compile(rb'<table:table\s[^>]*?table:name="([^"]*)"')
_ODS_SPAN = re.compile(rb'table:number-(?:columns|rows)-spanned="(\d+)"')
_ODS_ERROR = re.compile(rb'calcext:value-type="error"')
_ODS_PERCENT = re.compile(rb'office:value-type="percentage"')
_ODS_TAB = re.compile(rb"<text:tab[ />]")


@dataclass
class Container:
    """A workbook file that passed the checks: its kind and what the scan found."""

    kind: str  # "xlsx" (also .xlsm), "ods" or "xls"
    sheets_with_formulas: list[str] = field(default_factory=list)  # zip members (xlsx)
    # formulas or error cells: looked at again by `formulas`
    merged_in: set[str] = field(default_factory=set)  # sheet names with merged cells (ods)
    errors_in: set[str] = field(default_factory=set)  # sheet names with error cells (ods)
    percent_in: set[str] = field(default_factory=set)  # sheet names with percent cells (ods)
    tabs_in: set[str] = field(default_factory=set)  # sheet names with a tab in a text (ods)


def check_workbook(path: Path) -> Container:
    """The kind of workbook at path; InputError for anything that is not a sane one."""
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
    if start.startswith(OLE_MAGIC):
        return Container("xls")
    if not start.startswith(ZIP_MAGIC):
        raise InputError(_not_a_workbook(start), file=str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {m.filename for m in members}
            if "xl/workbook.xml" in names:
                kind = "xlsx"
            elif "content.xml" in names:
                kind = "ods"
            else:
                raise InputError(
                    "a zip archive with no workbook in it (neither .xlsx nor .ods)", file=str(path)
                )
            _check_declared_sizes(path, members)
            return _scan(path, archive, members, kind)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise InputError(f"not a valid workbook (broken zip: {error})", file=str(path)) from None


def _not_a_workbook(start: bytes) -> str:
    try:
        text = start.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "not a workbook (.xlsx, .xls or .ods): the file is binary data of another kind"
    if "\x00" not in text and ("," in text or ";" in text) and "\n" in text:
        return "a CSV file named as a workbook; rename it to .csv"
    return "not a workbook (.xlsx, .xls or .ods): it is not a zip archive"


def _check_declared_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        too_big = member.file_size > limits.MAX_UNPACKED_BYTES
        bomb = member.file_size > limits.RATIO_CHECK_ABOVE and ratio > limits.MAX_RATIO
        if too_big or bomb:
            raise InputError(
                f"refused: {member.filename} unpacks to {member.file_size // 2**20} MB "
                f"(compressed {ratio:.0f} to 1); a workbook this size is not sane",
                file=str(path),
            )
    if total > limits.MAX_UNPACKED_BYTES:
        raise InputError(
            f"refused: the workbook unpacks to {total // 2**20} MB, more than the "
            f"{limits.MAX_UNPACKED_BYTES // 2**20} MB a workbook may hold",
            file=str(path),
        )


def _scan(
    path: Path, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], kind: str
) -> Container:
    """Inflate every XML part once, within its declared size (zipfile stops there and checks
    the CRC), noting formulas in xlsx sheets and merged cells in ods sheets."""
    found = Container(kind)
    for member in members:
        if not member.filename.endswith((".xml", ".rels")):
            continue
        is_sheet = kind == "xlsx" and member.filename.startswith("xl/worksheets/")
        is_content = kind == "ods" and member.filename == "content.xml"
        tail = b""
        table = ""
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                window = tail + chunk
                if any(mark in window for mark in _DTD_MARKS):
                    raise InputError(
                        f"{member.filename} declares XML entities or a DTD "
                        "(a possible XML bomb); refused",
                        file=str(path),
                    )
                noted = member.filename in found.sheets_with_formulas
                if is_sheet and not noted and any(mark in window for mark in _FORMULA_MARKS):
                    found.sheets_with_formulas.append(member.filename)
                if is_content:
                    table = _ods_marks(window, len(tail), table, found)
                tail = window[-_TAIL:]
    return found


def _ods_marks(window: bytes, seen: int, table: str, found: Container) -> str:
    """Note the sheets of an ods content.xml that merge cells, hold an error (#N/A), a percent
    or a tab in a text;
    returns the name of the sheet open at the end of window.

    seen: how many bytes at the start of window were scanned before (the kept tail).
    """
    marks = (b"<table:table ", b"-spanned=", b"error", b"percentage", b"<text:tab")
    if not any(mark in window for mark in marks):
        return table
    events = [(m.start(), "table", m) for m in _ODS_TABLE.finditer(window)]
    events += [(m.start(), "span", m) for m in _ODS_SPAN.finditer(window)]
    events += [(m.start(), "error", m) for m in _ODS_ERROR.finditer(window)]
    events += [(m.start(), "percent", m) for m in _ODS_PERCENT.finditer(window)]
    events += [(m.start(), "tab", m) for m in _ODS_TAB.finditer(window)]
    for position, what, match in sorted(events, key=lambda e: e[0]):
        if what == "table":
            table = match.group(1).decode("utf-8", "replace")
        elif position < seen:
            continue
        elif what == "span" and int(match.group(1)) > 1:
            found.merged_in.add(table)
        elif what == "error":
            found.errors_in.add(table)
        elif what == "percent":
            found.percent_in.add(table)
        elif what == "tab":
            found.tabs_in.add(table)
    return table


# ---------------------------------------------------------------- parsing XML parts


class ForbiddenXML(Exception):
    """The XML declares a DTD or entities: refused as a possible XML bomb."""


def xml_parser() -> Any:
    """An expat parser that refuses any DTD or entity (none declared, expanded or fetched)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: Any) -> Any:
        raise ForbiddenXML

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    return parser


def parse_xml(data: bytes) -> Element:
    """A small XML part as a tree, through defusedxml (a DTD or entity raises)."""
    return SafeTree.fromstring(data)
