"""The client finds out which generation of the API an instance serves, and uses its paths."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from almmigrate.client import SDEClient
from almmigrate.errors import NotAnInstance, NotAvailable
from almmigrate.generation import ALM_GENERATION, ISSUE_TRACKER_GENERATION
from almmigrate.responses import ROOT_HINT
from almmigrate.schema import bundled_plugins
from almmigrate.settings import ConnectionSettings

TOKEN = "generation-token-1f"


def _client(url: str, token: str, **settings: Any) -> SDEClient:
    return SDEClient(ConnectionSettings(url, token, retries=1, **settings), backoff=0.01)


@pytest.mark.parametrize("api", ["alm", "issue-tracker"])
def test_the_generation_is_asked_once_and_logged(
    make_sim: Any, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim(api=api)
    caplog.set_level(logging.INFO, logger="almmigrate.client")
    with _client(sim.url, sim.token) as client:
        found = client.check()
        assert client.check() is found and client.generation is found
        assert found.api == api
        client.list_connectors()
        client.list_connections()
    # The newer paths are asked first; then one request each for the check and the list.
    # (133 connections: two pages of 100.)
    expected = {f"GET /api/v2/{found.connectors}": 2, f"GET /api/v2/{found.connections}": 2}
    if api == "alm":
        expected["GET /api/v2/connectors/issue-tracker/"] = 1  # answered 404
    assert sim.stats.as_dict()["by_path"] == expected
    lines = [r.getMessage() for r in caplog.records if "generation" in r.getMessage()]
    assert lines == [
        f"{sim.url} serves the {found.label} generation of the API "
        f"(GET {sim.url}/api/v2/{found.connectors} answered a list)"
    ]


def test_api_names_the_generation_without_asking(make_sim: Any) -> None:
    sim = make_sim(api="issue-tracker")
    with _client(sim.url, sim.token, api="issue-tracker") as client:
        assert client.check() is ISSUE_TRACKER_GENERATION
    assert sim.stats.as_dict()["by_path"] == {"GET /api/v2/connectors/issue-tracker/": 1}


def test_a_wrong_api_is_one_clear_error(make_sim: Any) -> None:
    sim = make_sim(api="issue-tracker")
    with _client(sim.url, sim.token, api="alm") as client, pytest.raises(NotAnInstance) as caught:
        client.check()
    assert str(caught.value) == (
        f"{sim.url} does not look like an SD Elements instance (its API answered 404 at GET "
        f"{sim.url}/api/v2/connectors/alm/; is --api alm right?); {ROOT_HINT}"
    )
    assert caught.value.exit_code == 3


def test_an_instance_answering_neither_says_so_in_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not found."})

    settings = ConnectionSettings("https://sde.example.com", TOKEN, retries=1)
    with (
        SDEClient(settings, transport=httpx.MockTransport(handler)) as client,
        pytest.raises(NotAnInstance) as caught,
    ):
        client.check()
    message = str(caught.value)
    assert "\n" not in message
    assert (
        "its API answered 404 at GET https://sde.example.com/api/v2/connectors/issue-tracker/; "
        "its API answered 404 at GET https://sde.example.com/api/v2/connectors/alm/"
    ) in message


def test_writes_and_lookups_use_the_found_paths(make_sim: Any) -> None:
    sim = make_sim(api="issue-tracker")
    with _client(sim.url, sim.token) as client:
        created = client.create_connector(
            {
                "name": "New",
                "system": {"id": "trac"},
                "params": {
                    "issue_tracker_server": "trac.example",
                    "issue_tracker_method": "https",
                    "issue_tracker_user": "u",
                    "issue_tracker_pass": "generation-secret-9",
                    "issue_tracker_context_root": "/trac",
                },
            }
        )
        client.update_connector(created["id"], {"params": {"sde_min_priority": "5"}})
    held = [c for c in sim.state.snapshot()["connectors"] if c["name"] == "New"]
    assert len(held) == 1 and held[0]["params"]["sde_min_priority"] == "5"
    paths = sim.stats.as_dict()["by_path"]
    assert paths["POST /api/v2/connectors/issue-tracker/"] == 1
    assert paths["PATCH /api/v2/connectors/issue-tracker/{id}/"] == 1


def test_schemas_fall_back_to_the_bundled_ones_with_one_notice(
    make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim(api="issue-tracker")
    caplog.set_level(logging.INFO, logger="almmigrate.client")
    with _client(sim.url, sim.token) as client:
        assert client.list_plugins() == {}
        assert client.list_plugins() == {}
    notices = [r for r in caplog.records if "publishes no plugin schemas" in r.getMessage()]
    assert [r.levelno for r in notices] == [logging.WARNING, logging.INFO]  # said once
    assert notices[0].getMessage() == (
        f"{sim.url} publishes no plugin schemas (tried GET {sim.url}/api/v2/plugins/issue-tracker/"
        f" -> 404, GET {sim.url}/api/v2/plugins/alm/ -> 404): using the bundled schemas in "
        "Issue Tracker names"
    )


def test_schemas_published_on_an_issue_tracker_path_are_read_in_its_names() -> None:
    trac = bundled_plugins()["trac"].to_api()  # an instance publishing ALM-named fields there

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2/connectors/issue-tracker/":
            return httpx.Response(200, json={"count": 0, "next": None, "results": []})
        if path == "/api/v2/plugins/issue-tracker/":
            return httpx.Response(200, json={"count": 1, "next": None, "results": [trac]})
        return httpx.Response(404, json={"detail": "Not found."})

    settings = ConnectionSettings("https://sde.example.com", TOKEN, retries=1)
    with SDEClient(settings, transport=httpx.MockTransport(handler)) as client:
        plugins = client.list_plugins()
    assert list(plugins) == ["trac"]
    assert plugins["trac"].field("issue_tracker_server") is not None
    assert plugins["trac"].field("alm_server") is None


def test_a_missing_connectivity_test_is_not_available_and_asked_once(make_sim: Any) -> None:
    sim = make_sim(api="issue-tracker")
    with _client(sim.url, sim.token) as client:
        for _ in range(3):
            with pytest.raises(NotAvailable):
                client.test_connector({"name": "x", "system": {"id": "trac"}, "params": {}})
    assert sim.stats.as_dict()["by_path"]["POST /api/v2/connectors/testalm/"] == 1


def test_the_issue_tracker_simulator_serves_new_names_and_no_alm_paths(make_sim: Any) -> None:
    sim = make_sim(api="issue-tracker")
    headers = {"Authorization": f"Token {sim.token}"}
    with httpx.Client(base_url=sim.api_url, headers=headers) as http:
        assert http.get("connectors/alm/").status_code == 404
        assert http.get("plugins/alm/").status_code == 404
        connectors = http.get("connectors/issue-tracker/", params={"page_size": 100}).json()
        connections = http.get(
            "connections/issue-tracker/", params={"page_size": 1000, "include": "last_job"}
        ).json()
    names = {n for c in connectors["results"] for n in c["params"]}
    assert not any(n.startswith("alm_") for n in names)
    assert "issue_tracker_server" in names and "issue_tracker_auth_mode" in names
    policies = {c["params"].get("conflict_policy") for c in connectors["results"]} - {None}
    assert policies <= {"issue_tracker", "sde"} and "issue_tracker" in policies
    for connection in connections["results"]:
        job = connection["last_job"]
        synced = connection["params"].get("last_successful_run")
        if job and job.get("succeeded") is True:
            assert synced == job["last_run"]
        else:
            assert synced is None
    # A write carrying it is refused: it is the server's to write.
    with httpx.Client(base_url=sim.api_url, headers=headers) as http:
        first = connections["results"][0]
        answer = http.patch(
            f"connections/issue-tracker/{first['id']}/",
            content=json.dumps({"params": {"last_successful_run": "2020-01-01T00:00:00Z"}}),
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 400
    assert answer.json() == {"params": {"last_successful_run": ["This field is read-only."]}}


def test_generations_are_the_one_place_paths_are_spelled() -> None:
    assert ALM_GENERATION.connector(5) == "connectors/alm/5/"
    assert ISSUE_TRACKER_GENERATION.connection(7) == "connections/issue-tracker/7/"


def test_an_instance_answering_both_is_spoken_to_in_the_newer_names() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json={"count": 0, "next": None, "results": []})

    settings = ConnectionSettings("https://sde.example.com", TOKEN, retries=1)
    with SDEClient(settings, transport=httpx.MockTransport(handler)) as client:
        assert client.check() is ISSUE_TRACKER_GENERATION
    assert asked == ["/api/v2/connectors/issue-tracker/"]  # the ALM paths are not asked


def test_an_issue_tracker_instance_that_runs_tests_is_used() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/connectors/issue-tracker/":
            return httpx.Response(200, json={"count": 0, "next": None, "results": []})
        if request.url.path == "/api/v2/connectors/testalm/":
            bodies.append(json.loads(request.content))
            return httpx.Response(200, json={"success": True})
        return httpx.Response(404, json={"detail": "Not found."})

    settings = ConnectionSettings("https://sde.example.com", TOKEN, retries=1)
    body = {"name": "J", "system": {"id": "jira"}, "params": {"issue_tracker_server": "s"}}
    with SDEClient(settings, transport=httpx.MockTransport(handler)) as client:
        assert client.test_connector(body) == {"success": True}
        assert client.test_connector(body) == {"success": True}
    assert bodies == [body, body]
