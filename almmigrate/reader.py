"""Reading a file a person edited into a Dataset, or refusing it with every problem.

`files` reads the format (xlsx, JSON, a CSV folder or a single CSV) with its
limits and XML-bomb protection; `layout` turns the tables into typed records.
This module joins the two and makes sure a bad file ends in one
:class:`~almmigrate.errors.InputError` (a single reason) or
:class:`~almmigrate.errors.ValidationFailed` (every located problem).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

from almmigrate.dataset import Dataset
from almmigrate.errors import InputError, Problem, ValidationFailed
from almmigrate.schema import Plugin, bundled_plugins

# Office files never declare a DTD or entities; one that does is an XML bomb or worse.
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)\b", re.IGNORECASE)
_PROLOGUE_BYTES = 1024 * 1024  # a DTD comes before the root element
# Exceptions a reader library raises on content it did not expect.
_LIBRARY_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    EOFError,
    SyntaxError,
    zipfile.BadZipFile,
)


def read_dataset(path: str | Path, plugins: Mapping[str, Plugin] | None = None) -> Dataset:
    """The Dataset in a file; raises InputError or ValidationFailed for unreadable content."""
    dataset, problems = read_dataset_with_problems(path, plugins)
    if any(p.severity == "error" for p in problems):
        raise ValidationFailed(problems, file=str(path))
    return dataset


def read_dataset_with_problems(
    path: str | Path, plugins: Mapping[str, Plugin] | None = None
) -> tuple[Dataset, list[Problem]]:
    """The Dataset and every problem found typing its cells (errors and warnings).

    Raises InputError when the file cannot be read at all (format, encoding,
    size, an XML bomb): there is then no dataset to speak of.
    """
    from almmigrate.files import read_tables
    from almmigrate.layout import tables_to_dataset

    label = str(path)
    if not Path(path).exists():
        raise InputError("no such file or folder", file=label)
    refuse_xml_declarations(Path(path))
    try:
        tables = read_tables(path)
    except InputError:
        raise
    except _LIBRARY_ERRORS as error:
        raise InputError(f"cannot read this file: {_reason(error)}", file=label) from None
    dataset, problems = tables_to_dataset(tables, plugins or bundled_plugins(), source=label)
    dataset.source = dataset.source or label
    return dataset, problems


def refuse_xml_declarations(path: Path) -> None:
    """Refuse a workbook whose XML declares a DTD or entities (billion laughs, XXE)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.filename.endswith((".xml", ".rels")):
                    continue
                with archive.open(member) as stream:
                    prologue = stream.read(_PROLOGUE_BYTES)
                if _DECLARATION.search(prologue):
                    raise InputError(
                        f"{member.filename} declares XML entities or a DTD (a possible XML bomb); "
                        "refused",
                        file=str(path),
                    )
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        return  # not readable as a zip: files gives the precise reason


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    return f"{name}: {text[:200]}" if text else name
