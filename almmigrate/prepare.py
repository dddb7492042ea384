"""Everything before the first write, without a connection: `plan`, `import` and `migrate` all come here.

:func:`prepare_import` is pure: given the target's Snapshot, the ProjectMap and
the SecretValues already resolved, it validates the whole file and builds the
plan. A file with any error raises :class:`~almmigrate.errors.ValidationFailed`
before anything is sent that writes. :func:`resolve_project_map` and
:func:`load_secret_values` resolve what the options name (files, or a source
instance's Snapshot); reading instances and files is :mod:`almmigrate.pipeline`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from almmigrate.damage import check_dataset, repair_keys
from almmigrate.dataset import CONNECTIONS, CONNECTORS, Dataset, Snapshot
from almmigrate.errors import InputError, Problem
from almmigrate.generation import GENERATIONS, generation
from almmigrate.mapping import (
    ProjectMap,
    identity_map,
    map_from_rows,
    match_projects,
    projects_of_dataset,
    projects_of_snapshot,
    read_map,
    same_projects,
)
from almmigrate.plan import build_plan, kept_by_empty_cells, trimmed_names
from almmigrate.plan_types import Match, Mode, Plan
from almmigrate.problems import settle, warnings_in
from almmigrate.schema import Plugin, bundled_plugins
from almmigrate.secretsfile import SecretValues, load_secrets
from almmigrate.settings import ConnectionSettings
from almmigrate.validate import validate_dataset
from almmigrate.vocabulary import META_KEY, columns_as_in_file, to_generation, translate_plugins


@dataclass
class ImportOptions:
    """How a file is applied; the CLI's import/plan options, as data.

    project_map: a map CSV path or a ProjectMap. auto_map_projects: match
    projects by names, from `source` (a Snapshot, or settings to read it) or,
    without one, from the file's projects sheet. secrets: a secrets CSV path
    or SecretValues.
    """

    mode: Mode = Mode.UPSERT
    match: Match = Match.NAME
    project_map: str | Path | ProjectMap | None = None
    auto_map_projects: bool = False
    source: Snapshot | ConnectionSettings | None = None
    secrets: str | Path | SecretValues | None = None
    skip_unmapped: bool = False
    strict: bool = False  # every warning is an error (--strict)


@dataclass
class PreparedImport:
    """A validated file and its plan against the target."""

    plan: Plan
    problems: list[Problem]  # warnings only: errors raise ValidationFailed
    project_map: ProjectMap
    target: Snapshot
    secrets: SecretValues = field(default_factory=SecretValues)
    dataset: Dataset | None = None  # the file as sent: in the target's vocabulary

    @property
    def warnings(self) -> list[Problem]:
        return warnings_in(self.problems)


def prepare_import(
    dataset: Dataset,
    snapshot: Snapshot,
    project_map: ProjectMap,
    secrets: SecretValues,
    options: ImportOptions | None = None,
    *,
    reading_problems: list[Problem] | None = None,
) -> PreparedImport:
    """Validate, map and plan `dataset` against the target's `snapshot` (pure: no I/O).

    project_map, secrets: resolved (:func:`resolve_project_map`, :func:`load_secret_values`);
    options: mode, match, skip_unmapped and strict are read here.
    reading_problems: what reading the file found (reader.read_dataset_with_problems),
    reported together with the validation's. Raises InputError for bad options,
    ValidationFailed (every problem) when the file has errors.
    """
    options = options or ImportOptions()
    check_options(options)
    plugins = plugins_for(snapshot)
    # A damaged alias or name is matched to the object it names before anything judges it.
    repaired = repair_keys(dataset, snapshot, project_map.lookup, match=options.match)
    dataset, problems = validate_for_target(
        dataset,
        plugins,
        snapshot,
        project_map=project_map,
        secrets=secrets,
        mode=options.mode,
        match=options.match,
        skip_unmapped=options.skip_unmapped,
    )
    damaged = repaired + check_dataset(dataset, plugins, snapshot, project_map.lookup)
    problems = merge_problems(reading_problems or [], problems + damaged)
    settle(problems, file=dataset.source)
    plan = build_plan(
        dataset,
        snapshot,
        plugins=plugins,
        project_map=project_map,
        secrets=secrets,
        mode=options.mode,
        match=options.match,
        skip_unmapped=options.skip_unmapped,
    )
    found_by_plan = kept_by_empty_cells(dataset, snapshot, plan, plugins)
    problems = merge_problems(problems, found_by_plan + trimmed_names(dataset, plan))
    problems = settle(problems, strict=options.strict, file=dataset.source)
    return PreparedImport(plan, problems, project_map, snapshot, secrets, dataset)


def validate_for_target(
    dataset: Dataset, plugins: dict[str, Plugin], target: Snapshot | None, **options: Any
) -> tuple[Dataset, list[Problem]]:
    """The dataset in the target's vocabulary, and every problem validating it found.

    A file of the other generation is translated first (the plan then shows the
    target's names); problems name the file's own columns, so a person finds them.
    options: validate_dataset's keywords (project_map, secrets, mode, match, ...).
    """
    file_api = GENERATIONS.get(dataset.meta.get(META_KEY, ""))
    if target is not None:
        dataset, translation = to_generation(dataset, generation(target.api))
    else:  # offline: the schemas speak the file's names; read-only params still go
        speaks = file_api or generation(None)
        plugins = translate_plugins(plugins, speaks)
        dataset, translation = to_generation(dataset, speaks)
    problems = validate_dataset(dataset, plugins, target=target, **options)
    return dataset, translation + columns_as_in_file(problems, file_api)


_SHEET_ORDER = {CONNECTORS: 1, CONNECTIONS: 2}


def merge_problems(first: list[Problem], second: list[Problem]) -> list[Problem]:
    """Both lists in sheet and row order, without a second message for a cell already faulted
    (nor a second warning for a cell already warned on).

    Reading and validating find problems in two passes; a person fixes a file
    top to bottom, so they are listed as the file is laid out (file-wide first).
    """
    faulted = {(p.sheet, p.row, p.column) for p in first if p.severity == "error"}
    # A cell reading warned on (a percent, a date) gets no second, vaguer warning.
    warned = {(p.sheet, p.row, p.column) for p in first if p.column is not None}
    merged = first + [
        p
        for p in second
        if (p.sheet, p.row, p.column) not in faulted
        and (p.severity == "error" or (p.sheet, p.row, p.column) not in warned)
    ]
    return sorted(merged, key=_place)


def _place(problem: Problem) -> tuple[int, int]:
    if problem.sheet is None:
        return (0, 0)
    return (_SHEET_ORDER.get(problem.sheet, 3), problem.row or 0)


def plugins_for(target: Snapshot | None) -> dict[str, Plugin]:
    """The instance's plugin schemas where it has them, the bundled ones (in its names) otherwise."""
    if target is None:
        return dict(bundled_plugins())
    plugins = translate_plugins(bundled_plugins(), generation(target.api))
    plugins.update(target.plugins)
    return plugins


def resolve_project_map(
    dataset: Dataset, target: Snapshot, options: ImportOptions, source: Snapshot | None = None
) -> ProjectMap:
    """The project map an import uses, by the first rule that applies.

    An explicit map (a ProjectMap, or a map CSV read here); `--auto-map-projects`
    (from `source`, else options.source as a Snapshot, else the file's projects
    sheet); `--match id` or a file whose projects are the target's own (same
    ids, same names): identity; otherwise an empty map, so that every
    connection is reported unmapped. A source given as settings is read first
    (:func:`almmigrate.pipeline.source_snapshot`): nothing here opens a connection.
    """
    if options.project_map is not None and options.auto_map_projects:
        raise InputError("give --project-map or --auto-map-projects, not both")
    if isinstance(options.project_map, ProjectMap):
        return options.project_map
    if options.project_map is not None:
        return read_map(options.project_map)
    if options.auto_map_projects:
        given = source if source is not None else options.source
        if isinstance(given, ConnectionSettings):
            raise TypeError("read the source instance first: pass its Snapshot as `source`")
        return _auto_map(dataset, target, given)
    if options.match == Match.ID or same_projects(dataset, target):
        return identity_map(target)
    return ProjectMap({}, "none", _no_map_notes(dataset))


def _auto_map(dataset: Dataset, target: Snapshot, source: Snapshot | None) -> ProjectMap:
    sources = projects_of_snapshot(source) if source is not None else projects_of_dataset(dataset)
    if not sources and dataset.connections:
        raise InputError("--auto-map-projects needs --source-url, or a file with a projects sheet")
    return map_from_rows(match_projects(sources, projects_of_snapshot(target)), "auto")


def _no_map_notes(dataset: Dataset) -> dict[int, str]:
    hint = "the file's projects are not this instance's: use --project-map or --auto-map-projects"
    return {c.project: hint for c in dataset.connections if c.project is not None}


def check_options(options: ImportOptions) -> None:
    """InputError for a mode or match that is not one of the known ones."""
    if options.mode not in _values(Mode):
        raise InputError(f'--mode "{options.mode}" is not one of {", ".join(Mode)}')
    if options.match not in _values(Match):
        raise InputError(f'--match "{options.match}" is not one of {", ".join(Match)}')


def _values(vocabulary: type[StrEnum]) -> set[str]:
    # A library caller may pass a plain string: compare by value.
    return {member.value for member in vocabulary}


def load_secret_values(secrets: str | Path | SecretValues | None) -> SecretValues:
    """The secret values an import uses: none, given, or read from a secrets CSV."""
    if secrets is None:
        return SecretValues()
    if isinstance(secrets, SecretValues):
        return secrets
    return load_secrets(secrets)
