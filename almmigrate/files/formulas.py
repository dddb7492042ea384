"""Cells of an .xlsx sheet that calamine would read as empty: formulas without a
saved value, and error values (#N/A, #REF!).

A workbook written by a program (not Excel or LibreOffice) may hold formulas
with no cached result, and a broken lookup leaves #N/A; calamine reads both
as an empty cell, and an import would blank the value. So the sheets in
which the container scan saw a formula or an error are read once more here,
with the parsers of `container`, which refuse any DTD (no entity declared or
expanded, nothing fetched).
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from typing import Any

from almmigrate.files.container import parse_xml, xml_parser

_CHUNK = 1024 * 1024
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_SHEET_TAG = "sheet"
_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def sheet_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Zip member of each sheet, by the sheet's name (from workbook.xml and its relations)."""
    targets = {}
    for relation in parse_xml(archive.read("xl/_rels/workbook.xml.rels")).iter(_RELS):
        target = relation.get("Target", "")
        member = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        targets[relation.get("Id")] = posixpath.normpath(member)
    members = {}
    for element in parse_xml(archive.read("xl/workbook.xml")).iter():
        if element.tag.rpartition("}")[2] == _SHEET_TAG and element.get(_ID) in targets:
            members[str(element.get("name"))] = targets[element.get(_ID)]
    return members


def first_unreadable_cell(path: Path, member: str) -> tuple[str, str] | None:
    """The first cell calamine would read as empty though it is not: (reference, what it holds).

    Raises container.ForbiddenXML for a DTD, expat.ExpatError for broken XML.
    """
    finder = _Finder()
    parser = xml_parser()
    parser.StartElementHandler = finder.start
    parser.EndElementHandler = finder.end
    parser.CharacterDataHandler = finder.characters
    parser.buffer_text = True
    with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
        while finder.found is None and (chunk := stream.read(_CHUNK)):
            parser.Parse(chunk, False)
    return finder.found


class _Finder:
    """Tracks each <c>: whether it has an <f> and a non-empty <v> (or is a text result)."""

    def __init__(self) -> None:
        self.found: tuple[str, str] | None = None
        self.cell: dict[str, Any] = {}
        self.row = 0
        self.in_value = False

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        local = tag.rpartition(":")[2]
        if local == "row":
            self.row = int(attributes.get("r") or self.row + 1)
        elif local == "c":
            self.cell = {"r": attributes.get("r"), "t": attributes.get("t", "n")}
        elif local in ("f", "v"):
            self.cell[local] = True
            self.in_value = local == "v"

    def characters(self, data: str) -> None:
        if self.in_value and data:
            self.cell["value"] = self.cell.get("value", "") + data

    def end(self, tag: str) -> None:
        local = tag.rpartition(":")[2]
        self.in_value = False
        if local != "c" or self.found is not None:
            return
        cell = self.cell
        # A text result may be saved as <v/> (the empty text); any other needs a value.
        empty_text = cell.get("v") and cell["t"] == "str"
        reference = cell["r"] or f"row {self.row}"
        if cell["t"] == "e":
            self.found = (reference, f"the error {cell.get('value', '').strip() or 'value'}")
        elif cell.get("f") and not cell.get("value") and not empty_text:
            self.found = (reference, "a formula with no saved value")
