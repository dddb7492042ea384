"""`almmigrate plan` over HTTP against the simulator: exact plans, never a write, never a secret."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli

from almmigrate.sim import SimServer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LIBREOFFICE = FIXTURES  # the libreoffice-* files
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def changes(plan_json: Path) -> list[tuple[Any, ...]]:
    data = json.loads(plan_json.read_text(encoding="utf-8"))
    return [
        (
            item["kind"],
            item["key"],
            item["action"],
            [tuple(c.values())[:3] for c in item["changes"]],
        )
        for item in data["items"]
        if item["action"] != "unchanged"
    ]


@pytest.fixture
def lo_sim(make_sim: Any) -> SimServer:
    """The instance the LibreOffice fixtures were exported from."""
    return make_sim(LIBREOFFICE / "libreoffice-instance.json")


def test_a_libreoffice_roundtrip_plans_all_unchanged(
    cli: Cli, lo_sim: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    code, stdout, err = cli(
        "plan",
        str(LIBREOFFICE / "libreoffice-roundtrip.xlsx"),
        "--url",
        lo_sim.url,
        "--token",
        lo_sim.token,
        "--out",
        str(out),
    )
    assert code == 0, err
    assert stdout.splitlines()[-1] == "Plan: 0 create, 0 update, 145 unchanged, 0 skipped, 0 error"
    assert changes(out) == []
    assert lo_sim.stats.writes == 0


def test_a_libreoffice_edit_plans_exactly_the_edited_fields(
    cli: Cli, lo_sim: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    code, stdout, err = cli(
        "plan",
        str(LIBREOFFICE / "libreoffice-edited.xlsx"),
        "--url",
        lo_sim.url,
        "--token",
        lo_sim.token,
        "--out",
        str(out),
    )
    assert code == 0, err
    assert changes(out) == [
        (
            "connector",
            "Jira 007",
            "update",
            [("inaccessible", False, True), ("params.sde_min_priority", "10", "8")],
        ),
        (
            "connector",
            "Trac Internal",
            "update",
            [("params.alm_server", "trac.internal.example", "trac2.internal.example")],
        ),
        (
            "connection",
            'project 1 / Backend · Jira "Prod"',
            "update",
            [("debug_mode", False, True)],
        ),
        (
            "connection",
            "project 1 / Backend · Rally Équipe",
            "update",
            [("frequency", "hourly", "weekly"), ("params.sde_tags_filter", "pci", "pci,gdpr")],
        ),
    ]
    assert stdout.splitlines()[-1] == "Plan: 0 create, 4 update, 141 unchanged, 0 skipped, 0 error"
    assert "params.sde_min_priority: '10' -> '8'" in stdout
    assert lo_sim.stats.writes == 0


@pytest.mark.parametrize("name", ["x.xlsx", "x.json", "csv"])
def test_an_export_plans_back_as_all_unchanged(
    cli: Cli,
    source_sim: SimServer,
    tmp_path: Path,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDE_TOKEN", source_sim.token)
    path = str(tmp_path / name)
    assert cli("export", "--url", source_sim.url, "--out", path)[0] == 0
    code, stdout, err = cli("plan", path, "--url", source_sim.url)
    assert (code, stdout.splitlines()[-1]) == (
        0,
        "Plan: 0 create, 0 update, 145 unchanged, 0 skipped, 0 error",
    ), err
    assert source_sim.stats.writes == 0


def test_a_migration_plan_shows_secrets_only_as_changed(
    cli: Cli,
    source_sim: SimServer,
    target_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    canaries: Any,
    sample_secrets: list,
) -> None:
    monkeypatch.setenv("SDE_SOURCE_TOKEN", source_sim.token)
    monkeypatch.setenv("SDE_TARGET_TOKEN", target_sim.token)
    monkeypatch.setenv("SDE_TOKEN", target_sim.token)
    exported, project_map = tmp_path / "x.xlsx", tmp_path / "map.csv"
    assert (
        cli(
            "export",
            "--url",
            source_sim.url,
            "--token",
            source_sim.token,
            "--out",
            str(exported),
        )[0]
        == 0
    )
    assert (
        cli(
            "map-projects",
            "--source-url",
            source_sim.url,
            "--target-url",
            target_sim.url,
            "--out",
            str(project_map),
        )[0]
        == 0
    )
    new_pass = canaries.new("jira-pass")
    secrets = tmp_path / "secrets.csv"
    rows = [r for r in sample_secrets if r["name"] != "Jira Cloud – Montréal"]
    rows.append(
        {
            "kind": "connector",
            "name": "Jira Cloud – Montréal",
            "field": "alm_pass",
            "value": new_pass,
        }
    )
    with secrets.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(rows)
    canaries.add(*(r["value"] for r in sample_secrets), source_sim.token, target_sim.token)
    out = tmp_path / "plan.json"
    code, stdout, err = cli(
        "plan",
        str(exported),
        "--url",
        target_sim.url,
        "--project-map",
        str(project_map),
        "--secrets",
        str(secrets),
        "--out",
        str(out),
    )
    assert code == 0, err
    assert stdout.splitlines()[-1] == "Plan: 140 create, 4 update, 1 unchanged, 0 skipped, 0 error"
    plan = json.loads(out.read_text(encoding="utf-8"))
    montreal = next(i for i in plan["items"] if i["key"] == "Jira Cloud – Montréal")
    assert (montreal["action"], montreal["target_id"], montreal["changes"]) == (
        "update",
        41,
        [{"field": "params.alm_pass", "secret": True, "change": "(secret changed)"}],
    )
    assert "params.alm_pass: (secret changed)" in stdout
    created = next(i for i in plan["items"] if i["key"] == "Jira 007")
    assert created["body"]["params"]["alm_pass"] == "********"
    canaries.assert_absent(stdout, err, out)
    # The same with the projects matched in memory from the source instance.
    code, stdout, err = cli(
        "plan",
        str(exported),
        "--url",
        target_sim.url,
        "--auto-map-projects",
        "--source-url",
        source_sim.url,
        "--secrets",
        str(secrets),
    )
    assert (code, stdout.splitlines()[-1]) == (
        0,
        "Plan: 140 create, 4 update, 1 unchanged, 0 skipped, 0 error",
    ), err
    canaries.assert_absent(stdout, err)
    assert target_sim.stats.writes == 0
    assert source_sim.stats.writes == 0


def test_rows_that_would_fail_exit_1(
    cli: Cli,
    target_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDE_TOKEN", target_sim.token)
    path = tmp_path / "connectors.csv"
    path.write_text(
        "name,system,params.sde_min_priority\r\n"
        "Jira Cloud – Montréal,jira,9\r\n"
        "Jira Nowhere,jira,9\r\n",
        encoding="utf-8",
    )
    code, stdout, err = cli("plan", str(path), "--url", target_sim.url, "--mode", "update")
    assert code == 1, err
    assert stdout.splitlines()[-1] == "Plan: 0 create, 1 update, 0 unchanged, 0 skipped, 1 error"
    assert "not on the target (--mode update creates nothing)" in stdout
    assert target_sim.stats.writes == 0


def test_map_and_auto_map_together_is_a_usage_error(
    cli: Cli, target_sim: SimServer, tmp_path: Path
) -> None:
    project_map = tmp_path / "map.csv"
    project_map.write_text("source_project,target_project\n1,722\n", encoding="utf-8")
    code, _, err = cli(
        "plan",
        str(LIBREOFFICE / "libreoffice-roundtrip.xlsx"),
        "--url",
        target_sim.url,
        "--token",
        target_sim.token,
        "--project-map",
        str(project_map),
        "--auto-map-projects",
    )
    assert code == 2
    assert "Give --project-map or --auto-map-projects, not both." in err


def test_help_has_an_example(cli: Cli) -> None:
    code, out, _ = cli("plan", "--help")
    assert code == 0
    assert "  Example:\n    almmigrate plan edited.xlsx --url https://sde.example.com\n" in out


def test_a_bad_secrets_file_or_map_is_refused_before_anything(
    cli: Cli, lo_sim: SimServer, tmp_path: Path, canaries: Any
) -> None:
    secret = canaries.new("pass")
    secrets = tmp_path / "secrets.csv"
    secrets.write_text(
        f"kind,name,field,value\nproject,Jira 007,alm_pass,{secret}\n", encoding="utf-8"
    )
    project_map = tmp_path / "map.csv"
    project_map.write_text("source_project,target_project\n1,one\n", encoding="utf-8")
    common = [
        str(LIBREOFFICE / "libreoffice-roundtrip.xlsx"),
        "--url",
        lo_sim.url,
        "--token",
        lo_sim.token,
    ]
    code, stdout, err = cli("plan", *common, "--secrets", str(secrets))
    assert (code, stdout) == (2, "")
    assert err == (
        f'InputError: {secrets}: row 2, kind: kind "project" is not one of connector, connection\n'
    )
    code, stdout, err = cli("plan", *common, "--project-map", str(project_map))
    assert (code, stdout) == (2, "")
    assert err == f'InputError: {project_map}: row 2, target_project: "one" is not a project id\n'
    canaries.assert_absent(err)
    assert lo_sim.stats.writes == 0


def test_the_table_lists_what_changes_and_only_counts_the_unchanged(
    cli: Cli, lo_sim: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    edited = str(LIBREOFFICE / "libreoffice-edited.xlsx")
    login = ("--url", lo_sim.url, "--token", lo_sim.token)
    code, stdout, err = cli("plan", edited, *login, "--out", str(out))
    assert code == 0, err
    rows = [line for line in stdout.splitlines() if line.startswith("│ conn")]
    assert [row.split("│")[4].strip() for row in rows] == ["update"] * 4
    assert stdout.splitlines()[-2:] == [
        "141 unchanged objects not listed (--all lists them)",
        "Plan: 0 create, 4 update, 141 unchanged, 0 skipped, 0 error",
    ]
    assert len(json.loads(out.read_text(encoding="utf-8"))["items"]) == 145

    code, stdout, err = cli("plan", edited, *login, "--all")
    rows = [line for line in stdout.splitlines() if line.startswith("│ conn")]
    assert code == 0 and len(rows) == 145 and "not listed" not in stdout


def test_a_plan_with_nothing_to_change_says_so(cli: Cli, lo_sim: SimServer) -> None:
    code, stdout, err = cli(
        "plan",
        str(LIBREOFFICE / "libreoffice-roundtrip.xlsx"),
        "--url",
        lo_sim.url,
        "--token",
        lo_sim.token,
    )
    assert (code, stdout) == (
        0,
        "nothing to change; 145 unchanged objects not listed (--all lists them)\n"
        "Plan: 0 create, 0 update, 145 unchanged, 0 skipped, 0 error\n",
    ), err


def test_a_blanked_cell_is_kept_and_the_plan_says_so(
    cli: Cli, source_sim: SimServer, tmp_path: Path
) -> None:
    # A person blanks cells to clear them; an empty cell is "not given", so say what stays.
    import openpyxl

    login = ("--url", source_sim.url, "--token", source_sim.token)
    path = tmp_path / "x.xlsx"
    assert cli("export", *login, "--out", str(path))[0] == 0
    code, _, err = cli("plan", str(path), *login)
    assert (code, err) == (0, "")  # an untouched export: no such warning
    book = openpyxl.load_workbook(path)
    for sheet, row, column in (
        ("connectors", 2, "params.title_format"),
        ("connectors", 3, "params.alm_pass"),
        ("connections", 4, "params.sde_tags_filter"),
    ):
        header = [cell.value for cell in book[sheet][1]]
        book[sheet].cell(row, header.index(column) + 1).value = None
    book.save(path)
    code, stdout, err = cli("plan", str(path), *login)
    assert code == 0
    warned = err.splitlines()
    assert warned == [
        "  warning: connectors row 2, params.title_format: empty, so the target keeps "
        "'$task_id $title' (an empty cell is not sent)",
        "  warning: connectors row 3, params.alm_pass: empty, so the target keeps its value "
        "(an empty cell is not sent)",
        "  warning: connections row 4, params.sde_tags_filter: empty, so the target keeps 'pci' "
        "(an empty cell is not sent)",
    ]
    assert stdout.splitlines()[-1] == (
        "Plan: 0 create, 0 update, 145 unchanged, 0 skipped, 0 error; 3 warnings"
    )
    # --strict: the same warnings are errors, every one listed, and the file is refused.
    code, stdout, err = cli("plan", str(path), *login, "--strict")
    assert (code, stdout) == (2, "")
    assert [line for line in err.splitlines() if line.startswith("  ")] == [
        f"  error: {line.removeprefix('  warning: ')} (a warning; --strict makes it an error)"
        for line in warned
    ]
    assert source_sim.stats.writes == 0


def test_a_rename_matched_by_name_says_how_to_rename(
    cli: Cli, source_sim: SimServer, tmp_path: Path
) -> None:
    # Matched by name, a renamed alias is a new connection beside the old one: say so,
    # and that --match id renames it.
    import openpyxl

    login = ("--url", source_sim.url, "--token", source_sim.token)
    path = tmp_path / "x.xlsx"
    assert cli("export", *login, "--out", str(path))[0] == 0
    book = openpyxl.load_workbook(path)
    header = [cell.value for cell in book["connections"][1]]
    book["connections"].cell(3, header.index("alias") + 1).value = "Renamed"
    book.save(path)
    out = tmp_path / "plan.json"
    code, stdout, err = cli("plan", str(path), *login, "--out", str(out))
    assert code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["warnings"] == [
        {
            "severity": "warning",
            "sheet": "connections",
            "row": 3,
            "object": None,
            "column": "alias",
            "message": 'id 2 is "Backend · GitHub +1 555" on the target, so this row creates '
            "a new connection; to rename it instead, use --match id",
        }
    ]
    assert err.splitlines()[:-1] == [
        '  warning: connections row 3, alias: id 2 is "Backend · GitHub +1 555" on the target, '
        "so this row creates a new connection; to rename it instead, use --match id"
    ]
    assert stdout.splitlines()[-1] == (
        "Plan: 1 create, 0 update, 144 unchanged, 0 skipped, 0 error; 1 warning"
    )
    code, stdout, err = cli("plan", str(path), *login, "--match", "id")
    assert (code, err) == (0, "")
    assert "alias: 'Backend · GitHub +1 555' -> 'Renamed'" in stdout
