"""validate_dataset: every problem at once, located by sheet, row and column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from almmigrate.client import SDEClient
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset, Snapshot
from almmigrate.instance import fetch_snapshot
from almmigrate.mapping import ProjectMap, identity_map
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import SimServer
from almmigrate.validate import validate_dataset

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PLUGINS = bundled_plugins()


@pytest.fixture(scope="module")
def target() -> Iterator[Snapshot]:
    """The sample target instance, read once over HTTP (these tests never write)."""
    with (
        SimServer(SAMPLES / "target.json") as sim,
        SDEClient(ConnectionSettings(url=sim.url, token=sim.token)) as client,
    ):
        yield fetch_snapshot(client)


def jira(name: str = "Jira New", row: int = 2, **params: object) -> ConnectorRecord:
    base: dict[str, object] = {
        "alm_method": "https",
        "alm_server": "jira.example",
        "jira_version": "5",
        "alm_user": "bot",
        "alm_pass": MASK,
    }
    base.update(params)
    return ConnectorRecord(name, "jira", params=base, row=row)


def texts(problems: list) -> list[str]:
    return [f"{p.severity}: {p}" for p in problems]


def test_a_clean_file_has_no_problems() -> None:
    dataset = Dataset(
        connectors=[jira()],
        connections=[
            ConnectionRecord(
                "A", project=1, connector_name="Jira New", params={"alm_project": "P"}, row=2
            )
        ],
    )
    assert validate_dataset(dataset, PLUGINS) == []


def test_every_problem_at_once_with_sheet_row_and_column() -> None:
    dataset = Dataset(
        connectors=[
            jira(row=2, alm_method="gopher", alm_validate_cert="maybe", sde_min_priority="11"),
            jira(row=3, title_format="x" * 256, colour="blue"),
            ConnectorRecord("Odd", "bugzilla", params={}, row=4),
            ConnectorRecord(" ", "jira", params={}, row=5),
        ],
        connections=[
            ConnectionRecord(
                "A",
                project=1,
                connector_name="Jira New",
                frequency="sometimes",
                row=2,
                params={"alm_method": "gopher", "sde_project": "x"},
            ),
            ConnectionRecord("A", project=1, connector_name="Jira New", row=3),
            ConnectionRecord("B", project=None, connector=99, row=4),
        ],
    )
    assert texts(validate_dataset(dataset, PLUGINS)) == [
        'error: connectors row 2, params.alm_method: "gopher" is not one of https, http',
        "error: connectors row 2, params.alm_validate_cert: Must be a valid boolean.",
        'error: connectors row 2, params.sde_min_priority: "11" is not one of 10, 9, 8, 7, 6, 5, 4, 3, 2, 1',
        'error: connectors row 3, name: "Jira New" is also on row 2',
        "warning: connectors row 3, params.colour: not a param of jira; it will be sent as is",
        "error: connectors row 3, params.title_format: Ensure this field has no more than 255 characters.",
        'error: connectors row 4, system: "bugzilla" is not a known system (one of github, jira, rally, trac)',
        "error: connectors row 5, name: name is empty",
        'error: connections row 2, frequency: "sometimes" is not one of manually, hourly, daily, weekly, monthly',
        "warning: connections row 2, params.sde_project: derived from the project by the server; ignored",
        'error: connections row 2, params.alm_method: "gopher" is not one of https, http',
        "warning: connections row 2, params.alm_method: the plugin schema sets this param on the connector, not on a connection; it will be sent as is and the target decides",
        'error: connections row 3, alias: "A" in project 1 is also on row 2',
        "error: connections row 4, project: project is empty",
        "error: connections row 4, connector_name: connector 99 is not in the file: fill connector_name",
    ]


def test_the_same_key_twice_in_an_instance_names_the_other_object_not_a_row() -> None:
    # migrate reads an instance, not a file: no rows. An older instance may hold
    # " spaced name " and "spaced name", one name once SD Elements trims it.
    dataset = Dataset(
        connectors=[
            ConnectorRecord(" Jira New ", "jira", params=jira().params, id=1),
            ConnectorRecord("Jira New", "jira", params=jira().params, id=7),
        ],
        connections=[
            ConnectionRecord("A ", project=1, connector_name="Jira New", id=3),
            ConnectionRecord("A", project=1, connector_name="Jira New", id=9),
        ],
    )
    assert texts(validate_dataset(dataset, PLUGINS)) == [
        "error: connectors 'Jira New', name: \"Jira New\" is also the name of the connector "
        "with id 1 (' Jira New ')",
        "error: connections 'project 1 / A', alias: \"A\" in project 1 is also the alias of "
        "the connection with id 3 ('A ')",
    ]


def test_create_mode_checks_required_params_by_scope_and_masked_secrets() -> None:
    dataset = Dataset(
        connectors=[
            ConnectorRecord("J", "jira", params={"alm_pass": MASK, "alm_method": "https"}, row=2)
        ],
        connections=[
            # alm_project is required in the project scope; the connector gives the rest.
            ConnectionRecord("A", project=1, connector_name="J", params={}, row=2),
            ConnectionRecord(
                "B", project=1, connector_name="J", params={"alm_project": "P"}, row=3
            ),
        ],
    )
    problems = texts(validate_dataset(dataset, PLUGINS, mode="create"))
    assert problems == [
        "error: connectors row 2, params.alm_server: This field is required.",
        "error: connectors row 2, params.jira_version: This field is required.",
        "error: connectors row 2, params.alm_user: This field is required.",
        'error: connectors row 2, params.alm_pass: masked secret and no value for connector "J" in --secrets (needed to create it)',
        "error: connections row 2, params.alm_project: This field is required.",
    ]
    # Offline upsert cannot know what is a create: the create-only rules wait for a target.
    assert validate_dataset(dataset, PLUGINS) == []


def test_supplied_secret_satisfies_a_create() -> None:
    secrets = SecretValues()
    secrets.add("connector", "Jira New", "alm_pass", "canary-pass-123")
    dataset = Dataset(connectors=[jira()])
    assert validate_dataset(dataset, PLUGINS, mode="create", secrets=secrets) == []
    assert texts(validate_dataset(dataset, PLUGINS, mode="create")) == [
        'error: connectors row 2, params.alm_pass: masked secret and no value for connector "Jira New" '
        "in --secrets (needed to create it)"
    ]


def test_against_the_target(target: Snapshot) -> None:
    auto = ProjectMap({1: 722, 2: 714}, "auto", {3: 'no project "x" on the target'})
    dataset = Dataset(
        connectors=[
            # On the target already: an update, so a masked secret just means "leave it".
            jira("Jira Cloud – Montréal", row=2),
            jira("Brand new", row=3),
        ],
        connections=[
            ConnectionRecord(
                "A",
                project=1,
                connector_name="Jira Cloud – Montréal",
                params={"alm_project": "P"},
                row=2,
            ),
            ConnectionRecord("B", project=2, connector_name="Nowhere", row=3),
            ConnectionRecord("C", project=3, project_name="x", connector_name="Brand new", row=4),
            ConnectionRecord(
                "D", project=1, connector_name="Brand new", params={"alm_pass": MASK}, row=5
            ),
        ],
    )
    problems = texts(
        validate_dataset(dataset, target.plugins or PLUGINS, target=target, project_map=auto)
    )
    assert problems == [
        'error: connectors row 3, params.alm_pass: masked secret and no value for connector "Brand new" '
        "in --secrets (needed to create it)",
        'error: connections row 3, connector_name: connector "Nowhere" is neither in the file nor on the target',
        'error: connections row 4, project: project 3 ("x") is not mapped to a target project: '
        'no project "x" on the target',
        "error: connections row 5, params.alm_project: This field is required.",
        "warning: connections row 5, params.alm_pass: the plugin schema sets this param on the connector, not on a connection; it will be sent as is and the target decides",
        'error: connections row 5, params.alm_pass: masked secret and no value for connection "D" '
        "in --secrets (needed to create it)",
    ]
    skipped = validate_dataset(
        dataset, PLUGINS, target=target, project_map=auto, skip_unmapped=True
    )
    assert [p.severity for p in skipped if p.row == 4 and p.sheet == "connections"] == ["warning"]


def test_same_instance_connector_by_id(target: Snapshot) -> None:
    dataset = Dataset(
        connections=[
            ConnectionRecord(
                "Only on target", project=722, connector=41, row=2, params={"alm_project": "TGT2"}
            )
        ]
    )
    assert validate_dataset(dataset, PLUGINS, target=target, project_map=identity_map(target)) == []
    # Another instance's connector id means nothing here.
    auto = ProjectMap({722: 722}, "auto")
    assert texts(validate_dataset(dataset, PLUGINS, target=target, project_map=auto)) == [
        "error: connections row 2, connector_name: connector 41 is not in the file: fill connector_name"
    ]


def test_connector_limits_what_its_connections_may_set() -> None:
    connector = jira("J", alm_project="X")
    connector.fields_editable_on_project = ["alm_project", "alm_pass"]
    dataset = Dataset(
        connectors=[connector],
        connections=[
            ConnectionRecord(
                "A",
                project=1,
                connector_name="J",
                row=2,
                params={
                    "alm_project": "P",
                    "alm_pass": MASK,
                    "alm_user": "u",
                    "sde_min_priority": "7",
                },
            )
        ],
    )
    assert texts(validate_dataset(dataset, PLUGINS)) == [
        # A doubt, not a refusal: an older instance may hold it, the target decides.
        "warning: connections row 2, params.alm_user: the plugin schema sets this param on the connector, not on a connection; it will be sent as is and the target decides",
    ]
