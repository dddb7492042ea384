"""A small instance full of awkward values and canary secrets, and what its export must hold."""

from __future__ import annotations

import copy
import re
from typing import Any

from almmigrate.files import cells
from almmigrate.files.xlsx import RUST_WRITER, export_writer
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK

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


_XML_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def xlsx_unescape(text: str) -> str:
    """A cell's text as Excel shows it: openpyxl leaves OOXML's _xHHHH_ escapes in place."""
    return _XML_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def xlsx_gives_back(*texts: str) -> bool:
    """True when the .xlsx writer in use reads each text back as it is; a text it would
    give back changed (a noncharacter, some _xHHHH_ sequences: `cells.xlsx_exact`) is refused.
    Generated texts hit those now and then: Hypothesis draws strings from our own source."""
    each = export_writer() == RUST_WRITER
    return all(cells.xlsx_exact(text, escapes_each_literal=each) for text in texts)
