"""The simulator over real HTTP: endpoints, validation, merges, pagination, faults, generator, samples."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from almmigrate.errors import InputError
from almmigrate.schema import PROJECT, SYSTEM, bundled_plugins, validate_params
from almmigrate.sim import Faults, SimServer
from almmigrate.sim.generate import generate_instance, secret_rows
from almmigrate.sim.samples import make_source, make_target, write_samples

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def api(sim: SimServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Token {token or sim.token}"}
    return httpx.Client(base_url=f"{sim.url}/api/v2/", headers=headers, timeout=60)


def walk(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int, int]:
    """Every result of a list by following `next`; also the count and the pages fetched."""
    response = client.get(path, params=params)
    pages, results = 1, []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        results.extend(body["results"])
        if body["next"] is None:
            return results, body["count"], pages
        response = client.get(body["next"])
        pages += 1


def jira_connector(**params: Any) -> dict[str, Any]:
    base = {
        "alm_method": "https",
        "alm_server": "jira.example.com",
        "jira_version": "5",
        "alm_user": "bot",
        "alm_pass": "pw-1234",
        "sde_min_priority": "7",
    }
    base.update(params)
    return {"name": "New Jira", "system": {"id": "jira"}, "params": base}


# ---------------------------------------------------------------- reads and pagination


def test_pagination_follows_next_until_null(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        results, count, pages = walk(client, "connections/alm/", page_size=10)
        first = client.get("connections/alm/", params={"page_size": 10}).json()
        second = client.get(first["next"]).json()
    assert count == 133 and pages == 14
    assert [r["id"] for r in results] == list(range(1, 134))
    assert first["previous"] is None
    assert first["next"].startswith(source_sim.url + "/api/v2/connections/alm/?")
    assert "page=2" in first["next"] and "page_size=10" in first["next"]
    assert second["previous"].startswith(source_sim.url) and "page=1" in second["previous"]


def test_default_and_maximum_page_size(make_sim: Any) -> None:
    sim = make_sim(generate_instance(connections=1500, connectors=4, projects=30))
    with api(sim) as client:
        default = client.get("connections/alm/").json()
        biggest = client.get("connections/alm/", params={"page_size": 5000}).json()
        beyond = client.get("connections/alm/", params={"page": 99})
        zero = client.get("connections/alm/", params={"page": 0})
    assert len(default["results"]) == 25 and default["count"] == 1500
    assert len(biggest["results"]) == 1000 and "page=2" in biggest["next"]
    assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})
    assert zero.status_code == 404


def test_every_list_endpoint_paginates(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        for path, count in [
            ("connectors/alm/", 12),
            ("projects/", 44),
            ("applications/", 10),
            ("business-units/", 5),
            ("plugins/alm/", 4),
        ]:
            results, total, pages = walk(client, path, page_size=3)
            assert (total, len(results)) == (count, count), path
            assert pages == -(-count // 3)


def test_project_filter_and_include_last_job(source_sim: SimServer) -> None:
    data = json.loads((SAMPLES / "source.json").read_text(encoding="utf-8"))
    expected = [c["id"] for c in data["connections"] if c["project"] == 3]
    with api(source_sim) as client:
        plain, count, _ = walk(client, "connections/alm/", project=3)
        with_job, _, _ = walk(client, "connections/alm/", project=3, include="last_job")
        nothing = client.get("connections/alm/", params={"project": 999}).json()
        one = client.get(f"connections/alm/{expected[0]}/", params={"include": "last_job"}).json()
    assert [c["id"] for c in plain] == expected and count == len(expected)
    assert all("last_job" not in c for c in plain)
    source_jobs = {c["id"]: c["last_job"] for c in data["connections"]}
    assert {c["id"]: c["last_job"] for c in with_job} == {i: source_jobs[i] for i in expected}
    assert one["last_job"] == source_jobs[expected[0]]
    assert (nothing["count"], nothing["results"]) == (0, [])


def test_connection_read_merges_connector_params_and_project_names(source_sim: SimServer) -> None:
    data = source_sim.state.snapshot()
    own = data["connections"][0]
    connector = next(c for c in data["connectors"] if c["id"] == own["connector"])
    with api(source_sim) as client:
        read = client.get(f"connections/alm/{own['id']}/").json()
        connector_read = client.get(f"connectors/alm/{connector['id']}/").json()
    assert read["params"] == {
        **connector["params"],
        **own["params"],
        "sde_project": "Backend",
        "sde_application": "Portail client 🚀",
        "sde_businessunit": "Équipe Montréal",
    }
    assert read["system"] == {"id": "jira", "name": "JIRA", "short_name": "JIRA"}
    assert read["command"] == "sync_jira"
    assert connector_read["params"] == connector["params"]
    # JSON types as stored: the connector's "7" stays text, a connection's 7 stays a number.
    assert connector_read["params"]["sde_min_priority"] == "7"
    typed = next(c for c in data["connections"] if c["params"].get("sde_min_priority") == 7)
    with api(source_sim) as client:
        assert (
            client.get(f"connections/alm/{typed['id']}/").json()["params"]["sde_min_priority"] == 7
        )


def test_applications_expand_business_unit_and_plugins_serve_schemas(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        app = client.get("applications/1/").json()
        project = client.get("projects/1/").json()
        plugin = client.get("plugins/alm/trac/").json()
        missing = client.get("plugins/alm/nope/")
    assert app["business_unit"] == {"id": 1, "slug": "equipe-montreal", "name": "Équipe Montréal"}
    assert project == {"id": 1, "name": "Backend", "slug": "backend", "application": 1}
    assert plugin == bundled_plugins()["trac"].to_api()
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})


# ---------------------------------------------------------------- auth, 404, 405


def test_authentication(source_sim: SimServer) -> None:
    url = f"{source_sim.url}/api/v2/connectors/alm/"
    none = httpx.get(url)
    wrong = httpx.get(url, headers={"Authorization": "Token nope"})
    bearer = httpx.get(url, headers={"Authorization": "Bearer sim-source-token"})
    quoted = httpx.get(url, headers={"Authorization": 'Token "sim-source-token"'})
    assert (none.status_code, none.json()) == (
        401,
        {"detail": "Authentication credentials were not provided."},
    )
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})
    assert bearer.status_code == 401
    assert quoted.status_code == 200
    assert none.headers["www-authenticate"] == "Token"


def test_token_argument_overrides_the_data_file(make_sim: Any) -> None:
    sim = make_sim(SAMPLES / "source.json", token="other")
    with api(sim, "sim-source-token") as client:
        assert client.get("projects/").status_code == 401
    with api(sim, "other") as client:
        assert client.get("projects/").status_code == 200


def test_not_found(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        for path in [
            "connectors/alm/9999/",
            "connections/alm/9999/",
            "projects/9999/",
            "connectors/alm/abc/",
            "no-such-thing/",
        ]:
            response = client.get(path)
            assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), path
        patched = client.patch("connections/alm/9999/", json={"alias": "x"})
    assert patched.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_and_delete_are_not_allowed(source_sim: SimServer, method: str) -> None:
    before = source_sim.state.snapshot()
    with api(source_sim) as client:
        for path in ["connectors/alm/1/", "connections/alm/1/", "connectors/alm/"]:
            response = client.request(method, path, json={"name": "x", "params": {}})
            assert response.status_code == 405, path
            assert response.json() == {"detail": f'Method "{method}" not allowed.'}
    assert source_sim.state.snapshot() == before


# ---------------------------------------------------------------- writes


def test_create_connector_and_ids_are_max_plus_one(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        first = client.post("connectors/alm/", json=jira_connector())
        again = client.post("connectors/alm/", json=jira_connector())
    assert first.status_code == 201 and again.status_code == 201
    assert (first.json()["id"], again.json()["id"]) == (13, 14)
    assert first.json()["system"] == {"id": "jira", "name": "JIRA", "short_name": "JIRA"}
    # Names are not deduplicated: a blind retry shows up as a duplicate.
    names = [c["name"] for c in source_sim.state.snapshot()["connectors"]]
    assert names.count("New Jira") == 2
    assert source_sim.stats.writes == 2


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            jira_connector(alm_method="gopher"),
            {"params": {"alm_method": ['"gopher" is not one of https, http']}},
        ),
        (
            {k: v for k, v in jira_connector().items() if k != "name"},
            {"name": ["This field is required."]},
        ),
        ({**jira_connector(), "name": "  "}, {"name": ["This field may not be blank."]}),
        (
            {**jira_connector(), "system": {"id": "gitlab"}},
            {"system": ['"gitlab" is not a valid choice.']},
        ),
        (
            {**jira_connector(), "inaccessible": "yes"},
            {"inaccessible": ["Must be a valid boolean."]},
        ),
        (jira_connector(alm_pass=None), {"params": {"alm_pass": ["This field is required."]}}),
        (
            jira_connector(alm_validate_cert="TRUE"),
            {"params": {"alm_validate_cert": ["Must be a valid boolean."]}},
        ),
        (
            jira_connector(sde_statuses_in_scope="TODO,LATER"),
            {"params": {"sde_statuses_in_scope": ['"LATER" is not one of DONE, TODO, NA']}},
        ),
        (
            jira_connector(title_format="x" * 256),
            {"params": {"title_format": ["Ensure this field has no more than 255 characters."]}},
        ),
        (
            {**jira_connector(), "fields_editable_on_project": "alm_user"},
            {"fields_editable_on_project": ["Must be a list of param names, or null."]},
        ),
        ([1, 2], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_connector_validation_errors(source_sim: SimServer, body: Any, errors: Any) -> None:
    before = source_sim.state.snapshot()
    with api(source_sim) as client:
        response = client.post("connectors/alm/", json=body)
    assert (response.status_code, response.json()) == (400, errors)
    assert source_sim.state.snapshot() == before


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"connector": 1, "project": 1, "params": {"alm_project": "K"}},
            {"alias": ["This field is required."]},
        ),
        (
            {"alias": "a", "connector": 999, "project": 1, "params": {"alm_project": "K"}},
            {"connector": ['Invalid pk "999" - object does not exist.']},
        ),
        (
            {"alias": "a", "connector": 1, "project": 999, "params": {"alm_project": "K"}},
            {"project": ['Invalid pk "999" - object does not exist.']},
        ),
        (
            {
                "alias": "a",
                "connector": 1,
                "project": 1,
                "frequency": "hourly2",
                "params": {"alm_project": "K"},
            },
            {"frequency": ['"hourly2" is not a valid choice.']},
        ),
        (
            {"alias": "a", "connector": 1, "project": 1, "params": {}},
            {"params": {"alm_project": ["This field is required."]}},
        ),
        (
            {
                "alias": "a",
                "connector": 1,
                "project": 1,
                "debug_mode": 1,
                "params": {"alm_project": "K"},
            },
            {"debug_mode": ["Must be a valid boolean."]},
        ),
        (
            {"alias": "a", "connector": [1], "project": "x", "params": {"alm_project": "K"}},
            {
                "connector": ["Incorrect type. Expected pk value, received list."],
                "project": ["Incorrect type. Expected pk value, received str."],
            },
        ),
    ],
)
def test_connection_validation_errors(source_sim: SimServer, body: Any, errors: Any) -> None:
    before = source_sim.state.snapshot()
    with api(source_sim) as client:
        response = client.post("connections/alm/", json=body)
    assert (response.status_code, response.json()) == (400, errors)
    assert source_sim.state.snapshot() == before


def test_invalid_json_body(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        response = client.post(
            "connectors/alm/", content=b"{nope", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_create_connection_keeps_types_and_drops_derived_params(source_sim: SimServer) -> None:
    body = {
        "alias": "Nouvelle connexion",
        "connector": 1,
        "project": 2,
        "frequency": "daily",
        "params": {"alm_project": "007", "sde_min_priority": 7, "sde_project": "ignored"},
    }
    with api(source_sim) as client:
        created = client.post("connections/alm/", json=body).json()
    assert created["id"] == 134
    assert created["params"]["sde_min_priority"] == 7
    assert created["params"]["alm_project"] == "007"
    assert created["params"]["sde_project"] == "Frontend"
    stored = source_sim.state.snapshot()["connections"][-1]
    assert stored["params"] == {"alm_project": "007", "sde_min_priority": 7}
    assert (stored["frequency"], stored["debug_mode"], stored["last_job"]) == ("daily", False, None)


def test_connection_may_hold_its_own_value_for_a_connector_scope_param(
    source_sim: SimServer,
) -> None:
    # Connector 3 lists alm_user and alm_pass in fields_editable_on_project; connector 1
    # does not, and a real instance still holds connections with their own values there.
    body = {
        "alias": "own credentials",
        "connector": 3,
        "project": 5,
        "params": {"alm_project": "K", "alm_user": "me", "alm_pass": "mine-1234"},
    }
    other = {**body, "alias": "older style", "connector": 1}
    with api(source_sim) as client:
        ok = client.post("connections/alm/", json=body)
        also = client.post("connections/alm/", json=other)
        read = client.get(f"connections/alm/{also.json()['id']}/")
    assert ok.status_code == 201 and ok.json()["params"]["alm_pass"] == "mine-1234"
    assert also.status_code == 201
    # The API returns merged params: the connection's own value wins over its connector's.
    assert read.json()["params"]["alm_user"] == "me"
    stored = source_sim.state.snapshot()["connections"][-1]
    assert stored["params"] == {"alm_project": "K", "alm_user": "me", "alm_pass": "mine-1234"}


def test_stale_fields_editable_on_project_is_kept(source_sim: SimServer) -> None:
    body = {**jira_connector(), "name": "older", "fields_editable_on_project": ["gone_param"]}
    with api(source_sim) as client:
        created = client.post("connectors/alm/", json=body)
    assert created.status_code == 201
    assert created.json()["fields_editable_on_project"] == ["gone_param"]


def test_patch_merges_params_and_never_clears(source_sim: SimServer) -> None:
    before = source_sim.state.snapshot()
    original = before["connections"][0]
    connector_id = original["connector"]
    secret = before["connectors"][connector_id - 1]["params"]["alm_pass"]
    with api(source_sim) as client:
        patched = client.patch(
            f"connections/alm/{original['id']}/", json={"params": {"alm_parent_issue": "PARENT-1"}}
        )
        renamed = client.patch(f"connections/alm/{original['id']}/", json={"alias": "Renamed"})
        connector = client.patch(
            f"connectors/alm/{connector_id}/", json={"params": {"sde_min_priority": "5"}}
        )
        reread = client.get(f"connections/alm/{original['id']}/").json()
    assert patched.status_code == 200 and renamed.status_code == 200
    stored = source_sim.state.snapshot()["connections"][0]
    assert stored["params"] == {**original["params"], "alm_parent_issue": "PARENT-1"}
    assert stored["alias"] == "Renamed" and stored["frequency"] == original["frequency"]
    assert connector.json()["params"]["alm_pass"] == secret
    assert connector.json()["params"]["sde_min_priority"] == "5"
    assert connector.json()["name"] == before["connectors"][connector_id - 1]["name"]
    # The connection reads its connector's new value unless it sets its own.
    expected = original["params"].get("sde_min_priority", "5")
    assert reread["params"]["sde_min_priority"] == expected
    assert source_sim.stats.writes == 3


def test_patch_is_validated_and_moves_between_projects(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        bad = client.patch("connectors/alm/1/", json={"params": {"jira_version": "3"}})
        moved = client.patch("connections/alm/1/", json={"project": 40})
        by_project = client.get("connections/alm/", params={"project": 40}).json()
    assert bad.status_code == 400
    assert bad.json() == {"params": {"jira_version": ['"3" is not one of 5, 4, cloud']}}
    assert moved.json()["params"]["sde_project"] == "Refunds"
    assert moved.json()["params"]["sde_application"] == "Payments API"
    assert 1 in [c["id"] for c in by_project["results"]]


def test_connectivity_test_endpoints(source_sim: SimServer) -> None:
    good = jira_connector()
    unreachable = jira_connector(alm_server="jira.example.invalid")
    with api(source_sim) as client:
        ok = client.post("connectors/testalm/", json=good).json()
        failed = client.post("connectors/testalm/", json=unreachable).json()
        invalid = client.post("connectors/testalm/", json=jira_connector(alm_method="ftp"))
        connection = client.post(
            "connections/testalm/",
            json={"connector": 1, "alias": "t", "project": 1, "params": {"alm_project": "K"}},
        ).json()
        overridden = client.post(
            "connections/testalm/",
            json={
                "connector": 3,
                "alias": "t",
                "project": 1,
                "params": {"alm_project": "K", "alm_server": "x.invalid"},
            },
        ).json()
    assert ok == {"success": True}
    assert failed == {
        "success": False,
        "error": "Unable to connect to the ALM server jira.example.invalid.",
    }
    assert invalid.status_code == 400 and "alm_method" in invalid.json()["params"]
    assert connection == {"success": True}
    assert overridden["success"] is False
    assert source_sim.stats.writes == 0


def test_concurrent_creates_get_distinct_ids(source_sim: SimServer) -> None:
    def create(worker: int) -> None:
        with api(source_sim) as client:
            for n in range(10):
                body = {**jira_connector(), "name": f"w{worker}-{n}"}
                assert client.post("connectors/alm/", json=body).status_code == 201

    threads = [threading.Thread(target=create, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [c["id"] for c in source_sim.state.snapshot()["connectors"]]
    assert ids == list(range(1, 73))


# ---------------------------------------------------------------- faults


class StoppedTime:
    """The `time` the simulator's throttles read: its monotonic clock stands still, so the
    waits they answer are exact however slowly a loaded machine sends the requests."""

    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


@pytest.fixture
def stopped_time(monkeypatch: pytest.MonkeyPatch) -> StoppedTime:
    import almmigrate.sim.faults as faults

    stopped = StoppedTime()
    monkeypatch.setattr(faults, "time", stopped)
    return stopped


def test_rate_limit_answers_429_with_retry_after_seconds(
    make_sim: Any, stopped_time: StoppedTime
) -> None:
    sim = make_sim(faults=Faults(rate_limit=0.001))  # one request, then none for 1000 s
    with api(sim) as client:
        first = client.get("projects/")
        second = client.get("projects/")
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1000"
    assert second.json() == {"detail": "Request was throttled. Expected available in 1000 seconds."}
    assert sim.stats.throttled == 1 and sim.stats.requests == 2


def test_sliding_window_counts_accepted_requests_on_arrival_like_drf(
    make_sim: Any, stopped_time: StoppedTime
) -> None:
    # At most 3 in any 60 s: the 4th and 5th are refused, and refusals are not counted
    # (DRF keeps only accepted requests); Retry-After is the time until the oldest
    # leaves the window, rounded up to whole seconds.
    faults = Faults(rate_limit=3 / 60, throttle="sliding-window", throttle_window=60)
    sim = make_sim(faults=faults)
    with api(sim) as client:
        answers = [client.get("projects/") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].headers["retry-after"] == "60"
    assert answers[3].json() == {
        "detail": "Request was throttled. Expected available in 60 seconds."
    }
    assert sim.stats.throttled == 2 and sim.stats.requests == 5
    with api(sim) as client:
        stopped_time.now += 59.5  # the oldest leaves the window in half a second: rounded up
        almost = client.get("projects/")
        stopped_time.now += 0.5
        accepted = client.get("projects/")
    assert (almost.status_code, almost.headers["retry-after"]) == (429, "1")
    assert accepted.status_code == 200


def test_limit_headers_say_what_is_left(make_sim: Any, stopped_time: StoppedTime) -> None:
    faults = Faults(
        rate_limit=3 / 60, throttle="sliding-window", throttle_window=60, limit_headers=True
    )
    sim = make_sim(faults=faults)
    with api(sim) as client:
        first = client.get("projects/")
    assert first.headers["ratelimit-limit"] == "3"
    assert first.headers["ratelimit-remaining"] == "2"
    assert first.headers["ratelimit-policy"] == "3;w=60"
    assert first.headers["ratelimit-reset"] == "60"


def test_capacity_queues_requests_beyond_it_instead_of_refusing(make_sim: Any) -> None:
    sim = make_sim(faults=Faults(latency_ms=100, capacity=1))
    # Held at the door until all three are there, they meet the capacity together: sent
    # freely, a thread that sent after the others were answered (a loaded machine) was
    # never queued, and queued came out 1.
    hold = sim.hold(lambda: True)
    with api(sim) as client, ThreadPoolExecutor(3) as pool:
        asked = [pool.submit(client.get, "projects/") for _ in range(3)]
        deadline = time.monotonic() + 60
        while sim.stats.requests < 3:
            assert time.monotonic() < deadline, "three requests never arrived"
            time.sleep(0.005)
        hold.release()
        answers = [answer.result(60) for answer in asked]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sim.stats.queued == 2  # one at work, two waited their turn
    assert sim.stats.throttled == 0


def test_rate_limit_retry_after_as_http_date(make_sim: Any) -> None:
    sim = make_sim(faults=Faults(rate_limit=0.001, retry_after_date=True))
    with api(sim) as client:
        client.get("projects/")
        throttled = client.get("projects/")
    assert throttled.status_code == 429
    when = parsedate_to_datetime(throttled.headers["retry-after"])
    assert when.tzinfo is not None
    assert throttled.headers["retry-after"].endswith(" GMT")


def test_fail_rate_answers_503_and_commits_nothing(make_sim: Any) -> None:
    sim = make_sim(faults=Faults(fail_rate=1.0))
    before = sim.state.snapshot()
    with api(sim) as client:
        created = client.post("connectors/alm/", json=jira_connector())
        read = client.get("connectors/alm/")
    assert created.status_code == 503 and read.status_code == 503
    assert created.json() == {"detail": "Service temporarily unavailable, try again later."}
    assert sim.state.snapshot() == before
    assert (sim.stats.failed, sim.stats.writes) == (2, 0)


def test_fail_status_answers_another_server_error(make_sim: Any) -> None:
    sim = make_sim(faults=Faults(fail_rate=1.0, fail_status=500))
    with api(sim) as client:
        read = client.get("connectors/alm/")
    assert (read.status_code, read.json()) == (500, {"detail": "A server error occurred."})
    assert sim.stats.as_dict()["by_status"] == {500: 1}


def test_drop_commits_the_write_then_closes_without_answer(make_sim: Any) -> None:
    sim = make_sim(faults=Faults(drop_rate=1.0))
    with api(sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("connectors/alm/", json={**jira_connector(), "name": "Dropped"})
        read = client.get("connectors/alm/13/")  # reads are never dropped
    assert read.status_code == 200 and read.json()["name"] == "Dropped"
    assert [c["name"] for c in sim.state.snapshot()["connectors"]].count("Dropped") == 1
    assert (sim.stats.dropped, sim.stats.writes) == (1, 1)


def test_latency_delays_every_request(make_sim: Any) -> None:
    sim = make_sim(faults=Faults(latency_ms=60))
    with api(sim) as client:
        started = time.perf_counter()
        assert client.get("projects/").status_code == 200
        # A lower bound only: a sleep never ends early, a busy machine only adds to it.
        assert time.perf_counter() - started >= 0.055


def test_seed_makes_faults_reproducible(make_sim: Any) -> None:
    def statuses(sim: SimServer) -> list[int]:
        with api(sim) as client:
            return [client.get("projects/").status_code for _ in range(30)]

    faults = Faults(fail_rate=0.5, seed=42)
    first, second = statuses(make_sim(faults=faults)), statuses(make_sim(faults=faults))
    assert first == second
    assert set(first) == {200, 503}


def test_set_faults_while_running(source_sim: SimServer) -> None:
    with api(source_sim) as client:
        assert client.get("projects/").status_code == 200
        source_sim.set_faults(Faults(fail_rate=1.0))
        assert client.get("projects/").status_code == 503
        source_sim.set_faults(Faults())
        assert client.get("projects/").status_code == 200
    stats = source_sim.stats.as_dict()
    assert stats["by_path"] == {"GET /api/v2/projects/": 3}
    assert stats["by_status"] == {200: 2, 503: 1}


def test_a_hold_stops_answering_from_its_condition_until_released(make_sim: Any) -> None:
    sim = make_sim()
    hold = sim.hold(lambda: sim.stats.requests >= 2)
    with api(sim) as client, ThreadPoolExecutor(2) as pool:
        assert client.get("projects/").status_code == 200  # the first: answered
        second = pool.submit(client.get, "projects/")
        assert hold.holding.wait(60)
        third = pool.submit(api(sim).get, "applications/")  # held too, condition or not
        while sim.stats.requests < 3:
            time.sleep(0.005)
        assert not second.done() and not third.done()
        hold.release()
        assert second.result(60).status_code == 200 and third.result(60).status_code == 200
        assert client.get("projects/").status_code == 200  # released: answered at once


def test_stopping_a_simulator_releases_what_it_holds(make_sim: Any) -> None:
    sim = make_sim()
    hold = sim.hold(lambda: True)
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(api(sim).get, "projects/")
        assert hold.holding.wait(60)
        sim.stop()
        assert asked.result(60).status_code == 200  # answered, not left waiting


def test_faults_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        Faults(fail_rate=1.5)
    with pytest.raises(ValueError, match="rate_limit"):
        Faults(rate_limit=0)
    with pytest.raises(ValueError, match="throttle must be one of token-bucket, sliding-window"):
        Faults(throttle="fixed-window")
    with pytest.raises(ValueError, match="capacity"):
        Faults(capacity=0)
    with pytest.raises(ValueError, match="fail_status must be one of 500, 502, 503, 504"):
        Faults(fail_status=501)


# ---------------------------------------------------------------- server set-up


def test_server_needs_a_token_and_readable_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="token"):
        SimServer({"projects": []})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not a readable JSON"):
        SimServer(broken)
    with pytest.raises(InputError, match="appears twice"):
        SimServer({"token": "t", "projects": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]})


def test_busy_port_is_a_clear_error(source_sim: SimServer) -> None:
    with pytest.raises(InputError, match="cannot listen"):
        SimServer(SAMPLES / "source.json", port=int(source_sim.url.rsplit(":", 1)[1])).start()


def test_snapshot_is_the_data_file_format(source_sim: SimServer) -> None:
    original = json.loads((SAMPLES / "source.json").read_text(encoding="utf-8"))
    assert source_sim.state.snapshot() == original


# ---------------------------------------------------------------- generator


def test_generator_sizes_validity_and_determinism() -> None:
    data = generate_instance(connections=2000, connectors=8, projects=100, seed=1)
    assert [len(data[k]) for k in ("connectors", "connections", "projects")] == [8, 2000, 100]
    assert generate_instance(connections=2000, connectors=8, projects=100, seed=1) == data
    assert generate_instance(connections=2000, connectors=8, projects=100, seed=2) != data
    plugins = bundled_plugins()
    connectors = {c["id"]: c for c in data["connectors"]}
    for c in data["connectors"]:
        assert validate_params(plugins[c["system"]], c["params"], scope=SYSTEM, creating=True) == {}
    for c in data["connections"][:200]:
        connector = connectors[c["connector"]]
        problems = validate_params(
            plugins[connector["system"]],
            c["params"],
            scope=PROJECT,
            creating=True,
            inherited=connector["params"],
        )
        assert problems == {}
    assert {r["field"] for r in secret_rows(data)} == {"alm_pass", "alm_api_token"}
    assert len(secret_rows(data)) == 8


def test_generated_instance_pages_fully(make_sim: Any) -> None:
    sim = make_sim(generate_instance(connections=5000, connectors=10, projects=200))
    with api(sim) as client:
        results, count, pages = walk(client, "connections/alm/", page_size=1000, include="last_job")
        filtered, filtered_count, _ = walk(client, "connections/alm/", project=7, page_size=10)
    assert (count, pages, len({r["id"] for r in results})) == (5000, 5, 5000)
    assert filtered_count == 25 and all(c["project"] == 7 for c in filtered)


# ---------------------------------------------------------------- samples


def test_samples_are_regenerated_identically(tmp_path: Path) -> None:
    write_samples(tmp_path)
    for name in ("source.json", "target.json", "secrets.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_source_sample_is_realistic() -> None:
    source = make_source()
    assert source["token"] == "sim-source-token"
    assert len(source["business_units"]) >= 4 and len(source["applications"]) >= 8
    assert len(source["projects"]) >= 40 and len(source["connections"]) >= 100
    assert len(source["connectors"]) >= 10
    assert {c["system"] for c in source["connectors"]} == {"jira", "github", "rally", "trac"}
    names = Counter(p["name"] for p in source["projects"])
    twice = [n for n, k in names.items() if k > 1]
    assert "Backend" in twice
    apps = {p["application"] for p in source["projects"] if p["name"] == "Backend"}
    assert len(apps) == 2
    text = json.dumps(source, ensure_ascii=False)
    for value in [
        "Équipe Montréal",
        "🚀",
        '\\"',
        "007",
        "=HYPERLINK(",
        "+1 555",
        "-draft",
        "@team",
        "1e5",
        "12345",
        '"TRUE"',
        '"NaN"',
        '"null"',
        '"N/A"',
    ]:
        assert value in text, value
    editable = [c for c in source["connectors"] if c["fields_editable_on_project"]]
    assert any("alm_pass" in c["fields_editable_on_project"] for c in editable)
    assert any("alm_pass" in c["params"] for c in source["connections"])
    priorities = {type(c["params"].get("sde_min_priority")) for c in source["connections"]}
    assert int in priorities and str in priorities
    assert all(isinstance(c["params"]["sde_min_priority"], str) for c in source["connectors"])
    assert sum(1 for c in source["connections"] if c["last_job"]) >= 10


def test_target_sample_has_same_organisation_under_other_ids() -> None:
    source, target = make_source(), make_target(make_source())
    assert target["token"] == "sim-target-token"

    def paths(data: dict[str, Any]) -> dict[tuple[str, str, str], int]:
        units = {u["id"]: u["name"] for u in data["business_units"]}
        apps = {a["id"]: (units[a["business_unit"]], a["name"]) for a in data["applications"]}
        return {(*apps[p["application"]], p["name"]): p["id"] for p in data["projects"]}

    source_paths, target_paths = paths(source), paths(target)
    assert set(source_paths) == set(target_paths)
    assert not set(source_paths.values()) & set(target_paths.values())
    assert [p["name"] for p in target["projects"]] != [p["name"] for p in source["projects"]]
    by_name = {c["name"]: c for c in source["connectors"]}
    equal = [c for c in target["connectors"] if c["params"] == by_name[c["name"]]["params"]]
    differing = [c for c in target["connectors"] if c["params"] != by_name[c["name"]]["params"]]
    assert len(equal) == 1 and len(differing) == 1
    assert 3 <= len(target["connections"]) <= 6


def test_secrets_csv_supplies_every_secret_of_the_source() -> None:
    source = make_source()
    plugins = bundled_plugins()
    systems = {c["id"]: c["system"] for c in source["connectors"]}
    wanted = set()
    for c in source["connectors"]:
        wanted |= {
            ("connector", c["name"], f, str(v))
            for f, v in c["params"].items()
            if f in plugins[c["system"]].secret_names()
        }
    for c in source["connections"]:
        secret = plugins[systems[c["connector"]]].secret_names()
        wanted |= {
            ("connection", c["alias"], f, str(v)) for f, v in c["params"].items() if f in secret
        }
    rows = list(csv.DictReader(io.StringIO((SAMPLES / "secrets.csv").read_text(encoding="utf-8"))))
    assert {(r["kind"], r["name"], r["field"], r["value"]) for r in rows} == wanted
    aliases = Counter(c["alias"] for c in source["connections"])
    assert all(aliases[r["name"]] == 1 for r in rows if r["kind"] == "connection")
