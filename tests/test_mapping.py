"""Project matching across instances, the map CSV, connector references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, ProjectRecord, Snapshot
from almmigrate.errors import InputError
from almmigrate.mapping import (
    AMBIGUOUS,
    EXACT,
    MISSING,
    ConnectorNames,
    ProjectRef,
    connector_name_of,
    identity_map,
    map_from_rows,
    match_projects,
    normalize,
    projects_of_snapshot,
    read_map,
    same_projects,
    write_map,
)
from almmigrate.models import Application, BusinessUnit, Connector, Project

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def org_snapshot(path: Path) -> Snapshot:
    """The projects, applications and business units of a simulator data file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    units = {u["id"]: BusinessUnit.from_api(u) for u in data["business_units"]}
    apps = [
        Application(a["id"], a["name"], a["slug"], units[a["business_unit"]])
        for a in data["applications"]
    ]
    return Snapshot(
        projects=[Project.from_api(p) for p in data["projects"]],
        applications=apps,
        business_units=list(units.values()),
    )


def test_normalize_folds_case_and_space() -> None:
    assert normalize("  Équipe   Montréal\t– PORTAIL ") == "équipe montréal – portail"
    assert normalize(None) == ""


def test_samples_match_exactly_even_where_names_repeat() -> None:
    source = org_snapshot(SAMPLES / "source.json")
    target = org_snapshot(SAMPLES / "target.json")
    rows = match_projects(projects_of_snapshot(source), projects_of_snapshot(target))
    assert [r.match for r in rows] == [EXACT] * 44
    by_source = {r.source.id: r.target.id for r in rows if r.target}
    # "Backend" is in Portail client 🚀 (1 -> 722) and in Mobile Banking (8 -> 530).
    assert by_source[1] == 722
    assert by_source[8] == 530
    # "Onboarding" is in HR Systems (19 -> 799) and Merchant Portal (41 -> 596).
    assert by_source[19] == 799
    assert by_source[41] == 596


def test_ambiguous_and_missing() -> None:
    targets = [
        ProjectRef(10, "Backend", "Shop", "Retail"),
        ProjectRef(11, "backend ", " shop", "RETAIL"),
        ProjectRef(12, "Frontend", "Shop", "Retail"),
    ]
    sources = [
        ProjectRef(1, "Backend", "Shop", "Retail"),
        ProjectRef(2, "Frontend", "Shop", "Retail"),
        ProjectRef(3, "Frontend", "Other", "Retail"),
        ProjectRef(4, "Frontend"),  # no application known: matched on the name alone
    ]
    rows = match_projects(sources, targets)
    assert [(r.source.id, r.match, r.target.id if r.target else None) for r in rows] == [
        (1, AMBIGUOUS, None),
        (2, EXACT, 12),
        (3, MISSING, None),
        (4, EXACT, 12),
    ]
    assert [c.id for c in rows[0].candidates] == [10, 11]
    project_map = map_from_rows(rows)
    assert project_map.targets == {2: 12, 4: 12}
    assert project_map.notes[1] == "ambiguous on the target: projects 10, 11"
    assert project_map.notes[3] == 'no project "Retail > Other > Frontend" on the target'


def test_map_round_trip(tmp_path: Path) -> None:
    rows = match_projects(
        [ProjectRef(1, "Backend", "Shop", "Retail"), ProjectRef(2, "Gone", "Shop", "Retail")],
        [ProjectRef(10, "BACKEND", "shop", "retail")],
    )
    path = tmp_path / "map.csv"
    assert write_map(path, rows) == 2
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("source_project,target_project,match,source_business_unit")
    assert lines[1].startswith("1,10,exact,Retail,Shop,Backend,retail,shop,BACKEND")
    assert lines[2].startswith("2,,missing,Retail,Shop,Gone,,,")
    assert read_map(path).targets == {1: 10}


def test_map_csv_opens_safely_and_readably_in_a_spreadsheet(tmp_path: Path) -> None:
    # Names that Excel or LibreOffice would run as formulas; accents Excel shows only with a BOM.
    rows = match_projects(
        [
            ProjectRef(1, '=HYPERLINK("http://x.example","clic")', "Site", "Équipe"),
            ProjectRef(2, "-draft", "@web", "+1 555"),
        ],
        [
            ProjectRef(10, '=HYPERLINK("http://x.example","clic")', "Site", "Équipe"),
            ProjectRef(20, "-draft", "@web", "+1 555"),
        ],
    )
    path = tmp_path / "map.csv"
    write_map(path, rows)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[1] == (
        '1,10,exact,\u00c9quipe,Site,"\'=HYPERLINK(""http://x.example"",""clic"")",'
        '\u00c9quipe,Site,"\'=HYPERLINK(""http://x.example"",""clic"")",'
    )
    assert lines[2] == "2,20,exact,'+1 555,'@web,'-draft,'+1 555,'@web,'-draft,"
    assert read_map(path).targets == {1: 10, 2: 20}


def test_read_map_ignores_other_columns_and_accepts_spreadsheet_numbers(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("\ufeffnote,target_project,source_project\nhi,20.0,2\n,,3\n", encoding="utf-8")
    assert read_map(path).targets == {2: 20}


@pytest.mark.parametrize("mark", [";", "\t"])
def test_read_map_saved_by_excel_in_a_semicolon_or_tab_locale(tmp_path: Path, mark: str) -> None:
    path = tmp_path / "map.csv"
    lines = ["source_project,target_project,match,source_project_name".replace(",", mark)]
    lines.append(mark.join(["1", "722", "exact", "Backend, API"]))
    path.write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    assert read_map(path).targets == {1: 722}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source,target\n1,2\n", "row 1: missing column source_project"),
        (
            "source_project,target_project\n1,abc\n",
            'row 2, target_project: "abc" is not a project id',
        ),
        (
            "source_project,target_project\n-4,2\n",
            'row 2, source_project: "-4" is not a project id',
        ),
        ("source_project,target_project\n1,2\n1,3\n", "row 3: project 1 is mapped twice (2 and 3)"),
        ("source_project,target_project\n,3\n", "row 2: source_project is empty"),
    ],
)
def test_read_map_bad_rows(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_map(path)
    assert message in str(caught.value)


def test_same_projects_and_identity() -> None:
    target = org_snapshot(SAMPLES / "target.json")
    same = Dataset(projects=[ProjectRecord(722, "backend"), ProjectRecord(530, "Backend")])
    other = Dataset(projects=[ProjectRecord(1, "Backend")])
    renamed = Dataset(projects=[ProjectRecord(722, "Frontend")])
    by_connection = Dataset(
        connections=[ConnectionRecord("a", project=722, project_name="Backend")]
    )
    assert same_projects(same, target)
    assert not same_projects(other, target)
    assert not same_projects(renamed, target)
    assert same_projects(by_connection, target)
    assert not same_projects(Dataset(), target)
    assert identity_map(target).lookup(722) == 722
    assert identity_map(target).lookup(1) is None


def test_connector_name_of() -> None:
    dataset = Dataset(connectors=[ConnectorRecord("Jira A", "jira", id=5)])
    target = Snapshot(connectors=[Connector("On target", "jira", id=9)])
    assert (
        connector_name_of(ConnectionRecord("x", connector=5, connector_name=" Named "), dataset)
        == "Named"
    )
    assert connector_name_of(ConnectionRecord("x", connector=5), dataset) == "Jira A"
    assert connector_name_of(ConnectionRecord("x", connector=9), dataset) is None
    # Ids only mean something on the instance the file came from.
    assert connector_name_of(ConnectionRecord("x", connector=9), dataset, target) == "On target"


def test_connector_names_first_row_wins_and_file_before_target() -> None:
    dataset = Dataset(
        connectors=[ConnectorRecord("First", "jira", id=5), ConnectorRecord("Second", "jira", id=5)]
    )
    target = Snapshot(connectors=[Connector("On target", "jira", id=5)])
    names = ConnectorNames(dataset, target)
    assert names.of(ConnectionRecord("x", connector=5)) == "First"
    assert names.of(ConnectionRecord("x")) is None
