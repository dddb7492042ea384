"""The Rust writer (the fast-xlsx extra) writes the export XlsxWriter writes.

Each test writes the same export with both writers and compares what a
spreadsheet program and almmigrate see: every cell's value, type and format,
each sheet's panes, filter, widths and print set-up. The one difference
allowed: rust_xlsxwriter stores a whole number as "7.0", not "7"; Excel,
LibreOffice and calamine read both as the number 7.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import openpyxl
import pytest
from export_data import xlsx_gives_back
from hypothesis import example, given, settings
from hypothesis import strategies as st

from almmigrate.errors import InputError
from almmigrate.files import Table, cells, read_tables, write_tables
from almmigrate.files.xlsx import (
    PYTHON_WRITER,
    RUST_WRITER,
    WRITER_VARIABLE,
    export_writer,
    house_workbook,
    write_cell,
)
from almmigrate.secrets import MASK

pytest.importorskip("rvgsrust_xlsxwriter")

WRITERS = [PYTHON_WRITER, RUST_WRITER]
TEXTS = [
    *("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://e","c")'),
    *(MASK, "'quoted", "7", "007", "1e5", "TRUE", "null", "N/A", "NaN", "2024-01-02"),
    *("_x0041_", "x\x01y", "a\x00b", "a & <b> \"c\" 'd'", " lead", "trail ", "π 東京 🙂"),
    *("line one\nline two", "http://example.com/a?b=c", "x" * 300),
]
NUMBERS = [0, 7, -3, 2**53, 2**60, 0.1 + 0.2, 1.5217922234404114e-61, -0.0, 1e20]


def export_tables() -> list[Table]:
    """Connectors holding every kind of value an export writes, and an empty sheet."""
    values: list[Any] = [*TEXTS, *NUMBERS, True, False, None, ["a", "b"]]
    rows = [
        {
            "id": number,
            "name": f"connector {number}",
            "system": "jira",
            "inaccessible": number % 2 == 0,
            "params.x": value,
            "params.y": values[-1 - number],
        }
        for number, value in enumerate(values)
    ]
    return [
        Table("connectors", list(rows[0]), rows),
        Table("connections", ["id", "alias"], []),
    ]


def write_with(writer: str, path: Path, tables: list[Table]) -> None:
    with mock.patch.dict(os.environ, {WRITER_VARIABLE: writer}):
        write_tables(path, tables, meta={"source_url": "http://x", "format_version": "2"})


def seen(path: Path) -> dict[str, Any]:
    """What a spreadsheet program shows of a workbook: cells with their formats, and each
    sheet's layout (openpyxl in full mode, which reads styles and print settings)."""
    book = openpyxl.load_workbook(path)
    sheets: dict[str, Any] = {"names": book.sheetnames}
    for sheet in book.worksheets:
        cells = [
            (
                cell.coordinate,
                _number(cell.value),
                cell.data_type,
                cell.number_format,
                (cell.font.name, cell.font.sz, cell.font.b, cell.font.i),
                cell.font.color.rgb if cell.font.color is not None else None,
                (cell.fill.fill_type, cell.fill.fgColor.rgb if cell.fill.fill_type else None),
                cell.quotePrefix,
                (cell.alignment.wrap_text, cell.alignment.vertical),
            )
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None or cell.has_style
        ]
        sheets[sheet.title] = {
            "cells": cells,
            "freeze": sheet.freeze_panes,
            "filter": sheet.auto_filter.ref,
            "widths": {k: round(v.width, 2) for k, v in sheet.column_dimensions.items()},
            "orientation": sheet.page_setup.orientation,
            "fit": (
                sheet.sheet_properties.pageSetUpPr.fitToPage,
                sheet.page_setup.fitToWidth,
                sheet.page_setup.fitToHeight,
            ),
            "print_titles": sheet.print_title_rows,
            "footer": (sheet.oddFooter.left.text, sheet.oddFooter.right.text),
        }
    return sheets


def _number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("number", float(value))  # "7" and "7.0" are the one number 7
    return value


def test_both_writers_write_the_same_workbook(tmp_path: Path) -> None:
    paths = {writer: tmp_path / f"{writer}.xlsx" for writer in WRITERS}
    for writer, path in paths.items():
        write_with(writer, path, export_tables())
    python, rust = (seen(paths[w]) for w in WRITERS)
    assert rust == python
    # Not two copies of one mistake: the formats a reader sees are the house formats.
    connectors = python["connectors"]
    assert connectors["freeze"] == "A2" and connectors["filter"] == "A1:F41"
    assert connectors["orientation"] == "landscape" and connectors["fit"] == (
        True,
        None,
        0,
    )  # width 1: the default
    assert connectors["print_titles"] == "$1:$1"
    assert connectors["footer"] == ("&A", "Page &P of &N")
    styles = {cell[1]: cell for cell in connectors["cells"] if cell[0].startswith("E")}
    assert (styles["=1+1"][7], styles["007"][7]) == (True, False)  # quotePrefix
    assert styles[MASK][4][3] is True and styles[MASK][6] == ("solid", "FFE7E6E6")
    assert styles["007"][4] == ("Calibri", 11, False, False)
    assert read_tables(paths[RUST_WRITER]) == read_tables(paths[PYTHON_WRITER])


def test_a_real_export_reads_back_the_same_from_either_writer(
    cli: Any, source_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDE_TOKEN", "sim-source-token")
    read: dict[str, Any] = {}
    for writer in WRITERS:
        monkeypatch.setenv(WRITER_VARIABLE, writer)
        path = tmp_path / f"{writer}.xlsx"
        code, _, err = cli("export", "--url", source_sim.url, "--out", str(path))
        assert code == 0, err
        tables = read_tables(path)
        meta = {r["key"]: r["value"] for r in tables.pop("_meta").rows}
        read[writer] = ({n: t.rows for n, t in tables.items()}, sorted(meta))
        layout = seen(path)
        read[writer + " layout"] = {k: v for k, v in layout.items() if k != "_meta"}
    assert read[RUST_WRITER] == read[PYTHON_WRITER]
    assert len(read[RUST_WRITER][0]["connections"]) > 100
    assert read[RUST_WRITER + " layout"] == read[PYTHON_WRITER + " layout"]


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(_TEXT, min_size=1, max_size=6))
@example(values=["a", "\ufffe"])  # refused: read back as _xFFFE_
def test_any_text_reads_back_exactly_from_the_rust_writer(values: list[str]) -> None:
    rows = [{"id": 1, "name": "n", "params.x": v} for v in values]
    with (
        mock.patch.dict(os.environ, {WRITER_VARIABLE: RUST_WRITER}),
        tempfile.TemporaryDirectory() as folder,
    ):
        path = Path(folder) / "t.xlsx"
        table = Table("connectors", ["id", "name", "params.x"], rows)
        if not xlsx_gives_back(*values):
            with pytest.raises(InputError, match="it would read back changed"):
                write_tables(path, [table], meta={})
            return
        write_tables(path, [table], meta={})
        back = read_tables(path)["connectors"].rows
    assert [r["params.x"] for r in back] == values


# ---------------------------------------------------------------- what an Excel cell holds

EMOJI = "\U0001f642"  # one character, two UTF-16 units


@pytest.mark.parametrize("writer", WRITERS)
def test_text_over_excels_limit_in_utf16_units_is_refused_by_either_writer(
    tmp_path: Path, writer: str
) -> None:
    # Excel's 32,767 is counted in UTF-16 units: XlsxWriter cut 20,000 emoji to 16,383
    # without a word, rust_xlsxwriter wrote more than Excel reads.
    rows = [{"id": 1, "name": "n", "params.x": EMOJI * 20_000}]
    with pytest.raises(InputError) as refused:
        write_with(writer, tmp_path / "t.xlsx", [Table("connectors", list(rows[0]), rows)])
    assert str(refused.value) == (
        "connectors row 2, params.x: 20000 characters (40000 as Excel counts them: UTF-16 "
        "units) do not fit in one Excel cell (at most 32767); export to .json instead"
    )
    assert list(tmp_path.iterdir()) == []
    fits = EMOJI * 16_383 + "a"  # 32,767 units
    rows = [{"id": 1, "name": "n", "params.x": fits}]
    write_with(writer, tmp_path / "t.xlsx", [Table("connectors", list(rows[0]), rows)])
    assert read_tables(tmp_path / "t.xlsx")["connectors"].rows[0]["params.x"] == fits


def test_a_report_or_template_cell_over_the_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as refused, house_workbook(tmp_path / "r.xlsx") as book:
        write_cell(book, book.sheet("results"), 3, 2, EMOJI * 16_384)
    assert str(refused.value) == (
        "results row 4, C: 16384 characters (32768 as Excel counts them: UTF-16 units) "
        "do not fit in one Excel cell (at most 32767); export to .json instead"
    )


NOT_EXACT = (
    "this text holds _xHHHH_ sequences, the way an .xlsx spells a character, that this writer "
    "cannot keep apart from the text around them: it would read back changed; export to .json "
    "instead"
)
NONCHARACTER = (
    "this text holds the noncharacter U+FFFE, which an .xlsx cannot hold (a reader gives "
    "back _xFFFE_): it would read back changed; export to .json instead"
)
# Text that some writer's _xHHHH_ escape gave back changed, and what each writer does now.
ESCAPES_MEETING = {
    "_x0041_x0042_": {PYTHON_WRITER: "refused", RUST_WRITER: "exact"},  # read back _x0041B
    "ticket_x00ff\r\nline two": {PYTHON_WRITER: "refused", RUST_WRITER: "refused"},
    "_x0041\x00xx": {PYTHON_WRITER: "refused", RUST_WRITER: "refused"},
    "\ufffe": {PYTHON_WRITER: "refused", RUST_WRITER: "refused"},  # read back _xFFFE_
    "_x0041_": {PYTHON_WRITER: "exact", RUST_WRITER: "exact"},
    "a\x00b_x": {PYTHON_WRITER: "exact", RUST_WRITER: "exact"},
}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("text", list(ESCAPES_MEETING))
def test_text_an_xlsx_would_give_back_changed_is_refused(
    tmp_path: Path, writer: str, text: str
) -> None:
    rows = [{"id": 1, "name": "n", "params.x": "fine"}, {"id": 2, "name": "m", "params.x": text}]
    path = tmp_path / "t.xlsx"
    if ESCAPES_MEETING[text][writer] == "exact":
        write_with(writer, path, [Table("connectors", list(rows[0]), rows)])
        assert read_tables(path)["connectors"].rows[1]["params.x"] == text
        return
    with pytest.raises(InputError) as refused:
        write_with(writer, path, [Table("connectors", list(rows[0]), rows)])
    why = NONCHARACTER if text == "\ufffe" else NOT_EXACT
    assert str(refused.value) == f"connectors row 3, params.x: {why}"
    assert list(tmp_path.iterdir()) == []


def test_a_report_or_template_cell_an_xlsx_would_change_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as refused, house_workbook(tmp_path / "r.xlsx") as book:
        write_cell(book, book.sheet("results"), 1, 0, "_x0041_x0042_")
    assert str(refused.value) == f"results row 2, A: {NOT_EXACT}"


# Text where escapes meet: _x, hex digits, underscores and the characters escaped.
_ESCAPE_PARTS = st.sampled_from(
    ["_x", "_", "x", "0", "4", "1", "5F", "5f", "D", "d", "00", "FF", "\r", "\n", "\t"]
    + ["\x00", "\x01", "\x1f", "\ufffe", "a", "\U0001f642"]
)
_ESCAPE_TEXT = st.lists(_ESCAPE_PARTS, min_size=1, max_size=12).map("".join)


@pytest.mark.parametrize("writer", WRITERS)
@settings(max_examples=30, deadline=None)
@given(values=st.lists(_ESCAPE_TEXT, min_size=1, max_size=40))
@example(values=["_x05F0\r"])  # calamine gives it back, Excel would not: refused
@example(values=["_x0041_x0042_", "plain"])
def test_a_text_is_refused_exactly_when_the_writer_would_give_it_back_changed(
    writer: str, values: list[str]
) -> None:
    rows = [{"id": n, "name": "n", "params.x": v} for n, v in enumerate(values)]
    table = Table("connectors", ["id", "name", "params.x"], rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.xlsx"
        with mock.patch.object(cells, "xlsx_exact", lambda text, **_: True):
            write_with(writer, path, [table])  # as the writer alone writes them
        back = [r["params.x"] for r in read_tables(path)["connectors"].rows]
        changed = [v for v, b in zip(values, back, strict=True) if v != b]
        each = writer == RUST_WRITER
        refused = [v for v in values if not cells.xlsx_exact(v, escapes_each_literal=each)]
        table.rows = rows
        if refused:
            with pytest.raises(InputError, match="it would read back changed"):
                write_with(writer, path, [table])
        else:
            write_with(writer, path, [table])
    assert set(changed) <= set(refused)  # never a text changed without a word
    # Refused beyond what calamine changes: only where Excel, which decodes every
    # _xHHHH_ (calamine only up to _x00FF_), would read the writer's escape back changed.
    for text in set(refused) - set(changed):
        assert re.search("_x[0-9a-fA-F]{2}(?<!00)", text)


# ---------------------------------------------------------------- choosing the writer


@pytest.mark.parametrize(
    ("setting", "chosen"),
    [(None, RUST_WRITER), ("xlsxwriter", PYTHON_WRITER), (" Rust_XlsxWriter ", RUST_WRITER)],
)
def test_the_rust_writer_is_used_where_installed_unless_told(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, chosen: str
) -> None:
    if setting is None:
        monkeypatch.delenv(WRITER_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(WRITER_VARIABLE, setting)
    assert export_writer() == chosen


def test_without_the_binding_exports_go_through_xlsxwriter_unless_rust_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "rvgsrust_xlsxwriter", None)  # import fails
    monkeypatch.delitem(sys.modules, "almmigrate.files.rustbook", raising=False)
    monkeypatch.delenv(WRITER_VARIABLE, raising=False)
    assert export_writer() == PYTHON_WRITER
    write_tables(tmp_path / "t.xlsx", export_tables(), meta={})
    back = read_tables(tmp_path / "t.xlsx")["connectors"].rows
    assert [r["params.x"] for r in back[: len(TEXTS)]] == TEXTS
    monkeypatch.setenv(WRITER_VARIABLE, RUST_WRITER)
    with pytest.raises(InputError, match="rvgsrust-xlsxwriter is not installed"):
        export_writer()


def test_an_unknown_writer_is_refused_before_anything_is_written(
    cli: Any, source_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDE_TOKEN", "sim-source-token")
    monkeypatch.setenv(WRITER_VARIABLE, "openpyxl")
    code, _, err = cli("export", "--url", source_sim.url, "--out", str(tmp_path / "x.xlsx"))
    assert code == 2
    assert "ALMMIGRATE_XLSX_WRITER='openpyxl': say xlsxwriter or rust_xlsxwriter" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize(
    ("limit", "value", "tables", "said"),
    [
        (
            "MAX_SHEET_ROWS",
            4,
            [Table("connections", ["id"], [{"id": n} for n in range(4)])],
            "more than 3 rows",
        ),
        ("MAX_SHEET_COLUMNS", 2, [Table("connectors", ["id", "name", "system"], [])], "3 columns"),
    ],
)
def test_a_sheet_past_excels_limits_is_refused_by_either_writer_and_nothing_written(
    writer: str,
    limit: str,
    value: int,
    tables: list[Table],
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # XlsxWriter dropped the cells past the limit without a word; the Rust writer raised
    # ValueError (a traceback). Limits lowered: Excel's own would take a million rows.
    monkeypatch.setattr(f"almmigrate.files.table.{limit}", value)
    path = tmp_path / "out.xlsx"
    with pytest.raises(InputError) as refused:
        write_with(writer, path, tables)
    assert str(refused.value) == (
        f"{tables[0].name}: {said} do not fit in one Excel sheet (at most "
        f"{4 if limit == 'MAX_SHEET_ROWS' else 1048576:,} rows with the header and "
        f"{2 if limit == 'MAX_SHEET_COLUMNS' else 16384:,} columns); "
        "export to .json or to a folder of CSV files instead"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", WRITERS)
def test_a_sheet_at_excels_limits_is_written_whole(
    writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("almmigrate.files.table.MAX_SHEET_ROWS", 4)
    monkeypatch.setattr("almmigrate.files.table.MAX_SHEET_COLUMNS", 2)
    path = tmp_path / "out.xlsx"
    write_with(
        writer,
        path,
        [Table("connectors", ["id", "name"], [{"id": n, "name": "x"} for n in range(3)])],
    )
    assert [r["id"] for r in read_tables(path)["connectors"].rows] == [0, 1, 2]


def _panic_type() -> type[BaseException]:
    """pyo3's PanicException, got as the Rust writer raises it: its row-file folder removed."""
    from almmigrate.files.rustbook import RustBook

    folder = tempfile.mkdtemp()
    book = RustBook(folder)
    os.rmdir(folder)
    try:
        book.add_worksheet("a").write_string(0, 0, "x")
        book.save()
    except BaseException as panic:  # noqa: BLE001 - the panic is what this looks for
        return type(panic)
    raise AssertionError("the Rust writer did not panic without its temporary folder")


def _full_after(calls: int, write: Any, failure: BaseException) -> Any:
    count = iter(range(calls))

    def written(*args: Any) -> Any:
        if next(count, None) is None:
            raise failure
        return write(*args)

    return written


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("early", [False, True])
def test_a_full_temporary_folder_is_one_line_exit_2_and_leaves_nothing(
    writer: str,
    early: bool,
    cli: Any,
    source_sim: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What each writer raises when TMPDIR fills up: XlsxWriter an OSError, the Rust
    # writer a panic (a BaseException). Both ended in a traceback, exit 1.
    import xlsxwriter.worksheet

    from almmigrate import earlywrite
    from almmigrate.files import rustbook

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setattr(earlywrite, "GUESS_AFTER", 5 if early else 10**9)
    if writer == RUST_WRITER:
        panic = _panic_type()(
            "called `Result::unwrap()` on an `Err` value: Os { code: 28, kind: StorageFull, "
            'message: "No space left on device" }'
        )
        made = rustbook.RustSheet.__init__

        def sheet(self: Any, inner: Any) -> None:
            made(self, inner)
            self.write_string = self.write_number = _full_after(150, inner.write, panic)

        monkeypatch.setattr(rustbook.RustSheet, "__init__", sheet)
    else:
        full = OSError(28, "No space left on device")
        monkeypatch.setattr(
            xlsxwriter.worksheet.Worksheet,
            "write_string",
            _full_after(150, xlsxwriter.worksheet.Worksheet.write_string, full),
        )
    monkeypatch.setenv(WRITER_VARIABLE, writer)
    monkeypatch.setenv("SDE_TOKEN", "sim-source-token")
    out = tmp_path / "out" / "x.xlsx"
    out.parent.mkdir()
    code, _, err = cli("export", "--url", source_sim.url, "--out", str(out))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.fullmatch(
        f"InputError: cannot write {re.escape(str(out))}: no space left in the temporary "
        f"folder {re.escape(str(temporary))}/almmigrate-xlsx\\.almmigrate-partial-[^ ]+ \\(TMPDIR names another\\)",
        lines[0],
    ), lines[0]
    assert list(out.parent.iterdir()) == []
    assert list(temporary.iterdir()) == []


def test_a_rust_writer_panic_without_an_os_error_is_one_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from almmigrate.files import rustbook

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    panic = _panic_type()("index out of bounds\nnote: run with RUST_BACKTRACE=1")

    def save(self: Any) -> bytes:
        raise panic

    monkeypatch.setattr(rustbook.RustBook, "save", save)
    path = tmp_path / "x.xlsx"
    with pytest.raises(InputError) as refused:
        write_with(RUST_WRITER, path, [Table("connectors", ["id"], [{"id": 1}])])
    assert re.fullmatch(
        f"cannot write {re.escape(str(path))}: the xlsx writer failed \\(index out of bounds\\) "
        f"writing in the temporary folder {re.escape(str(tmp_path))}/almmigrate-xlsx\\.almmigrate-partial-[^ ]+",
        str(refused.value),
    ), str(refused.value)
    assert list(tmp_path.iterdir()) == []
