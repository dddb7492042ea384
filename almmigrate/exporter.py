"""Export: shape an instance's objects into file records, mask their secrets, write the file.

Reading is :mod:`almmigrate.instance`'s; this module only shapes and writes:

- :func:`snapshot_to_dataset` turns a Snapshot into the file layout: connections
  keep only their own params, names are filled in, secrets are masked (and
  registered so no log line or message can show them);
- :func:`export` reads the instance (shaping each connection as its page
  arrives, so it never holds the instance's full connection objects: memory
  stays flat on 50,000 connections) and writes the file atomically; to .xlsx
  the connection rows are written as their pages arrive (:mod:`almmigrate.earlywrite`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from almmigrate import FORMAT_VERSION, __version__
from almmigrate.dataset import (
    CONNECTIONS,
    CONNECTORS,
    PROJECTS,
    ConnectionRecord,
    ConnectorRecord,
    Dataset,
    ProjectRecord,
    Snapshot,
    explicit_nulls,
)
from almmigrate.errors import InputError
from almmigrate.generation import ALM_GENERATION
from almmigrate.instance import ShapedRead, read_shaped, unique_ids, with_client
from almmigrate.models import Connection, Connector
from almmigrate.secrets import MASK, mask, one_run, redact_url
from almmigrate.settings import ConnectionSettings
from almmigrate.vocabulary import META_KEY

if TYPE_CHECKING:
    from almmigrate.earlywrite import EarlyXlsx

ONLY_CHOICES: tuple[str, ...] = (CONNECTORS, CONNECTIONS)

# ---------------------------------------------------------------- shaping


def snapshot_to_dataset(snapshot: Snapshot, *, include_secrets: bool = False) -> Dataset:
    """The file form of a snapshot: own params only, names filled in, secrets masked.

    Every secret value seen is registered with :func:`almmigrate.secrets.register_secret`,
    whether masked or not, so that no log line or error message can show it.
    """
    shaper = RecordShaper(snapshot, include_secrets=include_secrets)
    return Dataset(
        connectors=[shaper.connector(c) for c in snapshot.connectors],
        connections=[shaper.connection(c) for c in snapshot.connections],
        projects=shaper.projects(),
        meta={META_KEY: snapshot.api},
        source=snapshot.url or None,
    )


class RecordShaper:
    """Turns one snapshot's objects into file records, one at a time (so they can stream)."""

    def __init__(self, snapshot: Snapshot, *, include_secrets: bool = False) -> None:
        self.snapshot = snapshot
        self.include_secrets = include_secrets
        self._connectors = snapshot.connector_by_id()
        self._project_names = {p.id: p.name for p in snapshot.projects}

    def _params(self, params: Mapping[str, Any], system: str) -> dict[str, Any]:
        """The params as the file holds them: secrets masked unless --include-secrets."""
        plugin = self.snapshot.plugins.get(system)
        return mask(params, plugin, include_secrets=self.include_secrets)

    def connector(self, connector: Connector) -> ConnectorRecord:
        return ConnectorRecord(
            id=connector.id,
            name=connector.name,
            system=connector.system,
            inaccessible=connector.inaccessible,
            fields_editable_on_project=connector.fields_editable_on_project,
            params=self._params(connector.params, connector.system),
            nulls=explicit_nulls(connector.params),
        )

    def connection(self, connection: Connection) -> ConnectionRecord:
        """A connection's record; its inherited secrets are its connector's (masked there)."""
        connector = self._connectors.get(connection.connector)  # type: ignore[arg-type]
        system = connection.system or (connector.system if connector else "")
        own = connection.own_params(connector.params if connector else {})
        return ConnectionRecord(
            id=connection.id,
            alias=connection.alias,
            project=connection.project,
            project_name=self._project_names.get(connection.project),  # type: ignore[arg-type]
            connector=connection.connector,
            connector_name=connector.name if connector else None,
            system=system or None,
            frequency=connection.frequency,
            debug_mode=connection.debug_mode,
            inaccessible=connection.inaccessible,
            params=self._params(own, system),
            nulls=explicit_nulls(own),
            last_job=dict(connection.last_job) if connection.last_job is not None else None,
            command=connection.command or None,
            in_progress=connection.in_progress,
        )

    def projects(self) -> list[ProjectRecord]:
        apps = {a.id: a for a in self.snapshot.applications}
        records = []
        for project in self.snapshot.projects:
            app = apps.get(project.application) if project.application is not None else None
            unit = app.business_unit.name if app and app.business_unit else ""
            records.append(
                ProjectRecord(
                    id=project.id,
                    name=project.name,
                    application=app.name if app else "",
                    business_unit=unit,
                )
            )
        return records


# ---------------------------------------------------------------- writing


@dataclass
class ExportSummary:
    """What an export wrote."""

    path: Path
    format: str
    connectors: int = 0
    connections: int = 0
    projects: int = 0
    masked: int = 0
    include_secrets: bool = False
    elapsed: float = 0.0
    requests: int | None = None
    sheets: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a person: counts, where, how long."""
        parts = []
        if CONNECTORS in self.sheets:
            parts.append(_plural(self.connectors, "connector"))
        if CONNECTIONS in self.sheets:
            parts.append(_plural(self.connections, "connection"))
        if PROJECTS in self.sheets:
            parts.append(_plural(self.projects, "project"))
        secrets = (
            "secrets IN CLEAR"
            if self.include_secrets
            else f"{_plural(self.masked, 'secret')} masked"
        )
        requests = f", {_plural(self.requests, 'request')}" if self.requests else ""
        return (
            f"Exported {', '.join(parts)} to {self.path} "
            f"({self.format}, {secrets}) in {self.elapsed:.1f} s{requests}"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@one_run
def export(
    settings: ConnectionSettings,
    out: str | Path,
    *,
    only: str | None = None,
    projects: Iterable[int] | None = None,
    with_last_job: bool = False,
    include_secrets: bool = False,
    progress: bool = False,
) -> ExportSummary:
    """Read an instance and write it to `out` (.xlsx, .json, or any other path: a CSV folder).

    Raises InputError (nothing written) for an unwritable path, an unknown `only`
    or a project id the instance does not have; ConnectionProblem when the instance
    cannot be reached. With include_secrets the file is created mode 0600.
    """
    from almmigrate.files import output_format
    from almmigrate.progress import progress as progress_bar

    if only is not None and only not in ONLY_CHOICES:
        raise InputError(f"--only must be one of {', '.join(ONLY_CHOICES)}, not {only!r}")
    started = time.monotonic()
    path = Path(out)
    sheets = _sheets(only, path)
    check_output_path(path, sheets)
    wanted = unique_ids(projects)
    with progress_bar("Reading", enabled=progress) as bar:
        reading: set[str] = set()

        def on_progress(what: str, done: int, total: int | None) -> None:
            # The small lists load alongside the connections: once those have begun,
            # the bar stays on them rather than flicking between lists.
            reading.add(what)
            if what == CONNECTIONS or CONNECTIONS not in reading:
                bar.update(done, total, description=f"Reading {what}")

        shaper = connection_shaper(include_secrets)
        early = None
        if output_format(path) == "xlsx" and CONNECTIONS in sheets:
            from almmigrate.earlywrite import EarlyXlsx

            early = EarlyXlsx(path, sheets, private=include_secrets)
            shaper = early.shaper(shaper)
        try:
            read = with_client(
                settings,
                lambda client: read_shaped(
                    client,
                    shaper,
                    only=only,
                    projects=wanted,
                    with_last_job=with_last_job,
                    on_progress=on_progress,
                ),
            )
            dataset = shaped_dataset(read, include_secrets=include_secrets, projects=wanted)
            requests = read.requests
            dataset.meta = export_meta(
                settings.url,
                only=only,
                projects=wanted,
                masked=not include_secrets,
                api=dataset.meta.get(META_KEY, ALM_GENERATION.api),
            )
            _write(path, dataset, sheets, bar, private=include_secrets, early=early)
        finally:
            if early is not None:
                early.discard()  # a failed or interrupted read leaves no file
    return ExportSummary(
        path=path,
        format=output_format(path),
        connectors=len(dataset.connectors) if CONNECTORS in sheets else 0,
        connections=len(dataset.connections) if CONNECTIONS in sheets else 0,
        projects=len(dataset.projects) if PROJECTS in sheets else 0,
        masked=_count_masked(dataset, sheets),
        include_secrets=include_secrets,
        elapsed=time.monotonic() - started,
        requests=requests,
        sheets=sheets,
    )


def connection_shaper(
    include_secrets: bool,
) -> Callable[[Snapshot], Callable[[Connection], ConnectionRecord]]:
    """For :func:`~almmigrate.instance.read_shaped`: each connection to its record."""
    return lambda context: RecordShaper(context, include_secrets=include_secrets).connection


def shaped_dataset(
    read: ShapedRead[ConnectionRecord], *, include_secrets: bool, projects: list[int]
) -> Dataset:
    """The file form of an instance read shaped: with --project, only the connectors used."""
    snapshot = read.snapshot
    shaper = RecordShaper(snapshot, include_secrets=include_secrets)
    connectors = snapshot.connectors
    if projects:
        used = {c.connector for c in read.connections}
        connectors = [c for c in connectors if c.id in used]
    return Dataset(
        connectors=[shaper.connector(c) for c in connectors],
        connections=read.connections,
        projects=shaper.projects(),
        meta={META_KEY: snapshot.api},
        source=snapshot.url or None,
    )


def _write(
    path: Path,
    dataset: Dataset,
    sheets: list[str],
    bar: Any,
    *,
    private: bool,
    early: EarlyXlsx | None = None,
) -> None:
    """Lay the dataset out as the README's "File layouts" sheets and write them (atomically,
    by files); with early, into its workbook when that holds the connections already."""
    from almmigrate.files import write_tables
    from almmigrate.layout import dataset_to_tables

    tables = [t for t in dataset_to_tables(dataset) if t.name in sheets]
    if bar.shown:
        sizes = {
            CONNECTORS: len(dataset.connectors),
            CONNECTIONS: len(dataset.connections),
            PROJECTS: len(dataset.projects),
        }
        bar.update(0, sum(sizes[t.name] for t in tables), description=f"Writing {path.name}")
        tables = [replace(t, rows=_counted(t.rows, bar)) for t in tables]
    if early is None or not early.finish(dataset, tables, bar):
        write_tables(path, tables, meta=dataset.meta, private=private)


def _counted(rows: Iterable[dict[str, Any]], bar: Any) -> Iterator[dict[str, Any]]:
    """Rows passed through, advancing the progress bar every hundred."""
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if pending == 100:
            bar(pending)
            pending = 0
    bar(pending)


def _sheets(only: str | None, path: Path) -> list[str]:
    """The sheets to write; a single .csv file takes only the one --only names."""
    if only == CONNECTORS:
        return [CONNECTORS]
    if only == CONNECTIONS:
        return [CONNECTIONS] if path.suffix.lower() == ".csv" else [CONNECTIONS, PROJECTS]
    return [CONNECTORS, CONNECTIONS, PROJECTS]


def export_meta(
    url: str, *, only: str | None, projects: list[int], masked: bool, api: str = ALM_GENERATION.api
) -> dict[str, str]:
    """The `_meta` sheet: where and when this came from, what it holds, whose names it uses."""
    return {
        "source_url": redact_url(url),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "tool": "almmigrate",
        "tool_version": __version__,
        "format_version": FORMAT_VERSION,
        "only": only or "",
        "projects": ",".join(str(p) for p in projects),
        "secrets": "masked" if masked else "included in clear",
        META_KEY: api,
    }


def _count_masked(dataset: Dataset, sheets: list[str]) -> int:
    count = 0
    if CONNECTORS in sheets:
        count += sum(v == MASK for c in dataset.connectors for v in c.params.values())
    if CONNECTIONS in sheets:
        count += sum(v == MASK for c in dataset.connections for v in c.params.values())
    return count


# Paths other than .xlsx/.json/.csv are CSV folders (README, "File layouts"), but not ones named like a
# file of another kind: "audit.xls" is a typo for .xlsx, not a wish for a folder.
_FILE_SUFFIXES = frozenset(
    [
        ".xls",
        ".xlsm",
        ".xlsb",
        ".xltx",
        ".xltm",
        ".ods",
        ".fods",
        ".numbers",
        ".tsv",
        ".txt",
        ".tab",
        ".xml",
        ".html",
        ".htm",
        ".pdf",
        ".zip",
        ".gz",
        ".yaml",
        ".yml",
        ".jsonl",
        ".ndjson",
    ]
)


def check_output_path(path: Path, sheets: list[str]) -> None:
    """Fail early (before reading an instance) when `path` cannot take these sheets."""
    from almmigrate.files import output_format
    from almmigrate.files.xlsx import check_writer

    check_writer(path)

    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: the folder {parent} is not writable")
    suffix = path.suffix.lower()
    if suffix in (".ods", ".fods") and not path.is_dir():
        raise InputError(
            f"cannot write {path}: almmigrate writes workbooks as .xlsx (no maintained library "
            "writes .ods well); LibreOffice opens the .xlsx and saves it as .ods, which plan "
            "and import read"
        )
    if suffix in _FILE_SUFFIXES and not path.is_dir():
        raise InputError(
            f"cannot write {path}: {suffix} is not a format almmigrate writes; use .xlsx "
            "(Excel), .json, .csv with --only, or a folder path for one CSV file per sheet"
        )
    single_csv = suffix == ".csv"
    if output_format(path) != "csv" or single_csv:
        if path.is_dir():
            raise InputError(f"cannot write {path}: it is a folder")
        if single_csv and len(sheets) != 1:
            raise InputError(
                f"cannot write {path}: a .csv file holds one sheet; use --only connectors "
                "or --only connections, or give a folder path for one CSV file per sheet"
            )
    elif path.exists() and not path.is_dir():
        raise InputError(
            f"cannot write {path}: a path without .xlsx or .json is written as a folder "
            "of CSV files, and a file of that name exists"
        )
