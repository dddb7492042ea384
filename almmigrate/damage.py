"""Spreadsheet damage: values a spreadsheet program reformatted on the way through.

A CSV opened and saved in Excel or LibreOffice comes back with `007` as `7`,
`1e5` as `1.00E+05`, a 20-digit id in scientific notation, `2026-01-02` as
`01/02/2026`; a workbook through LibreOffice (and almmigrate's reading of an
.ods) loses the tabs and other control characters inside a text, and a CRLF
comes back LF. Nothing in the file says so; the target (or the schema) still
holds the original. This module tells such a pair apart from an edit:

- `spreadsheet_damage(found, original)`: a pure test on two values.
- `check_dataset(...)`: a warning on each cell whose value differs from the
  target's, or from a choice the schema allows, only that way ("looks like a
  spreadsheet turned '007' into '7'"); `--strict` makes them errors.
- `check_dataset(...)` also warns on a number in a workbook's text field that
  would be sent ("the number 4242 in a text field is sent as a number"): the
  cell keeps its type, as an export of an instance holding numbers there must,
  but a person typing 4242 into a cell most likely meant the text.
- `repair_keys(...)`: a connector name or connection alias damaged that way
  is matched to its object on the target and keeps its original text, so a
  re-import never creates it anew.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from almmigrate.dataset import (
    CONNECTIONS,
    CONNECTORS,
    PARAM_PREFIX,
    ConnectionRecord,
    ConnectorRecord,
    Dataset,
    Snapshot,
)
from almmigrate.errors import Problem
from almmigrate.mapping import TargetIndex
from almmigrate.plan_types import Match
from almmigrate.schema import CHOICE_TYPES, TEXT_TYPES, Plugin, is_number, is_secret

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Thousands grouped with commas, as a spreadsheet writes (or reads and drops) them.
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
# Doubles hold 15-17 significant digits; spreadsheets show 15.
_EXACT_DIGITS = 15
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%d/%m/%Y",
    "%d/%m/%y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%d-%b-%y",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%y %H:%M",
    "%d/%m/%Y %H:%M",
    # A time of day: LibreOffice turns "00:30" into "12:30:00 AM".
    "%H:%M",
    "%H:%M:%S",
    "%I:%M %p",
    "%I:%M:%S %p",
)
# Files where a person types into cells: a number typed into a text field is one.
_TYPED_BY_HAND = frozenset({"xlsx", "xls", "ods"})
_TEXT_FIELDS = TEXT_TYPES | {"checkbox"}
# Control characters a spreadsheet drops from a text (a line feed it keeps).
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f]")
# Fixed connection columns that hold text a spreadsheet may reformat.
_TEXT_COLUMNS = ("frequency",)
ProjectOf = Callable[[int | None], int | None]


def cell_text(value: Any) -> str | None:
    """A cell as the text a spreadsheet shows (None for empty, booleans and lists)."""
    if value is None or isinstance(value, bool | list | dict):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def spreadsheet_damage(found: Any, original: Any) -> bool:
    """True when found is original reformatted the way spreadsheet programs do.

    Leading zeros dropped, a number written another way (`1e5` -> `100000` or
    `1.00E+05`, `7` -> `7.0`, `1,000` -> `1000`, `50%` -> `50.00%`), a long digit
    string cut to 15 digits or put in scientific notation, a number too big for a
    double, a date or time of day in another format (`00:30` -> `12:30:00 AM`),
    a text's tabs and other control characters dropped and CRLF made LF.
    """
    text, before = cell_text(found), cell_text(original)
    if text is None or before is None or not isinstance(original, str):
        return False
    text, before = text.strip(), before.strip()
    if not text or text == before:
        return False
    return _same_number(text, before) or _same_date(text, before) or _controls_lost(text, before)


def _controls_lost(text: str, before: str) -> bool:
    """text is before without its control characters (CRLF or CR made LF, the rest dropped),
    and holds none itself: a tab typed into a cell is an edit."""
    if _CONTROLS.search(text):
        return False
    return _CONTROLS.sub("", before.replace("\r\n", "\n").replace("\r", "\n")) == text or (
        _CONTROLS.sub("", before) == text
    )


def damage_message(found: Any, original: Any) -> str:
    return f"looks like a spreadsheet turned '{_shown(original)}' into '{_shown(cell_text(found))}'"


def _shown(text: Any) -> str:
    """Text as a message shows it: a tab, a line break or another control character is
    written as its escape (\\t), else the message would not show what was lost."""
    return _CONTROLS.sub(lambda c: repr(c[0])[1:-1], str(text)).replace("\n", "\\n")


def _plain(number: str) -> str:
    """A number's text without its thousands separators."""
    return number.replace(",", "") if _GROUPED.fullmatch(number) else number


def _same_number(text: str, before: str) -> bool:
    if text.endswith("%") and before.endswith("%"):  # "50%" -> "50.00%"
        text, before = text[:-1].strip(), before[:-1].strip()
    text, before = _plain(text), _plain(before)
    if not (_NUMBER.fullmatch(text) and _NUMBER.fullmatch(before)):
        return False
    now, then = float(text), float(before)
    if math.isinf(then):  # "1E573": a spreadsheet writes the largest double instead
        return abs(now) >= 1e307 and (now > 0) == (then > 0)
    if _significant(before) <= _EXACT_DIGITS:
        return now == then
    # A long digit string: a spreadsheet keeps 15 digits, so an edit keeps more.
    return _significant(text) <= _EXACT_DIGITS and math.isclose(now, then, rel_tol=1e-14)


def _significant(number: str) -> int:
    """Significant digits of a number's text (leading and trailing zeros not counted)."""
    mantissa = re.split(r"[eE]", number)[0]
    return len(re.sub(r"[^0-9]", "", mantissa).strip("0"))


def _dates(text: str) -> set[datetime]:
    found = set()
    for pattern in _DATE_FORMATS:
        try:
            found.add(datetime.strptime(text, pattern))
        except ValueError:
            continue
    return found


def _same_date(text: str, before: str) -> bool:
    if not any(c.isdigit() for c in text) or not any(c.isdigit() for c in before):
        return False
    then = _dates(before)
    return bool(then) and bool(then & _dates(text))


# ---------------------------------------------------------------- keys


def repair_keys(
    dataset: Dataset,
    target: Snapshot,
    project_of: ProjectOf = lambda project: project,
    *,
    match: Match = Match.NAME,
) -> list[Problem]:
    """Give a damaged connector name or connection alias back its original text from the target.

    Only a key that matches nothing on the target, and whose damage matches exactly
    one object there that nothing else in the file names, is repaired. Connections
    naming a repaired connector follow it. Returns a warning for each repair.
    """
    if match != Match.NAME:
        return []  # --match id finds objects by id: a damaged name is a rename, and planned as one
    index = TargetIndex(target)
    warnings = []
    names = {c.name.strip() for c in dataset.connectors}
    renamed: dict[str, str] = {}
    for connector in dataset.connectors:
        found = connector.name.strip()
        if not found or index.connectors_named(found):
            continue
        original = _one(found, [c.name for c in target.connectors], names)
        if original is not None:
            warnings.append(_kept(CONNECTORS, connector.row, "name", found, original))
            renamed[found] = connector.name = original
    # Grouped by project once: a lookup per connection must not scan every connection.
    taken_in: dict[Any, set[str]] = defaultdict(set)
    for c in dataset.connections:
        taken_in[project_of(c.project)].add(c.alias.strip())
    aliases_in: dict[Any, list[str]] = defaultdict(list)
    for held in target.connections:
        aliases_in[held.project].append(held.alias)
    for connection in dataset.connections:
        if connection.connector_name and connection.connector_name.strip() in renamed:
            connection.connector_name = renamed[connection.connector_name.strip()]
        project = project_of(connection.project)
        found = connection.alias.strip()
        if project is None or not found or index.connections_keyed(project, found):
            continue
        original = _one(found, aliases_in.get(project, ()), taken_in[project])
        if original is not None:
            warnings.append(_kept(CONNECTIONS, connection.row, "alias", found, original))
            connection.alias = original
    return warnings


def _one(found: str, candidates: Iterable[str], taken: set[str]) -> str | None:
    """The one candidate found is a damaged copy of, unless the file names it too."""
    matches = {c for c in candidates if c.strip() not in taken and spreadsheet_damage(found, c)}
    return matches.pop() if len(matches) == 1 else None


def _kept(sheet: str, row: int | None, column: str, found: str, original: str) -> Problem:
    noun = "connector" if sheet == CONNECTORS else "connection"
    return Problem(
        f"{damage_message(found, original)}: matched to the {noun} '{_shown(original)}' "
        "on the target, which keeps its name",
        sheet=sheet,
        row=row,
        column=column,
        severity="warning",
    )


# ---------------------------------------------------------------- values


def check_dataset(
    dataset: Dataset,
    plugins: Mapping[str, Plugin],
    target: Snapshot | None = None,
    project_of: ProjectOf = lambda project: project,
) -> list[Problem]:
    """A warning on each cell that differs from the target's value, or from a choice the
    schema allows, only as a spreadsheet reformats text."""
    index = TargetIndex(target) if target is not None else None
    systems = {c.name.strip(): c.system for c in dataset.connectors}
    by_hand = dataset.file_format in _TYPED_BY_HAND
    warnings: list[Problem] = []
    for connector in dataset.connectors:
        plugin = plugins.get(connector.system.strip())
        current = _target_connector(index, connector)
        held = current.params if current is not None else {}
        warnings += _check(CONNECTORS, connector.row, connector.params, held, plugin, by_hand)
        if current is not None:  # found by id (--match id): a damaged name is a rename
            name = {"name": current.name}
            warnings += _check(
                CONNECTORS, connector.row, {"name": connector.name}, name, None, prefix=""
            )
    for connection in dataset.connections:
        named = systems.get((connection.connector_name or "").strip(), "")
        system = (connection.system or named).strip()
        plugin = plugins.get(system)
        existing = _target_connection(index, connection, project_of)
        held = dict(existing.params) if existing is not None else {}
        fixed = {c: getattr(existing, c) for c in _TEXT_COLUMNS} if existing is not None else {}
        given = {c: getattr(connection, c) for c in _TEXT_COLUMNS}
        warnings += _check(CONNECTIONS, connection.row, connection.params, held, plugin, by_hand)
        warnings += _check(CONNECTIONS, connection.row, given, fixed, None, prefix="")
        if existing is not None:  # found by id (--match id): a damaged alias is a rename
            alias = {"alias": existing.alias}
            given = {"alias": connection.alias}
            warnings += _check(CONNECTIONS, connection.row, given, alias, None, prefix="")
    return warnings


def _target_connector(index: TargetIndex | None, record: ConnectorRecord) -> Any:
    if index is None:
        return None
    by_id = index.connectors_by_id.get(record.id) if record.id is not None else None
    named = index.connectors_named(record.name)
    if by_id is not None and (not named or by_id in named):
        return by_id
    return named[0] if len(named) == 1 else None


def _target_connection(
    index: TargetIndex | None, record: ConnectionRecord, project_of: ProjectOf
) -> Any:
    if index is None:
        return None
    project = project_of(record.project)
    found = index.connections_keyed(project, record.alias)
    if found:
        return found[0] if len(found) == 1 else None
    # Nothing of that alias: with --match id the row is this id's connection (renamed,
    # or its alias damaged), when it is in the same project.
    by_id = index.connections_by_id.get(record.id) if record.id is not None else None
    return by_id if by_id is not None and by_id.project == project else None


def _check(
    sheet: str,
    row: int | None,
    values: Mapping[str, Any],
    held: Mapping[str, Any],
    plugin: Plugin | None,
    by_hand: bool = False,
    *,
    prefix: str = PARAM_PREFIX,
) -> list[Problem]:
    """by_hand: numbers in text fields are doubted (see _typed_number)."""
    warnings = []
    for name, value in values.items():
        if prefix == PARAM_PREFIX and is_secret(name, plugin):
            continue  # the file holds a mask or a secret; quoting the target's would show it
        original = held.get(name)
        if original is None and plugin is not None:
            original = _damaged_choice(plugin, name, value)
        message = None
        if original is not None and spreadsheet_damage(value, original):
            where = "the target holds" if name in held else "the schema allows"
            message = f"{damage_message(value, original)} ({where} '{_shown(original)}')"
        elif by_hand and plugin is not None:
            message = _typed_number(plugin, name, value, held)
        if message is not None:
            warnings.append(
                Problem(message, sheet=sheet, row=row, column=prefix + name, severity="warning")
            )
    return warnings


def _typed_number(plugin: Plugin, name: str, value: Any, held: Mapping[str, Any]) -> str | None:
    """A number in a text field that would be sent (the target holds no such number there)."""
    spec = plugin.field(name)
    if spec is None or spec.field_type not in _TEXT_FIELDS or not is_number(value):
        return None
    original = held.get(name)
    if is_number(original) or (original is not None and cell_text(original) == cell_text(value)):
        return None  # what the target holds: nothing is sent
    text = cell_text(value)
    holds = f" (the target holds '{original}')" if original is not None else ""
    return (
        f"the number {text} in a text field is sent as a number, as the cell holds it{holds}; "
        f"if it is text, make the cell text (type '{text})"
    )


def _damaged_choice(plugin: Plugin, name: str, value: Any) -> str | None:
    """The one choice of a select or radio field value is a damaged copy of, if any."""
    spec = plugin.field(name)
    if spec is None or spec.field_type not in CHOICE_TYPES or value is None:
        return None
    choices = [str(c) for c in spec.choices]
    if cell_text(value) in choices:
        return None
    matches = [c for c in choices if spreadsheet_damage(value, c)]
    return matches[0] if len(matches) == 1 else None
