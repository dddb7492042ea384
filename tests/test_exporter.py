"""The export library against the simulator over HTTP: reading, own params, masking."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from almmigrate.errors import InputError
from almmigrate.exporter import fetch_snapshot, mask_params, snapshot_to_dataset
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK, forget_secrets, scrub
from almmigrate.settings import ConnectionSettings

TOKEN = "export-test-token-5b1f"

# Canary secrets: none of these may appear in any output unless --include-secrets.
CANARIES = {
    "jira_pass": "CANARY-jira-pass-91c2",
    "jira_cookie": "CANARY-schema-masked-cookie-4d7e",  # masked_string by schema only
    "jira_custom_key": "CANARY-custom-api-key-0a8b",  # secret by name only, not in schema
    "github_token": "CANARY-github-token-77f1",
    "trac_pass": "CANARY-trac-pass-e3d0",
    "unused_pass": "CANARY-unused-pass-5c66",
    "connection_pass": "CANARY-connection-own-pass-2b9a",
    "connection_token": "CANARY-connection-custom-token-6e14",
    "connection_cookie": "CANARY-connection-cookie-93ad",
}

FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "+1 555 0100",
    "-draft",
    "@team",
    "\tTabbed",
    "\rCarriage",
]


def _plugins() -> list[dict[str, Any]]:
    """The instance's plugins: bundled jira (plus a masked field), github, rally; no trac."""
    plugins = bundled_plugins()
    jira = copy.deepcopy(dict(plugins["jira"].raw))
    jira["sections"] = list(jira["sections"]) + [
        {
            "label": "Single sign-on",
            "optional": True,
            "fields": [
                {
                    "name": "alm_sso_cookie",
                    "label": "SSO cookie",
                    "field_type": "masked_string",
                    "required": False,
                    "default": None,
                    "scope": ["system", "project"],
                    "options": [],
                }
            ],
        }
    ]
    return [jira, dict(plugins["github"].raw), dict(plugins["rally"].raw)]


def instance_data() -> dict[str, Any]:
    """A small instance with every awkward value export must carry exactly."""
    connections: list[dict[str, Any]] = [
        {
            "id": 1,
            "alias": "Checkout Jira",
            "connector": 1,
            "project": 100,
            "frequency": "daily",
            "debug_mode": False,
            "inaccessible": False,
            "in_progress": False,
            "params": {
                "alm_project": "CHK",
                "alm_pass": CANARIES["connection_pass"],
                "sde_min_priority": 7,  # the connector says "7": a different JSON type, so own
                "alm_method": "https",  # equal to the connector's: inherited, not exported
            },
            "last_job": {
                "id": 4,
                "succeeded": False,
                "last_run": "2016-12-15T22:45:27.412Z",
                "result_message": "=ERROR(1)",
                "user": 1,
                "ready": True,
                "automatic": False,
            },
        },
        {
            "id": 2,
            "alias": FORMULAS[4],
            "connector": 2,
            "project": 101,
            "frequency": "manually",
            "debug_mode": True,
            "inaccessible": False,
            "in_progress": False,
            "params": {
                "alm_project": FORMULAS[5],
                "alm_phases": "requirements,development",
                "how_tos_in_scope": True,
                "sde_tags_filter": "TRUE",
            },
            "last_job": None,
        },
        {
            "id": 3,
            "alias": 'API, "quoted" Équipe 🚀',
            "connector": 1,
            "project": 102,
            "frequency": "weekly",
            "debug_mode": False,
            "inaccessible": True,
            "in_progress": False,
            "params": {
                "alm_project": "NaN",
                "alm_parent_issue": "null",
                "custom_token": CANARIES["connection_token"],
                "alm_sso_cookie": CANARIES["connection_cookie"],
            },
            "last_job": None,
        },
        {
            "id": 4,
            "alias": "Trac",
            "connector": 3,
            "project": 103,
            "frequency": "manually",
            "debug_mode": False,
            "inaccessible": False,
            "in_progress": False,
            "params": {"alm_project": "N/A"},
            "last_job": None,
        },
        {
            "id": 5,
            "alias": "Rally",
            "connector": 4,
            "project": 103,
            "frequency": "hourly",
            "debug_mode": False,
            "inaccessible": False,
            "in_progress": True,
            "params": {"alm_project": "1e5", "alm_reference_context": 7, "alm_title_format": "007"},
            "last_job": None,
        },
    ]
    for i in range(6, 16):
        connections.append(
            {
                "id": i,
                "alias": f"Bulk {i:03d}",
                "connector": 1 if i % 2 else 2,
                "project": 100 + i % 4,
                "frequency": "manually",
                "debug_mode": False,
                "inaccessible": False,
                "in_progress": False,
                "params": {"alm_project": f"P{i:03d}", "sde_tags_filter": FORMULAS[i % 4]},
                "last_job": None,
            }
        )
    return {
        "token": TOKEN,
        "business_units": [
            {"id": 1, "name": "Équipe Montréal", "slug": "equipe"},
            {"id": 2, "name": "Platform", "slug": "platform"},
        ],
        "applications": [
            {"id": 10, "name": "Payments", "slug": "payments", "business_unit": 1},
            {"id": 11, "name": "Web 🌐", "slug": "web", "business_unit": 2},
            {"id": 12, "name": "Mobile", "slug": "mobile", "business_unit": 2},
        ],
        "projects": [
            {"id": 100, "name": "Checkout", "slug": "checkout", "application": 10},
            {"id": 101, "name": "API", "slug": "api", "application": 10},
            {"id": 102, "name": "API", "slug": "api-2", "application": 11},
            {"id": 103, "name": "Portal", "slug": "portal", "application": 11},
            {"id": 104, "name": "Empty", "slug": "empty", "application": 12},
        ],
        "connectors": [
            {
                "id": 1,
                "name": "Jira Prod",
                "system": "jira",
                "inaccessible": False,
                "fields_editable_on_project": ["alm_pass", "alm_project", "alm_sso_cookie"],
                "params": {
                    "alm_method": "https",
                    "alm_server": "jira.example.com",
                    "alm_user": "svc-sde",
                    "alm_pass": CANARIES["jira_pass"],
                    "jira_version": "5",
                    "alm_validate_cert": True,
                    "sde_min_priority": "7",
                    "alm_reference_context": 14,
                    "alm_sso_cookie": CANARIES["jira_cookie"],
                    "custom_api_key": CANARIES["jira_custom_key"],
                },
            },
            {
                "id": 2,
                "name": "GitHub " + FORMULAS[0],
                "system": "github",
                "inaccessible": False,
                "fields_editable_on_project": None,
                "params": {
                    "alm_method": "https",
                    "alm_server": "api.github.com",
                    "github_repo_owner": FORMULAS[1],
                    "alm_api_token": CANARIES["github_token"],
                    "title_format": FORMULAS[0],
                    "sde_min_priority": 7,
                },
            },
            {
                "id": 3,
                "name": "Trac legacy",
                "system": "trac",
                "inaccessible": True,
                "fields_editable_on_project": [],
                "params": {
                    "alm_method": "http",
                    "alm_server": "trac.local",
                    "alm_user": FORMULAS[2],
                    "alm_pass": CANARIES["trac_pass"],
                },
            },
            {
                "id": 4,
                "name": "Rally",
                "system": "rally",
                "inaccessible": False,
                "fields_editable_on_project": None,
                "params": {
                    "alm_method": "https",
                    "alm_server": "rally1.rallydev.com",
                    "alm_user": FORMULAS[3],
                    "alm_pass": "",
                    "rally_workspace": "007",
                },
            },
            {
                "id": 5,
                "name": "Unused Jira",
                "system": "jira",
                "inaccessible": False,
                "fields_editable_on_project": None,
                "params": {
                    "alm_method": "https",
                    "alm_server": "old.example.com",
                    "alm_user": "old",
                    "alm_pass": CANARIES["unused_pass"],
                    "jira_version": "6",
                },
            },
        ],
        "connections": connections,
        "plugins": _plugins(),
    }


SECRET_NAMES = {"alm_pass", "alm_api_token", "alm_sso_cookie", "custom_api_key", "custom_token"}


def expected_connector_params(
    data: dict[str, Any], include_secrets: bool = False
) -> dict[str, dict]:
    """Connector name -> params as an export must show them."""
    return {
        c["name"]: {
            k: (MASK if k in SECRET_NAMES and v and not include_secrets else v)
            for k, v in c["params"].items()
        }
        for c in data["connectors"]
    }


def expected_connection_params(
    data: dict[str, Any], include_secrets: bool = False
) -> dict[str, dict]:
    """Connection alias -> own params (not equal to the connector's), masked."""
    connectors = {c["id"]: c["params"] for c in data["connectors"]}
    expected = {}
    for connection in data["connections"]:
        inherited = connectors[connection["connector"]]
        own = {
            k: v
            for k, v in connection["params"].items()
            if not (k in inherited and type(inherited[k]) is type(v) and inherited[k] == v)
        }
        expected[connection["alias"]] = {
            k: (MASK if k in SECRET_NAMES and v and not include_secrets else v)
            for k, v in own.items()
        }
    return expected


@pytest.fixture
def sim():
    from almmigrate.sim import SimServer

    with SimServer(data=instance_data(), token=TOKEN) as server:
        yield server


@pytest.fixture
def client(sim):
    from almmigrate.client import SDEClient

    settings = ConnectionSettings(url=sim.url, token=TOKEN, page_size=2, concurrency=3)
    with SDEClient(settings) as api:
        yield api


@pytest.fixture(autouse=True)
def _fresh_secrets():
    forget_secrets()
    yield
    forget_secrets()


def test_fetch_snapshot_reads_every_object_across_many_pages(client):
    pages: list[tuple[str, int, int | None]] = []
    snapshot = fetch_snapshot(
        client, on_progress=lambda what, done, total: pages.append((what, done, total))
    )
    data = instance_data()
    assert [c.id for c in snapshot.connectors] == [c["id"] for c in data["connectors"]]
    assert [c.id for c in snapshot.connections] == [c["id"] for c in data["connections"]]
    assert [p.id for p in snapshot.projects] == [p["id"] for p in data["projects"]]
    assert [a.id for a in snapshot.applications] == [10, 11, 12]
    assert [u.name for u in snapshot.business_units] == ["Équipe Montréal", "Platform"]
    # The API merges the connector's params and the derived sde_* into what it returns.
    first = snapshot.connections[0]
    assert first.params["alm_server"] == "jira.example.com"
    assert first.params["sde_project"] == "Checkout"
    # 15 connections at 2 a page: 8 pages, each reported with the total known.
    connection_pages = [(done, total) for what, done, total in pages if what == "connections"]
    assert len(connection_pages) == 8
    assert connection_pages[0] == (2, 15) and connection_pages[-1] == (15, 15)
    assert first.last_job is None  # not asked for


def test_plugins_fall_back_to_bundled_for_a_system_the_instance_does_not_list(client):
    snapshot = fetch_snapshot(client)
    assert set(snapshot.plugins) == {"jira", "github", "rally", "trac"}
    assert snapshot.plugins["trac"] is bundled_plugins()["trac"]
    assert snapshot.plugins["jira"].field("alm_sso_cookie").field_type == "masked_string"


def test_with_last_job_reads_the_last_job(client):
    snapshot = fetch_snapshot(client, with_last_job=True)
    jobs = {c.alias: c.last_job for c in snapshot.connections}
    assert jobs["Checkout Jira"]["result_message"] == "=ERROR(1)"
    assert jobs["Checkout Jira"]["succeeded"] is False


def test_project_filter_limits_connections_and_projects(client):
    snapshot = fetch_snapshot(client, projects=[103, 101, 103])
    assert [p.id for p in snapshot.projects] == [103, 101]
    assert sorted(c.id for c in snapshot.connections) == sorted(
        c["id"] for c in instance_data()["connections"] if c["project"] in (101, 103)
    )


def test_unknown_project_is_an_input_error_naming_it(client):
    with pytest.raises(InputError) as raised:
        fetch_snapshot(client, projects=[100, 999, 998])
    assert raised.value.exit_code == 2
    assert "999, 998" in str(raised.value)
    assert "--project" in str(raised.value)


def test_only_connectors_reads_no_connections(client):
    snapshot = fetch_snapshot(client, only="connectors")
    assert len(snapshot.connectors) == 5
    assert snapshot.connections == []
    assert snapshot.projects == []


def test_dataset_has_own_params_names_and_masked_secrets(client):
    data = instance_data()
    dataset = snapshot_to_dataset(fetch_snapshot(client))
    connectors = {c.name: c.params for c in dataset.connectors}
    assert connectors == expected_connector_params(data)
    connections = {c.alias: c.params for c in dataset.connections}
    assert connections == expected_connection_params(data)
    # own params only: inherited equal values and derived sde_* are gone
    checkout = connections["Checkout Jira"]
    assert "alm_method" not in checkout and "sde_project" not in checkout
    assert checkout["sde_min_priority"] == 7  # an int on the connection, "7" on the connector
    record = next(c for c in dataset.connections if c.alias == "Checkout Jira")
    assert (record.project_name, record.connector_name, record.system) == (
        "Checkout",
        "Jira Prod",
        "jira",
    )
    projects = {p.id: (p.business_unit, p.application, p.name) for p in dataset.projects}
    assert projects[101] == ("Équipe Montréal", "Payments", "API")
    assert projects[102] == ("Platform", "Web 🌐", "API")
    trac = next(c for c in dataset.connectors if c.name == "Trac legacy")
    assert trac.fields_editable_on_project == [] and trac.inaccessible is True


def test_every_secret_seen_is_registered_for_scrubbing(client):
    snapshot_to_dataset(fetch_snapshot(client))
    for canary in CANARIES.values():
        assert scrub(f"oops {canary} leaked") == f"oops {MASK} leaked"


def test_include_secrets_keeps_them_clear(client):
    data = instance_data()
    dataset = snapshot_to_dataset(fetch_snapshot(client), include_secrets=True)
    assert {c.name: c.params for c in dataset.connectors} == expected_connector_params(data, True)
    assert {c.alias: c.params for c in dataset.connections} == expected_connection_params(
        data, True
    )


def test_mask_params_by_schema_and_by_name():
    jira = bundled_plugins()["jira"]
    shown = mask_params(
        {
            "alm_pass": "hunter22",
            "my_private_key": "-----BEGIN",
            "bypass_proxy": True,
            "alm_user": "u",
            "x_password": "",
        },
        jira,
    )
    assert shown == {
        "alm_pass": MASK,
        "my_private_key": MASK,
        "bypass_proxy": True,
        "alm_user": "u",
        "x_password": "",  # an empty secret is not a secret to hide
    }


def test_connections_that_arrive_before_the_context_are_shaped_the_same(client):
    """Export starts the connection pages while the small lists load; none may be lost."""
    from almmigrate.exporter import _read_dataset

    expected = snapshot_to_dataset(fetch_snapshot(client))
    every_connection_read = threading.Event()
    list_plugins = client.list_plugins

    def plugins_after_the_connections() -> Any:
        # Deterministic: the context completes only once every connection has arrived.
        assert every_connection_read.wait(60), "connections were not read alongside the context"
        return list_plugins()

    def on_progress(what: str, done: int, total: int | None) -> None:
        if what == "connections" and done == total:
            every_connection_read.set()

    client.list_plugins = plugins_after_the_connections
    dataset = _read_dataset(client, None, [], False, False, on_progress)
    assert len(dataset.connections) == 15
    assert dataset.connections == expected.connections
    assert dataset.connectors == expected.connectors
    assert dataset.projects == expected.projects


def test_a_context_that_fails_while_connections_are_read_is_the_error(client):
    from almmigrate.errors import NotAnInstance
    from almmigrate.exporter import _read_dataset

    def refuse() -> Any:
        raise NotAnInstance("plugins answered nonsense")

    client.list_plugins = refuse
    with pytest.raises(NotAnInstance, match="plugins answered nonsense"):
        _read_dataset(client, None, [], False, False, lambda *_: None)


def test_at_most_a_bounded_number_of_connections_wait_for_the_context(client, monkeypatch):
    """Past the bound the pages pause until the context is read; nothing is lost or reordered."""
    import almmigrate.exporter as exporter

    expected = snapshot_to_dataset(fetch_snapshot(client))
    monkeypatch.setattr(exporter, "_MAX_WAITING", 1)
    first_page_read = threading.Event()
    list_plugins = client.list_plugins

    def plugins_after_the_first_page() -> Any:
        assert first_page_read.wait(60)
        return list_plugins()

    def on_progress(what: str, done: int, total: int | None) -> None:
        if what == "connections":
            first_page_read.set()

    client.list_plugins = plugins_after_the_first_page
    dataset = exporter._read_dataset(client, None, [], False, False, on_progress)
    assert dataset.connections == expected.connections
