"""The library call behind `plan` and `validate`, and the steps `import`, `migrate` and `verify` share.

Each command is one call: :func:`plan_file`, :func:`validate_file`, :func:`map_projects`,
:func:`almmigrate.verify.verify_file`, :func:`almmigrate.importer.import_file`,
:func:`almmigrate.importer.migrate`. Before anything is prepared, the target
is read (:mod:`almmigrate.instance`), then the file, typed by the schemas the
target publishes; then what the options name is resolved (secrets file, project
map, a source instance to auto-map from) and :func:`~almmigrate.prepare.prepare_import`
(pure) validates, maps and plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from almmigrate.dataset import PROJECTS, Dataset, Snapshot
from almmigrate.errors import Problem
from almmigrate.instance import read_instance
from almmigrate.mapping import MapRow, ProjectMap, match_projects, projects_of_snapshot, write_map
from almmigrate.plan_types import Mode
from almmigrate.prepare import (
    ImportOptions,
    PreparedImport,
    check_options,
    load_secret_values,
    merge_problems,
    plugins_for,
    prepare_import,
    resolve_project_map,
    validate_for_target,
)
from almmigrate.problems import settle
from almmigrate.schema import Plugin
from almmigrate.secrets import one_run
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings

# read(plugins) -> the dataset and what reading it found: a file, or the pandas frames.
Reader = Callable[[dict[str, Plugin]], tuple[Dataset, list[Problem]]]


def file_reader(path: str | Path) -> Reader:
    """Reads `path` (.xlsx, .json, CSV folder or one CSV) with the schemas it is given."""
    from almmigrate.reader import read_dataset_with_problems

    def read(plugins: dict[str, Plugin]) -> tuple[Dataset, list[Problem]]:
        return read_dataset_with_problems(Path(path), plugins)

    return read


# ---------------------------------------------------------------- plan


@one_run
def plan_file(
    path: str | Path,
    settings: ConnectionSettings,
    options: ImportOptions | None = None,
    *,
    out: str | Path | None = None,
) -> PreparedImport:
    """What importing `path` would do on the target (`almmigrate plan`); sends nothing that writes.

    Reads the target, then the file in the target's schemas, and prepares the
    plan. out: also write the plan as JSON there (every object, secrets never).
    Raises ValidationFailed (exit 2) when the file has errors, ConnectionProblem
    (exit 3) when the target cannot be reached.
    """
    from almmigrate.plan_json import write_plan_json

    prepared = plan_read(file_reader(path), read_instance(settings), options)
    if out is not None:
        write_plan_json(out, prepared.plan, warnings=prepared.warnings)
    return prepared


def plan_read(
    read: Reader, target: Snapshot, options: ImportOptions | None = None
) -> PreparedImport:
    """What importing what read(plugins) gives would do on `target` (already read)."""
    dataset, problems = read(plugins_for(target))
    return prepare_dataset(dataset, target, options, reading_problems=problems)


def prepare_dataset(
    dataset: Dataset,
    target: Snapshot,
    options: ImportOptions | None = None,
    *,
    reading_problems: list[Problem] | None = None,
) -> PreparedImport:
    """Resolve what the options name (secrets, project map, source instance), then prepare.

    The source instance is read only when auto-mapping needs it (given as settings).
    """
    options = options or ImportOptions()
    check_options(options)
    secrets = load_secret_values(options.secrets)
    project_map = project_map_for(dataset, target, options)
    return prepare_import(
        dataset, target, project_map, secrets, options, reading_problems=reading_problems
    )


def project_map_for(dataset: Dataset, target: Snapshot, options: ImportOptions) -> ProjectMap:
    """The project map the options give (see resolve_project_map), the source read if need be."""
    return resolve_project_map(dataset, target, options, source_snapshot(options))


def source_snapshot(options: ImportOptions) -> Snapshot | None:
    """The source instance to auto-map projects from: read only when auto-mapping will use it."""
    source = options.source
    if isinstance(source, ConnectionSettings):
        if options.auto_map_projects and options.project_map is None:
            return read_instance(source)
        return None
    return source


# ---------------------------------------------------------------- validate


@dataclass
class Validation:
    """What `validate` found in a file."""

    problems: list[Problem]  # warnings only: an error raises ValidationFailed
    connectors: int
    connections: int


@one_run
def validate_file(
    path: str | Path,
    settings: ConnectionSettings | None = None,
    *,
    mode: Mode | str = Mode.UPSERT,
    secrets: str | Path | SecretValues | None = None,
    strict: bool = False,
) -> Validation:
    """Every problem of a file at once, by sheet, row and column (`almmigrate validate`).

    settings: an instance to check against (its schemas, its connectors);
    None: offline, with the bundled schemas. Raises ValidationFailed listing
    every problem when there is an error (or any warning with `strict`).
    """
    from almmigrate.damage import check_dataset, repair_keys

    target = read_instance(settings) if settings is not None else None
    plugins = plugins_for(target)
    dataset, found = file_reader(path)(plugins)
    values = load_secret_values(secrets) if secrets is not None else None
    repaired = repair_keys(dataset, target) if target is not None else []
    dataset, checked = validate_for_target(
        dataset, plugins, target, secrets=values, mode=Mode(mode)
    )
    damaged = repaired + check_dataset(dataset, plugins, target)
    problems = settle(merge_problems(found, checked + damaged), strict=strict, file=str(path))
    return Validation(problems, len(dataset.connectors), len(dataset.connections))


# ---------------------------------------------------------------- map-projects


@one_run
def map_projects(
    source: ConnectionSettings, target: ConnectionSettings, out: str | Path
) -> list[MapRow]:
    """Match source projects to target projects and write the map to review (`almmigrate map-projects`).

    Only the project trees are read (projects, applications, business units).
    Rows whose match is ambiguous or missing have no target project.
    """
    rows = match_projects(
        projects_of_snapshot(read_instance(source, only=PROJECTS)),
        projects_of_snapshot(read_instance(target, only=PROJECTS)),
    )
    write_map(out, rows)
    return rows
