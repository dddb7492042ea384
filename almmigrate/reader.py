"""Reading a file a person edited into a Dataset, or refusing it with every problem.

`files` reads the format (xlsx, JSON, a CSV folder or a single CSV) with its
limits and safety checks (zip and XML bombs: `files.container`); `layout`
turns the tables into typed records.
This module joins the two and makes sure a bad file ends in one
:class:`~almmigrate.errors.InputError` (a single reason) or
:class:`~almmigrate.errors.ValidationFailed` (every located problem).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

from almmigrate.dataset import Dataset
from almmigrate.errors import InputError, Problem, ValidationFailed
from almmigrate.schema import Plugin, bundled_plugins
from almmigrate.secrets import error_reason

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
    try:
        tables = read_tables(path)
    except InputError:
        raise
    except _LIBRARY_ERRORS as error:
        raise InputError(f"cannot read this file: {error_reason(error)}", file=label) from None
    dataset, problems = tables_to_dataset(tables, plugins or bundled_plugins(), source=label)
    dataset.source = dataset.source or label
    return dataset, problems
