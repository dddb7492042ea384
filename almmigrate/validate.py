"""Validation of a file's desired state: every problem at once, each located.

Pure: takes a Dataset (and, when known, the target's Snapshot, the project map
and the supplied secrets) and returns :class:`almmigrate.errors.Problem`s
naming sheet, row and column, e.g.
`connections row 14, params.alm_method: "gopher" is not one of https, http`.

Offline (no target) it cannot know whether a row creates or updates an
object, so the rules that apply only to a create (required params, a masked
secret with no supplied value) run only in `--mode create`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from almmigrate.dataset import (
    CONNECTIONS,
    CONNECTORS,
    FREQUENCIES,
    PARAM_PREFIX,
    ConnectionRecord,
    ConnectorRecord,
    Dataset,
    Snapshot,
)
from almmigrate.errors import Problem
from almmigrate.mapping import ConnectorNames, ProjectMap, TargetIndex
from almmigrate.naturalkey import connection_label, name_key, same_name
from almmigrate.plan_types import Match, Mode
from almmigrate.schema import (
    DERIVED_PARAMS,
    PROJECT,
    SYSTEM,
    Plugin,
    param_doubts,
    validate_params,
)
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues


@dataclass
class ConnectorInfo:
    """What a connection needs to know about its connector, wherever it is."""

    name: str
    system: str
    params: Mapping[str, Any]
    editable: set[str] | None
    known: bool = True  # False offline for a connector elsewhere: its params are unknown


def validate_dataset(
    dataset: Dataset,
    plugins: Mapping[str, Plugin],
    *,
    target: Snapshot | None = None,
    project_map: ProjectMap | None = None,
    secrets: SecretValues | None = None,
    mode: Mode = Mode.UPSERT,
    match: Match = Match.NAME,
    skip_unmapped: bool = False,
) -> list[Problem]:
    """Every problem with a file, errors and warnings, in sheet and row order.

    target: the target instance (None offline). project_map: source -> target
    project ids (None: projects are not checked). secrets: supplied values.
    """
    checker = _Checker(dataset, plugins, target, project_map, secrets, mode, match, skip_unmapped)
    return checker.run()


class _Checker:
    def __init__(
        self,
        dataset: Dataset,
        plugins: Mapping[str, Plugin],
        target: Snapshot | None,
        project_map: ProjectMap | None,
        secrets: SecretValues | None,
        mode: Mode,
        match: Match,
        skip_unmapped: bool,
    ) -> None:
        self.dataset = dataset
        self.plugins = plugins
        self.target = target
        self.index = TargetIndex(target) if target is not None else None
        self.project_map = project_map
        self.secrets = secrets or SecretValues()
        self.mode = mode
        self.match = match
        self.skip_unmapped = skip_unmapped
        self.problems: list[Problem] = []
        self.item: str | None = None  # the natural key of the object being checked
        self.file_connectors: dict[str, ConnectorRecord] = {}
        self.target_projects = set(target.project_by_id()) if target is not None else set()
        # Connector ids mean something on the target only when the file comes from it.
        self.connector_names = ConnectorNames(dataset, target if self._identity() else None)

    def run(self) -> list[Problem]:
        seen: dict[str, ConnectorRecord] = {}
        for record in self.dataset.connectors:
            self._connector(record, seen)
        keys: dict[tuple[int | None, str], ConnectionRecord] = {}
        for connection in self.dataset.connections:
            self._connection(connection, keys)
        return self.problems

    def _add(
        self,
        sheet: str,
        row: int | None,
        column: str | None,
        message: str,
        *,
        warning: bool = False,
    ) -> None:
        severity = "warning" if warning else "error"
        # Without a sheet row (migrate reads an instance, not a file) the object's key locates it.
        item = self.item if row is None else None
        self.problems.append(
            Problem(message, sheet=sheet, row=row, column=column, severity=severity, item=item)
        )

    # ------------------------------------------------------------ connectors

    def _connector(self, record: ConnectorRecord, seen: dict[str, ConnectorRecord]) -> None:
        row = record.row
        name = name_key(record.name)
        self.item = name
        if not name:
            self._add(CONNECTORS, row, "name", "name is empty")
        elif name in seen:
            other = seen[name]
            where = _also(other.row, "name of the connector", other.id, other.name)
            self._add(CONNECTORS, row, "name", f'"{name}" is also {where}')
        else:
            seen[name] = record
            self.file_connectors[name] = record
        plugin = self._plugin(CONNECTORS, row, record.system)
        if plugin is None:
            return
        creating = self._connector_creating(record)
        self._editable(record, plugin)
        self._params(
            CONNECTORS,
            row,
            plugin,
            record.params,
            scope=SYSTEM,
            creating=creating,
            inherited=None,
            editable=None,
        )
        if creating:
            self._masked_without_value(CONNECTORS, row, "connector", name, record.params)
            if self._same_instance() and record.id is not None and self.index is not None:
                existing = self.index.connectors_by_id.get(record.id)
                if existing is not None and not same_name(existing.name, name):
                    self._rename_hint(CONNECTORS, row, "name", record.id, existing.name)

    def _connector_creating(self, record: ConnectorRecord) -> bool:
        if self.mode != Mode.UPSERT or self.index is None:
            return self.mode == Mode.CREATE
        if self.match == Match.ID:
            return record.id is None or record.id not in self.index.connectors_by_id
        return not self.index.connectors_named(record.name or "")

    def _editable(self, record: ConnectorRecord, plugin: Plugin) -> None:
        for name in record.fields_editable_on_project or []:
            if plugin.field(name) is None:
                self._add(
                    CONNECTORS,
                    record.row,
                    "fields_editable_on_project",
                    f'"{name}" is not a param of {plugin.id} (any more); '
                    "kept as the source holds it",
                    warning=True,
                )

    def _plugin(self, sheet: str, row: int | None, system: str | None) -> Plugin | None:
        if not system or not str(system).strip():
            self._add(sheet, row, "system", "system is empty")
            return None
        plugin = self.plugins.get(str(system).strip())
        if plugin is None:
            known = ", ".join(sorted(self.plugins))
            self._add(sheet, row, "system", f'"{system}" is not a known system (one of {known})')
        return plugin

    # ------------------------------------------------------------ connections

    def _connection(
        self, record: ConnectionRecord, keys: dict[tuple[int | None, str], ConnectionRecord]
    ) -> None:
        row = record.row
        alias = name_key(record.alias)
        self.item = connection_label(record.project, alias)
        target_project = self._project(record)
        if target_project is not None:
            self.item = connection_label(target_project, alias)  # the key plan and report use
        self._connection_key(record, alias, target_project, keys)
        self._connection_columns(record)
        connector = self._connector_of(record)
        if connector is None:
            return
        plugin = self._connection_plugin(record, connector)
        if plugin is None:
            return
        # Unknown inherited params cannot tell what a create would be missing; an
        # unknown connector may make any param editable (fields_editable_on_project).
        creating = connector.known and self._connection_creating(record, target_project)
        editable = connector.editable if connector.known else {f.name for f in plugin.fields}
        self._params(
            CONNECTIONS,
            row,
            plugin,
            record.params,
            scope=PROJECT,
            creating=creating,
            inherited=connector.params,
            editable=editable,
        )
        if creating:
            self._masked_without_value(CONNECTIONS, row, "connection", alias, record.params)
            if self._same_instance() and record.id is not None and self.index is not None:
                found = self.index.connections_by_id.get(record.id)
                if found is not None and not same_name(found.alias, alias):
                    self._rename_hint(CONNECTIONS, row, "alias", record.id, found.alias)

    def _same_instance(self) -> bool:
        """The file came from the target itself (its projects are the target's own)."""
        return self.match == Match.NAME and self._identity()

    def _identity(self) -> bool:
        return self.project_map is not None and self.project_map.how == "identity"

    def _rename_hint(self, sheet: str, row: int | None, column: str, ident: int, now: str) -> None:
        """A renamed object matched by name is a new object: say how to rename instead."""
        kind = sheet[:-1]
        message = (
            f'id {ident} is "{now}" on the target, so this row creates a new {kind}; '
            "to rename it instead, use --match id"
        )
        self._add(sheet, row, column, message, warning=True)

    def _connection_key(
        self,
        record: ConnectionRecord,
        alias: str,
        target_project: int | None,
        keys: dict[tuple[int | None, str], ConnectionRecord],
    ) -> None:
        """An empty alias, or the same (project, alias) twice in the file."""
        if not alias:
            self._add(CONNECTIONS, record.row, "alias", "alias is empty")
            return
        project = target_project if target_project is not None else record.project
        if project is None:
            return
        if (project, alias) in keys:
            other = keys[(project, alias)]
            where = _also(other.row, "alias of the connection", other.id, other.alias)
            message = f'"{alias}" in project {project} is also {where}'
            self._add(CONNECTIONS, record.row, "alias", message)
        else:
            keys[(project, alias)] = record

    def _connection_columns(self, record: ConnectionRecord) -> None:
        if record.frequency is not None and record.frequency not in FREQUENCIES:
            message = f'"{record.frequency}" is not one of {", ".join(FREQUENCIES)}'
            self._add(CONNECTIONS, record.row, "frequency", message)
        for column in ("debug_mode", "inaccessible"):
            value = getattr(record, column)
            if value is not None and not isinstance(value, bool):
                message = f'"{value}" is not a boolean (use TRUE or FALSE)'
                self._add(CONNECTIONS, record.row, column, message)

    def _connection_plugin(
        self, record: ConnectionRecord, connector: ConnectorInfo
    ) -> Plugin | None:
        """The schema of a connection's system, which must be its connector's."""
        given = (record.system or "").strip()
        if given and connector.system and given != connector.system:
            message = f'"{given}" but connector "{connector.name}" is {connector.system}'
            self._add(CONNECTIONS, record.row, "system", message)
            return None
        return self._plugin(CONNECTIONS, record.row, given or connector.system)

    def _project(self, record: ConnectionRecord) -> int | None:
        """The target project of a connection, reporting a missing or unmapped one."""
        if record.project is None:
            self._add(CONNECTIONS, record.row, "project", "project is empty")
            return None
        if self.project_map is None:
            return None
        found = self.project_map.lookup(record.project)
        if found is None:
            name = f' ("{record.project_name}")' if record.project_name else ""
            why = self.project_map.notes.get(record.project) or (
                "add it to --project-map, or use --skip-unmapped"
            )
            if self.skip_unmapped:
                self._add(
                    CONNECTIONS,
                    record.row,
                    "project",
                    f"project {record.project}{name} is not mapped to a target project; "
                    "skipped (--skip-unmapped)",
                    warning=True,
                )
            else:
                self._add(
                    CONNECTIONS,
                    record.row,
                    "project",
                    f"project {record.project}{name} is not mapped to a target project: {why}",
                )
        elif self.target is not None and found not in self.target_projects:
            self._add(
                CONNECTIONS,
                record.row,
                "project",
                f"project {record.project} maps to {found}, which is not on the target",
            )
        return found

    def _connector_of(self, record: ConnectionRecord) -> ConnectorInfo | None:
        name = self.connector_names.of(record)
        if name is None:
            what = (
                f"connector {record.connector} is not in the file"
                if record.connector is not None
                else "no connector given"
            )
            self._add(CONNECTIONS, record.row, "connector_name", f"{what}: fill connector_name")
            return None
        in_file = self.file_connectors.get(name)
        if in_file is not None and (in_file.system or "").strip() not in self.plugins:
            return None  # its own row says the system is unknown: no echo on every connection
        if in_file is not None:
            editable = _as_set(in_file.fields_editable_on_project)
            return ConnectorInfo(name, (in_file.system or "").strip(), in_file.params, editable)
        if self.index is None:
            if record.system:
                return ConnectorInfo(name, record.system.strip(), {}, None, known=False)
            return None  # offline, connector elsewhere: nothing more to check here
        found = self.index.connectors_named(name)
        if not found:
            self._add(
                CONNECTIONS,
                record.row,
                "connector_name",
                f'connector "{name}" is neither in the file nor on the target',
            )
            return None
        connector = found[0]
        editable = _as_set(connector.fields_editable_on_project)
        return ConnectorInfo(name, connector.system, connector.params, editable)

    def _connection_creating(self, record: ConnectionRecord, target_project: int | None) -> bool:
        if self.mode != Mode.UPSERT or self.index is None:
            return self.mode == Mode.CREATE
        if self.match == Match.ID:
            return record.id is None or record.id not in self.index.connections_by_id
        if target_project is None:
            return False  # unmapped: already reported
        return not self.index.connections_keyed(target_project, record.alias or "")

    # ------------------------------------------------------------ params

    def _params(
        self,
        sheet: str,
        row: int | None,
        plugin: Plugin,
        params: Mapping[str, Any],
        *,
        scope: str,
        creating: bool,
        inherited: Mapping[str, Any] | None,
        editable: set[str] | None,
    ) -> None:
        given = {k: v for k, v in params.items() if v is not None}
        for name in given:
            if plugin.field(name) is None and name not in DERIVED_PARAMS:
                self._add(
                    sheet,
                    row,
                    PARAM_PREFIX + name,
                    f"not a param of {plugin.id}; it will be sent as is",
                    warning=True,
                )
            elif name in DERIVED_PARAMS:
                self._add(
                    sheet,
                    row,
                    PARAM_PREFIX + name,
                    "derived from the project by the server; ignored",
                    warning=True,
                )
        checkable = {k: v for k, v in given.items() if v != MASK and k not in DERIVED_PARAMS}
        # A masked secret stands for a value: it satisfies "required".
        present = dict(inherited or {})
        present.update({k: v for k, v in given.items() if v == MASK})
        found = validate_params(
            plugin, checkable, scope=scope, creating=creating, inherited=present
        )
        for name, messages in found.items():
            for message in messages:
                self._add(sheet, row, PARAM_PREFIX + name, message)
        # What the schema doubts, a real instance may hold: sent as is, the target decides.
        for name, messages in param_doubts(plugin, given, scope=scope, editable=editable).items():
            for message in messages:
                self._add(sheet, row, PARAM_PREFIX + name, message, warning=True)

    def _masked_without_value(
        self, sheet: str, row: int | None, kind: str, name: str, params: Mapping[str, Any]
    ) -> None:
        for param, value in params.items():
            if value == MASK and self.secrets.lookup(kind, name, param) is None:
                self._add(
                    sheet,
                    row,
                    PARAM_PREFIX + param,
                    f'masked secret and no value for {kind} "{name}" in --secrets '
                    "(needed to create it)",
                )


def _as_set(names: list[str] | None) -> set[str] | None:
    """fields_editable_on_project as a set; None (not given) stays None."""
    return set(names) if names is not None else None


def _also(row: int | None, what: str, ident: int | None, raw: str) -> str:
    """Where the other object of a key is: its row in a file, or (an instance read by
    migrate has no rows) its id and its name as the source holds it."""
    if row is not None:
        return f"on row {row}"
    return f"the {what} with id {ident} ({raw!r})"
