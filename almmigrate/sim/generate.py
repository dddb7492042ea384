"""Large simulated instances for benchmarks and scale tests.

    data = generate_instance(connections=50_000, connectors=50, projects=2_000, seed=0)
    with SimServer(data) as sim: ...

Every object is valid under the bundled plugin schemas, so it can be exported,
imported and migrated like the samples.
"""

from __future__ import annotations

import random
from typing import Any

from almmigrate.secrets import name_is_secret

SYSTEMS = ("jira", "github", "rally", "trac")
FREQUENCIES = ("manually", "daily", "weekly", "hourly", "monthly")
PRIORITIES = ("10", "9", "8", "7", "6", "5", "4", "3", "2", "1")


def _connector_params(system: str, index: int, rng: random.Random) -> dict[str, Any]:
    base: dict[str, Any] = {
        "alm_method": "https",
        "alm_server": f"{system}-{index}.example.com",
        "sde_min_priority": rng.choice(PRIORITIES),
    }
    if system == "jira":
        base.update(
            jira_version=rng.choice(("5", "4", "cloud")),
            alm_user=f"svc{index}",
            alm_pass=f"gen-pass-{index}",
        )
    elif system == "github":
        base.update(github_repo_owner=f"org{index}", alm_api_token=f"gen-token-{index}")
    elif system == "rally":
        base.update(
            rally_workspace=f"Workspace {index}",
            alm_user=f"svc{index}",
            alm_pass=f"gen-pass-{index}",
        )
    else:
        base.update(alm_user=f"svc{index}", alm_pass=f"gen-pass-{index}")
    return base


def generate_instance(
    connections: int = 20_000,
    connectors: int = 50,
    projects: int = 2_000,
    seed: int = 0,
    token: str = "sim-token",
    with_last_job: bool = True,
) -> dict[str, Any]:
    """A data-file dict of the given size, the same for the same arguments.

    Business units and applications scale with projects (one unit per 200
    projects, one application per 10); connections spread over the projects and
    connectors round-robin, each with its own `alm_project`.
    """
    if connectors < 1 and connections:
        raise ValueError("connections need at least one connector")
    if projects < 1 and connections:
        raise ValueError("connections need at least one project")
    rng = random.Random(seed)
    unit_count = max(1, projects // 200)
    app_count = max(1, projects // 10)
    units = [
        {"id": i, "name": f"Business Unit {i}", "slug": f"bu-{i}"} for i in range(1, unit_count + 1)
    ]
    apps = [
        {
            "id": i,
            "name": f"Application {i}",
            "slug": f"app-{i}",
            "business_unit": 1 + (i - 1) % unit_count,
        }
        for i in range(1, app_count + 1)
    ]
    project_rows = [
        {
            "id": i,
            "name": f"Project {i}",
            "slug": f"project-{i}",
            "application": 1 + (i - 1) % app_count,
        }
        for i in range(1, projects + 1)
    ]
    connector_rows = []
    for i in range(1, connectors + 1):
        system = SYSTEMS[(i - 1) % len(SYSTEMS)]
        connector_rows.append(
            {
                "id": i,
                "name": f"{system.title()} connector {i}",
                "system": system,
                "inaccessible": False,
                "params": _connector_params(system, i, rng),
                "fields_editable_on_project": None,
            }
        )
    connection_rows = []
    for i in range(1, connections + 1):
        connector = connector_rows[(i - 1) % connectors]
        params: dict[str, Any] = {"alm_project": f"KEY{i}"}
        if connector["system"] != "trac" and i % 3 == 0:
            params["sde_min_priority"] = 1 + i % 10
        connection_rows.append(
            {
                "id": i,
                "alias": f"Connection {i}",
                "connector": connector["id"],
                "project": 1 + (i - 1) % projects,
                "frequency": FREQUENCIES[i % len(FREQUENCIES)],
                "debug_mode": False,
                "inaccessible": False,
                "in_progress": False,
                "params": params,
                "last_job": _last_job(i) if with_last_job and i % 2 else None,
            }
        )
    return {
        "token": token,
        "business_units": units,
        "applications": apps,
        "projects": project_rows,
        "connectors": connector_rows,
        "connections": connection_rows,
    }


def _last_job(i: int) -> dict[str, Any]:
    ok = i % 7 != 0
    return {
        "id": i,
        "succeeded": ok,
        "ready": True,
        "automatic": True,
        "user": 1,
        "last_run": f"2026-11-{1 + i % 28:02d}T03:{i % 60:02d}:00Z",
        "result_message": "OK" if ok else "Error: connection refused",
    }


def secret_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    """`kind,name,field,value` rows supplying every secret of a generated instance's connectors."""
    return [
        {"kind": "connector", "name": c["name"], "field": field, "value": str(value)}
        for c in data["connectors"]
        for field, value in c["params"].items()
        if name_is_secret(field)
    ]
