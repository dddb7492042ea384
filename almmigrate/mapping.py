"""Projects and connector references across instances.

Project ids differ between instances, so a source project is matched to a
target project by the chain business unit name > application name > project
name, compared case- and space-insensitively. The result is a
:class:`ProjectMap` (source id -> target id), written to a CSV a person
reviews (`map-projects`) and read back by `import --project-map`.

A connection's connector is referred to by name on the target: the file's
`connector_name`, or the name of the file's connector with that source id.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from almmigrate.dataset import ConnectionRecord, Dataset, Snapshot
from almmigrate.errors import InputError
from almmigrate.files.atomic import write_text
from almmigrate.files.cells import csv_escape
from almmigrate.files.csvfiles import read_records
from almmigrate.models import Connection, Connector
from almmigrate.naturalkey import connection_key, name_key

EXACT = "exact"
AMBIGUOUS = "ambiguous"
MISSING = "missing"

MAP_COLUMNS = [
    "source_project",
    "target_project",
    "match",
    "source_business_unit",
    "source_application",
    "source_project_name",
    "target_business_unit",
    "target_application",
    "target_project_name",
    "candidates",
]


def normalize(text: str | None) -> str:
    """The form names are compared in: case-folded, inner whitespace collapsed, stripped."""
    return re.sub(r"\s+", " ", str(text or "")).strip().casefold()


@dataclass(frozen=True)
class ProjectRef:
    """A project with the names that identify it across instances."""

    id: int
    name: str
    application: str = ""
    business_unit: str = ""

    def key(self) -> tuple[str, str, str]:
        return (normalize(self.business_unit), normalize(self.application), normalize(self.name))

    def path(self) -> str:
        return " > ".join(p for p in (self.business_unit, self.application, self.name) if p)


@dataclass
class MapRow:
    """One source project and what it matched on the target."""

    source: ProjectRef
    match: str
    target: ProjectRef | None = None
    candidates: list[ProjectRef] = field(default_factory=list)


@dataclass
class ProjectMap:
    """Source project id -> target project id; `how` says where it came from."""

    targets: dict[int, int] = field(default_factory=dict)
    how: str = "file"  # file, auto, identity, none
    # Why a source project has no target, for messages: "ambiguous: 4, 9".
    notes: dict[int, str] = field(default_factory=dict)

    def lookup(self, source_id: int | None) -> int | None:
        if source_id is None:
            return None
        return self.targets.get(source_id)

    def __len__(self) -> int:
        return len(self.targets)


# ---------------------------------------------------------------- projects


def projects_of_snapshot(snapshot: Snapshot) -> list[ProjectRef]:
    """Every project of an instance with its business unit and application names."""
    refs = []
    apps = snapshot.application_by_id()
    for project in snapshot.projects:
        unit, app, name = snapshot.project_path(project, apps)
        refs.append(ProjectRef(project.id, name, app, unit))
    return refs


def projects_of_dataset(dataset: Dataset) -> list[ProjectRef]:
    """The projects a file names in its projects sheet."""
    return [
        ProjectRef(p.id, p.name, p.application or "", p.business_unit or "")
        for p in dataset.projects
    ]


def match_projects(sources: Iterable[ProjectRef], targets: Iterable[ProjectRef]) -> list[MapRow]:
    """Match each source project to the target project with the same names.

    A source whose business unit or application is unknown (empty) matches on
    the names it has; two or more candidates make it ambiguous.
    """
    by_key: dict[tuple[str, str, str], list[ProjectRef]] = {}
    target_list = list(targets)
    for target in target_list:
        by_key.setdefault(target.key(), []).append(target)
    rows = []
    for source in sources:
        unit, app, name = source.key()
        if unit and app:
            found = by_key.get((unit, app, name), [])
        else:
            found = [
                t
                for t in target_list
                if t.key()[2] == name
                and (not unit or t.key()[0] == unit)
                and (not app or t.key()[1] == app)
            ]
        if len(found) == 1:
            rows.append(MapRow(source, EXACT, found[0]))
        elif found:
            rows.append(MapRow(source, AMBIGUOUS, None, sorted(found, key=lambda t: t.id)))
        else:
            rows.append(MapRow(source, MISSING))
    return rows


def map_from_rows(rows: Iterable[MapRow], how: str = "auto") -> ProjectMap:
    """The exact matches of a matching, as a ProjectMap."""
    rows = list(rows)
    notes = {
        r.source.id: f"ambiguous on the target: projects {', '.join(str(c.id) for c in r.candidates)}"
        for r in rows
        if r.match == AMBIGUOUS
    }
    notes.update(
        {
            r.source.id: f'no project "{r.source.path()}" on the target'
            for r in rows
            if r.match == MISSING
        }
    )
    return ProjectMap({r.source.id: r.target.id for r in rows if r.target is not None}, how, notes)


def identity_map(target: Snapshot) -> ProjectMap:
    """Every target project mapped to itself (bulk edits on the same instance)."""
    return ProjectMap({p.id: p.id for p in target.projects}, "identity")


def same_projects(dataset: Dataset, target: Snapshot) -> bool:
    """True when the file's projects exist on the target with the same ids and names.

    That is the sign of a file exported from this very instance, where project
    ids need no mapping. A name a spreadsheet program reformatted counts as the same. A file with no projects sheet qualifies when every
    connection's project id exists on the target with the file's project_name.
    """
    from almmigrate.damage import spreadsheet_damage  # damage builds on this module

    by_id = target.project_by_id()
    pairs: list[tuple[int, str | None]] = [(p.id, p.name) for p in dataset.projects]
    if not pairs:
        pairs = [(c.project, c.project_name) for c in dataset.connections if c.project is not None]
    if not pairs:
        return False
    for project_id, name in pairs:
        found = by_id.get(project_id)
        if found is None:
            return False
        # A name a spreadsheet reformatted ("007" saved as "7") is still that project's.
        renamed = normalize(found.name) != normalize(name) if name is not None else False
        if renamed and not spreadsheet_damage(name, found.name):
            return False
    return True


# ---------------------------------------------------------------- map file


def write_map(path: str | Path, rows: Iterable[MapRow]) -> int:
    """Write the reviewable map CSV (UTF-8 with BOM); returns the number of rows."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=MAP_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for row in rows:
        target = row.target
        # The names are for a person who opens the map in a spreadsheet program:
        # a project called "=HYPERLINK(...)" or "-draft" must show as text, never run.
        writer.writerow(
            {
                "source_project": row.source.id,
                "target_project": target.id if target else "",
                "match": row.match,
                "source_business_unit": csv_escape(row.source.business_unit),
                "source_application": csv_escape(row.source.application),
                "source_project_name": csv_escape(row.source.name),
                "target_business_unit": csv_escape(target.business_unit) if target else "",
                "target_application": csv_escape(target.application) if target else "",
                "target_project_name": csv_escape(target.name) if target else "",
                "candidates": "; ".join(f"{c.id}: {c.path()}" for c in row.candidates),
            }
        )
        count += 1
    # With a BOM, as Excel needs to show accents; read_map accepts either.
    write_text(path, buffer.getvalue(), encoding="utf-8-sig")
    return count


def read_map(path: str | Path) -> ProjectMap:
    """Read `source_project,target_project` (ids); other columns are ignored.

    An empty target_project leaves that project unmapped. Raises InputError
    naming the row for an id that is not a whole number or a source mapped twice,
    and the line and column of a byte that is not UTF-8 (`files.csvfiles`).
    """
    label = str(path)
    source = read_records(path, what="the project map", expected="source_project,target_project")
    columns = [c.strip() for c in source.header]
    for needed in ("source_project", "target_project"):
        if needed not in columns:
            raise InputError(
                f"missing column {needed} (expected source_project,target_project)",
                file=label,
                row=1,
            )
    at = {name: columns.index(name) for name in ("source_project", "target_project")}
    targets: dict[int, int] = {}
    for number, cells in source:
        if not cells:
            continue  # a blank line
        source_id = _map_id(_cell(cells, at["source_project"]), label, number, "source_project")
        target_id = _map_id(_cell(cells, at["target_project"]), label, number, "target_project")
        if source_id is None:
            if target_id is not None:
                raise InputError("source_project is empty", file=label, row=number)
            continue
        if target_id is None:
            continue
        if source_id in targets and targets[source_id] != target_id:
            raise InputError(
                f"project {source_id} is mapped twice ({targets[source_id]} and {target_id})",
                file=label,
                row=number,
            )
        targets[source_id] = target_id
    return ProjectMap(targets, "file")


def _cell(cells: list[str], index: int) -> str | None:
    return cells[index] if index < len(cells) else None


def _map_id(cell: str | None, label: str, row: int, column: str) -> int | None:
    text = (cell or "").strip()
    if not text:
        return None
    if text.endswith(".0"):  # a spreadsheet's whole number
        text = text[:-2]
    if not text.isdigit():
        raise InputError(f'"{text}" is not a project id', file=label, row=row, column=column)
    return int(text)


# ---------------------------------------------------------------- connectors


def connector_name_of(
    connection: ConnectionRecord, dataset: Dataset, same_instance: Snapshot | None = None
) -> str | None:
    """The name a connection's connector goes by on the target.

    The file's connector_name, else the name of the file's connector with that
    source id, else the connector with that id on `same_instance` (give it only
    when the file comes from the target itself: ids mean nothing elsewhere).
    For many connections, build one :class:`ConnectorNames` instead.
    """
    return ConnectorNames(dataset, same_instance).of(connection)


class ConnectorNames:
    """:func:`connector_name_of` for every connection of a file, the indexes built once."""

    def __init__(self, dataset: Dataset, same_instance: Snapshot | None = None) -> None:
        self.file_names: dict[int, str] = {}
        for connector in dataset.connectors:
            if connector.id is not None:
                self.file_names.setdefault(connector.id, connector.name)  # the first row wins
        self.target_names: dict[int, str] = (
            {i: c.name for i, c in same_instance.connector_by_id().items()}
            if same_instance is not None
            else {}
        )

    def of(self, connection: ConnectionRecord) -> str | None:
        if name_key(connection.connector_name):
            return name_key(connection.connector_name)
        if connection.connector is None:
            return None
        found = self.file_names.get(connection.connector)
        found = found if found is not None else self.target_names.get(connection.connector)
        return name_key(found) if found is not None else None


class TargetIndex:
    """The target's connectors and connections by natural key and by id."""

    def __init__(self, target: Snapshot) -> None:
        self.target = target
        self.connectors_by_name: dict[str, list[Connector]] = {}
        for connector in target.connectors:
            self.connectors_by_name.setdefault(name_key(connector.name), []).append(connector)
        self.connectors_by_id = target.connector_by_id()
        self.connections_by_key: dict[tuple[int | None, str], list[Connection]] = {}
        for connection in target.connections:
            key = connection_key(connection.project, connection.alias)
            self.connections_by_key.setdefault(key, []).append(connection)
        self.connections_by_id = {c.id: c for c in target.connections if c.id is not None}

    def connectors_named(self, name: str) -> list[Connector]:
        return self.connectors_by_name.get(name_key(name), [])

    def connections_keyed(self, project: int | None, alias: str) -> list[Connection]:
        return self.connections_by_key.get(connection_key(project, alias), [])
