"""A sample instance holding what real, older SD Elements instances hold (`samples/quirks.json`).

No current rule of the tool's schema would let a person create all of it, yet
real instances carry it, and a migration must move it as it is:

- names and aliases with surrounding or doubled spaces, tabs and newlines
  (typed before the server started trimming them, as Django REST Framework's
  `CharField` now does on every write);
- connections holding their own value for a param the plugin schema scopes to
  the connector (`sde_min_priority`, `how_tos_in_scope` on Trac);
- values typed differently on a connector and its connection (`"7"` and `7`),
  numbers as text in an integer field and as numbers in a text field;
- empty strings and nulls, booleans, params the schema does not list, a
  deprecated param, long and non-Latin text, text a spreadsheet would run;
- a connector whose `fields_editable_on_project` names a param that no longer
  exists (the field itself left the API in 2017).

`make_quirks()` is the source; `make_quirks_target(source)` is an empty
instance with the same organisation under other ids (and the same plugins),
to migrate into. No secret here is real.
"""

from __future__ import annotations

import copy
from typing import Any

from almmigrate.schema import bundled_plugins

QUIRKS_TOKEN = "sim-quirks-token"
QUIRKS_TARGET_TOKEN = "sim-quirks-target-token"
DEPRECATED_PARAM = "alm_legacy_mode"

LONG_TEXT = "Lorem ipsum dolor sit amet, " * 36 + "fin."  # ~1000 characters
NON_LATIN = "日本語のプロジェクト – مشروع عربي – Проект"


def _plugins() -> list[dict[str, Any]]:
    """The bundled schemas, Jira's with one deprecated param (as a schema of 2019 has)."""
    plugins = []
    for plugin in bundled_plugins().values():
        raw = copy.deepcopy(dict(plugin.raw))
        if plugin.id == "jira":
            raw["sections"][-1]["fields"].append(
                {
                    "name": DEPRECATED_PARAM,
                    "label": "Legacy mode",
                    "field_type": "string",
                    "required": False,
                    "scope": ["system", "project"],
                    "deprecated": True,
                    "help_text": "Kept for instances upgraded from 3.x.",
                }
            )
        plugins.append(raw)
    return plugins


def _org(offset: int) -> dict[str, Any]:
    unit = {"id": 1 + offset, "name": "Quirks BU", "slug": "quirks-bu"}
    app = {
        "id": 1 + offset,
        "name": "Legacy app",
        "slug": "legacy-app",
        "business_unit": unit["id"],
    }
    names = ["Alpha", " Spaced project ", "Ünïcode 日本"]
    projects = [
        {"id": i + 1 + offset, "name": name, "slug": f"p{i + 1}", "application": app["id"]}
        for i, name in enumerate(names)
    ]
    return {"business_units": [unit], "applications": [app], "projects": projects}


def make_quirks() -> dict[str, Any]:
    """The quirks source instance, in the simulator's data-file format."""
    connectors = [
        {
            "id": 1,
            "name": " spaced name ",
            "system": "jira",
            "inaccessible": False,
            "fields_editable_on_project": ["alm_project", "sde_min_priority", "gone_param"],
            "params": {
                "alm_method": "https",
                "alm_server": "jira.quirks.example",
                "jira_version": "cloud",
                "alm_user": "svc-quirks",
                "alm_pass": "quirks-jira-pass-1",
                "sde_min_priority": "7",
                "alm_reference_context": 5,
                "how_tos_in_scope": True,
                "title_format": "=1+1 $title",
                "custom_undocumented": "kept as is",
                DEPRECATED_PARAM: "on",
                "sde_tags_filter": "",
                "alm_context_root": None,
            },
        },
        {
            "id": 2,
            "name": "Double  space\tname",
            "system": "trac",
            "inaccessible": False,
            "fields_editable_on_project": None,
            "params": {
                "alm_method": "https",
                "alm_server": "trac.quirks.example",
                "alm_user": "trac-bot",
                "alm_pass": "quirks-trac-pass-2",
                "sde_min_priority": 7,
                "how_tos_in_scope": True,
                "alm_phases": "development,testing",
                "alm_context_root": LONG_TEXT,
            },
        },
        {
            "id": 3,
            "name": "\tGitHub, trailing newline\n",
            "system": "github",
            "inaccessible": True,
            "fields_editable_on_project": None,
            "params": {
                "alm_method": "https",
                "alm_server": "github.quirks.example",
                "github_repo_owner": NON_LATIN,
                "alm_api_token": "quirks-gh-token-3",
                "title_format": LONG_TEXT[:255],
                "github_duplicate_label": "+1 555",
                "sde_min_priority": "5",
            },
        },
    ]
    connections = [
        # Jira: typed differently from its connector (7 against "7"), text in an integer field.
        _connection(1, " leading space #108", 1, 1, {"alm_project": "KEY", "sde_min_priority": 7}),
        _connection(
            2,
            "tab\tinside",
            1,
            2,
            {
                "alm_project": "007",
                "alm_reference_context": "5",
                "how_tos_in_scope": False,
                "alm_parent_issue": "@team",
                "custom_undocumented": 12345,
                DEPRECATED_PARAM: "off",
            },
        ),
        _connection(3, "Doubled  spaces  ", 1, 3, {"alm_project": 12345, "sde_tags_filter": ""}),
        # Trac scopes these to the connector only; older instances hold them on connections.
        _connection(
            4,
            "trac own priority",
            2,
            1,
            {"alm_project": "Milestone 1", "sde_min_priority": "5", "how_tos_in_scope": False},
        ),
        _connection(5, "trac\nnewline alias", 2, 2, {"alm_project": NON_LATIN}),
        _connection(6, "-draft", 3, 3, {"alm_project": "acme/=cmd", "sde_min_priority": 5}),
    ]
    return {
        "token": QUIRKS_TOKEN,
        **_org(0),
        "connectors": connectors,
        "connections": connections,
        "plugins": _plugins(),
    }


def _connection(
    ident: int, alias: str, connector: int, project: int, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": ident,
        "alias": alias,
        "connector": connector,
        "project": project,
        "frequency": "manually" if ident % 2 else "daily",
        "debug_mode": ident == 3,
        "inaccessible": False,
        "in_progress": False,
        "params": params,
        "last_job": None,
    }


def make_quirks_target(source: dict[str, Any]) -> dict[str, Any]:
    """An empty instance to migrate the quirks into: same organisation, other ids, same plugins."""
    return {
        "token": QUIRKS_TARGET_TOKEN,
        **_org(100),
        "connectors": [],
        "connections": [],
        "plugins": copy.deepcopy(source["plugins"]),
    }


def quirks_secret_rows(source: dict[str, Any]) -> list[dict[str, str]]:
    """The quirks instance's secrets as `kind,name,field,value` rows (names as the source holds them)."""
    secret = {"alm_pass", "alm_api_token"}
    return [
        {"kind": "connector", "name": c["name"], "field": k, "value": str(v)}
        for c in source["connectors"]
        for k, v in c["params"].items()
        if k in secret
    ]
