"""One worksheet's XML read in a single streamed pass, safely and fast.

openpyxl reads sheets through defusedxml's pure-Python parser (about 30 s for
50,000 rows x 30 columns). This reads them with expat directly under the same
rules defusedxml applies, stricter: no DTD at all, so no entity can be
declared or expanded and nothing external is fetched (XML bombs, XXE).
Shared strings, styles and the workbook itself are still read by openpyxl.

Cells are typed as openpyxl types them: numbers, booleans, text (shared,
inline or a formula's cached text), error codes as their text, dates by the
cell's number format, booleans written with the TRUE/FALSE format (which
LibreOffice saves back as 0/1 numbers) as booleans.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any
from xml.parsers import expat

from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel, from_ISO8601

_CHUNK = 1024 * 1024


class ForbiddenXML(Exception):
    """The XML declares a DTD or entities: refused as a possible XML bomb."""


class FormulaWithoutValue(Exception):
    """A formula cell carries no cached value (data-only reading would see it empty)."""


class SheetReader:
    """Streams (row number, [(column index, value), ...]) from a sheet; `merged` after the end."""

    def __init__(
        self,
        shared_strings: Sequence[Any],
        *,
        date_styles: set[int],
        timedelta_styles: set[int],
        epoch: Any,
        boolean_styles: frozenset[int] | set[int] = frozenset(),
    ) -> None:
        self.shared_strings = shared_strings
        self.date_styles = date_styles
        self.timedelta_styles = timedelta_styles
        self.boolean_styles = boolean_styles
        self.epoch = epoch
        self.merged: list[str] = []
        self._rows: list[tuple[int, list[tuple[int, Any]]]] = []
        self._row_number = 0
        self._cells: list[tuple[int, Any]] = []
        self._column = 0
        self._cell: dict[str, Any] = {}
        self._text: list[str] | None = None  # collecting character data when not None
        self._inline: list[str] = []
        self._phonetic = False

    def rows(self, stream: IO[bytes]) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
        parser = _safe_parser()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
            yield from self._drain()
        parser.Parse(b"", True)
        yield from self._drain()

    def _drain(self) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
        rows, self._rows = self._rows, []
        yield from rows

    # ------------------------------------------------ expat callbacks

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        local = tag.rpartition(":")[2]
        if local == "c":
            self._cell = {"r": attributes.get("r"), "t": attributes.get("t", "n")}
            self._cell["s"] = int(attributes.get("s") or 0)
            self._inline = []
        elif local == "v" or local == "t" and not self._phonetic:
            self._text = []
        elif local == "f":
            self._cell["f"] = True
        elif local == "rPh":
            self._phonetic = True
        elif local == "row":
            number = attributes.get("r")
            self._row_number = int(number) if number else self._row_number + 1
            self._cells = []
            self._column = 0
        elif local == "mergeCell" and attributes.get("ref"):
            self.merged.append(attributes["ref"])

    def _end(self, tag: str) -> None:
        local = tag.rpartition(":")[2]
        if local == "v" and self._text is not None:
            self._cell["v"] = "".join(self._text)
            self._text = None
        elif local == "t" and self._text is not None:
            self._inline.append("".join(self._text))
            self._text = None
        elif local == "rPh":
            self._phonetic = False
        elif local == "c":
            self._cells.append(self._finish_cell())
        elif local == "row":
            self._rows.append((self._row_number, self._cells))

    def _characters(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    # ------------------------------------------------ typing

    def _finish_cell(self) -> tuple[int, Any]:
        cell = self._cell
        reference = cell["r"]
        if reference:
            self._column = coordinate_to_tuple(reference)[1]
        else:
            self._column += 1
        kind, raw = cell["t"], cell.get("v")
        # An empty <v/> is a cached value only for a text result: the empty string.
        if cell.get("f") and (raw is None or (raw == "" and kind != "str")):
            raise FormulaWithoutValue(reference or f"row {self._row_number}")
        if kind == "inlineStr":
            return self._column, "".join(self._inline)
        if not raw:
            return self._column, None
        return self._column, self._typed(kind, raw, cell["s"])

    def _typed(self, kind: str, raw: str, style: int) -> Any:
        if kind == "n":
            number = _number(raw)
            if style in self.date_styles:
                return from_excel(number, self.epoch, timedelta=style in self.timedelta_styles)
            if style in self.boolean_styles and number in (0, 1):
                return number == 1  # a boolean LibreOffice saved as a TRUE/FALSE-formatted number
            return number
        if kind == "s":
            return str(self.shared_strings[int(raw)])
        if kind == "b":
            return raw.strip() not in ("0", "false")
        if kind == "d":
            return from_ISO8601(raw)
        return raw  # "str" (a formula's text) and "e" (an error code such as #N/A)


def _number(raw: str) -> int | float:
    text = raw.strip()
    if "." in text or "E" in text or "e" in text or text.lower() in ("nan", "inf", "-inf"):
        return float(text)
    return int(text)


def _safe_parser() -> Any:
    """An expat parser that refuses any DTD, entity declaration or external reference."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: Any) -> Any:
        raise ForbiddenXML

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.buffer_text = True
    return parser
