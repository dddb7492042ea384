"""pandas DataFrames for notebooks: read, export, edit, write, plan and import.

One frame a sheet (`connectors`, `connections`, `projects`), with the file
layout's columns. Frames hold Python values in object columns, typed by the
plugin schemas as a file is: `7` stays an int, `"007"` stays text, booleans
stay booleans, an empty cell is None. Planning and importing type the frames'
cells exactly as a workbook's (a number typed into a text param is sent as
text), and return the same objects as `plan` and `import`.

    frames = read_frames("export.xlsx")
    jira = frames["connectors"]["system"] == "jira"
    frames["connectors"].loc[jira, "params.sde_min_priority"] = "8"
    prepared = plan_frames(frames, url, token)       # prepared.plan, prepared.warnings
    run = import_frames(frames, url, token)           # run.result, run.exit_code
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from almmigrate import FORMAT_VERSION, __version__
from almmigrate.dataset import Dataset
from almmigrate.errors import Problem
from almmigrate.files import Table
from almmigrate.files.table import DATA_SHEETS
from almmigrate.importer import ImportRun, RunOptions, import_read
from almmigrate.prepare import ImportOptions, PreparedImport
from almmigrate.schema import Plugin
from almmigrate.secrets import one_run
from almmigrate.settings import ConnectionSettings

__all__ = [
    "dataset_to_frames",
    "export_frames",
    "frames_to_tables",
    "import_frames",
    "plan_frames",
    "read_frames",
    "write_frames",
]

Frames = Mapping[str, pd.DataFrame]


def dataset_to_frames(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """One object-dtype frame a sheet, columns as in the file layout."""
    from almmigrate.layout import dataset_to_tables

    frames = {}
    for table in dataset_to_tables(dataset):
        rows = [[row.get(column) for column in table.columns] for row in table.rows]
        frames[table.name] = pd.DataFrame(rows, columns=table.columns, dtype=object)
    return frames


def read_frames(
    path: str | Path, plugins: Mapping[str, Plugin] | None = None
) -> dict[str, pd.DataFrame]:
    """The sheets of any file `import` reads, typed by the plugin schemas (bundled by default).

    Raises InputError or ValidationFailed as `validate` would.
    """
    from almmigrate.reader import read_dataset

    return dataset_to_frames(read_dataset(path, plugins))


@one_run
def export_frames(
    url: str,
    token: str,
    *,
    only: str | None = None,
    projects: Iterable[int] | None = None,
    with_last_job: bool = False,
    **connection: Any,
) -> dict[str, pd.DataFrame]:
    """What `export` writes, from a live instance, as frames; secrets are always masked.

    connection: other ConnectionSettings fields (verify, timeout, rate, ...).
    """
    from almmigrate.exporter import snapshot_to_dataset
    from almmigrate.instance import read_instance
    from almmigrate.secrets import register_secret

    settings = ConnectionSettings(url=url, token=token, **connection)
    register_secret(token)
    snapshot = read_instance(settings, only=only, projects=projects, with_last_job=with_last_job)
    return dataset_to_frames(snapshot_to_dataset(snapshot, include_secrets=False))


def frames_to_tables(frames: Frames) -> dict[str, Table]:
    """The frames as the tables a file would give: rows counted from 2, as in a sheet."""
    unknown = sorted(set(frames) - set(DATA_SHEETS))
    if unknown:
        raise ValueError(f"frames are keyed {', '.join(DATA_SHEETS)}; not {', '.join(unknown)}")
    tables = {}
    for name, frame in frames.items():
        columns = [str(c) for c in frame.columns]
        # An empty cell is left out of its row: a row holding None is a null to a JSON writer.
        rows = [
            {
                c: cell
                for c, v in zip(columns, values, strict=True)
                if (cell := _value(v)) is not None
            }
            for values in frame.itertuples(index=False, name=None)
        ]
        numbers = list(range(2, len(rows) + 2))
        tables[name] = Table(name, columns, rows, row_numbers=numbers, file_format="frames")
    return tables


def _value(value: Any) -> Any:
    """A frame cell as a plain Python value: numpy scalars unwrapped, NaN / NA / "" as empty."""
    if isinstance(value, list | dict):
        return value
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy int64, bool_, float64
    if value is None or value is pd.NA or value is pd.NaT or value == "":
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_frames(frames: Frames, path: str | Path) -> Path:
    """Write the frames to any format `export` writes (.xlsx, .json, .csv folder or file)."""
    from almmigrate.exporter import check_output_path
    from almmigrate.files import write_tables

    tables = frames_to_tables(frames)
    sheets = [n for n in DATA_SHEETS if n in tables]
    check_output_path(Path(path), sheets)  # refuses what `export` refuses (.ods, .xls, ...)
    meta = {
        "tool": "almmigrate",
        "tool_version": __version__,
        "format_version": FORMAT_VERSION,
        "written_from": "pandas frames",
    }
    write_tables(path, [tables[n] for n in sheets], meta=meta)
    return Path(path)


def _split(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Keyword options shared out to ImportOptions, RunOptions and ConnectionSettings."""
    groups: tuple[dict[str, Any], dict[str, Any], dict[str, Any]] = ({}, {}, {})
    kinds = (ImportOptions, RunOptions, ConnectionSettings)
    names = [{f.name for f in dataclasses.fields(kind)} for kind in kinds]
    for key, value in options.items():
        for group, known in zip(groups, names, strict=True):
            if key in known:
                group[key] = value
                break
        else:
            raise TypeError(f"unknown option {key!r}")
    return groups


def _reader(frames: Frames) -> Any:
    from almmigrate.layout import tables_to_dataset

    def read(plugins: Mapping[str, Plugin]) -> tuple[Dataset, list[Problem]]:
        return tables_to_dataset(frames_to_tables(frames), plugins, source="frames")

    return read


@one_run
def plan_frames(frames: Frames, url: str, token: str, **options: Any) -> PreparedImport:
    """What importing the frames would do on the target, as `plan` shows it; writes nothing.

    options: the ImportOptions of `plan` (mode, match, project_map, auto_map_projects,
    secrets, skip_unmapped, ...) and ConnectionSettings fields. Returns the prepared
    import: `.plan` (the Plan `plan --out` writes) and `.warnings`. Raises
    ValidationFailed when a cell is bad, as `plan` exits 2.
    """
    from almmigrate.instance import read_instance
    from almmigrate.pipeline import plan_read
    from almmigrate.secrets import register_secret

    chosen, run, connection = _split(options)
    if run:
        raise TypeError(f"plan takes no run options: {', '.join(sorted(run))}")
    register_secret(token)
    target = read_instance(ConnectionSettings(url=url, token=token, **connection))
    return plan_read(_reader(frames), target, ImportOptions(**chosen))


def import_frames(frames: Frames, url: str, token: str, **options: Any) -> ImportRun:
    """Apply the frames to the target as `import` applies a file; the same ImportRun back.

    options: ImportOptions (mode, match, project_map, secrets, ...), RunOptions
    (dry_run, concurrency, report, errors, journal, ...) and ConnectionSettings
    fields (rate, timeout, verify, ...).
    """
    chosen, run, connection = _split(options)
    for key in ("report", "errors", "journal"):  # a notebook passes plain strings
        if run.get(key) is not None:
            run[key] = Path(run[key])
    settings = ConnectionSettings(url=url, token=token, **connection)
    return import_read(
        _reader(frames), "pandas frames", settings, ImportOptions(**chosen), RunOptions(**run)
    )
