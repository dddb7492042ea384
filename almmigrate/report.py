"""The import report (xlsx, csv, json or html) and the `--errors` file.

The report has a summary (counts per action, requests, retries, throttled,
elapsed, achieved rate) and one row per object. It never holds a secret: it is
built from outcomes (kind, key, ids, HTTP status, the server's message and the
*names* of changed fields), never from request bodies, and every cell goes
through :func:`almmigrate.secrets.scrub` as a second line of defence.

`attempts` counts the writes apply sent for an object (a create re-sent after
an unknown outcome counts twice); the client's own retries of a 429 or 503
are counted run-wide in the summary's `retries`.
"""

from __future__ import annotations

import csv
import html
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from almmigrate.apply import ApplyResult, ApplySummary
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
from almmigrate.errors import InputError
from almmigrate.plan_types import Outcome
from almmigrate.schema import Plugin, is_secret
from almmigrate.secrets import MASK, scrub

COLUMNS = [
    "kind",
    "row",
    "key",
    "action",
    "source_id",
    "target_id",
    "attempts",
    "status",
    "error",
    "changed_fields",
    "note",
]
FORMATS = (".xlsx", ".csv", ".json", ".html")
# A cell a spreadsheet would run as a formula (SPEC "Cells").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_rows(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """One dict per object, in COLUMNS order; secrets never reach these values."""
    return [
        {
            "kind": o.item.kind,
            "row": o.item.row,
            "key": scrub(o.item.key),
            "action": o.action,
            "source_id": o.item.source_id,
            "target_id": o.target_id,
            "attempts": o.attempts,
            "status": o.status,
            "error": scrub(o.error) if o.error else None,
            "changed_fields": ", ".join(c.field for c in o.item.changes) or None,
            "note": scrub(o.note) if o.note else None,
        }
        for o in outcomes
    ]


def summary_rows(summary: ApplySummary) -> list[tuple[str, Any]]:
    return list(summary.as_dict().items())


def write_report(path: str | Path, result: ApplyResult) -> Path:
    """Write the report in the format its extension names; returns the path(s) written.

    A `.csv` report holds the object rows; its summary goes beside it in
    `<name>.summary.csv` (one CSV holds one table).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"a report is .xlsx, .csv, .json or .html, not {suffix or 'no extension'}",
            file=str(path),
        )
    rows = report_rows(result.outcomes)
    summary = summary_rows(result.summary)
    writer = {".xlsx": _write_xlsx, ".csv": _write_csv, ".json": _write_json, ".html": _write_html}[
        suffix
    ]
    writer(path, summary, rows)
    return path


def summary_csv_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.summary.csv")


@contextmanager
def _atomic(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Write beside the target and rename, so a failure never leaves half a report."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise InputError(f"cannot write the report: {error.strerror}", file=str(path)) from None
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _inert(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, made inert with the usual apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START + ("'",)):
        return "'" + value
    return value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return _inert(value)


def _write_csv(path: Path, summary: list[tuple[str, Any]], rows: list[dict[str, Any]]) -> None:
    with _atomic(path, "w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        for row in rows:
            out.writerow([_csv_cell(row[c]) for c in COLUMNS])
    with _atomic(summary_csv_path(path), "w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["key", "value"])
        out.writerows((k, _csv_cell(v)) for k, v in summary)


def _write_json(path: Path, summary: list[tuple[str, Any]], rows: list[dict[str, Any]]) -> None:
    with _atomic(path, "w", encoding="utf-8") as handle:
        json.dump({"summary": dict(summary), "objects": rows}, handle, ensure_ascii=False, indent=1)
        handle.write("\n")


def _write_xlsx(path: Path, summary: list[tuple[str, Any]], rows: list[dict[str, Any]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def cell(sheet: Any, value: Any, header: bool = False) -> WriteOnlyCell:
        written = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            # Explicit text: never a formula, whatever it starts with.
            written.data_type = "s"
            if value.startswith(_FORMULA_START):
                written.style = "Normal"
                written.quotePrefix = True
        if header:
            written.font = bold
        return written

    head = book.create_sheet("summary")
    head.append([cell(head, "key", True), cell(head, "value", True)])
    for key, value in summary:
        head.append([cell(head, key), cell(head, value)])
    objects = book.create_sheet("objects")
    objects.freeze_panes = "A2"
    objects.append([cell(objects, c, True) for c in COLUMNS])
    for row in rows:
        objects.append([cell(objects, row[c]) for c in COLUMNS])
    with _atomic(path, "wb") as handle:
        book.save(handle)


def _write_html(path: Path, summary: list[tuple[str, Any]], rows: list[dict[str, Any]]) -> None:
    def text(value: Any) -> str:
        return "" if value is None else html.escape(str(value))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>almmigrate import report</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "tr.failed{background:#fdd}</style></head><body>",
        "<h1>almmigrate import report</h1><h2>Summary</h2><table>",
        *(f"<tr><th>{text(k)}</th><td>{text(v)}</td></tr>" for k, v in summary),
        "</table><h2>Objects</h2><table><tr>",
        *(f"<th>{text(c)}</th>" for c in COLUMNS),
        "</tr>",
    ]
    for row in rows:
        cls = " class='failed'" if row["action"] == "failed" else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{text(row[c])}</td>" for c in COLUMNS) + "</tr>")
    parts.append("</table></body></html>\n")
    with _atomic(path, "w", encoding="utf-8") as handle:
        handle.write("".join(parts))


# ---------------------------------------------------------------- --errors


def failed_dataset(
    outcomes: Iterable[Outcome], dataset: Dataset, plugins: dict[str, Plugin] | None = None
) -> Dataset:
    """The records of the failed rows, secrets masked, with every project (for the map).

    Records are found by sheet row when the file had rows, else by source id.
    """
    plugins = plugins or {}
    failed = [o.item for o in outcomes if o.action == "failed"]
    wanted: set[tuple[str, str, Any]] = {
        (i.kind, "row", i.row) for i in failed if i.row is not None
    }
    wanted |= {
        (i.kind, "id", i.source_id) for i in failed if i.row is None and i.source_id is not None
    }
    wanted |= {(i.kind, "key", i.key) for i in failed if i.row is None and i.source_id is None}

    def chosen(kind: str, record: ConnectorRecord | ConnectionRecord, key: str) -> bool:
        return bool(
            {(kind, "row", record.row), (kind, "id", record.id), (kind, "key", key)} & wanted
        )

    connectors = [
        _masked(r, plugins.get(r.system))
        for r in dataset.connectors
        if chosen("connector", r, r.name)
    ]
    connections = [
        _masked(r, plugins.get(r.system or ""))
        for r in dataset.connections
        if chosen("connection", r, f"project {r.project} / {r.alias}")
    ]
    return Dataset(
        connectors=connectors,
        connections=connections,
        projects=list(dataset.projects),
        meta=dict(dataset.meta),
        source=dataset.source,
    )


def _masked(record: Any, plugin: Plugin | None) -> Any:
    params = {
        k: (MASK if v is not None and is_secret(k, plugin) else v) for k, v in record.params.items()
    }
    return replace(record, params=params)


def write_errors(
    path: str | Path,
    outcomes: Iterable[Outcome],
    dataset: Dataset,
    plugins: dict[str, Plugin] | None = None,
) -> int:
    """Write the failed rows in the import layout, ready to fix and re-run; returns their count."""
    from almmigrate import FORMAT_VERSION, __version__
    from almmigrate.layout import dataset_to_tables
    from almmigrate.tabular import write_tables

    errors = failed_dataset(outcomes, dataset, plugins)
    meta = {**errors.meta, "tool_version": __version__, "format_version": FORMAT_VERSION}
    meta["note"] = "rows that failed to import: fix them and import this file again"
    tables = dataset_to_tables(errors)
    path = Path(path)
    if path.suffix.lower() == ".csv":
        # One CSV file holds one sheet: the failed connections there, failed
        # connectors (if any) beside it in <name>.connectors.csv.
        by_name = {t.name: t for t in tables}
        if errors.connectors:
            write_tables(errors_connectors_path(path), [by_name["connectors"]], meta=meta)
        if errors.connections or not errors.connectors:
            write_tables(path, [by_name["connections"]], meta=meta)
    else:
        write_tables(path, tables, meta=meta)
    return len(errors.connectors) + len(errors.connections)


def errors_connectors_path(path: str | Path) -> Path:
    """Where failed connectors go when `--errors` names a single .csv file."""
    path = Path(path)
    return path.with_name(f"{path.stem}.connectors.csv")
