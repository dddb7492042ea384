"""The export library against the simulator over HTTP: reading, own params, masking."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from export_data import (
    CANARIES,
    TOKEN,
    expected_connection_params,
    expected_connector_params,
    instance_data,
)

from almmigrate.errors import InputError
from almmigrate.exporter import (
    connection_shaper,
    shaped_dataset,
    snapshot_to_dataset,
)
from almmigrate.instance import fetch_snapshot, read_shaped
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK, scrub
from almmigrate.settings import ConnectionSettings


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


def test_connections_that_arrive_before_the_context_are_shaped_the_same(client):
    """Export starts the connection pages while the small lists load; none may be lost."""
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
    dataset = _read_dataset(client, on_progress)
    assert len(dataset.connections) == 15
    assert dataset.connections == expected.connections
    assert dataset.connectors == expected.connectors
    assert dataset.projects == expected.projects


def test_a_context_that_fails_while_connections_are_read_is_the_error(client):
    from almmigrate.errors import NotAnInstance

    def refuse() -> Any:
        raise NotAnInstance("plugins answered nonsense")

    client.list_plugins = refuse
    with pytest.raises(NotAnInstance, match="plugins answered nonsense"):
        _read_dataset(client, lambda *_: None)


def test_at_most_a_bounded_number_of_connections_wait_for_the_context(client, monkeypatch):
    """Past the bound the pages pause until the context is read; nothing is lost or reordered."""
    import almmigrate.instance as instance

    expected = snapshot_to_dataset(fetch_snapshot(client))
    monkeypatch.setattr(instance, "_MAX_WAITING", 1)
    first_page_read = threading.Event()
    list_plugins = client.list_plugins

    def plugins_after_the_first_page() -> Any:
        assert first_page_read.wait(60)
        return list_plugins()

    def on_progress(what: str, done: int, total: int | None) -> None:
        if what == "connections":
            first_page_read.set()

    client.list_plugins = plugins_after_the_first_page
    dataset = _read_dataset(client, on_progress)
    assert dataset.connections == expected.connections


def _read_dataset(client: Any, on_progress: Any) -> Any:
    """What export reads and shapes from the whole instance, secrets masked (no file written)."""
    read = read_shaped(client, connection_shaper(False), on_progress=on_progress)
    return shaped_dataset(read, include_secrets=False, projects=[])
