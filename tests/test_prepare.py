"""prepare: the pure step before any write (validate, map, plan) and what resolves its inputs.

No simulator here: prepare_import is given the target's Snapshot, the ProjectMap
and the SecretValues, and must neither connect nor read a file.
"""

from __future__ import annotations

from typing import Any

import pytest

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, ProjectRecord, Snapshot
from almmigrate.errors import InputError, Problem, ValidationFailed
from almmigrate.mapping import ProjectMap, identity_map
from almmigrate.models import Application, BusinessUnit, Connector, Project
from almmigrate.prepare import (
    ImportOptions,
    check_options,
    load_secret_values,
    merge_problems,
    prepare_import,
    resolve_project_map,
)
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings

JIRA = {
    "alm_method": "https",
    "alm_server": "jira.example",
    "jira_version": "5",
    "alm_user": "bot",
}


def target() -> Snapshot:
    """An instance with one Jira connector and two projects (bundled schemas: none published)."""
    unit = BusinessUnit(1, "Unit", "unit")
    return Snapshot(
        connectors=[Connector("Jira Old", "jira", {**JIRA, "alm_pass": MASK}, id=7)],
        projects=[Project(44, "Web", "web", 5), Project(45, "Api", "api", 5)],
        applications=[Application(5, "Shop", "shop", unit)],
        business_units=[unit],
    )


def jira(name: str, row: int, **params: Any) -> ConnectorRecord:
    return ConnectorRecord(name, "jira", params={**JIRA, "alm_pass": MASK, **params}, row=row)


def secrets(*names: str) -> SecretValues:
    values = SecretValues()
    for name in names:
        values.add("connector", name, "alm_pass", f"pw-{name}")
    return values


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a client fails the test: prepare must not connect."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("prepare opened a connection")

    monkeypatch.setattr("almmigrate.client.SDEClient.__init__", refuse)


def test_prepare_import_plans_against_the_snapshot_it_is_given(no_network: None) -> None:
    dataset = Dataset(
        connectors=[jira("Jira Old", 2), jira("Jira New", 3)],
        connections=[
            ConnectionRecord(
                "A", project=44, connector_name="Jira New", params={"alm_project": "P"}, row=2
            )
        ],
    )
    snapshot = target()
    prepared = prepare_import(dataset, snapshot, identity_map(snapshot), secrets("Jira New"))
    plan = prepared.plan
    assert [(i.kind, i.key, i.action) for i in plan.items] == [
        ("connector", "Jira Old", "unchanged"),
        ("connector", "Jira New", "create"),
        ("connection", "project 44 / A", "create"),
    ]
    assert plan.items[1].body["params"]["alm_pass"] == "pw-Jira New"
    assert prepared.target is snapshot
    assert prepared.project_map.how == "identity"
    assert prepared.problems == []


def test_a_file_with_errors_raises_every_problem_reading_ones_first(no_network: None) -> None:
    """Nothing is planned: reading and validation problems come together, in file order."""
    dataset = Dataset(
        connectors=[jira("Jira New", 2, alm_method="gopher")],
        connections=[ConnectionRecord("A", project=44, connector_name="Nowhere", row=2)],
    )
    read = [Problem("not a number", sheet="connections", row=2, column="project")]
    snapshot = target()
    with pytest.raises(ValidationFailed) as failed:
        prepare_import(
            dataset,
            snapshot,
            identity_map(snapshot),
            secrets("Jira New"),
            reading_problems=read,
        )
    found = [(p.sheet, p.row, p.column) for p in failed.value.problems]
    assert found == [
        ("connectors", 2, "params.alm_method"),
        ("connections", 2, "project"),
        ("connections", 2, "connector_name"),
    ]


def test_a_missing_secret_for_a_create_is_an_error_unless_supplied(no_network: None) -> None:
    dataset = Dataset(connectors=[jira("Jira New", 2)])
    snapshot = target()
    with pytest.raises(ValidationFailed) as failed:
        prepare_import(dataset, snapshot, identity_map(snapshot), SecretValues())
    assert [(p.sheet, p.row, p.column) for p in failed.value.problems] == [
        ("connectors", 2, "params.alm_pass")
    ]
    prepared = prepare_import(dataset, snapshot, identity_map(snapshot), secrets("Jira New"))
    assert prepared.plan.counts() == {"create": 1}


def test_strict_makes_a_warning_an_error(no_network: None) -> None:
    dataset = Dataset(connectors=[jira("Jira New", 2, colour="blue")])
    snapshot = target()
    prepared = prepare_import(dataset, snapshot, identity_map(snapshot), secrets("Jira New"))
    assert [(p.severity, p.column) for p in prepared.warnings] == [("warning", "params.colour")]
    with pytest.raises(ValidationFailed):
        prepare_import(
            dataset,
            snapshot,
            identity_map(snapshot),
            secrets("Jira New"),
            ImportOptions(strict=True),
        )


def test_prepare_import_never_reads_the_source_options_name(no_network: None) -> None:
    """A source given as settings is the pipeline's to read: prepare_import leaves it alone."""
    dataset = Dataset(connectors=[jira("Jira New", 2)])
    snapshot = target()
    options = ImportOptions(source=ConnectionSettings("http://127.0.0.1:9", "t"))
    prepared = prepare_import(
        dataset, snapshot, identity_map(snapshot), secrets("Jira New"), options
    )
    assert prepared.plan.counts() == {"create": 1}


def test_bad_mode_and_match_are_input_errors() -> None:
    with pytest.raises(InputError, match='--mode "merge" is not one of upsert, create, update'):
        check_options(ImportOptions(mode="merge"))
    with pytest.raises(InputError, match='--match "slug" is not one of name, id'):
        check_options(ImportOptions(match="slug"))


# ---------------------------------------------------------------- project map rules


def test_an_explicit_map_is_used_as_given() -> None:
    given = ProjectMap({1: 44}, "file")
    assert resolve_project_map(Dataset(), target(), ImportOptions(project_map=given)) is given


def test_a_map_and_auto_mapping_together_are_refused() -> None:
    options = ImportOptions(project_map=ProjectMap({}, "file"), auto_map_projects=True)
    with pytest.raises(InputError, match="give --project-map or --auto-map-projects, not both"):
        resolve_project_map(Dataset(), target(), options)


def test_auto_mapping_matches_the_source_projects_by_name() -> None:
    source = target()
    source.projects = [Project(9, "Api", "api", 5), Project(8, "Web", "web", 5)]
    options = ImportOptions(auto_map_projects=True)
    found = resolve_project_map(Dataset(), target(), options, source=source)
    assert (found.how, found.lookup(9), found.lookup(8)) == ("auto", 45, 44)


def test_auto_mapping_without_a_source_uses_the_files_projects_sheet() -> None:
    dataset = Dataset(
        connections=[ConnectionRecord("A", project=3, connector_name="Jira Old", row=2)],
        projects=[ProjectRecord(3, "Web", "Shop", "Unit")],
    )
    found = resolve_project_map(dataset, target(), ImportOptions(auto_map_projects=True))
    assert (found.how, found.lookup(3)) == ("auto", 44)


def test_a_source_given_as_settings_is_not_read_here() -> None:
    options = ImportOptions(
        auto_map_projects=True, source=ConnectionSettings("http://127.0.0.1:9", "t")
    )
    with pytest.raises(TypeError, match="read the source instance first"):
        resolve_project_map(Dataset(), target(), options)


def test_match_id_or_the_targets_own_projects_map_to_themselves() -> None:
    snapshot = target()
    assert resolve_project_map(Dataset(), snapshot, ImportOptions(match="id")).targets == {
        44: 44,
        45: 45,
    }
    own = Dataset(projects=[ProjectRecord(44, "Web", "Shop", "Unit")])
    assert resolve_project_map(own, snapshot, ImportOptions()).how == "identity"


def test_another_instances_projects_without_a_map_are_each_unmapped_with_a_hint() -> None:
    dataset = Dataset(
        connections=[ConnectionRecord("A", project=3, connector_name="Jira Old", row=2)],
        projects=[ProjectRecord(3, "Elsewhere", "Other", "Unit")],
    )
    found = resolve_project_map(dataset, target(), ImportOptions())
    assert (found.how, found.targets, found.lookup(3)) == ("none", {}, None)
    assert found.notes == {
        3: "the file's projects are not this instance's: use --project-map or --auto-map-projects"
    }


# ---------------------------------------------------------------- inputs and problems


def test_secret_values_none_given_or_loaded(tmp_path: Any) -> None:
    assert len(load_secret_values(None)) == 0
    given = secrets("Jira New")
    assert load_secret_values(given) is given
    path = tmp_path / "s.csv"
    path.write_text("kind,name,field,value\nconnector,Jira New,alm_pass,pw\n", encoding="utf-8")
    assert load_secret_values(path).lookup("connector", "Jira New", "alm_pass") == "pw"


def test_merge_problems_lists_in_file_order_and_faults_a_cell_once() -> None:
    first = [
        Problem("bad cell", sheet="connections", row=3, column="project"),
        Problem("no connectors sheet"),
    ]
    second = [
        Problem("again", sheet="connections", row=3, column="project"),
        Problem("bad method", sheet="connectors", row=4, column="params.alm_method"),
        Problem("other column", sheet="connections", row=3, column="alias"),
    ]
    merged = merge_problems(first, second)
    assert [p.message for p in merged] == [
        "no connectors sheet",
        "bad method",
        "bad cell",
        "other column",
    ]
