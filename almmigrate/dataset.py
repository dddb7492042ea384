"""The two shapes data takes inside almmigrate.

- :class:`Snapshot`: what an instance holds, as the API returns it (typed models).
- :class:`Dataset`: what a file holds (or would hold): connector, connection and
  project records in the README's "File layouts", each remembering the sheet row it
  came from so that every message can point a person at a cell.

Export turns a Snapshot into a Dataset and writes it; import reads a Dataset,
validates it, maps it, plans it against the target's Snapshot and applies it;
migrate goes Snapshot -> Dataset -> target without touching the disk.

In a record, ``None`` means "not given" (an empty cell): the field is not sent,
except for a param named in the record's ``nulls``: the source (an instance, or
a JSON file) held it as null, so it is sent as null.
A param whose value is :data:`almmigrate.secrets.MASK` is a masked secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from almmigrate.models import Application, BusinessUnit, Connection, Connector, Project
from almmigrate.schema import Plugin

CONNECTORS = "connectors"
CONNECTIONS = "connections"
PROJECTS = "projects"
META = "_meta"

CONNECTOR_COLUMNS = ["id", "name", "system", "inaccessible", "fields_editable_on_project"]
CONNECTION_COLUMNS = [
    "id",
    "alias",
    "project",
    "project_name",
    "connector",
    "connector_name",
    "system",
    "frequency",
    "debug_mode",
    "inaccessible",
]
PROJECT_COLUMNS = ["id", "name", "application", "business_unit"]
# The sync frequencies SD Elements offers for a connection.
FREQUENCIES = ("manually", "hourly", "daily", "weekly", "monthly")
PARAM_PREFIX = "params."
LAST_JOB_PREFIX = "last_job."
# The one empty set of names every record without nulls shares: an empty frozenset is
# not a singleton, and 50,000 rows each holding their own cost 10 MB.
NO_NAMES: frozenset[str] = frozenset()


@dataclass
class ConnectorRecord:
    name: str
    system: str
    params: dict[str, Any] = field(default_factory=dict)
    inaccessible: bool | None = None
    # None: not given; []: explicitly empty in a typed file; a list: the names.
    fields_editable_on_project: list[str] | None = None
    id: int | None = None
    row: int | None = None  # the sheet row (header is row 1), or JSON item number
    nulls: frozenset[str] = NO_NAMES  # params the source held as null (never a cell)


@dataclass
class ConnectionRecord:
    alias: str
    project: int | None = None
    project_name: str | None = None
    connector: int | None = None
    connector_name: str | None = None
    system: str | None = None
    frequency: str | None = None
    debug_mode: bool | None = None
    inaccessible: bool | None = None
    params: dict[str, Any] = field(default_factory=dict)
    last_job: dict[str, Any] | None = None
    command: str | None = None
    in_progress: bool | None = None
    id: int | None = None
    row: int | None = None
    nulls: frozenset[str] = NO_NAMES  # params the source held as null (never a cell)


def explicit_nulls(params: Mapping[str, Any]) -> frozenset[str]:
    """The params an instance or a JSON file holds as null (a key with no value)."""
    return frozenset(name for name, value in params.items() if value is None) or NO_NAMES


@dataclass
class ProjectRecord:
    id: int
    name: str
    application: str = ""
    business_unit: str = ""
    row: int | None = None


@dataclass
class Dataset:
    connectors: list[ConnectorRecord] = field(default_factory=list)
    connections: list[ConnectionRecord] = field(default_factory=list)
    projects: list[ProjectRecord] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # the file it was read from, for messages
    file_format: str | None = None  # "xlsx", "xls", "ods", "csv", "json"; None: not a file


@dataclass
class Snapshot:
    """What one instance holds, read through the API."""

    connectors: list[Connector] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    business_units: list[BusinessUnit] = field(default_factory=list)
    plugins: dict[str, Plugin] = field(default_factory=dict)
    url: str = ""
    api: str = "alm"  # the generation of the API it was read through (almmigrate.generation)

    def connector_by_id(self) -> dict[int, Connector]:
        return {c.id: c for c in self.connectors if c.id is not None}

    def project_by_id(self) -> dict[int, Project]:
        return {p.id: p for p in self.projects}

    def application_by_id(self) -> dict[int, Application]:
        return {a.id: a for a in self.applications}

    def project_path(
        self, project: Project, apps: Mapping[int, Application] | None = None
    ) -> tuple[str, str, str]:
        """(business unit name, application name, project name) of a project.

        apps: `application_by_id()`, built once by a caller that asks for many projects.
        """
        apps = apps if apps is not None else self.application_by_id()
        app = apps.get(project.application) if project.application is not None else None
        unit = app.business_unit.name if app and app.business_unit else ""
        return (unit, app.name if app else "", project.name)
