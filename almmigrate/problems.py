"""Warnings and errors found before any write, and what `--strict` does with them.

Every check that reads a file (cells, sheets, the plugin schema, the target)
reports :class:`~almmigrate.errors.Problem`s: an *error* is certainly wrong
and stops the whole file (exit 2, nothing written); a *warning* is a doubt,
carried over as the source holds it and decided by the server, row by row.
`--strict` makes every warning an error, for people who want a file refused
at the first doubt.

Any reader or checker adds a warning with :func:`warning` and hands its
problems to :func:`settle`, which applies `--strict` and raises when an
error remains. :func:`summary_text` and :func:`as_rows` are how warnings are
counted on a summary line and listed in full in plan JSON and reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from almmigrate.errors import Problem, ValidationFailed

ERROR = "error"
WARNING = "warning"
STRICT_NOTE = " (a warning; --strict makes it an error)"


def warning(
    message: str,
    *,
    sheet: str | None = None,
    row: int | None = None,
    column: str | None = None,
    item: str | None = None,
) -> Problem:
    """A doubt about one place in a file: the value goes on as it is, unless --strict.

    item: the object's natural key, which locates it where there is no sheet row (migrate).
    """
    return Problem(message, sheet=sheet, row=row, column=column, severity=WARNING, item=item)


def errors_in(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == ERROR]


def warnings_in(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == WARNING]


def strictly(problems: Iterable[Problem]) -> list[Problem]:
    """The same problems with every warning turned into an error that says why."""
    return [
        Problem(p.message + STRICT_NOTE, p.sheet, p.row, p.column, ERROR, p.item)
        if p.severity == WARNING
        else p
        for p in problems
    ]


def settle(
    problems: Sequence[Problem], *, strict: bool = False, file: str | None = None
) -> list[Problem]:
    """The warnings, or ValidationFailed (every problem listed) when an error remains.

    strict: warnings count as errors (`--strict`).
    """
    found = strictly(problems) if strict else list(problems)
    if errors_in(found):
        raise ValidationFailed(found, file=file)
    return found


def summary_text(problems: Sequence[Problem]) -> str:
    """ "3 warnings", "1 warning" or "no warnings", for a summary line."""
    count = len(warnings_in(problems))
    if count == 0:
        return "no warnings"
    return f"{count} warning" if count == 1 else f"{count} warnings"


ROW_KEYS = ("severity", "sheet", "row", "object", "column", "message")


def as_rows(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Each problem as a dict (ROW_KEYS order), for plan JSON and report tables."""
    return [
        {"severity": p.severity, "sheet": p.sheet, "row": p.row, "object": p.item,
         "column": p.column, "message": p.message}
        for p in problems
    ]  # fmt: skip
