"""The secrets file: clear-text credentials supplied for an import (`--secrets`).

A CSV with the header `kind,name,field,value`, one secret a row: kind is
`connector` or `connection`, name is the connector's name or the connection's
alias, field is the param name. Every value is registered with
:func:`almmigrate.secrets.register_secret` as soon as it is read, so that it is
scrubbed from any message or log line afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from almmigrate.errors import InputError
from almmigrate.files.csvfiles import read_records
from almmigrate.naturalkey import name_key
from almmigrate.secrets import register_secret
from almmigrate.vocabulary import counterpart

HEADER = ("kind", "name", "field", "value")
KINDS = ("connector", "connection")
# A secrets file holds a few hundred rows; anything far bigger is a wrong file.
MAX_BYTES = 10 * 1024 * 1024
# NUL and the other C0/C1 control characters: a value holding one is a damaged file, and
# sending it would set a password nobody can type.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class SecretValues:
    """Secret values by (kind, name, field); names match by natural key (almmigrate.naturalkey)."""

    # repr=False: a repr (a traceback, a debug line) must never show a value.
    values: dict[tuple[str, str, str], str] = field(default_factory=dict, repr=False)

    def lookup(self, kind: str, name: str, field_name: str) -> str | None:
        """The supplied value of one secret param, or None when none was supplied.

        A param is found under either generation's name (`alm_pass` or
        `issue_tracker_pass`): a secrets file works against both.
        """
        key = field_name.strip()
        found = self.values.get((kind, name_key(name), key))
        other = counterpart(key)
        if found is None and other is not None:
            found = self.values.get((kind, name_key(name), other))
        return found

    def add(self, kind: str, name: str, field_name: str, value: str) -> None:
        register_secret(value, field_name.strip())
        self.values[(kind, name_key(name), field_name.strip())] = value

    def __len__(self) -> int:
        return len(self.values)


def load_secrets(path: str | Path) -> SecretValues:
    """Read a secrets CSV (UTF-8, with or without BOM; comma, semicolon or tab).

    Raises InputError naming the file and row for a missing header, an unknown
    kind, an empty name or field, or the same secret given twice, and the line
    and column of a byte that is not UTF-8 (read by `files.csvfiles`, as every
    CSV is). Messages never contain a value.
    """
    label = str(path)
    source = read_records(
        path,
        what="the secrets file",
        expected=",".join(HEADER),
        max_bytes=MAX_BYTES,
        binary_nul=False,  # a NUL in a value is told as a control character, with its cell
    )
    columns = [c.strip().lower() for c in source.header]
    missing = [c for c in HEADER if c not in columns]
    if missing:
        raise InputError(
            f"missing column {', '.join(missing)} (expected kind,name,field,value)",
            file=label,
            row=1,
        )
    index = {name: columns.index(name) for name in HEADER}
    secrets = SecretValues()
    for number, cells in source:
        _read_row(secrets, cells, index, label, number)
    return secrets


def _read_row(
    secrets: SecretValues, cells: list[str], index: dict[str, int], label: str, number: int
) -> None:
    if not any(c.strip() for c in cells):
        return  # blank lines are harmless
    if len(cells) <= max(index.values()):
        raise InputError(
            f"expected {len(HEADER)} cells, found {len(cells)}", file=label, row=number
        )
    kind = cells[index["kind"]].strip().lower()
    name = cells[index["name"]]
    field_name = cells[index["field"]]
    value = cells[index["value"]]
    if kind not in KINDS:
        raise InputError(
            f'kind "{kind}" is not one of connector, connection',
            file=label,
            row=number,
            column="kind",
        )
    if not name.strip():
        raise InputError("name is empty", file=label, row=number, column="name")
    if not field_name.strip():
        raise InputError("field is empty", file=label, row=number, column="field")
    if value == "":
        raise InputError(
            "value is empty; fill in the secret or delete the row",
            file=label,
            row=number,
            column="value",
        )
    control = _CONTROL.search(value)
    if control is not None:
        code = ord(control.group(0))
        raise InputError(
            f"value holds the control character U+{code:04X}"
            f"{' (NUL)' if code == 0 else ''} at character {control.start() + 1}, "
            "which no password carries: check how the file was made",
            file=label,
            row=number,
            column="value",
        )
    if secrets.lookup(kind, name, field_name) is not None:
        raise InputError(
            f'{field_name.strip()} of {kind} "{name.strip()}" is given twice',
            file=label,
            row=number,
        )
    secrets.add(kind, name, field_name, value)
