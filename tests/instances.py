"""Two generated instances and an exact comparison of what they hold, for the reliability tests."""

from __future__ import annotations

from typing import Any

from almmigrate.sim.generate import generate_instance


def instances(
    connections: int, connectors: int, projects: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A source instance and an empty target holding the same projects under other ids."""
    source = generate_instance(
        connections=connections, connectors=connectors, projects=projects, token="src-token"
    )
    target = {
        "token": "tgt-token",
        "business_units": [{**u, "id": u["id"] + 50} for u in source["business_units"]],
        "applications": [
            {**a, "id": a["id"] + 300, "business_unit": a["business_unit"] + 50}
            for a in source["applications"]
        ],
        "projects": [
            {**p, "id": p["id"] + 1000, "application": p["application"] + 300}
            for p in reversed(source["projects"])
        ],
        "connectors": [],
        "connections": [],
    }
    return source, target


def by_key(state: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[Any, str], Any]]:
    """Connectors by name and connections by (project path, alias), ids left out; duplicates kept.

    A connection's params are compared as the API shows them: its connector's
    merged with its own (a param equal to the inherited one need not be stored twice).
    """
    names = {c["id"]: c["name"] for c in state["connectors"]}
    inherited = {c["id"]: c["params"] for c in state["connectors"]}
    units = {u["id"]: u["name"] for u in state["business_units"]}
    apps = {a["id"]: (units[a["business_unit"]], a["name"]) for a in state["applications"]}
    projects = {p["id"]: (*apps[p["application"]], p["name"]) for p in state["projects"]}
    connectors: dict[str, Any] = {}
    for c in state["connectors"]:
        connectors.setdefault(c["name"], []).append(
            (c["system"], c["params"], c["inaccessible"], c["fields_editable_on_project"])
        )
    connections: dict[tuple[Any, str], Any] = {}
    for c in state["connections"]:
        connections.setdefault((projects[c["project"]], c["alias"]), []).append(
            (
                names[c["connector"]],
                c["frequency"],
                c["debug_mode"],
                c["inaccessible"],
                {**inherited[c["connector"]], **c["params"]},
            )
        )
    return connectors, connections


def assert_same_objects(source: dict[str, Any], target: dict[str, Any]) -> None:
    """Every object present exactly once on the target, every field (JSON types included) equal."""
    want_connectors, want_connections = by_key(source)
    got_connectors, got_connections = by_key(target)
    assert {k: len(v) for k, v in got_connectors.items() if len(v) != 1} == {}
    assert {k: len(v) for k, v in got_connections.items() if len(v) != 1} == {}
    assert got_connectors == want_connectors
    assert got_connections == want_connections
