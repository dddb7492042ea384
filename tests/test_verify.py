"""verify_dataset: field by field, secrets only as present, names by natural key."""

from __future__ import annotations

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, Snapshot
from almmigrate.mapping import identity_map
from almmigrate.models import Connection, Connector
from almmigrate.secrets import MASK
from almmigrate.verify import Difference, verify_dataset

JIRA = {"alm_method": "https", "alm_server": "j.example", "alm_user": "u", "alm_pass": "p"}


def target(**changes: object) -> Snapshot:
    params = {**JIRA, "sde_min_priority": "7", **changes}
    connector = Connector(id=1, name="spaced name", system="jira", params=params)
    connection = Connection(
        id=5,
        alias="Sync 12",
        connector=1,
        project=44,
        params={**params, "alm_project": "K", "sde_project": "P"},
    )
    from almmigrate.models import Project

    return Snapshot(connectors=[connector], connections=[connection], projects=[Project(44, "P")])


def dataset(**params: object) -> Dataset:
    return Dataset(
        connectors=[
            ConnectorRecord(
                " spaced name ",
                "jira",
                params={**JIRA, "alm_pass": MASK, "sde_min_priority": "7"},
                row=2,
            )
        ],
        connections=[
            ConnectionRecord(
                "Sync 12 ",
                project=44,
                connector_name=" spaced name ",
                params={"alm_project": "K", **params},
                row=2,
            )
        ],
    )


def test_equal_when_the_target_holds_the_file_names_trimmed() -> None:
    snapshot = target()
    found = verify_dataset(dataset(), snapshot, project_map=identity_map(snapshot))
    assert (found.objects, found.differences, found.exit_code) == (2, [], 0)
    assert found.summary() == "2 objects, 0 differences (1 secrets checked as present only)"


def test_one_line_per_difference() -> None:
    snapshot = target()
    found = verify_dataset(
        dataset(sde_min_priority=5), snapshot, project_map=identity_map(snapshot)
    )
    assert found.exit_code == 1
    assert [d.describe() for d in found.differences] == [
        "connection \"Sync 12\" in project 44: params.sde_min_priority file '5', target '7'"
    ]


def test_a_secret_is_checked_as_present_never_by_value() -> None:
    snapshot = target(alm_pass="another value")
    assert verify_dataset(dataset(), snapshot, project_map=identity_map(snapshot)).differences == []
    snapshot = target(alm_pass="")
    found = verify_dataset(dataset(), snapshot, project_map=identity_map(snapshot))
    assert found.differences == [
        Difference("connector", "spaced name", None, "params.alm_pass", "(set)", "(absent)", 2)
    ]


def test_a_missing_object_is_a_difference() -> None:
    snapshot = target()
    snapshot.connections.clear()
    found = verify_dataset(dataset(), snapshot, project_map=identity_map(snapshot))
    assert [d.describe() for d in found.differences] == [
        'connection "Sync 12" in project 44: not on the target'
    ]


def test_an_own_value_where_the_file_inherits_is_a_difference() -> None:
    snapshot = target()
    snapshot.connections[0].params["sde_min_priority"] = 9  # its own, over the connector's "7"
    found = verify_dataset(dataset(), snapshot, project_map=identity_map(snapshot))
    assert [d.describe() for d in found.differences] == [
        "connection \"Sync 12\" in project 44: params.sde_min_priority file '7', target 9"
    ]
    snapshot.connections[0].params["sde_min_priority"] = "7"
    snapshot.connections[0].params["last_successful_run"] = "2026-01-01"  # read-only: not compared
    assert verify_dataset(dataset(), snapshot, project_map=identity_map(snapshot)).differences == []


def test_a_null_is_equal_to_a_null_and_differs_from_absent_only_when_the_file_holds_it() -> None:
    file = dataset()
    file.connectors[0].params["alm_context_root"] = None
    snapshot = target(alm_context_root=None)
    assert verify_dataset(file, snapshot, project_map=identity_map(snapshot)).differences == []
    snapshot = target()
    # A spreadsheet's empty cell (None, not in nulls) is "not given": nothing to compare.
    assert verify_dataset(file, snapshot, project_map=identity_map(snapshot)).differences == []
    file.connectors[0].nulls = frozenset({"alm_context_root"})  # a JSON file's or API's null
    found = verify_dataset(file, snapshot, project_map=identity_map(snapshot))
    assert [d.describe() for d in found.differences] == [
        'connector "spaced name": params.alm_context_root file null, target (absent)',
        'connection "Sync 12" in project 44: params.alm_context_root file null, target (absent)',
    ]
