"""JSON: one typed document holding every sheet, written row by row.

`{"format_version": "1", "_meta": {...}, "connectors": [...], ...}`; the
columns "params.x" and "last_job.x" are nested as objects, lists stay lists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import IO, Any

from almmigrate import FORMAT_VERSION
from almmigrate.errors import InputError
from almmigrate.files import table as limits
from almmigrate.files.table import DATA_SHEETS, META_SHEET, Table

NESTED = ("params", "last_job")

# ---------------------------------------------------------------- writing


def write_document(stream: IO[str], tables: list[Table], meta: dict[str, str]) -> None:
    """Stream the document: each row is encoded on its own, never the whole file at once."""
    stream.write('{"format_version": ' + _dump(FORMAT_VERSION))
    stream.write(',\n "_meta": ' + _dump(meta))
    for table in tables:
        stream.write(f",\n {_dump(table.name)}: [")
        for index, row in enumerate(table.rows):
            stream.write(("," if index else "") + "\n  " + _dump(_nest(table.columns, row)))
        stream.write("\n ]")
    stream.write("\n}\n")


def _dump(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise InputError(f"cannot write JSON: {error}") from None


def _nest(columns: list[str], row: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for column in columns:
        value = row.get(column)
        prefix, dot, rest = column.partition(".")
        if dot and prefix in NESTED:
            # An absent param means "not given"; a row holding None holds the source's null.
            if value is not None or (prefix == "params" and column in row):
                item.setdefault(prefix, {})[rest] = value
        else:
            item[column] = value
    return item


# ---------------------------------------------------------------- reading


def read_document(path: Path) -> dict[str, Table]:
    """Read a document written by :func:`write_document` (or by a person, same shape)."""
    size = path.stat().st_size
    if size > limits.MAX_FILE_BYTES:
        raise InputError(
            f"the file is {size // 2**20} MB, more than the {limits.MAX_FILE_BYTES // 2**20} MB limit",
            file=str(path),
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # no bytes copy held beside the text
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte at offset {error.start})", file=str(path)) from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as error:
        raise InputError(
            f'the key "{error.key}" appears twice in one object; the first value would be '
            "dropped without a word: keep one",
            file=str(path),
        ) from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
            file=str(path),
        ) from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply", file=str(path)) from None
    if not isinstance(document, dict):
        raise InputError(
            'expected a JSON object with "connectors", "connections" and "projects" lists',
            file=str(path),
        )
    version = document.get("format_version", FORMAT_VERSION)
    if str(version) != FORMAT_VERSION:
        raise InputError(
            f'format_version "{version}" is not supported (this tool reads "{FORMAT_VERSION}")',
            file=str(path),
        )
    # An escaped UTF-16 surrogate (\ud83d) decodes to a lone surrogate unless its pair
    # follows: no text a server can store. Looked for value by value only when one is there.
    checked = _SURROGATE_ESCAPE.search(text) is not None
    # pop: each sheet's parsed items are let go once they are flattened into rows
    tables = {
        name: _table(path, name, document.pop(name), checked)
        for name in DATA_SHEETS
        if name in document
    }
    if META_SHEET in document:
        tables[META_SHEET] = _meta_table(path, document[META_SHEET])
        if checked:
            _check_text(path, META_SHEET, 1, None, document[META_SHEET])
    return tables


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_text(path: Path, sheet: str, row: int, column: str | None, value: Any) -> None:
    """Refuse a string (or key) in value holding a lone UTF-16 surrogate, naming where it is."""
    if isinstance(value, dict):
        for key, inner in value.items():
            where = key if column is None else f"{column}.{key}"
            _check_text(path, sheet, row, column, key)
            _check_text(path, sheet, row, where, inner)
    elif isinstance(value, list):
        for inner in value:
            _check_text(path, sheet, row, column, inner)
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            lone = ascii(value[error.start])[1:-1]
            raise InputError(
                f"a JSON string that is not valid Unicode text: {lone} is half of a UTF-16 "
                "surrogate pair, without its other half; correct or remove it",
                file=str(path),
                sheet=sheet,
                row=row,
                column=ascii(column)[1:-1] if column is not None else None,
            ) from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key given twice (json keeps the last silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _table(path: Path, name: str, items: Any, checked: bool) -> Table:
    if items is None:
        items = []
    if not isinstance(items, list):
        raise InputError(f'"{name}" must be a list of objects', file=str(path))
    if len(items) > limits.MAX_ROWS:
        raise InputError(f"more than {limits.MAX_ROWS:,} items; split the file", file=str(path))
    columns: dict[str, None] = {}
    rows = []
    for number, item in enumerate(items, start=1):
        if checked:
            _check_text(path, name, number, None, item)
        row = _flatten(path, name, number, item)
        columns.update(dict.fromkeys(row))
        rows.append(row)
        items[number - 1] = None
    numbers = list(range(1, len(rows) + 1))
    return Table(name, list(columns), rows, row_numbers=numbers, file_format="json")


def _flatten(path: Path, name: str, number: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError("expected an object", file=str(path), sheet=name, row=number)
    row: dict[str, Any] = {}
    for key, value in item.items():
        if key in NESTED and value is not None:
            if not isinstance(value, dict):
                raise InputError(
                    f'"{key}" must be an object', file=str(path), sheet=name, row=number, column=key
                )
            for inner, inner_value in value.items():
                row[f"{key}.{inner}"] = inner_value
        elif key not in NESTED:
            row[key] = value
    return row


def _meta_table(path: Path, meta: Any) -> Table:
    if not isinstance(meta, dict):
        raise InputError('"_meta" must be an object of text values', file=str(path))
    rows = [{"key": str(k), "value": None if v is None else str(v)} for k, v in meta.items()]
    numbers = list(range(1, len(rows) + 1))
    return Table(META_SHEET, ["key", "value"], rows, row_numbers=numbers, file_format="json")
