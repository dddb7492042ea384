"""The bundled sample instances, made deterministically: `python -m almmigrate.sim.samples [DIR]`.

`source.json` is an organisation with the values real data has (accents,
emoji, commas and quotes, leading zeros, text a spreadsheet would run as a
formula or read as a number, a boolean or an empty value). `target.json`
holds the same business units, applications and projects under other ids
and in another order, with two connectors and a few connections already
there, so a migration shows create, update and unchanged. `secrets.csv`
supplies every secret of the source.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import unicodedata
from pathlib import Path
from typing import Any

from almmigrate.schema import bundled_plugins
from almmigrate.sim.quirks import make_quirks, make_quirks_target

SOURCE_TOKEN = "sim-source-token"
TARGET_TOKEN = "sim-target-token"

BUSINESS_UNITS = [
    "Équipe Montréal",
    "Retail Banking",
    "Corporate IT",
    "R&D, Labs",
    'Payments "Core"',
]

# (application, business unit index, project names)
APPLICATIONS: list[tuple[str, int, list[str]]] = [
    ("Portail client 🚀", 0, ["Backend", "Frontend", "Équipe Montréal – Portail", "007"]),
    (
        "Site web, Montréal",
        0,
        ["Site vitrine", '=HYPERLINK("http://x.example","clic")', "Données ouvertes"],
    ),
    ("Mobile Banking", 1, ["Backend", "iOS App", "Android App", "+1 555 0100", "Push 🔔"]),
    ("Online Banking", 1, ["Web Front", "API Gateway", "-draft", "Login, SSO & MFA", "TRUE"]),
    ("HR Systems", 2, ["Payroll", "Onboarding", "@team", "N/A", 'Time "Tracker"']),
    ("Data Platform", 2, ["Ingest", "Warehouse", "1e5", "12345", "NaN", "null"]),
    ("Research Prototypes", 3, ["Prototype A", "Prototype B", "ML Ops", "Quantum 🧪"]),
    ('Legacy "Mainframe"', 3, ["COBOL Core", "Batch, nightly", "0042"]),
    ("Payments API", 4, ["Card Issuing", "Settlement", "Fraud Rules", "Ledger", "Refunds"]),
    ("Merchant Portal", 4, ["Onboarding", "Dashboard", "Reports", "Disputes"]),
]

CONNECTORS: list[dict[str, Any]] = [
    {
        "name": "Jira Cloud – Montréal",
        "system": "jira",
        "params": {
            "alm_method": "https",
            "alm_server": "montreal.atlassian.example",
            "jira_version": "cloud",
            "alm_user": "svc-jira@montreal.example",
            "alm_pass": "S3cret-jira-montreal-1",
            "sde_min_priority": "7",
            "title_format": "$task_id $title",
            "sde_statuses_in_scope": "TODO",
            "alm_validate_cert": True,
        },
    },
    {
        "name": 'Jira "Prod"',
        "system": "jira",
        "params": {
            "alm_method": "https",
            "alm_server": "jira.prod.example",
            "jira_version": "5",
            "alm_user": "jira-bot",
            "alm_pass": "S3cret-jira-prod-2, with comma",
            "sde_min_priority": "7",
            "alm_reference_context": 5,
            "alm_phases": "requirements,architecture-design,development",
        },
    },
    {
        "name": "Jira, Data & HR",
        "system": "jira",
        "params": {
            "alm_method": "https",
            "alm_server": "jira.data.example",
            "jira_version": "4",
            "alm_user": "data-sync",
            "alm_pass": "S3cret-jira-data-3",
            "sde_min_priority": "5",
            "sde_tags_filter": "pci,gdpr",
            "how_tos_in_scope": False,
        },
        "fields_editable_on_project": [
            "alm_project",
            "alm_parent_issue",
            "alm_user",
            "alm_pass",
            "sde_min_priority",
        ],
    },
    {
        "name": "Jira 007",
        "system": "jira",
        "params": {
            "alm_method": "http",
            "alm_server": "jira-007.internal.example",
            "jira_version": "5",
            "alm_user": "007",
            "alm_pass": "S3cret-jira-007-4",
            "sde_min_priority": "10",
            "title_format": '=HYPERLINK("http://x.example","$title")',
        },
    },
    {
        "name": "Jira Legacy (inaccessible)",
        "system": "jira",
        "inaccessible": True,
        "params": {
            "alm_method": "https",
            "alm_server": "jira-old.internal.example",
            "jira_version": "4",
            "alm_user": "legacy",
            "alm_pass": "S3cret-jira-legacy-5",
            "sde_min_priority": "7",
        },
    },
    {
        "name": "GitHub 🚀 Open Source",
        "system": "github",
        "params": {
            "alm_method": "https",
            "alm_server": "api.github.com",
            "github_repo_owner": "acme-oss",
            "alm_api_token": "ghp_S3cretGithubToken0006",
            "sde_min_priority": "7",
            "github_duplicate_label": "duplicate",
            "conflict_policy": "alm",
        },
    },
    {
        "name": "GitHub Enterprise",
        "system": "github",
        "params": {
            "alm_method": "https",
            "alm_server": "github.acme.example",
            "github_repo_owner": "acme",
            "alm_api_token": "ghp_S3cretGithubToken0007",
            "sde_min_priority": "6",
            "alm_context_root": "/api/v3",
            "sde_verification_filter": "none,partial,fail",
        },
    },
    {
        "name": "GitHub +1 555",
        "system": "github",
        "params": {
            "alm_method": "https",
            "alm_server": "api.github.com",
            "github_repo_owner": "-draft-org",
            "alm_api_token": "ghp_S3cretGithubToken0008",
            "sde_min_priority": "7",
            "sde_tags_filter": "TRUE",
        },
    },
    {
        "name": "Rally, Legacy",
        "system": "rally",
        "params": {
            "alm_method": "https",
            "alm_server": "rally1.rallydev.com",
            "rally_workspace": 'Workspace "Main", EU',
            "alm_user": "rally@acme.example",
            "alm_pass": "S3cret-rally-9",
            "sde_min_priority": "7",
            "alm_reference_context": 14,
        },
    },
    {
        "name": "Rally Équipe",
        "system": "rally",
        "params": {
            "alm_method": "https",
            "alm_server": "rally1.rallydev.com",
            "rally_workspace": "Équipe",
            "alm_user": "equipe@acme.example",
            "alm_pass": "S3cret-rally-10",
            "sde_min_priority": "8",
        },
    },
    {
        "name": "Trac Internal",
        "system": "trac",
        "params": {
            "alm_method": "https",
            "alm_server": "trac.internal.example",
            "alm_user": "trac",
            "alm_pass": "S3cret-trac-11",
            "sde_min_priority": "7",
            "sde_statuses_in_scope": "TODO,DONE",
        },
    },
    {
        "name": "@trac labs",
        "system": "trac",
        "params": {
            "alm_method": "http",
            "alm_server": "trac.labs.example",
            "alm_context_root": "/trac",
            "alm_user": "N/A",
            "alm_pass": "S3cret-trac-12",
            "sde_min_priority": "3",
        },
    },
]

ODD_ALIASES = [
    "007",
    "=SUM(A1:A2)",
    "+1 555 0100",
    "-draft",
    "@team",
    "1e5",
    "12345",
    "TRUE",
    "NaN",
    "null",
    "N/A",
    'Sync "nightly", EU',
    "Équipe 🚀",
]
ODD_VALUES = [
    "007",
    '=HYPERLINK("http://x.example")',
    "+1 555",
    "-draft",
    "@team",
    "1e5",
    "12345",
    "TRUE",
    "NaN",
    "null",
    "N/A",
    'PROJ, "quoted"',
]
FREQUENCIES = ["manually", "daily", "weekly", "hourly", "monthly"]


def _slug(name: str, taken: set[str]) -> str:
    # Like Django's slugify: accents folded to ASCII, everything else a dash.
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    base = "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-") or "x"
    base = "-".join(part for part in base.split("-") if part)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _org(unit_ids: list[int], app_ids: list[int], project_ids: list[int]) -> dict[str, Any]:
    """Business units, applications and projects, with the ids given (in that order)."""
    slugs: set[str] = set()
    units = [
        {"id": unit_ids[i], "name": n, "slug": _slug(n, slugs)}
        for i, n in enumerate(BUSINESS_UNITS)
    ]
    apps, projects = [], []
    ids = iter(project_ids)
    for i, (name, unit, names) in enumerate(APPLICATIONS):
        apps.append(
            {
                "id": app_ids[i],
                "name": name,
                "slug": _slug(name, slugs),
                "business_unit": unit_ids[unit],
            }
        )
        for project in names:
            projects.append(
                {
                    "id": next(ids),
                    "name": project,
                    "slug": _slug(project, slugs),
                    "application": app_ids[i],
                }
            )
    return {"business_units": units, "applications": apps, "projects": projects}


def _connectors() -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": c["name"],
            "system": c["system"],
            "inaccessible": c.get("inaccessible", False),
            "params": dict(c["params"]),
            "fields_editable_on_project": c.get("fields_editable_on_project"),
        }
        for i, c in enumerate(CONNECTORS, start=1)
    ]


def _own_params(
    rng: random.Random, connector: dict[str, Any], project: str, n: int
) -> dict[str, Any]:
    system = connector["system"]
    key = "".join(ch for ch in project.upper() if ch.isalnum())[:6] or "PROJ"
    params: dict[str, Any] = {
        "alm_project": f"{key}{n}" if system != "github" else f"acme/{key.lower()}{n}"
    }
    if n % 9 == 0:
        params["alm_project"] = ODD_VALUES[(n // 9) % len(ODD_VALUES)]
    if system == "trac":
        return params  # Trac's other params are connector-only.
    if n % 3 == 0:
        params["sde_min_priority"] = rng.choice([7, 5, 9, "8"])  # ints as the API shows, one string
    if system == "jira" and n % 4 == 1:
        params["alm_parent_issue"] = rng.choice(["007", "null", "N/A", f"{key}-1"])
    if system in ("jira", "rally") and n % 5 == 2:
        params["alm_reference_context"] = rng.choice([5, 14, 30])
    if n % 7 == 3:
        params["sde_tags_filter"] = rng.choice(["pci", "gdpr,pci", "1e5", "TRUE"])
    if connector["fields_editable_on_project"] and n % 2 == 0:
        params["alm_user"] = f"team-{key.lower()}"
        params["alm_pass"] = f"S3cret-conn-{n:03d}"
    # A value equal to the connector's (same type) cannot be told apart from an
    # inherited one in an API read, so a real export could never show it as the
    # connection's own.
    inherited = connector["params"]
    return {
        name: value
        for name, value in params.items()
        if not (
            name in inherited and type(inherited[name]) is type(value) and inherited[name] == value
        )
    }


def _last_job(rng: random.Random, n: int) -> dict[str, Any] | None:
    if n % 3 == 2:
        return None
    ok = rng.random() < 0.7
    return {
        "id": 1000 + n,
        "succeeded": ok,
        "ready": True,
        "automatic": n % 2 == 0,
        "user": 1,
        "last_run": f"2026-10-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:07.412Z",
        "result_message": "Synced 12 tasks"
        if ok
        else "Error: 401 Unauthorized, check the password",
    }


def make_source() -> dict[str, Any]:
    """The source instance: 5 business units, 10 applications, 44 projects, 12 connectors."""
    rng = random.Random(20261122)
    org = _org([1, 2, 3, 4, 5], list(range(1, 11)), list(range(1, 45)))
    connectors = _connectors()
    by_system: dict[str, list[dict[str, Any]]] = {}
    for c in connectors:
        by_system.setdefault(c["system"], []).append(c)
    connections, n = [], 0
    for project in org["projects"]:
        for slot, system in enumerate(["jira", "github", "rally", "trac"][: 2 + project["id"] % 3]):
            n += 1
            connector = by_system[system][(project["id"] + slot) % len(by_system[system])]
            alias = f"{project['name']} · {connector['name']}"
            if n % 8 == 0:
                alias = ODD_ALIASES[(n // 8) % len(ODD_ALIASES)]
            connections.append(
                {
                    "id": n,
                    "alias": alias,
                    "connector": connector["id"],
                    "project": project["id"],
                    "frequency": FREQUENCIES[n % len(FREQUENCIES)] if n % 2 else "manually",
                    "debug_mode": n % 11 == 0,
                    "inaccessible": connector["inaccessible"],
                    "in_progress": n % 17 == 0,
                    "params": _own_params(rng, connector, project["name"], n),
                    "last_job": _last_job(rng, n),
                }
            )
    return {"token": SOURCE_TOKEN, **org, "connectors": connectors, "connections": connections}


def make_target(source: dict[str, Any]) -> dict[str, Any]:
    """The target: same organisation under other ids and order, a little already migrated."""
    rng = random.Random(7)
    units = len(BUSINESS_UNITS)
    apps = len(APPLICATIONS)
    projects = sum(len(p) for _, _, p in APPLICATIONS)
    unit_ids = rng.sample(range(300, 400), units)
    app_ids = rng.sample(range(200, 300), apps)
    project_ids = rng.sample(range(500, 1000), projects)
    org = _org(unit_ids, app_ids, project_ids)
    for kind in org:
        org[kind].reverse()  # another order than the source's, as well as other ids
    project_map = {s["id"]: t for s, t in zip(source["projects"], project_ids, strict=True)}
    same = json.loads(json.dumps(source["connectors"][0]))  # equal to the source's
    changed = json.loads(json.dumps(source["connectors"][5]))
    changed["params"]["sde_min_priority"] = "5"  # differs in one param
    same["id"], changed["id"] = 41, 40
    on_same = [c for c in source["connections"] if c["connector"] == 1]
    on_changed = [c for c in source["connections"] if c["connector"] == 6]
    connections = []
    # Unchanged, then a frequency and an alm_project that differ (updates on migration).
    for new_id, (conn, edit) in enumerate(
        [(on_same[0], None), (on_same[1], "frequency"), (on_changed[0], "alm_project")], start=7
    ):
        copy = json.loads(json.dumps(conn))
        copy.update(
            id=new_id,
            project=project_map[conn["project"]],
            last_job=None,
            connector=41 if conn["connector"] == 1 else 40,
            in_progress=False,
        )
        if edit == "frequency":
            copy["frequency"] = "weekly" if conn["frequency"] != "weekly" else "daily"
        elif edit == "alm_project":
            copy["params"]["alm_project"] = "RENAMED-ON-TARGET"
        connections.append(copy)
    connections.append(
        {
            "id": 3,
            "alias": "Only on target",
            "connector": 41,
            "project": project_ids[0],
            "frequency": "manually",
            "debug_mode": False,
            "inaccessible": False,
            "in_progress": False,
            "params": {"alm_project": "TGT"},
            "last_job": None,
        }
    )
    connections.sort(key=lambda c: c["id"])
    return {"token": TARGET_TOKEN, **org, "connectors": [changed, same], "connections": connections}


def secrets_rows(source: dict[str, Any]) -> list[dict[str, str]]:
    """Every secret of the source's connectors and connections, as `kind,name,field,value`."""
    plugins = bundled_plugins()
    rows = []
    for kind, key, objects in (
        ("connector", "name", source["connectors"]),
        ("connection", "alias", source["connections"]),
    ):
        for obj in objects:
            system = obj.get("system") or next(
                c["system"] for c in source["connectors"] if c["id"] == obj["connector"]
            )
            secret = plugins[system].secret_names()
            for field, value in obj["params"].items():
                if field in secret:
                    rows.append(
                        {"kind": kind, "name": obj[key], "field": field, "value": str(value)}
                    )
    return rows


def write_samples(folder: Path) -> list[Path]:
    """Write source.json, target.json, secrets.csv and the quirks instances; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    source = make_source()
    target = make_target(source)
    out = io.StringIO()
    writer = csv.DictWriter(out, ["kind", "name", "field", "value"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(secrets_rows(source))
    quirks = make_quirks()
    files = {
        "source.json": json.dumps(source, ensure_ascii=False, indent=1) + "\n",
        "target.json": json.dumps(target, ensure_ascii=False, indent=1) + "\n",
        "secrets.csv": out.getvalue(),
        "quirks.json": json.dumps(quirks, ensure_ascii=False, indent=1) + "\n",
        "quirks-target.json": json.dumps(make_quirks_target(quirks), ensure_ascii=False, indent=1)
        + "\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in files]


if __name__ == "__main__":
    for written in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "samples")):
        print(written)
