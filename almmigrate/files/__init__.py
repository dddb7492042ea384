"""The file layer: the only code that opens files for data, reading and writing.

Tables in and out of workbooks, .json documents, CSV folders and single CSV
files (this module); workbooks are written as .xlsx and read as .xlsx, .xlsm,
.xls or .ods. The format comes from the path. Reading returns only the
layout's sheets that are present (absent = empty).

Modules: ``table`` (Table, limits) · ``cells`` (formula safety, escapes) ·
``atomic`` (every file written: beside the target, then renamed; private
files 0600 from the first byte) · ``xlsx`` (every .xlsx written: exports,
reports, templates, with the house formats and page set-up) · ``workbook``
(reading, after the ``container`` checks: sizes, zip and XML bombs; then
``formulas``) · ``csvfiles`` (every CSV read: data, project maps, secrets
files; data CSV written) · ``jsonfile``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

from almmigrate.errors import InputError
from almmigrate.files import csvfiles, jsonfile, workbook, xlsx
from almmigrate.files.atomic import (
    atomic_file,
    atomic_folder,
    atomic_text,
    cannot_write,
    new_file,
)
from almmigrate.files.container import OLE_MAGIC, ZIP_MAGIC
from almmigrate.files.table import ALL_SHEETS, META_SHEET, Table

__all__ = ["StreamedXlsx", "Table", "output_format", "read_tables", "streamed_xlsx", "write_tables"]

_CSV_NAMES = {f"{name}.csv" for name in ALL_SHEETS}


def output_format(path: str | Path) -> str:
    """ "xlsx", "json" or "csv" (a folder of CSV files; a single file when it ends .csv)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".xlsx":
        return "xlsx"
    if suffix == ".json":
        return "json"
    return "csv"


# ---------------------------------------------------------------- writing


def write_tables(
    path: str | Path, tables: list[Table], *, meta: dict[str, str], private: bool = False
) -> None:
    """Write tables (and a `_meta` sheet of key, value) to path, atomically.

    private: the file holds secrets in clear (--include-secrets): created
        readable by the owner only.
    Raises InputError when the path cannot be written.
    """
    target = Path(path)
    kind = output_format(target)
    meta_table = _meta_table(meta)
    try:
        if kind == "xlsx":
            with atomic_file(target, private=private) as stream:
                xlsx.write_workbook(stream, [*tables, meta_table])
        elif kind == "json":
            with atomic_text(target, private=private) as text:
                jsonfile.write_document(text, tables, meta)
        elif target.suffix.lower() == ".csv":
            _write_single_csv(target, tables, private)
        else:
            _write_csv_folder(target, [*tables, meta_table], private)
    except OSError as error:
        # Errors while writing are the atomic writers' to report; this catches the path's
        # own before they start (a name too long for the file system, a folder unreadable).
        raise cannot_write(target, error) from None


def _meta_table(meta: dict[str, str]) -> Table:
    return Table(META_SHEET, ["key", "value"], [{"key": k, "value": v} for k, v in meta.items()])


@contextlib.contextmanager
def streamed_xlsx(
    path: str | Path, names: list[str], *, private: bool = False
) -> Iterator[StreamedXlsx]:
    """An .xlsx of these sheets (and `_meta`, last) filled as rows come, in any sheet order.

    Written atomically when the block ends (call `meta` before), nothing left
    when it fails. Raises InputError when the path cannot be written.
    """
    target = Path(path)
    try:
        with (
            atomic_file(target, private=private) as stream,
            xlsx.streamed_workbook(stream, [*names, META_SHEET]) as sheets,
        ):
            yield StreamedXlsx(sheets)
    except OSError as error:  # the path's own, as in write_tables
        raise cannot_write(target, error) from None


class StreamedXlsx:
    """The sheets of :func:`streamed_xlsx` (see :class:`xlsx.SheetStreams`) and its `_meta`."""

    def __init__(self, sheets: xlsx.SheetStreams) -> None:
        self.sheets = sheets

    def meta(self, meta: dict[str, str]) -> None:
        self.sheets.write(_meta_table(meta))


def _write_single_csv(target: Path, tables: list[Table], private: bool) -> None:
    """One sheet to one .csv file: the only table given, or the only one with rows."""
    peeked = [_peek(t) for t in tables]
    filled = [t for t, has_rows in peeked if has_rows]
    if len(filled) > 1:
        names = ", ".join(t.name for t in filled)
        raise InputError(
            f"{target}: a .csv file holds one sheet, not {names}; "
            "give a folder path to write one CSV file per sheet"
        )
    chosen = filled[0] if filled else peeked[0][0] if peeked else None
    if chosen is None:
        raise InputError(f"{target}: nothing to write")
    with atomic_text(target, encoding="utf-8-sig", private=private) as text:
        csvfiles.write_csv(text, chosen)


def _peek(table: Table) -> tuple[Table, bool]:
    """The table with its rows still all there, and whether it has any."""
    rows = iter(table.rows)
    first = next(rows, None)
    if first is None:
        return Table(table.name, table.columns, []), False
    return Table(table.name, table.columns, itertools.chain([first], rows)), True


def _write_csv_folder(target: Path, tables: list[Table], private: bool) -> None:
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file; give a folder path (or .xlsx / .json) for CSV")
    if target.is_dir():
        others = sorted(p.name for p in target.iterdir() if p.name not in _CSV_NAMES)
        if others:
            raise InputError(
                f"{target} already holds other files ({', '.join(others[:3])}); "
                "give a new or empty folder"
            )
    with atomic_folder(target, private=private) as work:
        for table in tables:
            with new_file(work / f"{table.name}.csv", "utf-8-sig") as stream:
                csvfiles.write_csv(stream, table)


# ---------------------------------------------------------------- reading


def read_tables(path: str | Path) -> dict[str, Table]:
    """Read the sheets present in a workbook (.xlsx .xlsm .xls .ods), .json, CSV folder or CSV file.

    Raises InputError with the file (and sheet, row, column where known) for
    anything unreadable, oversized or unsafe.
    """
    source = Path(path)
    try:
        if not source.exists():
            raise InputError("no such file or folder", file=str(source))
        if source.is_dir():
            return _read_csv_folder(source)
        return _read_file(source)
    except PermissionError:
        raise InputError("permission denied", file=str(source)) from None
    except OSError as error:  # the path itself refused: a name too long for the file system
        raise InputError(f"cannot read: {error.strerror or error}", file=str(source)) from None


def _read_file(source: Path) -> dict[str, Table]:
    suffix = source.suffix.lower()
    if suffix in workbook.SUFFIXES:
        return workbook.read_workbook(source)
    if suffix == ".json":
        return jsonfile.read_document(source)
    if suffix in {".csv", ".txt", ".tsv"}:
        table = csvfiles.read_csv(source)
        return {table.name: table}
    with source.open("rb") as handle:
        start = handle.read(8).lstrip()
    if start.startswith((ZIP_MAGIC, OLE_MAGIC)):
        return workbook.read_workbook(source)
    if start.startswith((b"{", b"\xef\xbb\xbf{")):
        return jsonfile.read_document(source)
    table = csvfiles.read_csv(source)
    return {table.name: table}


def _read_csv_folder(folder: Path) -> dict[str, Table]:
    found = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    tables: dict[str, Table] = {}
    for name in ALL_SHEETS:
        path = found.get(f"{name}.csv")
        if path is not None:
            tables[name] = csvfiles.read_csv(path, name)
    if not tables:
        raise InputError(
            f"{folder}: no connectors.csv, connections.csv or projects.csv in this folder"
        )
    return tables
