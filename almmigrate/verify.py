"""Verify after writing: re-read the target and compare it with the file, field by field.

A server may accept a value and keep another (or none): this is how a person
learns it. The comparison is the plan's own (almmigrate.plan): an object the
plan would leave unchanged is equal; every change it would make is a
difference; an object it would create is missing. Names and aliases are
matched by their natural key (almmigrate.naturalkey), so a name the target
trimmed is not a difference. Secrets are never compared by value (an API may
mask them): a secret the file gives is checked only as present on the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, Snapshot
from almmigrate.generation import generation
from almmigrate.mapping import ProjectMap
from almmigrate.models import Connection, Connector
from almmigrate.naturalkey import name_key
from almmigrate.plan import build_plan, given_params, values_equal
from almmigrate.plan_types import Match, PlanAction, PlanItem
from almmigrate.prepare import ImportOptions, plugins_for
from almmigrate.problems import settle
from almmigrate.schema import DERIVED_PARAMS, Plugin, is_secret
from almmigrate.secrets import MASK, mask, one_run, redact_url
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings
from almmigrate.vocabulary import READ_ONLY_PARAMS, to_generation


@dataclass(frozen=True)
class Difference:
    """One field where the target does not hold what the file says."""

    kind: str  # connector | connection
    name: str  # connector name or connection alias (natural key)
    project: int | None  # a connection's target project
    field: str  # "params.sde_min_priority", "frequency", "(object)" when missing
    file: Any = None
    target: Any = None
    row: int | None = None  # the file's sheet row, when it has one

    def describe(self) -> str:
        """`connection "Sync 12" in project 44: params.sde_min_priority file 5, target 7`."""
        where = f'{self.kind} "{self.name}"'
        if self.kind == "connection":
            where += f" in project {self.project}"
        if self.field == "(object)":
            return f"{where}: {self.file}"
        return f"{where}: {self.field} file {_shown(self.file)}, target {_shown(self.target)}"

    def as_row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "row": self.row,
            "name": self.name,
            "project": self.project,
            "field": self.field,
            "file": _shown(self.file) if self.field != "(object)" else self.file,
            "target": _shown(self.target) if self.field != "(object)" else None,
        }


DIFFERENCE_COLUMNS = ("kind", "row", "name", "project", "field", "file", "target")


@dataclass
class Verification:
    """What verify found: how many objects it compared, and every difference."""

    objects: int = 0
    differences: list[Difference] = field(default_factory=list)
    secrets_checked: int = 0  # secret params checked as present (never by value)
    skipped: int = 0  # connections whose project is not mapped (--skip-unmapped)
    report: Path | None = None  # where verify_file wrote its report (--report), if asked

    @property
    def exit_code(self) -> int:
        return 1 if self.differences else 0

    def summary(self) -> str:
        """ "12 objects, 0 differences" (and what was checked only as present)."""
        noun = "object" if self.objects == 1 else "objects"
        count = len(self.differences)
        line = f"{self.objects} {noun}, {count} difference{'' if count == 1 else 's'}"
        extras = []
        if self.secrets_checked:
            extras.append(f"{self.secrets_checked} secrets checked as present only")
        if self.skipped:
            extras.append(f"{self.skipped} unmapped connections skipped")
        return f"{line} ({'; '.join(extras)})" if extras else line


def verify_dataset(
    dataset: Dataset,
    target: Snapshot,
    *,
    project_map: ProjectMap,
    plugins: Mapping[str, Plugin] | None = None,
    match: Match = Match.NAME,
) -> Verification:
    """Compare the file's objects with what `target` holds (pure: no network).

    A file of the other generation of the API is compared in the target's names
    (almmigrate.vocabulary): differences name the target's fields.
    """
    dataset, _ = to_generation(dataset, generation(target.api))
    plugins = plugins if plugins is not None else plugins_for(target)
    masked = _secrets_masked(dataset, plugins)
    plan = build_plan(
        masked,
        target,
        plugins=plugins,
        project_map=project_map,
        secrets=_EverySecret(),
        match=match,
        skip_unmapped=True,
    )
    found = Verification()
    records: list[ConnectorRecord | ConnectionRecord] = [*dataset.connectors, *dataset.connections]
    by_id = {c.id: c for c in target.connectors}
    connections = {c.id: c for c in target.connections}
    in_file: dict[str, ConnectorRecord] = {}  # the file's connectors by name, the first one
    for connector in dataset.connectors:
        in_file.setdefault(name_key(connector.name), connector)
    for record, item in zip(records, plan.items, strict=True):
        if item.action == PlanAction.SKIPPED:
            found.skipped += 1
            continue
        found.objects += 1
        if item.action in (PlanAction.CREATE, PlanAction.ERROR):
            why = (
                "not on the target"
                if item.action == PlanAction.CREATE
                else f"cannot compare: {item.error}"
            )
            found.differences.append(_difference(item, "(object)", why, None))
            continue
        nulls = {f"params.{n}" for n in record.nulls}
        found.differences += [
            _difference(item, c.field, NULL if c.field in nulls and c.new is None else c.new, c.old)
            for c in item.changes
            if not c.secret
        ]
        if isinstance(record, ConnectionRecord) and item.target_id in connections:
            shown = {c.field for c in item.changes}
            found.differences += [
                d
                for d in _effective_differences(
                    record,
                    item,
                    connections[item.target_id],
                    by_id.get(connections[item.target_id].connector),
                    in_file.get(name_key(item.connector_name)),
                    plugins,
                )
                if d.field not in shown
            ]
        if item.kind == "connector":
            held = by_id[item.target_id].params if item.target_id in by_id else {}
        else:
            held = connections[item.target_id].params if item.target_id in connections else {}
        for name in _secret_names(record, plugins):
            found.secrets_checked += 1
            if held.get(name) in (None, ""):
                found.differences.append(_difference(item, f"params.{name}", "(set)", "(absent)"))
    return found


@one_run
def verify_file(
    path: str | Path,
    settings: ConnectionSettings,
    options: ImportOptions | None = None,
    *,
    report: str | Path | None = None,
) -> Verification:
    """Read FILE and the target, and compare them (`almmigrate verify`).

    options: the import's mapping options (project map, --auto-map-projects, --match).
    report: also write every difference there (.xlsx, .csv, .json or .html); a path
    that cannot be written is refused before the target is read.
    Raises InputError / ValidationFailed for a file that cannot be read.
    """
    from almmigrate.importer import RunOptions, check_outputs
    from almmigrate.instance import read_instance
    from almmigrate.pipeline import file_reader, project_map_for

    check_outputs(RunOptions(report=Path(report) if report is not None else None))
    options = options or ImportOptions()
    target = read_instance(settings)
    plugins = plugins_for(target)
    dataset, problems = file_reader(path)(plugins)
    settle(problems, file=str(path))
    project_map = project_map_for(dataset, target, options)
    found = verify_dataset(
        dataset, target, project_map=project_map, plugins=plugins, match=options.match
    )
    if report is not None:
        from almmigrate.report import write_verification_report

        context = {
            "command": "almmigrate verify",
            "file": str(path),
            "target": redact_url(settings.url),
        }
        found.report = write_verification_report(report, found, context)
    return found


class _EverySecret(SecretValues):
    """Answers every secret with the mask: a missing object plans as a create, not an error."""

    def lookup(self, kind: str, name: str, field_name: str) -> str | None:
        return MASK


def _difference(item: PlanItem, name: str, file: Any, target: Any) -> Difference:
    label = item.key if item.kind == "connector" else (item.alias or item.key)
    return Difference(item.kind, label, item.project, name, file, target, item.row)


def _effective_differences(
    record: ConnectionRecord,
    item: PlanItem,
    held: Connection,
    parent: Connector | None,
    in_file: ConnectorRecord | None,
    plugins: Mapping[str, Plugin],
) -> list[Difference]:
    """A connection's merged params on the target against what the file implies.

    The plan compares only the params a row gives, so a target connection that
    holds its own value where the file's inherits from its connector would pass
    unseen. The file implies: its connection's params over its connector's from
    the file, over the target connector's for what the file does not give (an
    empty cell keeps it). Secrets (checked as present), derived and read-only
    params are left out. held: the target's connection; parent: its connector on the
    target; in_file: the file's connector of that name (each looked up once by the caller).
    """
    plugin = plugins.get(parent.system if parent else (record.system or "").strip())
    implied: dict[str, Any] = dict(parent.params if parent else {})
    for given in ([in_file] if in_file else []) + [record]:
        implied.update(given_params(given))

    def compared(name: str) -> bool:
        spec = plugin.field(name) if plugin else None
        readonly = name in READ_ONLY_PARAMS or (spec is not None and spec.readonly)
        return not (name in DERIVED_PARAMS or readonly or is_secret(name, plugin))

    differences = []
    for name in sorted(n for n in {*implied, *held.params} if compared(n)):
        wanted, current = (_held(where, name) for where in (implied, held.params))
        both = name in implied and name in held.params
        if both and values_equal(plugin, name, wanted, current):
            continue
        differences.append(_difference(item, f"params.{name}", wanted, current))
    return differences


class _Null:
    """A null the file or the target holds, shown as such (None shows as "(absent)")."""

    def __repr__(self) -> str:
        return "null"


NULL = _Null()


def _held(params: Mapping[str, Any], name: str) -> Any:
    return NULL if name in params and params[name] is None else params.get(name)


def _secret_names(
    record: ConnectorRecord | ConnectionRecord, plugins: Mapping[str, Plugin]
) -> list[str]:
    plugin = plugins.get((record.system or "").strip())
    return [n for n, v in record.params.items() if v not in (None, "") and is_secret(n, plugin)]


def _secrets_masked(dataset: Dataset, plugins: Mapping[str, Plugin]) -> Dataset:
    """The dataset with every secret masked, so the plan never compares one by value."""

    def masked(record: Any) -> Any:
        plugin = plugins.get((record.system or "").strip())
        return replace(record, params=mask(record.params, plugin))

    return replace(
        dataset,
        connectors=[masked(r) for r in dataset.connectors],
        connections=[masked(r) for r in dataset.connections],
    )


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    return repr(value) if isinstance(value, str | _Null) else str(value)
