"""Tables in and out of files: workbooks, .json documents, CSV folders and single CSV files.

Workbooks are written as .xlsx and read as .xlsx, .xlsm, .xls or .ods.

The format comes from the path. Writing is atomic (a temporary file or folder
beside the target, then a rename), so a failure never leaves a partial file;
``private=True`` creates everything mode 0600/0700 from the first byte. A
process killed mid-write cannot clean up: its partial file is named
``NAME.almmigrate-partial-HOST-PID.XXXX`` (visible, so the user can find it)
and the next write into that folder removes it once PID is gone.
Reading returns only the layout's sheets that are present (absent = empty).

Modules: ``table`` (Table, limits) · ``cells`` (formula safety, escapes) ·
``xlsx`` (writing) · ``printing`` (page set-up of every sheet written) ·
``workbook`` (reading, + ``container`` checks and ``formulas``) · ``csvfiles`` · ``jsonfile``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from almmigrate.errors import InputError
from almmigrate.files import csvfiles, jsonfile, workbook, xlsx
from almmigrate.files.container import OLE_MAGIC, ZIP_MAGIC
from almmigrate.files.table import ALL_SHEETS, META_SHEET, Table

__all__ = ["Table", "output_format", "read_tables", "write_tables"]

_CSV_NAMES = {f"{name}.csv" for name in ALL_SHEETS}
_PARTIAL = ".almmigrate-partial-"
_PARTIAL_NAME = re.compile(re.escape(_PARTIAL) + r"(?P<host>.+)-(?P<pid>\d+)\.[^.]+$")
log = logging.getLogger(__name__)


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
    meta_table = Table(
        META_SHEET, ["key", "value"], [{"key": k, "value": v} for k, v in meta.items()]
    )
    try:
        if kind == "xlsx":
            with _atomic_file(target, private) as stream:
                xlsx.write_workbook(stream, [*tables, meta_table])
        elif kind == "json":
            with _atomic_file(target, private) as stream:
                text = _text_stream(stream, "utf-8")
                jsonfile.write_document(text, tables, meta)
                text.flush()
                text.detach()
        elif target.suffix.lower() == ".csv":
            _write_single_csv(target, tables, private)
        else:
            _write_csv_folder(target, [*tables, meta_table], private)
    except OSError as error:
        raise InputError(f"cannot write {target}: {error.strerror or error}") from None


def _text_stream(stream: IO[bytes], encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding=encoding, newline="")  # type: ignore[arg-type]


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
    with _atomic_file(target, private) as stream:
        text = _text_stream(stream, "utf-8-sig")
        csvfiles.write_csv(text, chosen)
        text.flush()
        text.detach()


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
    parent = _writable_parent(target)
    work = Path(tempfile.mkdtemp(prefix=_partial_prefix(target), dir=parent))
    try:
        for table in tables:
            path = work / f"{table.name}.csv"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(descriptor, "w", encoding="utf-8-sig", newline="") as stream:
                csvfiles.write_csv(stream, table)
            if not private:
                os.chmod(path, 0o666 & ~_umask())
        if not private:
            os.chmod(work, 0o777 & ~_umask())
        _swap_folder(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _swap_folder(work: Path, target: Path) -> None:
    """Put the finished folder in place; an old export folder is replaced whole."""
    if not target.exists():
        os.rename(work, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(work, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _atomic_file(target: Path, private: bool) -> Iterator[IO[bytes]]:
    """A binary stream to a temporary file beside target, renamed over it on success."""
    if target.is_dir():
        raise InputError(f"{target} is a folder; give a file path")
    parent = _writable_parent(target)
    # mkstemp creates the file 0600, so a private file is never readable by others.
    descriptor, temporary = tempfile.mkstemp(prefix=_partial_prefix(target), dir=parent)
    try:
        with os.fdopen(descriptor, "w+b") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if not private:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _writable_parent(target: Path) -> Path:
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {target}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {target}: no permission to write in {parent}")
    remove_abandoned_partials(parent)
    return parent


def _partial_prefix(target: Path) -> str:
    return f"{target.name}{_PARTIAL}{socket.gethostname()}-{os.getpid()}."


def remove_abandoned_partials(folder: Path) -> list[Path]:
    """Delete the partial files of writes into folder whose process died (they may hold secrets).

    Only this host's, and only when their process is gone: a write still running
    (here or on another machine sharing the folder) keeps its file. Each removal is logged.
    """
    removed = []
    host = socket.gethostname()
    for path in folder.glob(f"*{_PARTIAL}*"):
        match = _PARTIAL_NAME.search(path.name)
        if match is None or match["host"] != host or _running(int(match["pid"])):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        log.warning("removed %s: a partial file left by an interrupted run", path)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current


# ---------------------------------------------------------------- reading


def read_tables(path: str | Path) -> dict[str, Table]:
    """Read the sheets present in a workbook (.xlsx .xlsm .xls .ods), .json, CSV folder or CSV file.

    Raises InputError with the file (and sheet, row, column where known) for
    anything unreadable, oversized or unsafe.
    """
    source = Path(path)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    try:
        if source.is_dir():
            return _read_csv_folder(source)
        return _read_file(source)
    except PermissionError:
        raise InputError(f"{source}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a folder") from None


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
