"""The plan: a pure diff of a file's desired state against the target's Snapshot.

Connectors first, then connections. A connector is found by name, a
connection by (target project, alias); `match="id"` uses the file's id column.
Only fields the file gives count (an empty cell is "not given"); a masked
secret on an update means "leave it"; a supplied secret shows as changed,
never by value. Nothing here talks to the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from almmigrate.dataset import (
    CONNECTIONS,
    CONNECTORS,
    NO_NAMES,
    PARAM_PREFIX,
    ConnectionRecord,
    ConnectorRecord,
    Dataset,
    Snapshot,
)
from almmigrate.errors import Problem
from almmigrate.files.cells import value_text
from almmigrate.mapping import ConnectorNames, ProjectMap, TargetIndex
from almmigrate.models import Connection, Connector
from almmigrate.naturalkey import connection_label, name_key, same_name, trimmed_on_write
from almmigrate.plan_types import Change, Match, Mode, Plan, PlanAction, PlanItem
from almmigrate.problems import warning
from almmigrate.schema import (
    CHOICE_TYPES,
    DERIVED_PARAMS,
    Plugin,
    is_number,
    is_secret,
    split_checkbox,
)
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues


def build_plan(
    dataset: Dataset,
    target: Snapshot,
    *,
    plugins: Mapping[str, Plugin],
    project_map: ProjectMap,
    secrets: SecretValues | None = None,
    mode: Mode = Mode.UPSERT,
    match: Match = Match.NAME,
    skip_unmapped: bool = False,
) -> Plan:
    """What an import of `dataset` would do on `target`, object by object."""
    planner = _Planner(
        dataset, target, plugins, project_map, secrets or SecretValues(), mode, match
    )
    plan = Plan()
    for record in dataset.connectors:
        plan.items.append(planner.connector(record))
    for connection in dataset.connections:
        plan.items.append(planner.connection(connection, skip_unmapped))
    return plan


def kept_by_empty_cells(
    dataset: Dataset, target: Snapshot, plan: Plan, plugins: Mapping[str, Plugin]
) -> list[Problem]:
    """A warning for each empty param cell whose target object holds a value: it is kept.

    An empty cell means "not given", which a person who blanked a cell to clear
    it would not guess. Only param columns that some row of the sheet fills
    count, so an export's columns of other systems say nothing.
    """
    index = TargetIndex(target)
    columns = {
        CONNECTORS: {k for r in dataset.connectors for k, v in r.params.items() if v is not None},
        CONNECTIONS: {k for r in dataset.connections for k, v in r.params.items() if v is not None},
    }
    records: list[ConnectorRecord | ConnectionRecord] = [*dataset.connectors, *dataset.connections]
    warnings = []
    for record, item in zip(records, plan.items, strict=False):
        if item.target_id is None or item.action not in (PlanAction.UPDATE, PlanAction.UNCHANGED):
            continue
        sheet, current, system = _current_params(index, item)
        given = {k for k, v in record.params.items() if v is not None}
        for name in sorted(columns[sheet] - given - DERIVED_PARAMS):
            value = current.get(name)
            if value is None or value == "" or value == []:
                continue
            plugin = plugins.get(system)
            kept = "its value" if is_secret(name, plugin) else f"{value!r}"
            message = f"empty, so the target keeps {kept} (an empty cell is not sent)"
            column = PARAM_PREFIX + name
            warnings.append(
                warning(message, sheet=sheet, row=record.row, column=column, item=item.key)
            )
    return warnings


def trimmed_names(dataset: Dataset, plan: Plan) -> list[Problem]:
    """A warning for each name or alias sent with surrounding whitespace: the target trims it.

    Matching ignores that whitespace (almmigrate.naturalkey), so a re-run still
    finds the object; the person should know the target will not hold it as typed.
    """
    records: list[ConnectorRecord | ConnectionRecord] = [*dataset.connectors, *dataset.connections]
    warnings = []
    for record, item in zip(records, plan.items, strict=False):
        column = "name" if item.kind == "connector" else "alias"
        sent = item.body.get(column)
        if item.action in (PlanAction.CREATE, PlanAction.UPDATE) and trimmed_on_write(sent):
            sheet = CONNECTORS if item.kind == "connector" else CONNECTIONS
            message = (
                f"{sent!r} has surrounding whitespace; SD Elements trims it, so the target "
                f"will hold {name_key(sent)!r} (matched either way)"
            )
            warnings.append(
                warning(message, sheet=sheet, row=record.row, column=column, item=item.key)
            )
    return warnings


def _current_params(index: TargetIndex, item: PlanItem) -> tuple[str, Mapping[str, Any], str]:
    """(sheet, the target object's own params, its system) for a matched plan item."""
    if item.kind == "connector":
        connector = index.connectors_by_id[item.target_id or 0]
        return CONNECTORS, connector.params, connector.system
    connection = index.connections_by_id[item.target_id or 0]
    parent = index.connectors_by_id.get(connection.connector or -1)
    own = connection.own_params(parent.params if parent else {})
    return CONNECTIONS, own, parent.system if parent else ""


def values_equal(plugin: Plugin | None, name: str, a: Any, b: Any) -> bool:
    """Equal as the API means it: choices by text, a number and its text alike, else exact.

    Instances hold `7` on one object and `"7"` on another; a CSV file cannot
    tell them apart, and neither means another value. Booleans stay booleans.
    """
    if a is None or b is None:
        return a is None and b is None  # a null the source held, against the target's
    spec = plugin.field(name) if plugin else None
    if spec is not None and spec.field_type in CHOICE_TYPES:
        return a is not None and b is not None and str(a) == str(b)
    checkbox = spec is not None and spec.field_type == "checkbox"
    if checkbox and isinstance(a, str) and isinstance(b, str):
        return split_checkbox(a) == split_checkbox(b)
    if isinstance(a, str) != isinstance(b, str):
        value, text = (b, a) if isinstance(a, str) else (a, b)
        # A file that lost the type (CSV; a list or dict in a workbook) holds the text
        # it writes for the value: reading it back is no change.
        return value is not None and text in (_number_text(value), value_text(value))
    if is_number(a) and is_number(b):
        return bool(a == b)  # 2.0 reads back from a workbook as 2: the same JSON number
    return type(a) is type(b) and a == b


def _number_text(value: Any) -> str | None:
    """How a JSON number reads as text (`7`, `2.5`), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def typed_like(plugin: Plugin | None, name: str, value: Any, current: Any) -> Any:
    """A choice value in the JSON type the target keeps it in (a spreadsheet may give 8 for "8")."""
    spec = plugin.field(name) if plugin else None
    if spec is None or spec.field_type not in CHOICE_TYPES or value is None:
        return value
    if isinstance(value, bool):
        return value
    text = str(value)
    if isinstance(current, int) and not isinstance(current, bool) and text.lstrip("-").isdigit():
        return int(text)
    return text


class _Planner:
    def __init__(
        self,
        dataset: Dataset,
        target: Snapshot,
        plugins: Mapping[str, Plugin],
        project_map: ProjectMap,
        secrets: SecretValues,
        mode: Mode,
        match: Match,
    ) -> None:
        self.dataset = dataset
        self.target = target
        self.index = TargetIndex(target)
        self.plugins = plugins
        self.project_map = project_map
        self.secrets = secrets
        self.mode = mode
        self.match = match
        # Connector name -> its plan item, for the connections that use it.
        self.connector_items: dict[str, PlanItem] = {}
        self.file_connectors = {name_key(c.name): c for c in dataset.connectors if c.name}
        # Connector ids mean something on the target only when the file comes from it.
        same = target if project_map.how == "identity" else None
        self.connector_names = ConnectorNames(dataset, same)

    # ------------------------------------------------------------ connectors

    def connector(self, record: ConnectorRecord) -> PlanItem:
        name = name_key(record.name)
        item = PlanItem(
            "connector", PlanAction.UNCHANGED, name, row=record.row, source_id=record.id
        )
        self.connector_items.setdefault(name, item)
        plugin = self.plugins.get((record.system or "").strip())
        if plugin is None:
            return _fail(item, f'"{record.system}" is not a known system')
        existing, problem = self._existing_connector(record)
        if problem:
            return _fail(item, problem)
        if existing is None:
            return self._create_connector(item, record, plugin)
        item.target_id = existing.id
        return self._update_connector(item, record, plugin, existing)

    def _existing_connector(self, record: ConnectorRecord) -> tuple[Connector | None, str | None]:
        if self.match == Match.ID:
            if record.id is None:
                return None, None
            return self.index.connectors_by_id.get(record.id), None
        found = self.index.connectors_named(record.name or "")
        if len(found) > 1:
            ids = " and ".join(str(c.id) for c in found)
            return None, f'ambiguous: connectors {ids} on the target are both named "{record.name}"'
        return (found[0] if found else None), None

    def _create_connector(
        self, item: PlanItem, record: ConnectorRecord, plugin: Plugin
    ) -> PlanItem:
        if self.mode == Mode.UPDATE:
            return _fail(item, "not on the target (--mode update creates nothing)")
        params, missing = self._filled(record.params, "connector", item.key, record.nulls)
        if missing:
            return _fail(item, f"masked secret {', '.join(missing)} has no value in --secrets")
        body: dict[str, Any] = {
            "name": record.name,  # as the source holds it: the target decides how to store it
            "system": {"id": plugin.id},
            "inaccessible": bool(record.inaccessible),
            "params": params,
        }
        if record.fields_editable_on_project is not None:
            body["fields_editable_on_project"] = list(record.fields_editable_on_project)
        item.action = PlanAction.CREATE
        item.body = body
        item.secret_fields = secret_names(params, plugin)
        return item

    def _update_connector(
        self, item: PlanItem, record: ConnectorRecord, plugin: Plugin, existing: Connector
    ) -> PlanItem:
        if self.mode == Mode.CREATE:
            return _leave(item, existing.id)
        if existing.system != plugin.id:
            return _fail(item, f"is a {existing.system} connector on the target, not {plugin.id}")
        changes: list[Change] = []
        body: dict[str, Any] = {}
        if self.match == Match.ID and item.key and not same_name(record.name, existing.name):
            _change(changes, body, "name", existing.name, record.name)
        if record.inaccessible is not None and record.inaccessible != existing.inaccessible:
            _change(changes, body, "inaccessible", existing.inaccessible, record.inaccessible)
        wanted = record.fields_editable_on_project
        if wanted is not None and sorted(wanted) != sorted(
            existing.fields_editable_on_project or []
        ):
            _change(
                changes,
                body,
                "fields_editable_on_project",
                existing.fields_editable_on_project,
                list(wanted),
            )
        params = self._param_changes(
            changes, plugin, record, existing.params, {}, "connector", item.key
        )
        if params:
            body["params"] = params
        return _finish(item, changes, body, plugin)

    # ------------------------------------------------------------ connections

    def connection(self, record: ConnectionRecord, skip_unmapped: bool) -> PlanItem:
        alias = name_key(record.alias)
        project = self.project_map.lookup(record.project)
        item = PlanItem(
            "connection",
            PlanAction.UNCHANGED,
            connection_label(project or record.project, alias),
            row=record.row,
            source_id=record.id,
            project=project,
            source_project=record.project,
            alias=alias,
        )
        if project is None:
            if skip_unmapped:
                item.action = PlanAction.SKIPPED
                item.error = f"project {record.project} is not mapped (--skip-unmapped)"
                return item
            return _fail(item, f"project {record.project} is not mapped to a target project")
        resolved = self._connector_of(record, item)
        if resolved is None:
            return item
        connector_id, inherited, plugin = resolved
        existing, problem = self._existing_connection(record, project)
        if problem:
            return _fail(item, problem)
        if existing is None:
            return self._create_connection(item, record, plugin, connector_id, project)
        item.target_id = existing.id
        return self._update_connection(
            item, record, plugin, existing, connector_id, project, inherited
        )

    def _connector_of(
        self, record: ConnectionRecord, item: PlanItem
    ) -> tuple[int | None, Mapping[str, Any], Plugin] | None:
        """(target connector id or None when created in this run, its params, plugin)."""
        name = self.connector_names.of(record)
        if name is None:
            _fail(item, "no connector: fill connector_name")
            return None
        item.connector_name = name
        planned = self.connector_items.get(name)
        # A connector --mode create leaves alone is "skipped", and its new connections use it.
        if planned is not None and planned.action == PlanAction.ERROR:
            _fail(item, f'its connector "{name}" cannot be imported: {planned.error}')
            return None
        if planned is not None and planned.target_id is not None:
            # The file's connector is on the target already (by name, or by id with --match id).
            found = [self.index.connectors_by_id[planned.target_id]]
        else:
            found = self.index.connectors_named(name)
        if len(found) > 1:
            ids = " and ".join(str(c.id) for c in found)
            _fail(item, f'ambiguous connector: {ids} on the target are both named "{name}"')
            return None
        in_file = self.file_connectors.get(name)
        if found:
            connector = found[0]
            params: dict[str, Any] = dict(connector.params)
            if in_file is not None:
                params.update({k: v for k, v in given_params(in_file).items() if v != MASK})
            plugin = self.plugins.get(connector.system)
            system = connector.system
        elif in_file is not None:
            params = given_params(in_file)
            system = (in_file.system or "").strip()
            plugin = self.plugins.get(system)
        else:
            _fail(item, f'connector "{name}" is neither in the file nor on the target')
            return None
        if plugin is None:
            _fail(item, f'connector "{name}" has unknown system "{system}"')
            return None
        return (found[0].id if found else None), params, plugin

    def _existing_connection(
        self, record: ConnectionRecord, project: int
    ) -> tuple[Connection | None, str | None]:
        if self.match == Match.ID:
            if record.id is None:
                return None, None
            return self.index.connections_by_id.get(record.id), None
        found = self.index.connections_keyed(project, record.alias or "")
        if len(found) > 1:
            ids = " and ".join(str(c.id) for c in found)
            return (
                None,
                f'ambiguous: connections {ids} in project {project} are both "{record.alias}"',
            )
        return (found[0] if found else None), None

    def _create_connection(
        self,
        item: PlanItem,
        record: ConnectionRecord,
        plugin: Plugin,
        connector_id: int | None,
        project: int,
    ) -> PlanItem:
        if self.mode == Mode.UPDATE:
            return _fail(item, "not on the target (--mode update creates nothing)")
        own = {k: v for k, v in record.params.items() if k not in DERIVED_PARAMS}
        params, missing = self._filled(own, "connection", item.alias or "", record.nulls)
        if missing:
            return _fail(item, f"masked secret {', '.join(missing)} has no value in --secrets")
        item.action = PlanAction.CREATE
        item.body = {
            "alias": record.alias,  # as the source holds it: the target decides how to store it
            "project": project,
            "connector": connector_id,
            "frequency": record.frequency or "manually",
            "debug_mode": bool(record.debug_mode),
            "inaccessible": bool(record.inaccessible),
            "params": params,
        }
        item.secret_fields = secret_names(params, plugin)
        return item

    def _update_connection(
        self,
        item: PlanItem,
        record: ConnectionRecord,
        plugin: Plugin,
        existing: Connection,
        connector_id: int | None,
        project: int,
        inherited: Mapping[str, Any],
    ) -> PlanItem:
        if self.mode == Mode.CREATE:
            return _leave(item, existing.id)
        changes: list[Change] = []
        body: dict[str, Any] = {}
        if self.match == Match.ID:
            if item.alias and not same_name(record.alias, existing.alias):
                _change(changes, body, "alias", existing.alias, record.alias)
            if project != existing.project:
                _change(changes, body, "project", existing.project, project)
        if connector_id != existing.connector:
            _change(changes, body, "connector", existing.connector, connector_id)
        for column in ("frequency", "debug_mode", "inaccessible"):
            wanted, current = getattr(record, column), getattr(existing, column)
            if wanted is not None and wanted != current:
                _change(changes, body, column, current, wanted)
        current_connector = self.index.connectors_by_id.get(existing.connector or -1)
        own = existing.own_params(current_connector.params if current_connector else {})
        params = self._param_changes(
            changes,
            plugin,
            record,
            own,
            inherited,
            "connection",
            item.alias or "",
            merged=existing.params,
        )
        if params:
            body["params"] = params
        return _finish(item, changes, body, plugin)

    # ------------------------------------------------------------ params

    def _filled(
        self, params: Mapping[str, Any], kind: str, name: str, nulls: frozenset[str]
    ) -> tuple[dict[str, Any], list[str]]:
        """Given params with masked secrets replaced by supplied values; names still missing.

        A null the source held is sent as null: the target decides what it means.
        """
        filled: dict[str, Any] = {}
        missing = []
        for param, value in params.items():
            if value is None:
                if param in nulls:
                    filled[param] = None
                continue
            if value == MASK:
                supplied = self.secrets.lookup(kind, name, param)
                if supplied is None:
                    missing.append(param)
                    continue
                value = supplied
            filled[param] = value  # as given: JSON and migrate keep the API's own types
        return filled, missing

    def _param_changes(
        self,
        changes: list[Change],
        plugin: Plugin,
        record: ConnectorRecord | ConnectionRecord,
        current: Mapping[str, Any],
        inherited: Mapping[str, Any],
        kind: str,
        name: str,
        merged: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The params to send, recording one Change each.

        A null the source held (record.nulls) equals a null on the target; an
        absent param or another value there is a change to null.
        """
        send: dict[str, Any] = {}
        shown = merged if merged is not None else current
        for param, value in record.params.items():
            if param in DERIVED_PARAMS or (value is None and param not in record.nulls):
                continue
            secret = is_secret(param, plugin)
            if value == MASK:
                supplied = self.secrets.lookup(kind, name, param)
                if supplied is None:
                    continue  # masked on update: leave the target's secret as it is
                value = supplied
            if param in current:
                if values_equal(plugin, param, value, current[param]):
                    continue
            elif param in inherited and values_equal(plugin, param, value, inherited[param]):
                continue  # the connector already gives it this value
            value = typed_like(plugin, param, value, current.get(param, shown.get(param)))
            send[param] = value
            if secret:
                changes.append(Change(f"params.{param}", secret=True))
            else:
                absent = param not in shown
                changes.append(Change(f"params.{param}", shown.get(param), value, absent=absent))
        return send


def given_params(record: ConnectorRecord | ConnectionRecord) -> dict[str, Any]:
    """The params a record gives: its values, and the nulls its source held."""
    return {k: v for k, v in record.params.items() if v is not None or k in record.nulls}


def secret_names(params: Mapping[str, Any], plugin: Plugin) -> frozenset[str]:
    """The params that hold secrets (the shared empty set when none do: 50,000 items)."""
    return frozenset(n for n in params if is_secret(n, plugin)) or NO_NAMES


def _change(changes: list[Change], body: dict[str, Any], name: str, old: Any, new: Any) -> None:
    changes.append(Change(name, old, new))
    body[name] = new


def _finish(
    item: PlanItem, changes: list[Change], body: dict[str, Any], plugin: Plugin
) -> PlanItem:
    item.changes = changes
    item.body = body
    item.action = PlanAction.UPDATE if changes else PlanAction.UNCHANGED
    item.secret_fields = secret_names(body.get("params", {}), plugin)
    return item


def _leave(item: PlanItem, target_id: int | None) -> PlanItem:
    """--mode create: an object already on the target is left as it is (so a re-run is clean)."""
    item.action = PlanAction.SKIPPED
    item.target_id = target_id
    item.error = f"already on the target (id {target_id}); --mode create leaves it as it is"
    item.body = {}
    item.changes = []
    return item


def _fail(item: PlanItem, message: str) -> PlanItem:
    item.action = PlanAction.ERROR
    item.error = message
    item.body = {}
    item.changes = []
    return item
