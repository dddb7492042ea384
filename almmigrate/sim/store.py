"""The simulator's live store: one SD Elements instance's ALM objects, in memory.

It holds the data file's objects (see almmigrate/DESIGN.md, "Simulator"), answers
reads the way the API shows them (connection params merged with the
connector's, `sde_*` names added) and validates writes with the schema's
certain rules (types, choices, required), returning DRF-shaped errors. Like a
real instance it trims names and aliases on write, lets a connection hold its
own value for a connector-scope param, keeps a stale fields_editable_on_project
and refuses read-only params: the tool only doubts those, the server decides. Thread-safe: the server's
event loop and a test read and write it at the same time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from almmigrate.dataset import FREQUENCIES
from almmigrate.errors import InputError
from almmigrate.generation import ISSUE_TRACKER_GENERATION, generation
from almmigrate.schema import (
    DERIVED_PARAMS,
    PROJECT,
    SYSTEM,
    Plugin,
    bundled_plugins,
    validate_params,
)
from almmigrate.sim.translate import data_in, last_successful_run, plugins_in

NAME_MAX_LENGTH = 255
KINDS = ("business_units", "applications", "projects", "connectors", "connections")

Errors = dict[str, Any]


class SimValidationError(Exception):
    """A write the API would refuse with 400 and this DRF-shaped body."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


def load_data(data: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read a data file (or take a dict) in the simulator's format."""
    if isinstance(data, Mapping):
        return dict(data)
    path = Path(data)
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such data file", file=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not a readable JSON data file ({error})", file=str(path)) from None
    if not isinstance(loaded, dict):
        raise InputError("a data file holds one JSON object", file=str(path))
    return loaded


class Table:
    """Objects of one kind by id, with the ids kept in ascending order for paging."""

    def __init__(self, kind: str, items: Iterable[Mapping[str, Any]]) -> None:
        self.kind = kind
        # Keyed by id; looked up with whatever a body or a row holds (may be None or text).
        self.rows: dict[Any, dict[str, Any]] = {}
        for item in items:
            row = _shallow_copy(item)
            ident = row.get("id")
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise InputError(f"{kind}: every object needs an integer id (got {ident!r})")
            if ident in self.rows:
                raise InputError(f"{kind}: id {ident} appears twice")
            self.rows[ident] = row
        self.ids = sorted(self.rows)

    def next_id(self) -> int:
        return (self.ids[-1] + 1) if self.ids else 1

    def add(self, row: dict[str, Any]) -> None:
        # New ids are max+1, so appending keeps `ids` sorted.
        self.rows[row["id"]] = row
        self.ids.append(row["id"])


def _shallow_copy(item: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an object and its params, the only parts the store changes in place."""
    row = dict(item)
    if isinstance(row.get("params"), Mapping):
        row["params"] = dict(row["params"])
    return row


class SimStore:
    """The live state of one simulated instance."""

    def __init__(
        self,
        data: str | Path | Mapping[str, Any],
        on_write: Callable[[], None] | None = None,
        api: str | None = None,
    ) -> None:
        # Which generation of the API this instance serves; its data is in that one's names.
        self.generation = generation(api)
        loaded = data_in(load_data(data), self.generation)
        self.token: str | None = loaded.get("token")
        self._lock = threading.RLock()
        self._on_write = on_write or (lambda: None)
        self._custom_plugins = "plugins" in loaded
        raw_plugins = loaded.get("plugins")
        if raw_plugins is None:
            self.plugins = plugins_in(bundled_plugins(), self.generation)
        else:
            self.plugins = {str(p["id"]): Plugin.from_api(p) for p in raw_plugins}
        self.tables = {kind: Table(kind, loaded.get(kind) or ()) for kind in KINDS}
        self._by_project: dict[Any, list[int]] = {}
        for ident in self.tables["connections"].ids:
            project = self.tables["connections"].rows[ident].get("project")
            self._by_project.setdefault(project, []).append(ident)

    # ------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """The whole state in the data-file format (a copy, safe to keep)."""
        with self._lock:
            out: dict[str, Any] = {"token": self.token}
            for kind in KINDS:
                table = self.tables[kind]
                out[kind] = [json.loads(json.dumps(table.rows[i])) for i in table.ids]
            if self._custom_plugins:
                out["plugins"] = [dict(p.raw) for p in self.plugins.values()]
            return out

    # ------------------------------------------------------------ reads

    def page(
        self,
        kind: str,
        offset: int,
        limit: int,
        filters: Mapping[str, str] | None = None,
        include_last_job: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(count, serialized objects) of one page of a list, with its filters applied."""
        with self._lock:
            ids = self._filtered_ids(kind, filters or {})
            chosen = ids[offset : offset + limit]
            return len(ids), [self._render(kind, i, include_last_job) for i in chosen]

    def get(self, kind: str, ident: int, include_last_job: bool = False) -> dict[str, Any] | None:
        with self._lock:
            if ident not in self.tables[kind].rows:
                return None
            return self._render(kind, ident, include_last_job)

    def plugin_list(self) -> list[dict[str, Any]]:
        return [dict(p.raw) for p in self.plugins.values()]

    def _filtered_ids(self, kind: str, filters: Mapping[str, str]) -> list[int]:
        table = self.tables[kind]
        if kind == "connections" and "project" in filters:
            project = _int_or_none(filters["project"])
            return list(self._by_project.get(project, ())) if project is not None else []
        field = {"projects": "application", "applications": "business_unit"}.get(kind)
        if field and field in filters:
            wanted = _int_or_none(filters[field])
            return [i for i in table.ids if table.rows[i].get(field) == wanted]
        return table.ids

    def _render(self, kind: str, ident: int, include_last_job: bool) -> dict[str, Any]:
        row = self.tables[kind].rows[ident]
        if kind == "connectors":
            return self._render_connector(row)
        if kind == "connections":
            return self._render_connection(row, include_last_job)
        if kind == "applications":
            unit = self.tables["business_units"].rows.get(row.get("business_unit"))
            expanded = (
                {"id": unit["id"], "slug": unit.get("slug", ""), "name": unit.get("name", "")}
                if unit
                else None
            )
            return {**row, "business_unit": expanded}
        return dict(row)

    def _system(self, system_id: str) -> dict[str, str]:
        plugin = self.plugins.get(system_id)
        if plugin is None:
            return {"id": system_id, "name": system_id, "short_name": system_id}
        return {
            "id": plugin.id,
            "name": plugin.name,
            "short_name": plugin.short_name or plugin.name,
        }

    def _render_connector(self, row: Mapping[str, Any]) -> dict[str, Any]:
        editable = row.get("fields_editable_on_project")
        return {
            "id": row["id"],
            "name": row.get("name", ""),
            "system": self._system(str(row.get("system", ""))),
            "inaccessible": bool(row.get("inaccessible", False)),
            "params": dict(row.get("params") or {}),
            "fields_editable_on_project": list(editable) if editable is not None else None,
        }

    def _render_connection(self, row: Mapping[str, Any], include_last_job: bool) -> dict[str, Any]:
        connector = self.tables["connectors"].rows.get(row.get("connector"), {})
        system = str(connector.get("system", ""))
        plugin = self.plugins.get(system)
        params = {**(connector.get("params") or {}), **(row.get("params") or {})}
        params.update(self._project_names(row.get("project")))
        out = {
            "id": row["id"],
            "alias": row.get("alias", ""),
            "system": self._system(system),
            "frequency": row.get("frequency", "manually"),
            "command": plugin.command if plugin else f"sync_{system}",
            "debug_mode": bool(row.get("debug_mode", False)),
            "params": params,
            "inaccessible": bool(row.get("inaccessible", False)),
            "in_progress": bool(row.get("in_progress", False)),
            "connector": row.get("connector"),
            "project": row.get("project"),
        }
        if include_last_job:
            out["last_job"] = row.get("last_job")
        if self.generation is ISSUE_TRACKER_GENERATION:
            synced = last_successful_run(row.get("last_job"))
            if synced is not None:
                params["last_successful_run"] = synced
        return out

    def _project_names(self, project_id: Any) -> dict[str, str]:
        project = self.tables["projects"].rows.get(project_id, {})
        app = self.tables["applications"].rows.get(project.get("application"), {})
        unit = self.tables["business_units"].rows.get(app.get("business_unit"), {})
        return {
            "sde_project": project.get("name", ""),
            "sde_application": app.get("name", ""),
            "sde_businessunit": unit.get("name", ""),
        }

    # ------------------------------------------------------------ writes

    def create_connector(self, body: Any) -> dict[str, Any]:
        with self._lock:
            row = self._checked_connector(body, current=None)
            table = self.tables["connectors"]
            row["id"] = table.next_id()
            table.add(row)
            self._on_write()
            return self._render_connector(row)

    def update_connector(self, ident: int, body: Any) -> dict[str, Any] | None:
        with self._lock:
            current = self.tables["connectors"].rows.get(ident)
            if current is None:
                return None
            row = self._checked_connector(body, current=current)
            current.clear()
            current.update(row)
            self._on_write()
            return self._render_connector(current)

    def create_connection(self, body: Any) -> dict[str, Any]:
        with self._lock:
            row = self._checked_connection(body, current=None)
            table = self.tables["connections"]
            row["id"] = table.next_id()
            table.add(row)
            self._by_project.setdefault(row["project"], []).append(row["id"])
            self._on_write()
            return self._render_connection(row, include_last_job=False)

    def update_connection(self, ident: int, body: Any) -> dict[str, Any] | None:
        with self._lock:
            current = self.tables["connections"].rows.get(ident)
            if current is None:
                return None
            row = self._checked_connection(body, current=current)
            if row["project"] != current.get("project"):
                self._by_project[current.get("project")].remove(ident)
                bucket = self._by_project.setdefault(row["project"], [])
                bucket.append(ident)
                bucket.sort()
            current.clear()
            current.update(row)
            self._on_write()
            return self._render_connection(current, include_last_job=False)

    # ------------------------------------------------------------ connectivity tests

    def test_connector(self, body: Any) -> dict[str, Any]:
        """The `testalm` answer for a connector: fails for servers ending in `.invalid`."""
        with self._lock:
            body = _require_object(body)
            errors: Errors = {}
            plugin = self._plugin_of(body, errors)
            params = body.get("params") if isinstance(body.get("params"), Mapping) else {}
            if plugin is not None:
                problems = validate_params(plugin, params, scope=SYSTEM, creating=True)
                if problems:
                    errors["params"] = problems
            if errors:
                raise SimValidationError(errors)
            return _connectivity(params)

    def test_connection(self, body: Any) -> dict[str, Any]:
        """The `testalm` answer for a connection, its connector's params included."""
        with self._lock:
            body = _require_object(body)
            errors: Errors = {}
            connector = self._related(body, "connector", "connectors", errors)
            if connector is None:
                raise SimValidationError(errors)
            params = body.get("params") if isinstance(body.get("params"), Mapping) else {}
            return _connectivity({**(connector.get("params") or {}), **params})

    # ------------------------------------------------------------ validation

    def _plugin_of(self, body: Mapping[str, Any], errors: Errors) -> Plugin | None:
        system = body.get("system")
        system_id = system.get("id") if isinstance(system, Mapping) else system
        if system_id in (None, ""):
            errors["system"] = ["This field is required."]
            return None
        plugin = self.plugins.get(str(system_id))
        if plugin is None:
            errors["system"] = [f'"{system_id}" is not a valid choice.']
        return plugin

    def _checked_connector(self, body: Any, current: dict[str, Any] | None) -> dict[str, Any]:
        body = _require_object(body)
        errors: Errors = {}
        row: dict[str, Any] = dict(current) if current else {"inaccessible": False, "params": {}}
        row["params"] = dict(row.get("params") or {})
        if current is None or "name" in body:
            name = _checked_name(body, "name", errors)
            if name is not None:
                row["name"] = name
        if current is None or "system" in body:
            plugin = self._plugin_of(body, errors)
            if plugin is not None:
                row["system"] = plugin.id
        plugin = self.plugins.get(str(row.get("system")))
        _checked_bool(body, "inaccessible", row, errors)
        if "fields_editable_on_project" in body:
            editable = body["fields_editable_on_project"]
            problem = _editable_problem(editable)
            if problem:
                errors["fields_editable_on_project"] = [problem]
            else:
                row["fields_editable_on_project"] = list(editable) if editable is not None else None
        row.setdefault("fields_editable_on_project", None)
        params = body.get("params", {} if current else None)
        if not isinstance(params, Mapping):
            errors["params"] = [
                "This field is required." if params is None else "Must be an object."
            ]
        elif plugin is not None:
            changes_system = current is not None and plugin.id != current.get("system")
            merged = {**row["params"], **params}
            problems = validate_params(
                plugin,
                merged if changes_system else params,
                scope=SYSTEM,
                creating=current is None or changes_system,
            )
            problems = _refuse_read_only(plugin, params, problems)
            if problems:
                errors["params"] = problems
            row["params"] = merged
        if errors:
            raise SimValidationError(errors)
        return row

    def _checked_connection(self, body: Any, current: dict[str, Any] | None) -> dict[str, Any]:
        body = _require_object(body)
        errors: Errors = {}
        row: dict[str, Any] = (
            dict(current)
            if current
            else {
                "frequency": "manually",
                "debug_mode": False,
                "inaccessible": False,
                "in_progress": False,
                "last_job": None,
            }
        )
        row["params"] = dict(row.get("params") or {})
        if current is None or "alias" in body:
            alias = _checked_name(body, "alias", errors)
            if alias is not None:
                row["alias"] = alias
        for field, kind in (("connector", "connectors"), ("project", "projects")):
            if current is None or field in body:
                related = self._related(body, field, kind, errors)
                if related is not None:
                    row[field] = related["id"]
        if "frequency" in body:
            if body["frequency"] in FREQUENCIES:
                row["frequency"] = body["frequency"]
            else:
                errors["frequency"] = [f'"{body["frequency"]}" is not a valid choice.']
        _checked_bool(body, "debug_mode", row, errors)
        _checked_bool(body, "inaccessible", row, errors)
        params = body.get("params", {} if current else None)
        if not isinstance(params, Mapping):
            errors["params"] = [
                "This field is required." if params is None else "Must be an object."
            ]
        elif "connector" not in errors:
            own = {k: v for k, v in params.items() if k not in DERIVED_PARAMS}
            problems = self._connection_param_problems(row, own, creating=current is None)
            if problems:
                errors["params"] = problems
            row["params"].update(own)
        if errors:
            raise SimValidationError(errors)
        return row

    def _related(
        self, body: Mapping[str, Any], field: str, kind: str, errors: Errors
    ) -> dict[str, Any] | None:
        """The object a body's `field` refers to by id, or None with DRF's error recorded."""
        value = body.get(field)
        if value is None:
            errors[field] = ["This field is required."]
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # DRF takes "5" for a primary key, as it takes 5
        if isinstance(value, bool) or not isinstance(value, int):
            errors[field] = [f"Incorrect type. Expected pk value, received {type(value).__name__}."]
            return None
        found = self.tables[kind].rows.get(value)
        if found is None:
            errors[field] = [f'Invalid pk "{value}" - object does not exist.']
        return found

    def _connection_param_problems(
        self, row: Mapping[str, Any], own: Mapping[str, Any], creating: bool
    ) -> dict[str, list[str]]:
        connector = self.tables["connectors"].rows.get(row.get("connector"), {})
        plugin = self.plugins.get(str(connector.get("system")))
        if plugin is None:
            return {}
        # Like a real instance, a connection may hold its own value for a connector-scope
        # param (older versions allowed it); only read-only params are refused.
        problems = validate_params(
            plugin, own, scope=PROJECT, creating=creating, inherited=connector.get("params") or {}
        )
        return _refuse_read_only(plugin, own, problems)


# ---------------------------------------------------------------- helpers


def _require_object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        kind = type(body).__name__
        raise SimValidationError(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    return body


def _checked_name(body: Mapping[str, Any], field: str, errors: Errors) -> str | None:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors[field] = [
            "This field is required." if value is None else "This field may not be blank."
        ]
        return None
    if not isinstance(value, str):
        errors[field] = ["Not a valid string."]
        return None
    # Django REST Framework's CharField trims surrounding whitespace on write (trim_whitespace).
    value = value.strip()
    if len(value) > NAME_MAX_LENGTH:
        errors[field] = [f"Ensure this field has no more than {NAME_MAX_LENGTH} characters."]
        return None
    return value


def _checked_bool(body: Mapping[str, Any], field: str, row: dict[str, Any], errors: Errors) -> None:
    if field not in body:
        return
    if isinstance(body[field], bool):
        row[field] = body[field]
    else:
        errors[field] = ["Must be a valid boolean."]


def _refuse_read_only(
    plugin: Plugin, params: Mapping[str, Any], problems: dict[str, list[str]]
) -> dict[str, list[str]]:
    """The schema's read-only params are refused on write, as DRF refuses a read-only field."""
    for name in params:
        spec = plugin.field(name)
        if spec is not None and spec.readonly:
            problems.setdefault(name, []).append("This field is read-only.")
    return problems


def _editable_problem(editable: Any) -> str | None:
    if editable is None:
        return None
    if not isinstance(editable, list) or not all(isinstance(n, str) for n in editable):
        return "Must be a list of param names, or null."
    return None  # names the plugin no longer has are kept: older instances hold them


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _connectivity(params: Mapping[str, Any]) -> dict[str, Any]:
    """A deterministic stand-in for reaching the ALM: `.invalid` hosts never answer."""
    server = str(params.get("alm_server") or "")
    if not server:
        return {"success": False, "error": "No ALM server is configured."}
    if server.rstrip("/").lower().endswith(".invalid"):
        return {"success": False, "error": f"Unable to connect to the ALM server {server}."}
    return {"success": True}
