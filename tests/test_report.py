"""The import report in every format, and the --errors file: right rows, no secret, inert formulas."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from almmigrate.apply import ApplyResult, ApplySummary
from almmigrate.errors import InputError
from almmigrate.plan_types import Change, Outcome, PlanItem
from almmigrate.problems import warning
from almmigrate.report import (
    COLUMNS,
    ReportRows,
    report_rows,
    summary_csv_path,
    write_report,
)
from almmigrate.secrets import register_secret

CANARY = "canary-report-secret-4417"


def _result() -> ApplyResult:
    created = PlanItem(
        "connector",
        "create",
        '=HYPERLINK("http://x")',
        row=2,
        source_id=11,
        body={"name": "x", "params": {"alm_pass": CANARY}},
        secret_fields=frozenset({"alm_pass"}),
    )
    updated = PlanItem(
        "connection",
        "update",
        "project 5 / Équipe",
        row=3,
        source_id=12,
        target_id=40,
        body={"params": {"alm_pass": CANARY, "sde_min_priority": 5}},
        changes=[Change("params.alm_pass", secret=True), Change("params.sde_min_priority", 7, 5)],
    )
    failed = PlanItem("connection", "create", "project 5 / broken", row=4, source_id=13)
    outcomes = [
        Outcome(created, "created", target_id=101, attempts=1, status=201),
        Outcome(updated, "updated", target_id=40, attempts=2, status=200),
        Outcome(failed, "failed", attempts=1, status=400, error=f"alm_method: bad {CANARY}"),
    ]
    summary = ApplySummary({"created": 1, "updated": 1, "failed": 1}, 12, 3, 1, 2.0)
    return ApplyResult(outcomes, summary)


def test_rows_name_changed_fields_never_values() -> None:
    register_secret(CANARY)
    rows = report_rows(_result().outcomes)
    assert [r["action"] for r in rows] == ["created", "updated", "failed"]
    assert rows[1]["changed_fields"] == "params.alm_pass, params.sde_min_priority"
    assert rows[2]["error"] == "alm_method: bad ********"
    assert rows[0]["target_id"] == 101 and rows[0]["source_id"] == 11 and rows[0]["row"] == 2


def test_json_report_has_summary_and_rows(tmp_path: Path) -> None:
    register_secret(CANARY)
    path = write_report(tmp_path / "r.json", _result())
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["summary"]["created"] == 1 and data["summary"]["failed"] == 1
    assert data["summary"]["requests"] == 12 and data["summary"]["rate_per_s"] == 6.0
    assert data["summary"]["throttled"] == 1 and data["summary"]["retries"] == 3
    assert [o["key"] for o in data["objects"]][1] == "project 5 / Équipe"
    assert CANARY not in path.read_text(encoding="utf-8")


def test_json_report_is_written_row_by_row_as_json_dump_writes_it(tmp_path: Path) -> None:
    """The object rows are streamed (never all held); the text is json.dump's, byte for byte."""
    register_secret(CANARY)
    warnings = [warning("doubt\nover two lines", sheet="connections", row=3, column="alias")]
    path = write_report(tmp_path / "r.json", _result(), {"file": "é.xlsx"}, warnings=warnings)
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    assert document["objects"] == report_rows(_result().outcomes)
    assert document["warnings"][0]["message"] == "doubt\nover two lines"
    assert list(document) == ["verdict", "run", "summary", "objects", "warnings"]
    empty = ApplyResult([], ApplySummary())
    text = write_report(tmp_path / "empty.json", empty).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=1) + "\n"
    assert json.loads(text)["objects"] == [] and json.loads(text)["warnings"] == []


def test_report_rows_are_made_as_read() -> None:
    outcomes = _result().outcomes
    rows = ReportRows(outcomes)
    assert len(rows) == 3 and bool(rows)
    assert list(rows) == report_rows(outcomes)
    assert rows[1] == report_rows(outcomes)[1] and rows[1:] == report_rows(outcomes)[1:]
    assert not ReportRows([])


def test_csv_report_escapes_formulas_and_writes_the_summary_beside(tmp_path: Path) -> None:
    register_secret(CANARY)
    path = write_report(tmp_path / "r.csv", _result())
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == COLUMNS
    assert rows[1][2] == '\'=HYPERLINK("http://x")'
    with open(summary_csv_path(path), encoding="utf-8-sig", newline="") as handle:
        summary = dict(csv.reader(handle))
    assert summary["created"] == "1" and summary["elapsed_s"] == "2.0"
    for written in tmp_path.iterdir():
        assert CANARY not in written.read_text(encoding="utf-8-sig")


def test_xlsx_report_is_inert_text(tmp_path: Path) -> None:
    register_secret(CANARY)
    path = write_report(tmp_path / "r.xlsx", _result())
    book = load_workbook(path)
    assert book.sheetnames == ["summary", "objects"]
    objects = book["objects"]
    header = [c.value for c in objects[1]]
    assert header == COLUMNS
    key = objects.cell(row=2, column=3)
    assert key.value == '=HYPERLINK("http://x")' and key.data_type == "s"
    values = [c.value for row in objects.iter_rows() for c in row]
    values += [c.value for row in book["summary"].iter_rows() for c in row]
    assert not any(CANARY in str(v) for v in values)


def test_xlsx_report_holds_an_error_with_control_characters(tmp_path: Path) -> None:
    result = _result()
    result.outcomes[2].error = "\x1b[31mproject not found\x1b[0m"
    path = write_report(tmp_path / "r.xlsx", result)
    error = load_workbook(path)["objects"].cell(row=4, column=COLUMNS.index("error") + 1)
    assert "project not found" in str(error.value)


def test_html_report_escapes_markup(tmp_path: Path) -> None:
    result = _result()
    result.outcomes[0].item.key = "<script>alert(1)</script>"
    path = write_report(tmp_path / "r.html", result)
    text = path.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "class='failed'" in text


def test_unknown_report_format_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.xlsx, \.csv, \.json or \.html"):
        write_report(tmp_path / "r.txt", _result())
    assert list(tmp_path.iterdir()) == []


CONTEXT = {
    "command": "almmigrate migrate",
    "source": "https://old.example.com",
    "target": "https://new.example.com",
    "started_at": "2026-11-22T10:00:00+00:00",
}


def test_verdict_says_whether_everything_was_done() -> None:
    from almmigrate.report import verdict

    assert verdict(_result().summary) == (
        "1 of 3 objects FAILED and were not applied; 1 created, 1 updated"
    )
    assert verdict(ApplySummary({"created": 4, "unchanged": 1})) == (
        "All 5 objects done: 4 created, 1 unchanged"
    )
    assert verdict(ApplySummary({"created": 4, "skipped": 2})) == (
        "No object failed, but 2 of 6 were skipped (see their note): 4 created, 2 skipped"
    )


def test_every_format_tells_the_reader_the_verdict_and_what_was_run(tmp_path: Path) -> None:
    register_secret(CANARY)
    context = {**CONTEXT, "file": f"/tmp/{CANARY}.xlsx"}  # scrubbed again, whatever it holds
    verdict = "1 of 3 objects FAILED and were not applied; 1 created, 1 updated"
    data = json.loads(write_report(tmp_path / "r.json", _result(), context).read_text("utf-8"))
    assert data["verdict"] == verdict
    assert data["run"]["target"] == "https://new.example.com"
    assert data["run"]["file"] == "/tmp/********.xlsx"
    write_report(tmp_path / "r.csv", _result(), context)
    with open(tmp_path / "r.summary.csv", encoding="utf-8-sig", newline="") as handle:
        summary = dict(csv.reader(handle))
    assert summary["verdict"] == verdict and summary["source"] == "https://old.example.com"
    html = write_report(tmp_path / "r.html", _result(), context).read_text("utf-8")
    assert f"<div class='verdict bad'>{verdict}</div>" in html
    assert "<h2>Failed (1)</h2>" in html and "https://new.example.com" in html
    assert "not sent twice" in html  # what "adopted" means, for the reader
    book = load_workbook(write_report(tmp_path / "r.xlsx", _result(), context))
    head = [[c.value for c in row] for row in book["summary"].iter_rows()]
    assert head[0][0] == "almmigrate import report" and head[1][0] == verdict
    assert ["target", "https://new.example.com", None] in head
    objects = book["objects"]
    assert objects.auto_filter.ref == "A1:L4" and objects.freeze_panes == "A2"
    assert objects.column_dimensions["C"].width >= 48  # the key can be read
    assert objects.cell(row=4, column=4).fill.fgColor.rgb.endswith("FDE2E2")  # the failed row
    assert objects.page_setup.orientation == "landscape"
    for written in tmp_path.iterdir():
        assert CANARY not in written.read_text(encoding="utf-8-sig", errors="replace")
    assert CANARY not in str(head)


def test_xlsx_report_fonts_are_named_so_libreoffice_does_not_fall_back_to_serif(
    tmp_path: Path,
) -> None:
    from openpyxl import load_workbook

    book = load_workbook(write_report(tmp_path / "r.xlsx", _result()))
    fonts = [c.font for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert any(f.b for f in fonts)
    assert all(f.name for f in fonts if f.b)


def test_every_warning_is_counted_and_listed_in_every_format(tmp_path: Path) -> None:
    register_secret(CANARY)
    warnings = [
        warning(f"doubt {n} {CANARY}", sheet="connections", row=n + 2, column="params.x")
        for n in range(25)
    ]
    data = json.loads(write_report(tmp_path / "r.json", _result(), warnings=warnings).read_text())
    assert data["summary"]["warnings"] == 25
    assert len(data["warnings"]) == 25
    assert data["warnings"][24] == {
        "severity": "warning",
        "sheet": "connections",
        "row": 26,
        "object": None,
        "column": "params.x",
        "message": "doubt 24 ********",
    }
    write_report(tmp_path / "r.csv", _result(), warnings=warnings)
    with (tmp_path / "r.warnings.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["severity", "sheet", "row", "object", "column", "message"]
    assert rows[1:3] == [
        ["warning", "connections", "2", "", "params.x", "doubt 0 ********"],
        ["warning", "connections", "3", "", "params.x", "doubt 1 ********"],
    ]
    assert len(rows) == 26
    book = load_workbook(write_report(tmp_path / "r.xlsx", _result(), warnings=warnings))
    assert book["warnings"].max_row == 26
    assert book["warnings"]["F26"].value == "doubt 24 ********"
    html = write_report(tmp_path / "r.html", _result(), warnings=warnings).read_text("utf-8")
    assert "<h2>Warnings (25)</h2>" in html and "doubt 24 ********" in html
    # No warnings: no warnings file, and the summary says 0.
    write_report(tmp_path / "q.csv", _result())
    assert not (tmp_path / "q.warnings.csv").exists()


def test_failed_rows_without_row_or_id_are_found_by_the_files_natural_key() -> None:
    # The plan keys a connection by its *target* project; the file holds its source project.
    from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
    from almmigrate.report import failed_dataset

    item = PlanItem(
        "connection",
        "create",
        "project 705 / Équipe",
        project=705,
        source_project=5,
        alias="Équipe",
    )
    connector = PlanItem("connector", "create", "spaced name")
    dataset = Dataset(
        connectors=[ConnectorRecord(" spaced name ", "jira"), ConnectorRecord("other", "jira")],
        connections=[
            ConnectionRecord(" Équipe ", project=5),
            ConnectionRecord("Équipe", project=705),  # another project's, in file terms
        ],
    )
    outcomes = [Outcome(connector, "failed"), Outcome(item, "failed")]
    found = failed_dataset(outcomes, dataset)
    assert [(c.alias, c.project) for c in found.connections] == [(" Équipe ", 5)]
    assert [c.name for c in found.connectors] == [" spaced name "]
