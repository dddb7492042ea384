"""Every sheet almmigrate writes prints as a person expects: exports, templates and reports."""

from __future__ import annotations

from pathlib import Path

from cli_runs import Cli
from openpyxl import load_workbook

from almmigrate.files import Table, write_tables
from almmigrate.schema import bundled_plugins
from almmigrate.template import write_template


def assert_prints_well(path: Path, *, help_sheet: str | None = None) -> None:
    book = load_workbook(path)
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert setup.orientation == "landscape", sheet.title
        # fitToWidth is 1 when absent (the OOXML default): one page wide, any number tall.
        assert (setup.fitToWidth or 1, setup.fitToHeight) == (1, 0), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert sheet.oddFooter.left.text == "&A", sheet.title  # the sheet's name
        assert sheet.oddFooter.right.text == "Page &P of &N", sheet.title
        if sheet.title not in ("summary", help_sheet):
            assert sheet.print_title_rows == "$1:$1", sheet.title  # header on every page


def test_an_export_prints_landscape_one_page_wide_with_its_header_on_every_page(
    tmp_path: Path,
) -> None:
    rows = [{"alias": f"c{i}", "project": i} for i in range(3)]
    write_tables(
        tmp_path / "e.xlsx", [Table("connections", ["alias", "project"], rows)], meta={"k": "v"}
    )
    assert_prints_well(tmp_path / "e.xlsx")


def test_a_template_prints_well_and_wraps_its_help_text(tmp_path: Path) -> None:
    write_template(bundled_plugins()["jira"], tmp_path / "jira.xlsx")
    assert_prints_well(tmp_path / "jira.xlsx", help_sheet="help")
    help_sheet = load_workbook(tmp_path / "jira.xlsx")["help"]
    header = next(r for r in help_sheet.iter_rows() if r[0].value == "sheet")
    assert help_sheet.print_title_rows == f"${header[0].row}:${header[0].row}"
    helps = [r[8] for r in help_sheet.iter_rows(min_row=header[0].row + 1) if r[8].value]
    assert helps and all(cell.alignment.wrap_text for cell in helps)  # the help column wraps


def test_a_report_prints_well_and_wraps_errors(
    cli: Cli, tmp_path: Path, source_sim, target_sim, secrets_csv
) -> None:
    out = tmp_path / "export.xlsx"
    code, _, err = cli(
        "export", "--url", source_sim.url, "--token", source_sim.token, "--out", str(out)
    )
    assert code == 0, err
    assert_prints_well(out)
    report = tmp_path / "r.xlsx"
    code, _, err = cli(
        "import", str(out), "--url", target_sim.url, "--token", target_sim.token,
        "--auto-map-projects", "--skip-unmapped", "--secrets", str(secrets_csv),
        "--report", str(report),
    )  # fmt: skip
    assert code == 0, err
    assert_prints_well(report)
    objects = load_workbook(report)["objects"]
    for name in ("error", "note", "changed_fields"):
        letter = objects.cell(row=1, column=[c.value for c in objects[1]].index(name) + 1)
        assert objects.column_dimensions[letter.column_letter].alignment.wrap_text, name
