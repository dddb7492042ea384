"""build_plan: the pure diff of a file's desired state against the target's Snapshot."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from almmigrate.client import SDEClient
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, Snapshot
from almmigrate.exporter import snapshot_to_dataset
from almmigrate.instance import fetch_snapshot
from almmigrate.mapping import (
    ProjectMap,
    identity_map,
    map_from_rows,
    match_projects,
    projects_of_snapshot,
)
from almmigrate.plan import build_plan, values_equal
from almmigrate.plan_types import Plan, PlanItem
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues, load_secrets
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import SimServer

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PLUGINS = bundled_plugins()


def read(path: Path) -> Snapshot:
    with (
        SimServer(path) as sim,
        SDEClient(ConnectionSettings(url=sim.url, token=sim.token)) as client,
    ):
        return fetch_snapshot(client)


@pytest.fixture(scope="module")
def source() -> Snapshot:
    return read(SAMPLES / "source.json")


@pytest.fixture(scope="module")
def target() -> Snapshot:
    return read(SAMPLES / "target.json")


@pytest.fixture
def exported(source: Snapshot) -> Iterator[Dataset]:
    yield snapshot_to_dataset(copy.deepcopy(source))


def plan_on_source(dataset: Dataset, source: Snapshot, **kwargs: object) -> Plan:
    return build_plan(dataset, source, plugins=PLUGINS, project_map=identity_map(source), **kwargs)


def changed(plan: Plan) -> list[tuple[str, str, list[str]]]:
    return [
        (i.key, i.action, [c.describe() for c in i.changes])
        for i in plan.items
        if i.action != "unchanged"
    ]


def test_a_null_against_a_param_the_target_lacks_is_shown_as_absent_to_null(
    exported: Dataset, source: Snapshot
) -> None:
    from almmigrate.cli.plan import item_details
    from almmigrate.plan_json import plan_to_json

    connector = next(c for c in exported.connectors if c.name == "Jira 007")
    assert "alm_context_root" not in next(c for c in source.connectors if c.id == 4).params
    connector.params["alm_context_root"] = None  # a spreadsheet's empty cell: not given
    assert changed(plan_on_source(exported, source)) == []
    connector.nulls = frozenset({"alm_context_root"})  # a JSON file's (or the source's) null
    plan = plan_on_source(exported, source)
    assert changed(plan) == [("Jira 007", "update", ["params.alm_context_root: (absent) -> null"])]
    item = next(i for i in plan.items if i.key == "Jira 007")
    assert item_details(item) == "params.alm_context_root: (absent) -> null"
    assert item.body == {"params": {"alm_context_root": None}}
    shown = next(i for i in plan_to_json(plan)["items"] if i["key"] == "Jira 007")
    assert shown["changes"] == [{"field": "params.alm_context_root", "new": None}]


def test_export_plans_back_as_all_unchanged(exported: Dataset, source: Snapshot) -> None:
    plan = plan_on_source(exported, source)
    assert plan.counts() == {"unchanged": 12 + 133}
    assert all(item.body == {} for item in plan.items)


def test_only_edited_fields_change(exported: Dataset, source: Snapshot) -> None:
    connector = next(c for c in exported.connectors if c.name == "Jira 007")
    connector.params["sde_min_priority"] = "8"
    connector.params["alm_validate_cert"] = False
    connector.inaccessible = True
    connection = next(c for c in exported.connections if c.id == 3)
    connection.params["sde_min_priority"] = "7"  # API holds the int 7: a select compares by text
    connection.params["sde_tags_filter"] = "pci,gdpr"
    connection.frequency = "weekly"
    connection.debug_mode = None  # an empty cell: not given
    plan = plan_on_source(exported, source)
    assert changed(plan) == [
        (
            "Jira 007",
            "update",
            [
                "inaccessible: False -> True",
                "params.sde_min_priority: '10' -> '8'",
                "params.alm_validate_cert: (absent) -> False",
            ],
        ),
        (
            "project 1 / Backend · Rally Équipe",
            "update",
            [
                "frequency: 'hourly' -> 'weekly'",
                "params.sde_tags_filter: 'pci' -> 'pci,gdpr'",
            ],
        ),
    ]
    items = {i.key: i for i in plan.items}
    assert items["Jira 007"].body == {
        "inaccessible": True,
        "params": {"sde_min_priority": "8", "alm_validate_cert": False},
    }
    assert items["Jira 007"].target_id == 4
    assert items["project 1 / Backend · Rally Équipe"].body == {
        "frequency": "weekly",
        "params": {"sde_tags_filter": "pci,gdpr"},
    }


def test_a_param_equal_to_the_connectors_is_not_a_change(
    exported: Dataset, source: Snapshot
) -> None:
    connection = next(c for c in exported.connections if c.id == 1)  # on Jira "Prod", priority "7"
    connection.params["sde_min_priority"] = "7"
    connection.params["alm_reference_context"] = 5
    assert changed(plan_on_source(exported, source)) == []
    # The same number as text means the same value: instances hold both, a CSV cannot tell.
    connection.params["alm_reference_context"] = "5"
    assert changed(plan_on_source(exported, source)) == []
    connection.params["alm_reference_context"] = "6"
    assert changed(plan_on_source(exported, source)) == [
        ('project 1 / Backend · Jira "Prod"', "update", ["params.alm_reference_context: 5 -> '6'"])
    ]


def test_secrets_masked_leave_supplied_compare_never_shown(
    exported: Dataset, source: Snapshot
) -> None:
    secrets = SecretValues()
    secrets.add("connector", "Jira 007", "alm_pass", "S3cret-jira-007-4")  # what the target holds
    secrets.add("connector", "Trac Internal", "alm_pass", "canary-new-pass-91")
    plan = plan_on_source(exported, source, secrets=secrets)
    assert changed(plan) == [("Trac Internal", "update", ["params.alm_pass: (secret changed)"])]
    item = next(i for i in plan.items if i.key == "Trac Internal")
    assert item.body == {"params": {"alm_pass": "canary-new-pass-91"}}
    assert item.secret_fields == frozenset({"alm_pass"})
    assert item.redacted_body() == {"params": {"alm_pass": MASK}}
    assert "canary" not in repr(item.changes)


def test_migration_plan_against_another_instance(
    exported: Dataset, source: Snapshot, target: Snapshot
) -> None:
    rows = match_projects(projects_of_snapshot(source), projects_of_snapshot(target))
    plan = build_plan(
        exported,
        target,
        plugins=PLUGINS,
        project_map=map_from_rows(rows),
        secrets=load_secrets(SAMPLES / "secrets.csv"),
    )
    items = {i.key: i for i in plan.items}
    # 10 new connectors and 130 new connections; 3 differ; 2 are already there as they are.
    assert plan.counts() == {"create": 140, "update": 3, "unchanged": 2}
    github = items["GitHub 🚀 Open Source"]
    assert (github.action, github.target_id, [c.describe() for c in github.changes]) == (
        "update",
        40,
        ["params.sde_min_priority: '5' -> '7'"],
    )
    created = items["Jira 007"]
    assert created.body == {
        "name": "Jira 007",
        "system": {"id": "jira"},
        "inaccessible": False,
        "params": {
            "alm_method": "http",
            "alm_server": "jira-007.internal.example",
            "jira_version": "5",
            "alm_user": "007",
            "alm_pass": "S3cret-jira-007-4",
            "sde_min_priority": "10",
            "title_format": '=HYPERLINK("http://x.example","$title")',
        },
    }
    # A connection whose connector is created in the same run names it; apply resolves the id.
    on_new = next(
        i for i in plan.items if i.kind == "connection" and i.connector_name == 'Jira "Prod"'
    )
    assert on_new.action == "create"
    assert on_new.body["connector"] is None
    assert on_new.body["project"] in (722, 714, 546, 789)
    on_existing = next(
        i
        for i in plan.items
        if i.kind == "connection"
        and i.action == "create"
        and i.connector_name == "Jira Cloud – Montréal"
    )
    assert on_existing.body["connector"] == 41
    assert items["project 789 / Android App · Jira Cloud – Montréal"].changes[0].describe() == (
        "frequency: 'weekly' -> 'manually'"
    )


def test_modes(target: Snapshot) -> None:
    dataset = Dataset(
        connectors=[
            ConnectorRecord(
                "Jira Cloud – Montréal", "jira", params={"sde_min_priority": "9"}, row=2
            ),
            ConnectorRecord("Jira Elsewhere", "jira", params={"alm_server": "x"}, row=3),
        ]
    )
    kwargs = {"plugins": PLUGINS, "project_map": ProjectMap()}
    create = build_plan(dataset, target, mode="create", **kwargs)
    assert create.items[0].target_id == 41 and not create.items[0].body
    assert [(i.action, i.error) for i in create.items] == [
        ("skipped", "already on the target (id 41); --mode create leaves it as it is"),
        ("create", None),
    ]
    update = build_plan(dataset, target, mode="update", **kwargs)
    assert [(i.action, i.error) for i in update.items] == [
        ("update", None),
        ("error", "not on the target (--mode update creates nothing)"),
    ]


def test_two_target_objects_on_one_key_is_an_error_naming_both(target: Snapshot) -> None:
    doubled = copy.deepcopy(target)
    twin = copy.deepcopy(doubled.connectors[1])
    twin.id = 77
    doubled.connectors.append(twin)
    dataset = Dataset(
        connectors=[ConnectorRecord("Jira Cloud – Montréal", "jira", params={}, row=2)],
        connections=[
            ConnectionRecord("X", project=1, connector_name="Jira Cloud – Montréal", row=2)
        ],
    )
    plan = build_plan(dataset, doubled, plugins=PLUGINS, project_map=ProjectMap({1: 722}))
    assert [(i.action, i.error) for i in plan.items] == [
        (
            "error",
            'ambiguous: connectors 41 and 77 on the target are both named "Jira Cloud – Montréal"',
        ),
        (
            "error",
            'its connector "Jira Cloud – Montréal" cannot be imported: ambiguous: connectors 41 and '
            '77 on the target are both named "Jira Cloud – Montréal"',
        ),
    ]


def test_match_id_renames_and_skip_unmapped(target: Snapshot) -> None:
    dataset = Dataset(
        connectors=[ConnectorRecord("Montréal Jira", "jira", params={}, id=41, row=2)],
        connections=[
            ConnectionRecord("Renamed", project=722, connector=41, id=3, row=2),
            ConnectionRecord("Elsewhere", project=5, connector=41, row=3),
        ],
    )
    plan = build_plan(
        dataset,
        target,
        plugins=PLUGINS,
        project_map=identity_map(target),
        match="id",
        skip_unmapped=True,
    )
    assert changed(plan) == [
        ("Montréal Jira", "update", ["name: 'Jira Cloud – Montréal' -> 'Montréal Jira'"]),
        ("project 722 / Renamed", "update", ["alias: 'Only on target' -> 'Renamed'"]),
        ("project 5 / Elsewhere", "skipped", []),
    ]
    assert plan.items[2].error == "project 5 is not mapped (--skip-unmapped)"


@pytest.mark.parametrize(
    ("field", "a", "b", "equal"),
    [
        ("sde_min_priority", "7", 7, True),
        ("sde_min_priority", "7", "8", False),
        ("alm_reference_context", 5, "5", True),
        ("alm_reference_context", 5, "05", False),
        ("alm_project", 12345, "12345", True),
        ("alm_project", 2.5, "2.5", True),
        ("how_tos_in_scope", True, "True", False),
        ("alm_validate_cert", True, 1, False),
        ("alm_phases", "requirements, development", "requirements,development", True),
        ("alm_server", "a ", "a", False),
        # A param the schema does not list, read back from a spreadsheet: the text a
        # file writes for the target's value is that value (an unedited export is a no-op).
        ("custom_undocumented", False, "FALSE", True),
        ("custom_undocumented", True, "TRUE", True),
        ("custom_undocumented", True, "FALSE", False),
        ("custom_undocumented", True, "true", False),
        ("custom_undocumented", 2.0, 2, True),
        ("custom_undocumented", 2.0, "2.0", True),
        ("custom_undocumented", 2.5, 2, False),
        ("custom_undocumented", 1, True, False),
        ("custom_undocumented", ["a", "b"], "a,b", True),
        ("custom_undocumented", ["a", "b"], "b,a", False),
        ("custom_undocumented", {"k": "v"}, '{"k": "v"}', True),
        ("custom_undocumented", {"k": "v"}, '{"k": "w"}', False),
        ("custom_undocumented", None, "null", False),
    ],
)
def test_values_equal(field: str, a: object, b: object, equal: bool) -> None:
    assert values_equal(PLUGINS["jira"], field, a, b) is equal


def test_plan_item_contract_is_kept() -> None:
    item = PlanItem(
        "connection",
        "create",
        "project 1 / a",
        body={"params": {"alm_pass": "x"}},
        secret_fields=frozenset({"alm_pass"}),
    )
    assert item.redacted_body() == {"params": {"alm_pass": MASK}}


def test_a_plan_items_body_is_masked_as_an_export_masks() -> None:
    from almmigrate.secrets import redaction_scope, scrub

    canary = "canary-plan-body-5e1d"
    item = PlanItem(
        "connector",
        "create",
        "Jira",
        body={"params": {"alm_pass": canary, "alm_api_token": "", "private_key": "k3y-canary"}},
        secret_fields=frozenset({"alm_pass", "alm_api_token"}),
    )
    with redaction_scope():
        # An empty secret stays empty (a mask would claim one exists); a param the name
        # says is secret is masked too; every value masked is registered for scrubbing.
        assert item.redacted_body() == {
            "params": {"alm_pass": MASK, "alm_api_token": "", "private_key": MASK}
        }
        assert canary not in scrub(f"refused: {canary}") and "k3y-canary" not in scrub("k3y-canary")


def test_two_target_connections_on_one_key(target: Snapshot) -> None:
    doubled = copy.deepcopy(target)
    twin = copy.deepcopy(next(c for c in doubled.connections if c.id == 7))
    twin.id = 70
    doubled.connections.append(twin)
    dataset = Dataset(
        connections=[
            ConnectionRecord(
                "Site vitrine · Jira Cloud – Montréal",
                project=5,
                connector_name="Jira Cloud – Montréal",
                frequency="daily",
                row=2,
            )
        ]
    )
    plan = build_plan(dataset, doubled, plugins=PLUGINS, project_map=ProjectMap({5: 546}))
    assert [(i.action, i.error) for i in plan.items] == [
        (
            "error",
            'ambiguous: connections 7 and 70 in project 546 are both "Site vitrine · Jira Cloud – '
            'Montréal"',
        )
    ]
    single = build_plan(dataset, target, plugins=PLUGINS, project_map=ProjectMap({5: 546}))
    assert [(i.action, i.target_id, i.body) for i in single.items] == [
        ("update", 7, {"frequency": "daily"})
    ]
