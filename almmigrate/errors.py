"""Exceptions raised by almmigrate.

The tree, and the exit code the CLI maps each branch to::

    AlmMigrateError                  base of everything the tool raises on purpose
    ├── InputError                   exit 2: bad file, bad option, bad value
    │   └── ValidationFailed         exit 2: a file failed validation (carries every Problem)
    └── ApiError                     an instance answered badly, or not at all
        ├── ConnectionProblem        exit 3: cannot reach or authenticate
        │   ├── Unreachable          DNS, refused, TLS failure, timeouts
        │   ├── NotAnInstance        the URL answers but is not SD Elements
        │   └── AuthenticationFailed 401
        ├── PermissionDenied         403
        ├── NotFound                 404
        │   └── NotAvailable         the instance does not serve this endpoint at all
        ├── ApiValidationError       400 (field -> messages)
        ├── RateLimited              429
        ├── ServerError              5xx
        └── OutcomeUnknown           a write was sent and no answer came back

An ApiError raised after every retry was spent (or when the instance asked to
wait longer than `--max-wait`) has ``gave_up`` set and exit code 3: the
instance keeps failing, which is not a problem of one row.

Messages never contain a token: URLs go through :func:`almmigrate.secrets.redact_url`
before they reach an exception.
"""

from __future__ import annotations

from dataclasses import dataclass


class AlmMigrateError(Exception):
    """Base class: the CLI catches this in one place."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located for a person to find it."""

    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    severity: str = "error"  # "error" or "warning"
    item: str | None = None  # the object's natural key, where there is no sheet row (migrate)

    def location(self) -> str:
        parts = []
        if self.sheet:
            parts.append(self.sheet)
        if self.row is not None:
            parts.append(f"row {self.row}")
        elif self.item is not None:
            parts.append(repr(self.item))
        where = " ".join(parts)
        if self.column:
            where = f"{where}, {self.column}" if where else self.column
        return where

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class InputError(AlmMigrateError):
    """Bad input: a file, an option or a value. Nothing was written."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.sheet = sheet
        self.row = row
        self.column = column
        where = Problem("", sheet=sheet, row=row, column=column).location()
        prefix = ": ".join(p for p in (file, where) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.detail = message


class ValidationFailed(InputError):
    """A file has problems; every one of them is in :attr:`problems`."""

    def __init__(self, problems: list[Problem], *, file: str | None = None) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        noun = "problem" if len(errors) == 1 else "problems"
        super().__init__(f"{len(errors)} {noun} found, nothing was written", file=file)


class ApiError(AlmMigrateError):
    """An SD Elements instance answered with an error, or did not answer."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        self.gave_up = False  # True once every retry was spent: see give_up()
        self.method = method
        self.url = url
        self.status = status
        self.server_message = server_message
        self.fields = fields or {}
        super().__init__(message)

    def give_up(self, note: str) -> None:
        """Mark this error as the end of every retry: the instance keeps failing (exit 3)."""
        self.gave_up = True
        self.exit_code = 3
        self.message = f"{self.message} ({note})"
        self.args = (self.message,)


class ConnectionProblem(ApiError):
    """The instance cannot be reached or will not let us in."""

    exit_code = 3


class Unreachable(ConnectionProblem):
    pass


class NotAnInstance(ConnectionProblem):
    pass


class AuthenticationFailed(ConnectionProblem):
    pass


class PermissionDenied(ApiError):
    pass


class NotFound(ApiError):
    pass


class NotAvailable(NotFound):
    """The instance does not serve an endpoint (404 or 405 on the path itself)."""


class ApiValidationError(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class OutcomeUnknown(ApiError):
    """A write was sent but no answer came back: it may or may not have happened."""
