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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, overload

from almmigrate.apply import ApplyResult, ApplySummary
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
from almmigrate.errors import InputError, Problem
from almmigrate.files.atomic import atomic_file, atomic_text
from almmigrate.files.cells import csv_escape
from almmigrate.naturalkey import connection_key, name_key
from almmigrate.plan_types import Outcome, OutcomeAction
from almmigrate.problems import ROW_KEYS, as_rows
from almmigrate.schema import Plugin
from almmigrate.secrets import mask, scrub
from almmigrate.verify import DIFFERENCE_COLUMNS, Verification

COLUMNS = [
    "kind",
    "row",
    "key",
    "action",
    "done_by",
    "source_id",
    "target_id",
    "attempts",
    "status",
    "error",
    "changed_fields",
    "note",
]
FORMATS = (".xlsx", ".csv", ".json", ".html")


def report_rows(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """One dict per object, in COLUMNS order; secrets never reach these values."""
    return [report_row(o) for o in outcomes]


def report_row(o: Outcome) -> dict[str, Any]:
    """An object's row of the report, in COLUMNS order; secrets never reach these values."""
    return {
        "kind": o.item.kind,
        "row": o.item.row,
        "key": scrub(o.item.key),
        "action": str(o.action),
        "done_by": o.done_by,
        "source_id": o.item.source_id,
        "target_id": o.target_id,
        "attempts": o.attempts,
        "status": o.status,
        "error": scrub(o.error) if o.error else None,
        "changed_fields": ", ".join(c.field for c in o.item.changes) or None,
        "note": scrub(o.note) if o.note else None,
    }


class ReportRows(Sequence[dict[str, Any]]):
    """The object rows, each made as a writer reads it: 50,000 held at once cost 25 MB."""

    def __init__(self, outcomes: Sequence[Outcome]) -> None:
        self._outcomes = outcomes

    def __len__(self) -> int:
        return len(self._outcomes)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return report_rows(self._outcomes[index])
        return report_row(self._outcomes[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(report_row, self._outcomes)


def summary_rows(summary: ApplySummary) -> list[tuple[str, Any]]:
    return list(summary.as_dict().items())


# What each summary line means, for the person who signs the migration off.
MEANINGS = {
    OutcomeAction.CREATED: "new on the target",
    OutcomeAction.UPDATED: "already there; only the changed fields were sent (PATCH)",
    OutcomeAction.ADOPTED: "its write got no answer (or its run stopped first), and the target was found "
    "holding it: not sent twice",
    OutcomeAction.UNCHANGED: "already on the target as the file wants it; nothing sent by any run",
    OutcomeAction.SKIPPED: "not applied, as asked (unmapped project, --mode): see its note",
    OutcomeAction.FAILED: "not applied: see the error on its row",
    OutcomeAction.PENDING: "not sent: the run stopped before it (see stopped); run the same command again",
    "total": "objects in the file",
    "by_earlier": "of these, done by an earlier, interrupted run of this job (journal); "
    "done_by on each row says which run",
    "requests": "HTTP requests sent to the target, lookups included",
    "retries": "requests sent again after a 429, 502/503/504 or a dropped connection",
    "throttled": "429 answers (rate limited by the target)",
    "elapsed_s": "seconds the import took",
    "rate_per_s": "requests per second achieved",
    "warnings": "doubts about the file, sent as the source holds them (listed in full)",
    "settled_rate_per_s": "the request rate the controller settled on (--rate auto); empty: fixed pacing, or nothing sent",
    "limit_found_per_s": "the target's limit found from its 429s (empty: never limited)",
    "differences": "fields the target, re-read after the last write, holds otherwise (--verify)",
    "objects": "objects in the file, compared with the target",
    "secrets_checked": "secret params checked as present only (never by value)",
}


def verdict(summary: ApplySummary, stopped: str | None = None) -> str:
    """One sentence: did every object make it, and if not how many failed or were not sent.

    stopped: why the run stopped before its end, if it did.
    """
    counts = summary.as_dict()
    total, failed = counts["total"], counts[OutcomeAction.FAILED]
    done = ", ".join(
        f"{counts[a]} {a}"
        for a in OutcomeAction
        if a not in (OutcomeAction.FAILED, OutcomeAction.PENDING) and counts.get(a)
    )
    if counts["by_earlier"]:
        done += f" ({counts['by_earlier']} of them by earlier runs of this job)"
    if stopped is not None:
        return scrub(
            f"The run STOPPED before the end: {stopped}. {counts.get(OutcomeAction.PENDING, 0)} of {total} "
            f"objects were not sent, {failed} failed; {done or 'nothing else was done'}"
        )
    if failed:
        return f"{failed} of {total} objects FAILED and were not applied; {done or 'nothing else'}"
    if counts[OutcomeAction.SKIPPED]:
        # Skipped is not migrated (an unmapped project, --mode): earlier runs' work is not skipped.
        return f"No object failed, but {counts[OutcomeAction.SKIPPED]} of {total} were skipped (see their note): {done}"
    return f"All {total} objects done: {done or 'nothing to do'}"


def write_report(
    path: str | Path,
    result: ApplyResult,
    context: Mapping[str, Any] | None = None,
    *,
    warnings: Sequence[Problem] = (),
    verification: Verification | None = None,
) -> Path:
    """Write the report in the format its extension names; returns the path(s) written.

    context: what was run, read by a person signing the run off (source, target,
    file, mode, times, tool version); URLs must already be redacted, and every
    value is scrubbed again here. A `.csv` report holds the object rows; its
    summary and context go beside it in `<name>.summary.csv` (one CSV holds one table),
    and each other table (warnings, verification differences), when it has rows,
    in `<name>.<table>.csv`.
    warnings: every warning about the file, listed in full (their count is in the summary).
    verification: what `--verify` found after the last write.
    """
    summary = [*summary_rows(result.summary), ("warnings", len(warnings))]
    tables = [_Table("warnings", ROW_KEYS, as_rows(warnings))]
    failed = result.summary.failed
    line = verdict(result.summary, result.stopped.message if result.stopped else None)
    if verification is not None:
        summary.append(("differences", len(verification.differences)))
        tables.append(_verification_table(verification))
        line = f"{line}. Verified: {verification.summary()}"
        failed += len(verification.differences)
    report = _Report(
        verdict=line,
        failed=failed,
        summary=summary,
        context=_context(context),
        rows=ReportRows(result.outcomes),
        tables=tables,
    )
    return _write(path, report)


def write_verification_report(
    path: str | Path, verification: Verification, context: Mapping[str, Any] | None = None
) -> Path:
    """`almmigrate verify --report`: the summary and every difference, in any report format."""
    summary: list[tuple[str, Any]] = [
        ("objects", verification.objects),
        ("differences", len(verification.differences)),
        ("secrets_checked", verification.secrets_checked),
        ("skipped", verification.skipped),
    ]
    report = _Report(
        verdict=f"Verified: {verification.summary()}",
        failed=len(verification.differences),
        summary=summary,
        context=_context(context),
        rows=None,
        tables=[_verification_table(verification)],
        title="almmigrate verify report",
    )
    return _write(path, report)


def _verification_table(verification: Verification) -> _Table:
    return _Table("differences", DIFFERENCE_COLUMNS, [d.as_row() for d in verification.differences])


def _context(context: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return [(k, scrub(str(v))) for k, v in (context or {}).items() if v not in (None, "")]


def _write(path: str | Path, report: _Report) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"a report is .xlsx, .csv, .json or .html, not {suffix or 'no extension'}",
            file=str(path),
        )
    for table in report.tables:  # a second line of defence: no cell holds a secret
        table.rows = [
            {k: scrub(v) if isinstance(v, str) else v for k, v in row.items()} for row in table.rows
        ]
    writer = {".xlsx": _write_xlsx, ".csv": _write_csv, ".json": _write_json, ".html": _write_html}[
        suffix
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot write the report: {error.strerror}", file=str(path)) from None
    writer(path, report)
    return path


@dataclass
class _Table:
    """A table beside the objects: warnings, verification differences."""

    name: str
    columns: tuple[str, ...]
    rows: Sequence[dict[str, Any]]


@dataclass
class _Report:
    verdict: str
    failed: int
    summary: list[tuple[str, Any]]
    context: list[tuple[str, str]]
    rows: Sequence[dict[str, Any]] | None  # None: a report without objects (verify)
    tables: list[_Table]
    title: str = "almmigrate import report"


def summary_csv_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.summary.csv")


def table_csv_path(path: str | Path, table: str) -> Path:
    """Where a `.csv` report puts one of its other tables: `<name>.<table>.csv`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{table}.csv")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    # Text a spreadsheet would run as a formula is made inert with the usual apostrophe.
    return csv_escape(value) if isinstance(value, str) else value


def _write_csv(path: Path, report: _Report) -> None:
    tables = [t for t in report.tables if t.rows]
    if report.rows is not None:
        tables.insert(0, _Table("", tuple(COLUMNS), report.rows))
    for table in tables:
        where = table_csv_path(path, table.name) if table.name else path
        with atomic_text(where, encoding="utf-8-sig") as handle:
            out = csv.writer(handle)
            out.writerow(table.columns)
            out.writerows([_csv_cell(row[c]) for c in table.columns] for row in table.rows)
    summary = summary_csv_path(path) if report.rows is not None else path
    with atomic_text(summary, encoding="utf-8-sig") as handle:
        out = csv.writer(handle)
        out.writerow(["key", "value"])
        out.writerows((k, _csv_cell(v)) for k, v in report.summary)
        out.writerow(["verdict", _csv_cell(report.verdict)])
        out.writerows((k, _csv_cell(v)) for k, v in report.context)


def _write_json(path: Path, report: _Report) -> None:
    document = {
        "verdict": report.verdict,
        "run": dict(report.context),
        "summary": dict(report.summary),
        **({"objects": report.rows} if report.rows is not None else {}),
        **{table.name: table.rows for table in report.tables},
    }
    with atomic_text(path) as handle:
        dump_json(document, handle)
        handle.write("\n")


def dump_json(document: Mapping[str, Any], handle: IO[str]) -> None:
    """json.dump(document, handle, ensure_ascii=False, indent=1), a value at a time.

    A top-level value that is a Sequence but not a list (ReportRows) is written a
    row at a time, so its rows are never all held at once; the text is the same.
    """

    def encoded(value: Any, depth: int) -> str:
        # JSON text holds no raw newline but those indent adds: indent them one level deeper.
        text = json.dumps(value, ensure_ascii=False, indent=1)
        return text.replace("\n", "\n" + " " * depth)

    handle.write("{")
    for number, (key, value) in enumerate(document.items()):
        handle.write(
            ("\n " if number == 0 else ",\n ") + json.dumps(key, ensure_ascii=False) + ": "
        )
        if not isinstance(value, Sequence) or isinstance(value, str | list | tuple):
            handle.write(encoded(value, 1))
        elif not value:
            handle.write("[]")
        else:
            for index, row in enumerate(value):
                handle.write(("[\n  " if index == 0 else ",\n  ") + encoded(row, 2))
            handle.write("\n ]")
    handle.write("\n}" if document else "}")


# Column widths (characters) of the objects sheet, so keys and errors can be read.
_WIDTHS = {"kind": 11, "row": 6, "key": 48, "action": 11, "done_by": 14, "source_id": 10,
           "target_id": 10, "attempts": 9, "status": 7, "error": 60, "changed_fields": 40,
           "note": 34}  # fmt: skip
_FAILED_FILL = "FDE2E2"
_TABLE_WIDTHS = {"severity": 9, "sheet": 13, "row": 6, "object": 30, "column": 30, "message": 100,
                 "kind": 11, "name": 30, "project": 9, "field": 30, "file": 30, "target": 30}  # fmt: skip


def _write_xlsx(path: Path, report: _Report) -> None:
    from almmigrate.files.xlsx import house_workbook, write_cell

    with atomic_file(path) as handle, house_workbook(handle) as book:
        failed = {"bg_color": f"#{_FAILED_FILL}"}
        formats = {
            "title": book.style(bold=True, font_size=14),
            "verdict": book.style(bold=True, font_color="#B00020" if report.failed else "#1B6E20"),
            "plain": book.style(),
            "failed plain": book.style(**failed),
            "number": book.style(align="left"),
            "failed number": book.style(**failed, align="left"),
            "quoted": book.quoted,
            "failed quoted": book.style(**failed, quote_prefix=True),
            "wrap": book.wrap,
            "failed wrap": book.style(wrap=True, **failed),
        }

        def put(sheet: Any, row: int, position: int, value: Any, style: str = "plain") -> None:
            """One cell: numbers typed, every text written as text (never a formula)."""
            if isinstance(value, bool):
                value = str(value)
            # A wrapped column keeps its wrap; any other formula-like text gets quotePrefix.
            quoted = (
                style if "wrap" in style else ("failed " * style.startswith("failed")) + "quoted"
            )
            write_cell(book, sheet, row, position, value, formats[style], formats[quoted])

        head = book.sheet("summary", header_row=None)
        for position, width in enumerate((14, 28, 72)):
            head.set_column(position, position, width, book.wrap if position == 2 else None)
        head.write_string(0, 0, report.title, formats["title"])
        head.write_string(1, 0, report.verdict, formats["verdict"])
        for position, name in enumerate(("key", "value", "meaning")):
            head.write_string(3, position, name, book.header)
        row = 4
        for key, value in report.summary:
            red = key == OutcomeAction.FAILED and bool(value)
            put(head, row, 0, key, "failed plain" if red else "plain")
            put(head, row, 1, value, "failed number" if red else "number")
            put(head, row, 2, MEANINGS.get(key), "wrap")
            row += 1
        if report.context:
            row += 1
            for key, value in report.context:
                head.write_string(row, 0, key, book.header)
                put(head, row, 1, value)
                row += 1
        if report.failed:
            put(head, row + 1, 0, "On the objects sheet, filter action = failed for their errors.")

        if report.rows is not None:
            objects = book.sheet("objects")
            wrapped = {"error", "note", "changed_fields"}
            for index, column in enumerate(COLUMNS):
                style = book.wrap if column in wrapped else None
                objects.set_column(index, index, _WIDTHS.get(column, 12), style)
                objects.write_string(0, index, column, book.header)
            for number, item in enumerate(report.rows, start=1):
                red = item["action"] == OutcomeAction.FAILED
                for index, column in enumerate(COLUMNS):
                    style = "wrap" if column in wrapped else "plain"
                    put(objects, number, index, item[column], f"failed {style}" if red else style)
            objects.autofilter(0, 0, len(report.rows), len(COLUMNS) - 1)
        for table in report.tables:  # warnings, verification differences
            if not table.rows:
                continue
            sheet = book.sheet(table.name)
            wide = {"message", "file", "target"}
            for index, column in enumerate(table.columns):
                style = book.wrap if column in wide else None
                sheet.set_column(index, index, _TABLE_WIDTHS.get(column, 14), style)
                sheet.write_string(0, index, column, book.header)
            for number, item in enumerate(table.rows, start=1):
                for index, column in enumerate(table.columns):
                    style = "wrap" if column in wide else "plain"
                    put(sheet, number, index, item[column], style)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
.verdict{padding:12px 16px;border-radius:6px;font-size:17px;font-weight:600;margin:12px 0}
.ok{background:#e6f4ea;color:#1b6e20;border:1px solid #a8d5b0}
.bad{background:#fde2e2;color:#b00020;border:1px solid #f1a8a8}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
td.wrap{overflow-wrap:anywhere;max-width:420px}
th{background:#f6f8fa}
table.objects th{position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.muted,span.muted{color:#57606a}
tr.failed td{background:#fde2e2}
.a{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px}
.a-created{background:#dafbe1}.a-updated{background:#ddf4ff}.a-adopted{background:#fff8c5}
.a-unchanged{background:#eaeef2}.a-skipped{background:#eaeef2}.a-failed{background:#b00020;color:#fff}
td.error{color:#b00020;max-width:520px}
"""


# The class of each objects-table cell: long text wraps, numbers align right.
_HTML_CLASSES = {"key": "wrap", "error": "error wrap", "changed_fields": "wrap", "note": "wrap"}
_HTML_CLASSES |= dict.fromkeys(("row", "source_id", "target_id", "attempts", "status"), "num")


def _write_html(path: Path, report: _Report) -> None:
    def text(value: Any) -> str:
        return "" if value is None else html.escape(str(value))

    def object_rows(rows: Sequence[dict[str, Any]]) -> list[str]:
        lines = []
        for row in rows:
            cls = " class='failed'" if row["action"] == OutcomeAction.FAILED else ""
            cells = []
            for column in COLUMNS:
                value = text(row[column])
                if column == "action":
                    value = f"<span class='a a-{value}'>{value}</span>"
                kind = f" class='{_HTML_CLASSES[column]}'" if column in _HTML_CLASSES else ""
                cells.append(f"<td{kind}>{value}</td>")
            lines.append(f"<tr{cls}>{''.join(cells)}</tr>")
        return lines

    header = "<tr>" + "".join(f"<th>{text(c)}</th>" for c in COLUMNS) + "</tr>"
    failed = [r for r in report.rows or [] if r["action"] == OutcomeAction.FAILED]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{text(report.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{text(report.title)}</h1>",
        f"<div class='verdict {'bad' if report.failed else 'ok'}'>{text(report.verdict)}</div>",
    ]
    if report.context:
        parts.append("<table class='run'>")
        parts += [f"<tr><th>{text(k)}</th><td>{text(v)}</td></tr>" for k, v in report.context]
        parts.append("</table>")
    parts.append("<h2>Summary</h2><table class='summary'>")
    parts += [
        f"<tr><th>{text(k)}</th><td class='num'>{text(v)}</td>"
        f"<td class='muted'>{text(MEANINGS.get(k))}</td></tr>"
        for k, v in report.summary
    ]
    parts.append("</table>")
    if failed:
        parts.append(f"<h2>Failed ({len(failed)})</h2><table class='objects'>{header}")
        parts += object_rows(failed)
        parts.append("</table>")
    for table in report.tables:
        if not table.rows:
            continue
        title = table.name.capitalize()
        parts.append(f"<h2>{title} ({len(table.rows)})</h2><table class='objects'>")
        parts.append("<tr>" + "".join(f"<th>{c}</th>" for c in table.columns) + "</tr>")
        parts += [
            "<tr>"
            + "".join(f"<td class='wrap'>{text(row[c])}</td>" for c in table.columns)
            + "</tr>"
            for row in table.rows
        ]
        parts.append("</table>")
    if report.rows is not None:
        parts.append(f"<h2>Every object ({len(report.rows)})</h2><table class='objects'>{header}")
        parts += object_rows(report.rows)
        parts.append("</table>")
    parts.append("</body></html>\n")
    with atomic_text(path) as handle:
        handle.write("\n".join(parts))


def write_html_table(
    path: str | Path,
    *,
    title: str,
    verdict: str,
    ok: bool,
    summary: Sequence[tuple[str, Any]],
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    bad: Callable[[Mapping[str, Any]], bool],
) -> None:
    """A one-table HTML page in the report's style (e.g. `test --report tests.html`).

    bad(row): the rows drawn in red. Values are escaped; scrub them before.
    """

    def text(value: Any) -> str:
        return "" if value is None else html.escape(str(value))

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{text(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{text(title)}</h1>",
        f"<div class='verdict {'ok' if ok else 'bad'}'>{text(verdict)}</div>",
        "<table class='summary'>",
        *(f"<tr><th>{text(k)}</th><td class='num'>{text(v)}</td></tr>" for k, v in summary),
        "</table><h2>Results</h2><table class='objects'><tr>",
        *(f"<th>{text(c)}</th>" for c in columns),
        "</tr>",
    ]
    for row in rows:
        cls = " class='failed'" if bad(row) else ""
        cells = "".join(f"<td class='wrap'>{text(row.get(c))}</td>" for c in columns)
        parts.append(f"<tr{cls}>{cells}</tr>")
    parts.append("</table></body></html>\n")
    with atomic_text(path) as handle:
        handle.write("\n".join(parts))


# ---------------------------------------------------------------- --errors


def failed_dataset(
    outcomes: Iterable[Outcome], dataset: Dataset, plugins: dict[str, Plugin] | None = None
) -> Dataset:
    """The records of the failed rows, secrets masked, with every project (for the map).

    Records are found by sheet row when the file had rows, else by source id, else
    by natural key.
    """
    plugins = plugins or {}
    failed = [o.item for o in outcomes if o.action == OutcomeAction.FAILED]
    wanted: set[tuple[str, str, Any]] = {
        (i.kind, "row", i.row) for i in failed if i.row is not None
    }
    wanted |= {
        (i.kind, "id", i.source_id) for i in failed if i.row is None and i.source_id is not None
    }
    # Else by natural key, as the file holds it: a connection's project is the file's own.
    wanted |= {
        (i.kind, "key", _file_key(i)) for i in failed if i.row is None and i.source_id is None
    }

    def chosen(kind: str, record: ConnectorRecord | ConnectionRecord, key: Any) -> bool:
        return bool(
            {(kind, "row", record.row), (kind, "id", record.id), (kind, "key", key)} & wanted
        )

    connectors = [
        replace(r, params=mask(r.params, plugins.get(r.system)))
        for r in dataset.connectors
        if chosen("connector", r, name_key(r.name))
    ]
    connections = [
        replace(r, params=mask(r.params, plugins.get(r.system or "")))
        for r in dataset.connections
        if chosen("connection", r, connection_key(r.project, r.alias))
    ]
    return Dataset(
        connectors=connectors,
        connections=connections,
        projects=list(dataset.projects),
        meta=dict(dataset.meta),
        source=dataset.source,
    )


def _file_key(item: Any) -> Any:
    """A plan item's natural key in the file's terms (almmigrate.naturalkey)."""
    if item.kind == "connector":
        return name_key(item.key)
    return connection_key(item.source_project, item.alias)


def write_errors(
    path: str | Path,
    outcomes: Iterable[Outcome],
    dataset: Dataset,
    plugins: dict[str, Plugin] | None = None,
) -> int:
    """Write the failed rows in the import layout, ready to fix and re-run; returns their count."""
    return write_errors_files(path, outcomes, dataset, plugins)[0]


def write_errors_files(
    path: str | Path,
    outcomes: Iterable[Outcome],
    dataset: Dataset,
    plugins: dict[str, Plugin] | None = None,
) -> tuple[int, list[Path]]:
    """As :func:`write_errors`, and the files written (a .csv path may become two files)."""
    from almmigrate import FORMAT_VERSION, __version__
    from almmigrate.files import write_tables
    from almmigrate.layout import dataset_to_tables

    errors = failed_dataset(outcomes, dataset, plugins)
    meta = {**errors.meta, "tool_version": __version__, "format_version": FORMAT_VERSION}
    meta["note"] = "rows that failed to import: fix them and import this file again"
    tables = dataset_to_tables(errors)
    path = Path(path)
    written = [path]
    if path.suffix.lower() == ".csv":
        # One CSV file holds one sheet: the failed connections there, failed
        # connectors (if any) beside it in <name>.connectors.csv.
        by_name = {t.name: t for t in tables}
        written = []
        if errors.connectors:
            written.append(errors_connectors_path(path))
            write_tables(written[-1], [by_name["connectors"]], meta=meta)
        if errors.connections or not errors.connectors:
            written.append(path)
            write_tables(path, [by_name["connections"]], meta=meta)
    else:
        write_tables(path, tables, meta=meta)
    return len(errors.connectors) + len(errors.connections), written


def errors_connectors_path(path: str | Path) -> Path:
    """Where failed connectors go when `--errors` names a single .csv file."""
    path = Path(path)
    return path.with_name(f"{path.stem}.connectors.csv")
