"""An older instance's data (samples/quirks.json) moves as the source holds it.

The simulator trims names on write (as Django REST Framework does), lets a
connection hold its own value for a connector-scope param, and holds values
typed differently on a connector and its connection. On it: export > plan is
a no-op in every format, `import` of an unedited export sends no write,
`migrate` twice writes nothing the second time, `verify` finds no difference,
and `--strict` refuses the same runs with every warning listed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli

from almmigrate.sim import SimServer
from almmigrate.sim.quirks import make_quirks, make_quirks_target, quirks_secret_rows

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STRICT = " (a warning; --strict makes it an error)"


@pytest.fixture
def quirks(make_sim: Any) -> SimServer:
    return make_sim(make_quirks())


@pytest.fixture
def empty_target(make_sim: Any) -> SimServer:
    return make_sim(make_quirks_target(make_quirks()))


def login(sim: SimServer) -> tuple[str, ...]:
    return ("--url", sim.url, "--token", sim.token or "")


def both(source: SimServer, target: SimServer) -> tuple[str, ...]:
    return (
        "--source-url",
        source.url,
        "--source-token",
        source.token or "",
        "--target-url",
        target.url,
        "--target-token",
        target.token or "",
    )


def test_the_sample_file_is_the_generators() -> None:
    # samples/quirks.json is what `python -m almmigrate.sim.samples` writes.
    assert json.loads((SAMPLES / "quirks.json").read_text(encoding="utf-8")) == make_quirks()
    written = json.loads((SAMPLES / "quirks-target.json").read_text(encoding="utf-8"))
    assert written == make_quirks_target(make_quirks())


@pytest.mark.parametrize("name", ["export.xlsx", "export.json", "export-csv"])
def test_an_unedited_export_plans_and_imports_as_a_no_op(
    cli: Cli, quirks: SimServer, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    assert cli("export", *login(quirks), "--out", str(path))[0] == 0
    for match in ("name", "id"):  # by id, a trimmed name would have been a rename
        plan = tmp_path / "plan.json"
        code, out, err = cli(
            "plan", str(path), *login(quirks), "--match", match, "--out", str(plan)
        )
        assert code == 0, err
        data = json.loads(plan.read_text(encoding="utf-8"))
        assert data["summary"] == {
            "create": 0,
            "update": 0,
            "unchanged": 9,
            "skipped": 0,
            "error": 0,
            "warnings": 7,
        }
        assert out.splitlines()[-1] == (
            "Plan: 0 create, 0 update, 9 unchanged, 0 skipped, 0 error; 7 warnings"
        )
    # --strict: the same file is refused, every warning listed as an error, nothing written.
    for command in ("plan", "import"):
        code, out, err = cli(command, str(path), *login(quirks), "--strict")
        errors = [line for line in err.splitlines() if line.startswith("  error: ")]
        assert (code, out, len(errors)) == (2, "", 7), err
        assert all(line.endswith(STRICT) for line in errors)
    assert quirks.stats.writes == 0
    before = quirks.state.snapshot()
    code, out, err = cli("import", str(path), *login(quirks), "--verify")
    assert code == 0, err
    assert quirks.stats.writes == 0
    assert quirks.state.snapshot() == before
    assert "verify: 9 objects, 0 differences (3 secrets checked as present only)" in out


@pytest.mark.parametrize("name", ["export.xlsx", "export.json", "export-csv"])
def test_params_the_schema_does_not_list_keep_their_json_types_through_a_file(
    cli: Cli, make_sim: Any, tmp_path: Path, name: str
) -> None:
    # Params from older versions, of every JSON type: a spreadsheet holds a boolean as
    # TRUE/FALSE text (CSV), 2.0 as 2, a list as "a,b" and an object as JSON text. The
    # unedited export plans as unchanged: nothing is rewritten with another type.
    data = make_quirks()
    kept = {"old_flag": False, "old_ratio": 2.0, "old_labels": ["a", "b"], "old_map": {"k": "v"}}
    data["connectors"][0]["params"].update(kept)
    data["connections"][0]["params"].update({"old_flag": True, "old_ratio": 7.0})
    instance = make_sim(data)
    path = tmp_path / name
    assert cli("export", *login(instance), "--out", str(path))[0] == 0
    plan = tmp_path / "plan.json"
    code, out, err = cli("plan", str(path), *login(instance), "--out", str(plan))
    assert code == 0, err
    summary = json.loads(plan.read_text(encoding="utf-8"))["summary"]
    assert (summary["update"], summary["unchanged"]) == (0, 9), out
    before = instance.state.snapshot()
    assert cli("import", str(path), *login(instance))[0] == 0
    assert instance.stats.writes == 0
    assert instance.state.snapshot() == before


def test_doubts_are_warnings_that_name_row_column_and_why(
    cli: Cli, quirks: SimServer, tmp_path: Path
) -> None:
    path = tmp_path / "export.xlsx"
    assert cli("export", *login(quirks), "--out", str(path))[0] == 0
    code, out, err = cli("validate", str(path), *login(quirks))
    assert code == 0, err
    scope = (
        "the plugin schema sets this param on the connector, not on a connection; "
        "it will be sent as is and the target decides"
    )
    warned = [
        'connectors row 2, fields_editable_on_project: "gone_param" is not a param of jira '
        "(any more); kept as the source holds it",
        "connectors row 2, params.custom_undocumented: not a param of jira; it will be sent as is",
        "connectors row 2, params.alm_legacy_mode: the plugin schema marks this param "
        "deprecated; it will be sent as is",
        "connections row 3, params.custom_undocumented: not a param of jira; it will be sent as is",
        "connections row 3, params.alm_legacy_mode: the plugin schema marks this param "
        "deprecated; it will be sent as is",
        f"connections row 5, params.how_tos_in_scope: {scope}",
        f"connections row 5, params.sde_min_priority: {scope}",
    ]
    assert out.splitlines() == [
        *(f"  warning: {w}" for w in warned),
        "3 connectors, 6 connections: no problems (7 warnings)",
    ]
    code, out, err = cli("validate", str(path), *login(quirks), "--strict")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"ValidationFailed: {path}: 7 problems found, nothing was written",
        *(f"  error: {w}{STRICT}" for w in warned),
    ]


def test_migrate_twice_then_verify(
    cli: Cli,
    quirks: SimServer,
    empty_target: SimServer,
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    code, out, err = cli("migrate", *both(quirks, empty_target), "--report", str(report))
    assert code == 0, err
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"]["created"] == 9 and data["summary"]["warnings"] == 11
    trimmed = [w for w in data["warnings"] if "surrounding whitespace" in w["message"]]
    assert [(w["sheet"], w["object"], w["column"]) for w in trimmed] == [
        ("connectors", "spaced name", "name"),
        ("connectors", "GitHub, trailing newline", "name"),
        ("connections", "project 101 / leading space #108", "alias"),
        ("connections", "project 103 / Doubled  spaces", "alias"),
    ]
    # Every object exactly once, every field as the source holds it, names as the target
    # stores them (trimmed on write).
    source, target = quirks.state.snapshot(), empty_target.state.snapshot()
    connectors = {c["name"]: c for c in target["connectors"]}
    assert sorted(connectors) == sorted(c["name"].strip() for c in source["connectors"])
    for mine in source["connectors"]:
        theirs = connectors[mine["name"].strip()]
        assert theirs["params"] == mine["params"]  # a null the source holds included
        assert theirs["fields_editable_on_project"] == mine["fields_editable_on_project"]
    connections = {c["alias"]: c for c in target["connections"]}
    assert sorted(connections) == sorted(c["alias"].strip() for c in source["connections"])
    names = {c["id"]: c["name"] for c in target["connectors"]}
    for mine in source["connections"]:
        theirs = connections[mine["alias"].strip()]
        parent = source["connectors"][mine["connector"] - 1]
        own = {k: v for k, v in mine["params"].items() if parent["params"].get(k, object()) != v}
        assert theirs["params"] == own, mine["alias"]
        assert theirs["project"] == mine["project"] + 100
        assert names[theirs["connector"]] == parent["name"].strip()
    typed = connections["leading space #108"]["params"]["sde_min_priority"]
    assert (typed, type(typed)) == (7, int)  # its connector holds "7"
    writes = empty_target.stats.writes
    again = tmp_path / "again.json"
    code, out, err = cli("migrate", *both(quirks, empty_target), "--verify", "--report", str(again))
    assert code == 0, err
    assert empty_target.stats.writes == writes
    data = json.loads(again.read_text(encoding="utf-8"))
    assert (data["summary"]["unchanged"], data["summary"]["differences"]) == (9, 0)
    assert data["differences"] == []
    assert data["verdict"].endswith(
        "Verified: 9 objects, 0 differences (3 secrets checked as present only)"
    )
    assert "every row done, 7 warnings;" in out
    assert "verify: 9 objects, 0 differences (3 secrets checked as present only)" in out
    export = tmp_path / "source.xlsx"
    assert cli("export", *login(quirks), "--out", str(export))[0] == 0
    code, out, err = cli("verify", str(export), *login(empty_target), "--auto-map-projects")
    assert (code, out) == (
        0,
        "verify: 9 objects, 0 differences (3 secrets checked as present only)\n",
    )


def test_strict_migrate_refuses_and_lists_every_warning(
    cli: Cli, quirks: SimServer, empty_target: SimServer
) -> None:
    code, out, err = cli("migrate", *both(quirks, empty_target), "--strict")
    assert (code, out, empty_target.stats.writes) == (2, "", 0)
    listed = [line for line in err.splitlines() if line.startswith("  error: ")]
    assert len(listed) == 11 and all(line.endswith(STRICT) for line in listed)
    assert "nothing was written" in err.splitlines()[0]


def test_a_bulk_edit_changes_only_the_edited_cell(
    cli: Cli, quirks: SimServer, tmp_path: Path
) -> None:
    import openpyxl

    path = tmp_path / "export.xlsx"
    assert cli("export", *login(quirks), "--out", str(path))[0] == 0
    book = openpyxl.load_workbook(path)
    sheet = book["connections"]
    header = [cell.value for cell in sheet[1]]
    assert sheet.cell(5, header.index("alias") + 1).value == "trac own priority"
    sheet.cell(5, header.index("params.sde_min_priority") + 1).value = 3
    book.save(path)
    code, out, err = cli("import", str(path), *login(quirks), "--verify")
    assert code == 0, err
    assert quirks.stats.writes == 1
    stored = quirks.state.snapshot()["connections"][3]
    assert stored["params"] == {
        "alm_project": "Milestone 1",
        "sde_min_priority": "3",
        "how_tos_in_scope": False,
    }
    assert "verify: 9 objects, 0 differences" in out


def test_the_target_decides_a_refused_row_fails_and_the_others_go_on(
    cli: Cli, make_sim: Any, tmp_path: Path
) -> None:
    # A target whose schema makes a param read-only refuses it; the tool only warned.
    data = make_quirks()
    target = make_quirks_target(data)
    jira = next(p for p in target["plugins"] if p["id"] == "jira")
    parent = next(
        f for s in jira["sections"] for f in s["fields"] if f["name"] == "alm_parent_issue"
    )
    parent["readonly"] = True
    source, sink = make_sim(data), make_sim(target)
    errors = tmp_path / "failed.json"
    code, out, err = cli("migrate", *both(source, sink), "--errors", str(errors), "--verify")
    assert code == 1
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert failed == [
        "failed: connection project 102 / tab\tinside: params.alm_parent_issue: "
        "This field is read-only."
    ]
    stored = sink.state.snapshot()
    assert len(stored["connectors"]) == 3 and len(stored["connections"]) == 5
    rows = json.loads(errors.read_text(encoding="utf-8"))["connections"]
    assert [r["alias"] for r in rows] == ["tab\tinside"]
    assert "verify: 9 objects, 1 difference (3 secrets checked as present only)" in out
    assert '  connection "tab\tinside" in project 102: not on the target' in out.splitlines()


def test_creates_whose_answers_are_lost_are_found_under_their_trimmed_names(
    cli: Cli, make_sim: Any, tmp_path: Path
) -> None:
    # Every write is committed and its answer dropped: each create is looked up by its
    # natural key, which must find " spaced name " stored as "spaced name".
    from almmigrate.sim import Faults

    data = make_quirks()
    source = make_sim(data)
    sink = make_sim(make_quirks_target(data), faults=Faults(drop_rate=1.0, seed=3))
    report = tmp_path / "report.json"
    code, out, err = cli("migrate", *both(source, sink), "--report", str(report))
    assert code == 0, err
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert (summary["adopted"], summary["created"], summary["failed"]) == (9, 0, 0)
    stored = sink.state.snapshot()
    assert len(stored["connectors"]) == 3 and len(stored["connections"]) == 6


@pytest.mark.parametrize("suffix", [".json", ".csv", ".xlsx", ".html"])
def test_verify_lists_what_the_target_holds_otherwise(
    cli: Cli, quirks: SimServer, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / "export.json"
    assert cli("export", *login(quirks), "--out", str(path))[0] == 0
    # The server kept another value than it was sent, and someone renamed a connection.
    rows = quirks.state.tables["connections"].rows
    rows[4]["params"]["sde_min_priority"] = "9"
    rows[6]["alias"] = "renamed"
    report = tmp_path / f"verify{suffix}"
    code, out, err = cli("verify", str(path), *login(quirks), "--report", str(report))
    lines = [
        "verify: 9 objects, 2 differences (3 secrets checked as present only)",
        "  connection \"trac own priority\" in project 1: params.sde_min_priority file '5', "
        "target '9'",
        '  connection "-draft" in project 3: not on the target',
    ]
    assert (code, out.splitlines()) == (1, lines)
    assert quirks.stats.writes == 0
    if suffix == ".json":
        data = json.loads(report.read_text(encoding="utf-8"))
        assert data["summary"] == {
            "objects": 9,
            "differences": 2,
            "secrets_checked": 3,
            "skipped": 0,
        }
        assert data["differences"][0] == {
            "kind": "connection",
            "row": 4,  # a JSON file's rows are its items, counted from 1
            "name": "trac own priority",
            "project": 1,
            "field": "params.sde_min_priority",
            "file": "'5'",
            "target": "'9'",
        }
    elif suffix == ".csv":
        table = (tmp_path / "verify.differences.csv").read_text(encoding="utf-8-sig")
        assert table.splitlines()[0] == "kind,row,name,project,field,file,target"
        assert 'verdict,"Verified: 9 objects, 2 differences' in report.read_text("utf-8-sig")
    elif suffix == ".xlsx":
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(report))
        rows_read = book.get_sheet_by_name("differences").to_python()
        assert rows_read[0] == ["kind", "row", "name", "project", "field", "file", "target"]
        assert rows_read[2][2:5] == ["-draft", 3.0, "(object)"]
    else:
        text = report.read_text(encoding="utf-8")
        assert "<h2>Differences (2)</h2>" in text and "trac own priority" in text


def test_verify_finds_an_own_value_where_the_file_inherits_from_the_connector(
    cli: Cli,
    quirks: SimServer,
    empty_target: SimServer,
    tmp_path: Path,
) -> None:
    from almmigrate.client import SDEClient
    from almmigrate.settings import ConnectionSettings

    assert cli("migrate", *both(quirks, empty_target))[0] == 0
    export = tmp_path / "source.json"
    assert cli("export", *login(quirks), "--out", str(export))[0] == 0
    # The file's "Doubled  spaces  " gives no sde_min_priority: it inherits "7" from its connector.
    held = {c["alias"]: c["id"] for c in empty_target.state.snapshot()["connections"]}
    settings = ConnectionSettings(empty_target.url, empty_target.token)
    with SDEClient(settings) as client:
        client.update_connection(held["Doubled  spaces"], {"params": {"sde_min_priority": 9}})
    code, out, err = cli("verify", str(export), *login(empty_target), "--auto-map-projects")
    assert (code, out.splitlines()) == (
        1,
        [
            "verify: 9 objects, 1 difference (3 secrets checked as present only)",
            '  connection "Doubled  spaces" in project 103: params.sde_min_priority '
            "file '7', target 9",
        ],
    )


def test_a_null_the_source_holds_travels_as_null_and_verify_sees_it_dropped(
    cli: Cli,
    quirks: SimServer,
    empty_target: SimServer,
    tmp_path: Path,
) -> None:
    export = tmp_path / "source.json"
    exported = cli("export", *login(quirks), "--out", str(export), "--include-secrets")
    assert exported[0] == 0
    document = json.loads(export.read_text(encoding="utf-8"))
    spaced = next(c for c in document["connectors"] if c["name"] == " spaced name ")
    assert spaced["params"]["alm_context_root"] is None  # the file holds the null, not nothing
    code, out, err = cli("import", str(export), *login(empty_target), "--auto-map-projects")
    assert code == 0, err
    held = {c["name"]: c for c in empty_target.state.snapshot()["connectors"]}
    assert held["spaced name"]["params"]["alm_context_root"] is None
    # A target that dropped the null: the connector, and each connection inheriting it.
    del empty_target.state.tables["connectors"].rows[held["spaced name"]["id"]]["params"][
        "alm_context_root"
    ]
    code, out, err = cli("verify", str(export), *login(empty_target), "--auto-map-projects")
    dropped = "params.alm_context_root file null, target (absent)"
    assert (code, out.splitlines()) == (
        1,
        [
            "verify: 9 objects, 4 differences (3 secrets checked as present only)",
            f'  connector "spaced name": {dropped}',
            f'  connection "leading space #108" in project 101: {dropped}',
            f'  connection "tab\tinside" in project 102: {dropped}',
            f'  connection "Doubled  spaces" in project 103: {dropped}',
        ],
    )
    # The plan sends the null again, and the target holds it once more.
    code, out, err = cli("import", str(export), *login(empty_target), "--auto-map-projects")
    assert code == 0, err
    held = {c["name"]: c for c in empty_target.state.snapshot()["connectors"]}
    assert held["spaced name"]["params"]["alm_context_root"] is None


def _json_types(state: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(kind, name or alias as the target keeps it, param) -> the JSON type of its value."""
    found = {}
    for kind, key in (("connectors", "name"), ("connections", "alias")):
        for item in state[kind]:
            for param, value in item["params"].items():
                found[(kind, item[key].strip(), param)] = type(value).__name__
    return found


@pytest.mark.parametrize("name", ["export.xlsx", "export-csv"])
def test_a_create_from_a_file_keeps_the_json_type_the_file_holds(
    cli: Cli, quirks: SimServer, empty_target: SimServer, tmp_path: Path, name: str
) -> None:
    # Text "5" in an integer field, 12345 in a text field, 7 and "7" in one select: the
    # export, imported (create) into an empty instance; what it holds against the source.
    path = tmp_path / name
    assert cli("export", *login(quirks), "--out", str(path))[0] == 0
    secrets = tmp_path / "secrets.csv"
    with secrets.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(quirks_secret_rows(make_quirks()))
    code, out, err = cli("import", str(path), *login(empty_target), "--auto-map-projects",
                         "--mode", "create", "--secrets", str(secrets))  # fmt: skip
    assert code == 0, err
    held = _json_types(quirks.state.snapshot())
    landed = _json_types(empty_target.state.snapshot())
    # A spreadsheet's empty cell is "not given": the null and the "" are not sent.
    assert sorted(set(held) - set(landed)) == [
        ("connections", "Doubled  spaces", "sde_tags_filter"),
        ("connectors", "spaced name", "alm_context_root"),
        ("connectors", "spaced name", "sde_tags_filter"),
    ]
    assert set(landed) <= set(held)
    changed = sorted((*k, held[k], landed[k]) for k in landed if held[k] != landed[k])
    if name == "export.xlsx":
        assert changed == []  # a workbook keeps every type, even where the schema disagrees
        return
    # A CSV holds only text: an integer field's text is read as an integer, any other
    # text is sent as text (a param the schema does not list with a warning).
    assert changed == [
        ("connections", "-draft", "sde_min_priority", "int", "str"),
        ("connections", "Doubled  spaces", "alm_project", "int", "str"),
        ("connections", "leading space #108", "sde_min_priority", "int", "str"),
        ("connections", "tab\tinside", "alm_reference_context", "str", "int"),
        ("connections", "tab\tinside", "custom_undocumented", "int", "str"),
        ("connectors", "Double  space\tname", "sde_min_priority", "int", "str"),
    ]
    assert "connections row 3, params.custom_undocumented: not a param of jira" in err
