"""apply_plan against the simulator over HTTP: order, PATCH only changes, exactly once, journal."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from almmigrate.apply import apply_plan
from almmigrate.client import SDEClient
from almmigrate.journal import Journal, JournalEntry, read_journal
from almmigrate.plan_types import EARLIER_RUN, Change, Plan, PlanItem
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import Faults, SimServer
from almmigrate.sim.generate import generate_instance

TOKEN = "apply-token"


def _data() -> dict[str, Any]:
    """Two projects, one existing trac connector (id 1) and no connections."""
    data = generate_instance(connections=0, connectors=1, projects=2, token=TOKEN)
    data["connectors"][0]["system"] = "trac"
    data["connectors"][0]["name"] = "Existing trac"
    data["connectors"][0]["params"] = {
        "alm_method": "https",
        "alm_server": "trac.example.com",
        "alm_user": "svc",
        "alm_pass": "old-pass-1234",
        "sde_min_priority": "7",
    }
    return data


def _client(sim: SimServer, **settings: Any) -> SDEClient:
    return SDEClient(ConnectionSettings(sim.url, sim.token, **settings), backoff=0.01)


def _connector_item(name: str, **params: Any) -> PlanItem:
    body = {
        "name": name,
        "system": {"id": "trac"},
        "inaccessible": False,
        "params": {
            "alm_method": "https",
            "alm_server": "new.example.com",
            "alm_user": "u",
            "alm_pass": "pw-5678",
            **params,
        },
    }
    return PlanItem(
        "connector", "create", name, row=2, body=body, secret_fields=frozenset({"alm_pass"})
    )


def _connection_item(alias: str, connector_name: str, project: int = 1) -> PlanItem:
    body = {
        "alias": alias,
        "project": project,
        "connector": None,
        "frequency": "daily",
        "debug_mode": False,
        "inaccessible": False,
        "params": {"alm_project": f"KEY-{alias}"},
    }
    return PlanItem(
        "connection",
        "create",
        f"project {project} / {alias}",
        row=3,
        body=body,
        connector_name=connector_name,
        project=project,
        alias=alias,
    )


def _held(sim: SimServer, kind: str) -> list[dict[str, Any]]:
    return list(sim.state.snapshot()[kind])


def test_connectors_go_first_and_connections_get_their_new_ids(make_sim: Any) -> None:
    sim = make_sim(_data())
    plan = Plan([_connection_item("A", "New trac"), _connector_item("New trac")])
    with _client(sim) as client:
        result = apply_plan(client, plan, concurrency=2)
    assert [o.item.kind for o in result.outcomes] == ["connector", "connection"]
    assert [o.action for o in result.outcomes] == ["created", "created"]
    connectors = {c["name"]: c for c in _held(sim, "connectors")}
    (connection,) = _held(sim, "connections")
    assert connection["connector"] == connectors["New trac"]["id"] == result.outcomes[0].target_id
    assert connection["alias"] == "A" and connection["params"] == {"alm_project": "KEY-A"}
    assert result.summary.counts == {"created": 2}
    assert result.summary.requests == sim.stats.requests


def test_update_patches_only_the_changed_fields_and_unchanged_sends_nothing(make_sim: Any) -> None:
    sim = make_sim(_data())
    update = PlanItem(
        "connector",
        "update",
        "Existing trac",
        target_id=1,
        body={"params": {"sde_min_priority": "5"}},
        changes=[Change("params.sde_min_priority", "7", "5")],
    )
    unchanged = PlanItem("connector", "unchanged", "Other", target_id=1)
    with _client(sim) as client:
        result = apply_plan(client, Plan([update, unchanged]))
    assert [o.action for o in result.outcomes] == ["updated", "unchanged"]
    (connector,) = _held(sim, "connectors")
    assert connector["params"]["sde_min_priority"] == "5"
    assert connector["params"]["alm_pass"] == "old-pass-1234"  # not sent, left alone
    assert sim.stats.by_method["PATCH"] == 1 and sim.stats.by_method["POST"] == 0
    sim.stats.reset()
    with _client(sim) as client:
        again = apply_plan(client, Plan([unchanged]))
    assert again.outcomes[0].action == "unchanged" and sim.stats.requests == 0


def test_a_dropped_create_is_looked_up_and_adopted_never_sent_twice(make_sim: Any) -> None:
    sim = make_sim(_data(), faults=Faults(drop_rate=1.0, seed=1))
    plan = Plan([_connector_item("Dropped"), _connection_item("B", "Dropped")])
    with _client(sim) as client:
        result = apply_plan(client, plan)
    assert [o.action for o in result.outcomes] == ["adopted", "adopted"]
    assert [c["name"] for c in _held(sim, "connectors")].count("Dropped") == 1
    assert [c["alias"] for c in _held(sim, "connections")] == ["B"]
    assert sim.stats.by_method["POST"] == 2 and sim.stats.dropped == 2


def test_attempts_count_every_write_sent_for_the_object_retries_included(make_sim: Any) -> None:
    sim = make_sim(_data(), faults=Faults(fail_rate=0.5, seed=3))
    plan = Plan([_connector_item(f"Retried {n}") for n in range(6)])
    with _client(sim) as client:
        result = apply_plan(client, plan, concurrency=2)
    assert [o.action for o in result.outcomes] == ["created"] * 6
    attempts = [o.attempts for o in result.outcomes]
    assert sum(attempts) == sim.stats.by_method["POST"]
    assert max(attempts) > 1  # some creates met a 503 first, and the report says so


def test_a_failing_row_never_stops_the_others(make_sim: Any) -> None:
    sim = make_sim(_data())
    bad = _connector_item("Bad", alm_method="gopher")
    plan = Plan(
        [bad, _connector_item("Good"), _connection_item("C", "Bad"), _connection_item("D", "Good")]
    )
    with _client(sim) as client:
        result = apply_plan(client, plan, concurrency=3)
    by_key = {o.item.key: o for o in result.outcomes}
    assert by_key["Bad"].action == "failed" and by_key["Bad"].status == 400
    assert "gopher" in (by_key["Bad"].error or "")
    assert by_key["project 1 / C"].action == "failed"
    assert (
        by_key["project 1 / C"].error == 'connector "Bad" is not on the target (did its row fail?)'
    )
    assert by_key["Good"].action == "created" and by_key["project 1 / D"].action == "created"
    assert result.summary.failed == 2
    assert sorted(c["name"] for c in _held(sim, "connectors")) == ["Existing trac", "Good"]


def test_a_plan_error_row_is_reported_failed_without_a_request(make_sim: Any) -> None:
    sim = make_sim(_data())
    item = PlanItem("connector", "error", "Twice", error="ambiguous: connectors 3 and 4")
    skipped = PlanItem("connection", "skipped", "project 9 / x", error="project 9 is not mapped")
    with _client(sim) as client:
        result = apply_plan(client, Plan([item, skipped]))
    assert [(o.action, o.error, o.note) for o in result.outcomes] == [
        ("failed", "ambiguous: connectors 3 and 4", None),
        ("skipped", None, "project 9 is not mapped"),
    ]
    assert sim.stats.requests == 0


def test_journal_in_flight_create_is_looked_up_before_anything_is_sent(
    make_sim: Any, tmp_path: Path
) -> None:
    data = _data()
    data["connectors"].append({**data["connectors"][0], "id": 2, "name": "Half done"})
    sim = make_sim(data)
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url=sim.url) as journal:
        journal.started([("connector", "Half done"), ("connector", "Never sent")])
    with Journal(path, target_url=sim.url) as journal, _client(sim) as client:
        result = apply_plan(
            client,
            Plan([_connector_item("Half done"), _connector_item("Never sent")]),
            journal=journal,
        )
    assert [(o.action, o.target_id) for o in result.outcomes] == [("adopted", 2), ("created", 3)]
    assert sim.stats.by_method["POST"] == 1
    assert [c["name"] for c in _held(sim, "connectors")].count("Half done") == 1


def test_an_earlier_runs_in_flight_creates_share_one_listing_per_list(
    make_sim: Any, tmp_path: Path
) -> None:
    sim = make_sim(_data())
    connectors = [_connector_item(f"Flight {i}") for i in range(4)]
    connections = [_connection_item(f"c{i}", "Existing trac") for i in range(4)]
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url=sim.url) as journal:
        journal.started((i.kind, i.key) for i in [*connectors, *connections])
    with Journal(path, target_url=sim.url) as journal, _client(sim, api="alm") as client:
        result = apply_plan(client, Plan([*connectors, *connections]), journal=journal)
    assert [o.action for o in result.outcomes] == ["created"] * 8
    # One listing of the connectors and one of project 1's connections, not one per object.
    assert sim.stats.by_method["GET"] == 2


def test_journal_done_update_is_reported_as_the_earlier_runs_and_batches_are_recorded(
    make_sim: Any, tmp_path: Path
) -> None:
    sim = make_sim(_data())
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url=sim.url) as journal:
        journal.recorded([JournalEntry("connector", "Existing trac", "updated", 1)])
    # A secret the live plan cannot confirm: the journal's word that it was sent is taken.
    update = PlanItem(
        "connector",
        "update",
        "Existing trac",
        target_id=1,
        body={"params": {"alm_pass": "pw-9999"}},
        changes=[Change("params.alm_pass", secret=True)],
    )
    creates = [_connector_item(f"New {i}") for i in range(5)]
    with Journal(path, target_url=sim.url) as journal, _client(sim) as client:
        result = apply_plan(client, Plan([update, *creates]), journal=journal, batch_size=2)
    assert (result.outcomes[0].action, result.outcomes[0].done_by) == ("updated", EARLIER_RUN)
    assert result.outcomes[0].note == "updated by an earlier run (journal)"
    assert result.summary.as_dict()["by_earlier"] == 1
    assert sim.stats.by_method["PATCH"] == 0 and sim.stats.by_method["POST"] == 5
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in events].count("start") == 5  # not the update done earlier
    done = [e for e in events if e["event"] == "done"]
    assert sorted(e["key"] for e in done) == ["Existing trac"] + [f"New {i}" for i in range(5)]
    assert events[-1] == {"event": "finished"}
    assert "pw-5678" not in path.read_text() and "pw-9999" not in path.read_text()
    assert read_journal(path).finished


def test_an_update_the_journal_holds_as_done_is_sent_when_the_live_plan_still_differs(
    make_sim: Any, tmp_path: Path
) -> None:
    # The file was edited again after an unfinished run: the plan (a live diff) is right.
    sim = make_sim(_data())
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url=sim.url) as journal:
        journal.recorded([JournalEntry("connector", "Existing trac", "updated", 1)])
    update = PlanItem(
        "connector",
        "update",
        "Existing trac",
        target_id=1,
        body={"params": {"alm_user": "x"}},
        changes=[Change("params.alm_user", "old", "x")],
    )
    with Journal(path, target_url=sim.url) as journal, _client(sim) as client:
        result = apply_plan(client, Plan([update]), journal=journal)
    assert [o.action for o in result.outcomes] == ["updated"]
    assert sim.stats.by_method["PATCH"] == 1
    assert _held(sim, "connectors")[0]["params"]["alm_user"] == "x"


@pytest.mark.parametrize("concurrency", [1, 6])
def test_progress_reports_every_object(make_sim: Any, concurrency: int) -> None:
    sim = make_sim(_data())
    seen: list[tuple[int, int]] = []
    plan = Plan([_connector_item(f"P{i}") for i in range(7)])
    with _client(sim) as client:
        apply_plan(
            client, plan, concurrency=concurrency, on_progress=lambda d, t: seen.append((d, t))
        )
    assert sorted(seen) == [(i, 7) for i in range(1, 8)]


def test_throttled_creates_wait_and_land_once(make_sim: Any) -> None:
    sim = make_sim(_data(), faults=Faults(rate_limit=1))
    plan = Plan([_connector_item(f"T{i}") for i in range(4)])
    with _client(sim, retries=8) as client:
        result = apply_plan(client, plan, concurrency=4)
    assert [o.action for o in result.outcomes] == ["created"] * 4
    assert result.summary.throttled == sim.stats.throttled > 0
    names = [c["name"] for c in _held(sim, "connectors")]
    assert sorted(names) == ["Existing trac", "T0", "T1", "T2", "T3"]


class _SlowConnectorClient(SDEClient):
    """Holds the create of connector "Slow" until some connection has been created."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_made = threading.Event()
        self.overlapped = False

    def create_connector(self, body: Any) -> dict[str, Any]:
        if body["name"] == "Slow":
            # Without the overlap this waits in vain: connections would wait for every connector.
            self.overlapped = self.connection_made.wait(30)
        return super().create_connector(body)

    def create_connection(self, body: Any) -> dict[str, Any]:
        created = super().create_connection(body)
        self.connection_made.set()
        return created


def test_connections_do_not_wait_for_connectors_they_do_not_need(make_sim: Any) -> None:
    # Barriers cost nothing: a connection whose connector is already on the target goes
    # while another connector is still being created; one that needs it waits for it.
    sim = make_sim(_data())
    plan = Plan(
        [
            _connector_item("Slow"),
            _connection_item("on-existing", "Existing trac"),
            _connection_item("on-slow", "Slow", project=2),
        ]
    )
    settings = ConnectionSettings(sim.url, sim.token)
    with _SlowConnectorClient(settings, backoff=0.01) as client:
        result = apply_plan(client, plan, concurrency=4)
    assert client.overlapped
    assert [o.action for o in result.outcomes] == ["created", "created", "created"]
    held = {c["alias"]: c["connector"] for c in _held(sim, "connections")}
    connectors = {c["name"]: c["id"] for c in _held(sim, "connectors")}
    assert held == {"on-existing": connectors["Existing trac"], "on-slow": connectors["Slow"]}
    assert result.summary.stage_gap is not None and result.summary.stage_gap < 0
