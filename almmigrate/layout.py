"""The file layout (README, "File layouts"): a Dataset as sheets of columns, and sheets back into typed records.

Fixed columns are typed by column (ids are integers, flags are booleans);
`params.<field>` cells by the plugin schema of the row's system, because a
spreadsheet (CSV above all) loses the difference between 7, "7" and TRUE.
Typed cells from xlsx and JSON keep their type; JSON is taken exactly as
written. Every problem names the sheet, row and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from almmigrate.dataset import (
    CONNECTION_COLUMNS,
    CONNECTIONS,
    CONNECTOR_COLUMNS,
    CONNECTORS,
    LAST_JOB_PREFIX,
    META,
    NO_NAMES,
    PARAM_PREFIX,
    PROJECT_COLUMNS,
    PROJECTS,
    ConnectionRecord,
    ConnectorRecord,
    Dataset,
    ProjectRecord,
)
from almmigrate.errors import Problem
from almmigrate.files import Table
from almmigrate.schema import CoercionError, Field, Plugin, coerce_cell, param_from_cell
from almmigrate.secrets import MASK
from almmigrate.vocabulary import META_KEY, file_generation, translate_plugins

# Columns a reader may find that are not written by export but are understood.
_READ_ONLY_EXTRA = {"command", "in_progress"}
_BOOLEAN = Field("boolean", field_type="boolean")
_INTEGER = Field("integer", field_type="integer")
_KIND_WORDS = {"integer": "a whole number", "boolean": "a boolean (use TRUE or FALSE)"}
# last_job as the API returns it (`?include=last_job`), for files that lost the types.
_LAST_JOB_FIELDS = {
    "id": _INTEGER,
    "user": _INTEGER,
    "succeeded": _BOOLEAN,
    "ready": _BOOLEAN,
    "automatic": _BOOLEAN,
    "last_run": Field("last_run"),
    "result_message": Field("result_message"),
}
# What an auditor reads first about the last sync: when, whether it worked, what it said.
_LAST_JOB_ORDER = ["last_run", "succeeded", "result_message", "ready", "automatic", "id", "user"]

# ---------------------------------------------------------------- Dataset -> tables


def dataset_to_tables(dataset: Dataset) -> list[Table]:
    """The connectors, connections and projects sheets of a Dataset (rows are generated lazily)."""
    connector_params = _union(r.params for r in dataset.connectors)
    return [
        Table(
            CONNECTORS,
            [*CONNECTOR_COLUMNS, *(PARAM_PREFIX + n for n in connector_params)],
            _connector_rows(dataset.connectors),
        ),
        Table(
            CONNECTIONS,
            connection_columns(dataset.connections),
            connection_rows(dataset.connections),
        ),
        Table(PROJECTS, list(PROJECT_COLUMNS), _project_rows(dataset.projects)),
    ]


def connection_columns(records: list[ConnectionRecord]) -> list[str]:
    """The connections sheet's columns: fixed ones, then every param and last_job field used."""
    connection_params = _union(r.params for r in records)
    last_job = _last_job_order(_union(r.last_job for r in records if r.last_job is not None))
    has_last_job = any(r.last_job is not None for r in records)
    return [
        *CONNECTION_COLUMNS,
        *(PARAM_PREFIX + n for n in connection_params),
        *(LAST_JOB_PREFIX + n for n in (last_job if has_last_job else [])),
    ]


def _union(dicts: Iterator[Mapping[str, Any]] | Any) -> list[str]:
    names: set[str] = set()
    for mapping in dicts:
        names.update(mapping)
    return sorted(names)


def _last_job_order(names: list[str]) -> list[str]:
    """The known last_job fields in reading order, then any others alphabetically."""
    known = [n for n in _LAST_JOB_ORDER if n in names]
    return [*known, *(n for n in names if n not in _LAST_JOB_ORDER)]


def _connector_rows(records: list[ConnectorRecord]) -> Iterator[dict[str, Any]]:
    for record in records:
        row: dict[str, Any] = {
            "id": record.id,
            "name": record.name,
            "system": record.system,
            "inaccessible": record.inaccessible,
            "fields_editable_on_project": record.fields_editable_on_project,
        }
        row.update(_prefixed(PARAM_PREFIX, _written(record)))
        yield row


def connection_rows(records: Iterable[ConnectionRecord]) -> Iterator[dict[str, Any]]:
    """The connections sheet's rows, one per record, as they are asked for."""
    for record in records:
        row: dict[str, Any] = {column: getattr(record, column) for column in CONNECTION_COLUMNS}
        row.update(_prefixed(PARAM_PREFIX, _written(record)))
        row.update(_prefixed(LAST_JOB_PREFIX, record.last_job or {}))
        yield row


def _project_rows(records: list[ProjectRecord]) -> Iterator[dict[str, Any]]:
    for record in records:
        yield {column: getattr(record, column) for column in PROJECT_COLUMNS}


def _written(record: ConnectorRecord | ConnectionRecord) -> dict[str, Any]:
    """The params a row holds: a null only where the source held one (JSON writes it)."""
    return {k: v for k, v in record.params.items() if v is not None or k in record.nulls}


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


# ---------------------------------------------------------------- tables -> Dataset


def tables_to_dataset(
    tables: Mapping[str, Table], plugins: Mapping[str, Plugin], *, source: str | None = None
) -> tuple[Dataset, list[Problem]]:
    """Typed records from the sheets read from a file, and every problem found typing them.

    Absent sheets are empty. Problems are errors (a cell that cannot be typed, a
    missing required column) or warnings (a column the layout does not know).
    """
    meta = _meta(tables[META]) if META in tables else {}
    # The file's names say which generation's schema types its cells.
    gen, problems = file_generation(meta, _param_columns(tables))
    reader = _Reader(translate_plugins(plugins, gen) if gen is not None else plugins)
    reader.problems.extend(problems)
    for table in tables.values():
        reader.problems.extend(table.warnings)  # what reading noticed, e.g. date cells
    formats = {t.file_format for t in tables.values() if t.file_format}
    dataset = Dataset(source=source, file_format=formats.pop() if len(formats) == 1 else None)
    if CONNECTORS in tables:
        dataset.connectors = reader.connectors(tables[CONNECTORS])
    if CONNECTIONS in tables:
        systems = _connector_systems(dataset.connectors)
        dataset.connections = reader.connections(tables[CONNECTIONS], systems)
    if PROJECTS in tables:
        dataset.projects = reader.projects(tables[PROJECTS])
    dataset.meta = meta
    if gen is not None:
        dataset.meta[META_KEY] = gen.api
    return dataset, reader.problems


def _param_columns(tables: Mapping[str, Table]) -> dict[str, list[str]]:
    return {
        sheet: [c[len(PARAM_PREFIX) :] for c in tables[sheet].columns if c.startswith(PARAM_PREFIX)]
        for sheet in (CONNECTORS, CONNECTIONS)
        if sheet in tables
    }


def _connector_systems(connectors: list[ConnectorRecord]) -> dict[Any, str]:
    """System of each connector in the file, by id and by name (a connection may omit it)."""
    systems: dict[Any, str] = {}
    for record in connectors:
        if record.system:
            systems[("name", record.name)] = record.system
            if record.id is not None:
                systems[("id", record.id)] = record.system
    return systems


def _meta(table: Table) -> dict[str, str]:
    meta: dict[str, str] = {}
    for row in table.rows:
        key = row.get("key")
        if key is not None and str(key).strip():
            value = row.get("value")
            meta[str(key).strip()] = "" if value is None else _text(value)
    return meta


class _Reader:
    """Types the rows of each sheet, collecting problems instead of stopping at the first."""

    def __init__(self, plugins: Mapping[str, Plugin]) -> None:
        self.plugins = plugins
        self.problems: list[Problem] = []

    # ------------------------------------------------ sheets

    def connectors(self, table: Table) -> list[ConnectorRecord]:
        rows = list(table.rows)
        if not self._has_columns(table, rows, [("name",), ("system",)]):
            return []
        self._unknown_columns(table, CONNECTOR_COLUMNS)
        records = []
        for index, row in enumerate(rows):
            number = table.row_number(index)
            cell = _Cell(self, table, number, row)
            system = cell.text("system") or ""
            records.append(
                ConnectorRecord(
                    id=cell.integer("id"),
                    name=cell.text("name") or "",
                    system=system,
                    inaccessible=cell.boolean("inaccessible"),
                    fields_editable_on_project=cell.names("fields_editable_on_project"),
                    params=cell.params(self.plugins.get(system)),
                    row=number,
                    nulls=cell.nulls(),
                )
            )
        return records

    def connections(self, table: Table, systems: dict[Any, str]) -> list[ConnectionRecord]:
        rows = list(table.rows)
        required = [("alias",), ("project", "project_name"), ("connector", "connector_name")]
        if not self._has_columns(table, rows, required):
            return []
        self._unknown_columns(table, CONNECTION_COLUMNS)
        records = []
        for index, row in enumerate(rows):
            number = table.row_number(index)
            cell = _Cell(self, table, number, row)
            connector = cell.integer("connector")
            connector_name = cell.text("connector_name")
            system = cell.text("system")
            plugin_system = (
                system
                or systems.get(("id", connector))
                or systems.get(("name", connector_name))
                or ""
            )
            records.append(
                ConnectionRecord(
                    id=cell.integer("id"),
                    alias=cell.text("alias") or "",
                    project=cell.integer("project"),
                    project_name=cell.text("project_name"),
                    connector=connector,
                    connector_name=connector_name,
                    system=system,
                    frequency=cell.text("frequency"),
                    debug_mode=cell.boolean("debug_mode"),
                    inaccessible=cell.boolean("inaccessible"),
                    params=cell.params(self.plugins.get(plugin_system)),
                    last_job=cell.last_job(),
                    command=cell.text("command"),
                    in_progress=cell.boolean("in_progress"),
                    row=number,
                    nulls=cell.nulls(),
                )
            )
        return records

    def projects(self, table: Table) -> list[ProjectRecord]:
        rows = list(table.rows)
        if not self._has_columns(table, rows, [("id",), ("name",)]):
            return []
        self._unknown_columns(table, PROJECT_COLUMNS)
        records = []
        for index, row in enumerate(rows):
            number = table.row_number(index)
            cell = _Cell(self, table, number, row)
            project_id = cell.integer("id")
            if project_id is None:
                if row.get("id") is None:
                    self.add(table.name, number, "id", "id is empty")
                continue
            records.append(
                ProjectRecord(
                    id=project_id,
                    name=cell.text("name") or "",
                    application=cell.text("application") or "",
                    business_unit=cell.text("business_unit") or "",
                    row=number,
                )
            )
        return records

    # ------------------------------------------------ checks

    def add(
        self,
        sheet: str,
        row: int | None,
        column: str | None,
        message: str,
        *,
        severity: str = "error",
    ) -> None:
        self.problems.append(
            Problem(message, sheet=sheet, row=row, column=column, severity=severity)
        )

    def _has_columns(
        self, table: Table, rows: list[dict[str, Any]], required: list[tuple[str, ...]]
    ) -> bool:
        """Report each required column (or group of alternatives) missing from a sheet with rows."""
        if not rows:
            return True
        present = set(table.columns)
        ok = True
        for group in required:
            if not present.intersection(group):
                what = " or ".join(f'"{c}"' for c in group)
                self.add(table.name, 1, None, f"the column {what} is missing")
                ok = False
        return ok

    def _unknown_columns(self, table: Table, fixed: list[str]) -> None:
        known = set(fixed) | _READ_ONLY_EXTRA
        for column in table.columns:
            if column in known or column.startswith((PARAM_PREFIX, LAST_JOB_PREFIX)):
                continue
            self.add(
                table.name,
                1,
                column,
                "this column is not part of the layout and is ignored",
                severity="warning",
            )


class _Cell:
    """Typed access to the cells of one row; a cell that cannot be typed is a problem and None."""

    def __init__(self, reader: _Reader, table: Table, number: int, row: dict[str, Any]) -> None:
        self.reader = reader
        self.table = table
        self.number = number
        self.row = row
        self.typed = table.file_format == "json"
        self.text_only = table.file_format == "csv"  # every cell text: the schema types it

    def _fail(self, column: str, message: str) -> None:
        self.reader.add(self.table.name, self.number, column, message)

    def text(self, column: str) -> str | None:
        value = self.row.get(column)
        return None if value is None else _text(value)

    def integer(self, column: str) -> int | None:
        return self._coerced(column, _INTEGER)

    def boolean(self, column: str) -> bool | None:
        return self._coerced(column, _BOOLEAN)

    def _coerced(self, column: str, spec: Field) -> Any:
        value = self.row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            typed = coerce_cell(spec, value)
        except CoercionError as error:
            self._fail(column, str(error))
            return None
        if typed == MASK:  # coerce_cell passes the mask through; here it is just bad text
            self._fail(column, f'"{value}" is not {_KIND_WORDS[spec.field_type]}')
            return None
        return typed

    def names(self, column: str) -> list[str] | None:
        """A comma-separated list of names (a JSON list stays a list, [] included)."""
        value = self.row.get(column)
        if value is None:
            return None
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        names = [part.strip() for part in _text(value).split(",") if part.strip()]
        return names or None

    def params(self, plugin: Plugin | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for column, value in self.row.items():
            if not column.startswith(PARAM_PREFIX) or (value is None and not self.typed):
                continue
            name = column[len(PARAM_PREFIX) :]
            if self.typed:
                params[name] = value  # JSON keeps the API's types exactly, null included
                continue
            try:
                spec = plugin.field(name) if plugin else None
                params[name] = param_from_cell(spec, value, text_only=self.text_only)
            except CoercionError as error:
                self._fail(column, str(error))
        return params

    def nulls(self) -> frozenset[str]:
        """The params a JSON item holds as null; a spreadsheet's empty cell is "not given"."""
        if not self.typed:
            return NO_NAMES
        return (
            frozenset(
                column[len(PARAM_PREFIX) :]
                for column, value in self.row.items()
                if value is None and column.startswith(PARAM_PREFIX)
            )
            or NO_NAMES
        )

    def last_job(self) -> dict[str, Any] | None:
        job = {
            column[len(LAST_JOB_PREFIX) :]: value
            for column, value in self.row.items()
            if column.startswith(LAST_JOB_PREFIX) and value is not None
        }
        if not job:
            return None
        return job if self.typed else {k: _last_job_value(k, v) for k, v in job.items()}


def _last_job_value(name: str, value: Any) -> Any:
    """A last_job cell typed as the API gives it; read-only, so a bad cell stays as read."""
    try:
        return coerce_cell(_LAST_JOB_FIELDS.get(name), value)
    except CoercionError:
        return value


def _text(value: Any) -> str:
    """A cell as text: what a person typed, whatever type the spreadsheet gave it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
