"""Spreadsheet damage: a CSV folder saved by LibreOffice warns, and never creates a duplicate.

tests/fixtures/libreoffice-csv-roundtrip is the sample instance exported as
CSV, each file opened by LibreOffice Calc and saved as CSV again (see
make_libreoffice_files.py): its numbers detection turned 007 into 7, 1e5 into
1.00E+05 and 1E573 into the largest double, aliases included.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cli_runs import Cli

from almmigrate.damage import check_dataset, repair_keys, spreadsheet_damage
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, Snapshot
from almmigrate.files import read_tables, workbook
from almmigrate.models import Connection, Connector
from almmigrate.schema import bundled_plugins
from almmigrate.sim import SimServer

LIBREOFFICE = Path(__file__).resolve().parent / "fixtures"  # the libreoffice-* files
ROUNDTRIP = str(LIBREOFFICE / "libreoffice-csv-roundtrip")


@pytest.mark.parametrize(
    ("found", "original"),
    [
        ("7", "007"),
        ("42103", "0042103"),
        (7, "007"),
        ("1.00E+05", "1e5"),
        ("100000", "1e5"),
        ("1.79769313486232E+308", "1E573"),
        ("1.23456789012346E+19", "12345678901234567890"),
        ("12345678901234500000", "12345678901234567890"),
        ("7.0", "7"),
        ("01/02/2026", "2026-01-02"),
        ("2026-01-02 00:00:00", "2026-01-02"),
        # LibreOffice's CSV import with "detect special numbers" (as saved in tests/fixtures)
        ("1000", "1,000"),
        ("1234567.5", "1,234,567.5"),
        ("50.00%", "50%"),
        ("12:30:00 AM", "00:30"),
        ("14:05:00", "14:05"),
        # LibreOffice drops a tab inside a text (saving .xlsx; calamine reading its .ods)
        ("tabinside", "tab\tinside"),
        ("Double  spacename", "Double  space\tname"),
        ("ab", "a\x01b"),
        ("line one\nline two", "line one\r\nline two"),
        ("line one\nline two", "line one\rline two"),
    ],
)
def test_reformatting_a_spreadsheet_does_is_damage(found: Any, original: str) -> None:
    assert spreadsheet_damage(found, original)


@pytest.mark.parametrize(
    ("found", "original"),
    [
        ("8", "7"),  # an edit
        ("7", "7"),
        ("12345678901234567891", "12345678901234567890"),  # every digit kept: an edit
        ("1.5", "15"),
        ("2", "2026-01-02"),
        ("Jira", "jira"),
        (True, "TRUE"),
        ("7", 7),  # the target holds a number: nothing a spreadsheet did
        ("1001", "1,000"),
        ("1000", "1,00"),  # not a grouped number
        ("51%", "50%"),
        ("00:31:00", "00:30"),
        ("1", "100%"),  # a percent is not its fraction's text
        ("tab\tinside", "tabinside"),  # a tab typed in
        ("tab inside", "tab\tinside"),  # a tab made a space: an edit
        ("tabinsid", "tab\tinside"),
        ("tab\tinside\t2", "tab\tinside\t\t2"),  # a tab left: no spreadsheet did that
    ],
)
def test_an_edit_is_not_damage(found: Any, original: Any) -> None:
    assert not spreadsheet_damage(found, original)


def test_a_choice_the_schema_allows_is_named_offline() -> None:
    plugins = bundled_plugins()
    spec = plugins["jira"].field("sde_min_priority")
    assert spec is not None and "7" in spec.choices
    dataset = Dataset(
        connectors=[
            ConnectorRecord(name="J", system="jira", params={"sde_min_priority": "7.0"}, row=2)
        ]
    )
    assert [str(p) for p in check_dataset(dataset, plugins)] == [
        "connectors row 2, params.sde_min_priority: looks like a spreadsheet turned '7' into "
        "'7.0' (the schema allows '7')"
    ]


@pytest.mark.parametrize(("damaged", "original"), [("1000", "1,000"), ("12:30:00 AM", "00:30")])
def test_an_alias_a_spreadsheet_regrouped_or_retimed_keeps_its_connection(
    damaged: str, original: str
) -> None:
    target = Snapshot(connections=[Connection(alias=original, connector=1, project=6, id=19)])
    dataset = Dataset(connections=[ConnectionRecord(alias=damaged, project=6, row=20)])
    warnings = repair_keys(dataset, target)
    assert dataset.connections[0].alias == original
    assert [str(w) for w in warnings] == [
        f"connections row 20, alias: looks like a spreadsheet turned '{original}' into "
        f"'{damaged}': matched to the connection '{original}' on the target, which keeps its name"
    ]


def test_a_name_and_alias_that_lost_their_tabs_keep_their_objects_and_values_warn() -> None:
    target = Snapshot(
        connectors=[Connector(name="Double  space\tname", system="jira", id=3)],
        connections=[
            Connection(
                alias="tab\tinside", connector=3, project=6, params={"alm_project": "A\tB"}, id=9
            )
        ],
    )
    dataset = Dataset(
        connectors=[ConnectorRecord(name="Double  spacename", system="jira", row=4)],
        connections=[
            ConnectionRecord(
                alias="tabinside",
                project=6,
                connector_name="Double  spacename",
                params={"alm_project": "AB"},
                row=7,
            )
        ],
    )
    warnings = repair_keys(dataset, target)
    assert (dataset.connectors[0].name, dataset.connections[0].alias) == (
        "Double  space\tname",
        "tab\tinside",
    )
    assert dataset.connections[0].connector_name == "Double  space\tname"
    assert [str(w) for w in warnings] == [
        "connectors row 4, name: looks like a spreadsheet turned 'Double  space\\tname' into "
        "'Double  spacename': matched to the connector 'Double  space\\tname' on the target, "
        "which keeps its name",
        "connections row 7, alias: looks like a spreadsheet turned 'tab\\tinside' into "
        "'tabinside': matched to the connection 'tab\\tinside' on the target, which keeps its "
        "name",
    ]
    assert [str(p) for p in check_dataset(dataset, bundled_plugins(), target)] == [
        "connections row 7, params.alm_project: looks like a spreadsheet turned 'A\\tB' into "
        "'AB' (the target holds 'A\\tB')"
    ]


def test_a_damaged_name_or_alias_found_by_id_warns_as_a_rename() -> None:
    """With --match id a damaged alias is not repaired but planned as a rename: it warns,
    and so do the params of its row, found on the target by id."""
    target = Snapshot(
        connectors=[Connector(name="1e5", system="jira", id=4)],
        connections=[
            Connection(alias="007", connector=4, project=1, params={"alm_project": "0042"}, id=1),
            Connection(alias="1,000", connector=4, project=2, id=2),  # another project
        ],
    )
    dataset = Dataset(
        connectors=[ConnectorRecord(name="1.00E+05", system="jira", id=4, row=5)],
        connections=[
            ConnectionRecord(alias="7", project=1, params={"alm_project": "42"}, id=1, row=2),
            ConnectionRecord(alias="1000", project=3, id=2, row=3),  # not the same object
        ],
    )
    assert [str(p) for p in check_dataset(dataset, {}, target)] == [
        "connectors row 5, name: looks like a spreadsheet turned '1e5' into '1.00E+05' "
        "(the target holds '1e5')",
        "connections row 2, params.alm_project: looks like a spreadsheet turned '0042' into "
        "'42' (the target holds '0042')",
        "connections row 2, alias: looks like a spreadsheet turned '007' into '7' "
        "(the target holds '007')",
    ]


EXPECTED_WARNINGS = [
    "connectors row 5, params.alm_user: looks like a spreadsheet turned '007' into '7' "
    "(the target holds '007')",
    "connections row 11, params.alm_project: looks like a spreadsheet turned '00710' into "
    "'710' (the target holds '00710')",
    "connections row 11, params.sde_tags_filter: looks like a spreadsheet turned '1e5' into "
    "'1.00E+05' (the target holds '1e5')",
    "connections row 41, alias: looks like a spreadsheet turned '1e5' into '1.00E+05': "
    "matched to the connection '1e5' on the target, which keeps its name",
    "connections row 74, params.alm_project: looks like a spreadsheet turned '1E573' into "
    "'1.79769313486232E+308' (the target holds '1E573')",
    "connections row 104, params.alm_project: looks like a spreadsheet turned '0042103' into "
    "'42103' (the target holds '0042103')",
    "connections row 105, alias: looks like a spreadsheet turned '007' into '7': matched to "
    "the connection '007' on the target, which keeps its name",
]


def test_validate_and_plan_warn_on_each_damaged_cell(cli: Cli, lo_sim: SimServer) -> None:
    login = ("--url", lo_sim.url, "--token", lo_sim.token)
    code, out, err = cli("validate", ROUNDTRIP, *login)
    assert code == 0, err
    lines = [line.removeprefix("  warning: ") for line in out.splitlines()]
    assert set(EXPECTED_WARNINGS) <= set(lines)
    assert out.splitlines()[-1] == "12 connectors, 133 connections: no problems (17 warnings)"

    code, out, err = cli("plan", ROUNDTRIP, *login)
    assert code == 0, err
    assert set(EXPECTED_WARNINGS) <= {line.removeprefix("  warning: ") for line in err.splitlines()}
    # The damaged aliases are the connections they were: nothing is created.
    assert out.splitlines()[-1] == (
        "Plan: 0 create, 13 update, 132 unchanged, 0 skipped, 0 error; 17 warnings"
    )
    assert lo_sim.stats.writes == 0


def test_strict_refuses_a_damaged_file(cli: Cli, lo_sim: SimServer) -> None:
    login = ("--url", lo_sim.url, "--token", lo_sim.token)
    code, out, err = cli("plan", ROUNDTRIP, *login, "--strict")
    assert code == 2
    assert "17 problems found, nothing was written" in err
    assert lo_sim.stats.writes == 0


def test_an_import_of_the_damaged_csv_creates_no_connection_anew(
    cli: Cli, lo_sim: SimServer, tmp_path: Path
) -> None:
    before = lo_sim.state.snapshot()
    login = ("--url", lo_sim.url, "--token", lo_sim.token)
    journal = ("--journal", str(tmp_path / "import.journal"))  # not beside the fixture
    code, out, err = cli("import", ROUNDTRIP, *login, *journal)
    assert code == 0, err
    after = lo_sim.state.snapshot()
    assert len(after["connections"]) == len(before["connections"])
    aliases = {c["id"]: c["alias"] for c in after["connections"]}
    assert (aliases[40], aliases[104]) == ("1e5", "007")  # names kept, not renamed
    assert lo_sim.stats.as_dict()["by_method"].get("POST", 0) == 0


def _typed_numbers(file_format: str | None, target: Snapshot) -> list[str]:
    params = {"alm_project": 4242, "alm_user": 7, "alm_parent_issue": 12345, "sde_tags_filter": "x"}
    dataset = Dataset(
        connections=[ConnectionRecord(alias="A", project=1, params=params, row=2)],
        file_format=file_format,
    )
    plugins = {"": bundled_plugins()["jira"]}  # the row names no connector: system ""
    return [str(p) for p in check_dataset(dataset, plugins, target)]


def test_a_number_a_person_typed_into_a_text_field_warns_when_it_would_be_sent() -> None:
    held = {"alm_project": "BACKEND", "alm_user": "7", "alm_parent_issue": 12345}
    target = Snapshot(connections=[Connection(alias="A", connector=1, project=1, params=held)])
    assert _typed_numbers("xlsx", target) == [
        # 7 against '7' and 12345 against 12345 are what the target holds: nothing is sent.
        "connections row 2, params.alm_project: the number 4242 in a text field is sent as a "
        "number, as the cell holds it (the target holds 'BACKEND'); if it is text, make the "
        "cell text (type '4242)",
    ]
    created = _typed_numbers("ods", Snapshot())
    assert [w.split(": the number ")[1].split(" in")[0] for w in created] == ["4242", "7", "12345"]
    # JSON holds its types on purpose, CSV text is typed by the schema, and frames are code.
    for explicit in ("json", "csv", None):
        assert _typed_numbers(explicit, Snapshot()) == []


def test_an_edited_workbook_warns_on_a_number_typed_into_a_text_cell(
    cli: Cli, source_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openpyxl

    monkeypatch.setenv("SDE_TOKEN", source_sim.token)
    path = tmp_path / "e.xlsx"
    assert cli("export", "--url", source_sim.url, "--out", str(path))[0] == 0
    book = openpyxl.load_workbook(path)
    sheet = book["connections"]
    header = [c.value for c in sheet[1]]
    column = header.index("params.alm_project") + 1
    retyped = {}
    for row in range(2, sheet.max_row + 1):
        held = sheet.cell(row, column).value
        if isinstance(held, str) and held.isdigit() and not held.startswith("0"):
            retyped.setdefault("same", (row, held))  # the same digits, typed as a number
            sheet.cell(row, column).value = int(held)
        elif isinstance(held, str) and held.isalpha() and "new" not in retyped:
            retyped["new"] = (row, held)
            sheet.cell(row, column).value = 4242
    book.save(path)
    code, out, err = cli("plan", str(path), "--url", source_sim.url)
    assert code == 0, err
    row, held = retyped["new"]
    assert (
        f"connections row {row}, params.alm_project: the number 4242 in a text field is sent as "
        f"a number, as the cell holds it (the target holds '{held}')"
    ) in err
    assert "Plan: 0 create, 1 update" in out and "1 warning" in out
    assert cli("plan", str(path), "--url", source_sim.url, "--strict")[0] == 2


# ---------------------------------------------------------------- tabs through LibreOffice

TABS = LIBREOFFICE / "libreoffice-tabs-instance.json"
# What each LibreOffice-saved export of that instance lost (make_fixtures.py,
# control_character_files): both the CR of a CRLF. The .ods keeps its tabs, which
# calamine alone drops (almmigrate puts them back from content.xml); read that way it
# lost them in connector 2's name and connection 1's alias and alm_project.
CR_LOST = (
    "connectors row 3, params.alm_phases: looks like a spreadsheet turned "
    "'requirements,\\r\\ndevelopment' into 'requirements,\\ndevelopment' (the target holds "
    "'requirements,\\r\\ndevelopment')"
)
TABS_LOST = [
    "connectors row 3, name: looks like a spreadsheet turned 'Jira\\tProd' into 'JiraProd': "
    "matched to the connector 'Jira\\tProd' on the target, which keeps its name",
    CR_LOST,
    "connections row 2, alias: looks like a spreadsheet turned 'tab\\tinside' into "
    "'tabinside': matched to the connection 'tab\\tinside' on the target, which keeps its name",
    "connections row 2, params.alm_project: looks like a spreadsheet turned 'BACK\\tEN1' into "
    "'BACKEN1' (the target holds 'BACK\\tEN1')",
]
LOST = {
    "libreoffice-tabs.xlsx": [CR_LOST],
    "libreoffice-tabs.ods": [CR_LOST],
    "calamine alone": TABS_LOST,
}


def _without_tabs(kept: str | None, read: str) -> str:
    return read  # calamine's reading of the .ods, without the tabs put back


def _damage_warnings(text: str) -> list[str]:
    lines = [line.removeprefix("  warning: ") for line in text.splitlines()]
    return [line for line in lines if "looks like a spreadsheet" in line]


@pytest.mark.parametrize("name", list(LOST))
def test_a_name_and_alias_libreoffice_saved_without_their_tabs_create_nothing(
    cli: Cli, make_sim: Any, tmp_path: Path, name: str
) -> None:
    sim = make_sim(TABS)
    before = sim.state.snapshot()
    login = ("--url", sim.url, "--token", sim.token)
    path = str(LIBREOFFICE / ("libreoffice-tabs.ods" if name == "calamine alone" else name))
    with mock.patch.object(
        workbook, "_with_tabs", _without_tabs if name == "calamine alone" else workbook._with_tabs
    ):
        code, out, err = cli("plan", path, *login)
        assert code == 0, err
        assert _damage_warnings(err) == LOST[name]
        updates = 1 if name == "calamine alone" else 0  # the param that lost its tab, warned
        assert out.splitlines()[-1].startswith(f"Plan: 0 create, {updates} update,")

        journal = ("--journal", str(tmp_path / "import.journal"))
        code, out, err = cli("import", path, *login, *journal)
    assert code == 0, err
    after = sim.state.snapshot()
    assert sim.stats.as_dict()["by_method"].get("POST", 0) == 0
    assert [c["name"] for c in after["connectors"]] == [c["name"] for c in before["connectors"]]
    held = {c["id"]: (c["alias"], c["connector"]) for c in after["connections"]}
    assert held == {c["id"]: (c["alias"], c["connector"]) for c in before["connections"]}
    assert held[1] == ("tab\tinside", 2)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice (soffice)")
def test_libreoffice_itself_still_saves_what_the_tab_fixtures_hold(tmp_path: Path) -> None:
    """The committed files are what this LibreOffice makes of the export: made again, their
    sheets read the same (their bytes differ: timestamps)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", LIBREOFFICE / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    make_fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_fixtures)
    shutil.copy(TABS, tmp_path / TABS.name)
    with mock.patch.object(make_fixtures, "OUT", tmp_path):
        make_fixtures.control_character_files()
    for name in ("libreoffice-tabs.xlsx", "libreoffice-tabs.ods"):
        made, committed = read_tables(tmp_path / name), read_tables(LIBREOFFICE / name)
        for sheet in ("connectors", "connections", "projects"):  # not _meta: its url and time
            assert made[sheet] == committed[sheet]


def test_a_secret_field_is_never_checked_so_the_targets_secret_is_never_quoted() -> None:
    held = {"alm_pass": "S3cret-jira-montreal-1", "alm_project": "0042"}
    target = Snapshot(connections=[Connection(alias="A", connector=1, project=1, params=held)])
    dataset = Dataset(
        connections=[
            ConnectionRecord(
                alias="A", project=1, params={"alm_pass": 4242, "alm_project": "42"}, row=2
            )
        ],
        file_format="xlsx",
    )
    shown = [str(p) for p in check_dataset(dataset, {"": bundled_plugins()["jira"]}, target)]
    assert shown == [
        "connections row 2, params.alm_project: looks like a spreadsheet turned '0042' into "
        "'42' (the target holds '0042')"
    ]
