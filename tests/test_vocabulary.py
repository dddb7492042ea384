"""The two generations' vocabularies and the translation between them (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
from almmigrate.errors import InputError, ValidationFailed
from almmigrate.files import Table, write_tables
from almmigrate.generation import ALM_GENERATION as ALM
from almmigrate.generation import ISSUE_TRACKER_GENERATION as IT
from almmigrate.generation import generation
from almmigrate.reader import read_dataset, read_dataset_with_problems
from almmigrate.schema import bundled_plugins
from almmigrate.secretsfile import load_secrets
from almmigrate.vocabulary import (
    auth_mode_for,
    columns_as_in_file,
    counterpart,
    param_name,
    to_generation,
    translate_params,
    translate_plugin,
)


def test_names_are_renamed_by_prefix_and_shared_names_stay() -> None:
    assert param_name("alm_server", IT) == "issue_tracker_server"
    assert param_name("issue_tracker_api_token", ALM) == "alm_api_token"
    assert param_name("alm_server", ALM) == "alm_server"
    assert param_name("issue_tracker_pass", IT) == "issue_tracker_pass"
    for shared in ("sde_min_priority", "title_format", "jira_version", "github_repo_owner"):
        assert param_name(shared, IT) == shared and param_name(shared, ALM) == shared
    assert param_name("issue_tracker_auth_mode", ALM) is None
    assert counterpart("alm_pass") == "issue_tracker_pass"
    assert counterpart("issue_tracker_pass") == "alm_pass"
    assert counterpart("rally_workspace") is None


def test_params_translate_with_conflict_policy_and_never_carry_last_successful_run() -> None:
    params = {
        "alm_server": "jira.example",
        "conflict_policy": "alm",
        "sde_min_priority": 7,
        "last_successful_run": "2026-10-01T00:00:00Z",
    }
    assert translate_params(params, IT) == (
        {
            "issue_tracker_server": "jira.example",
            "conflict_policy": "issue_tracker",
            "sde_min_priority": 7,
        },
        [],
    )
    back, dropped = translate_params(
        {"issue_tracker_auth_mode": "basic", "conflict_policy": "issue_tracker", "x": "sde"}, ALM
    )
    assert back == {"conflict_policy": "alm", "x": "sde"}
    assert dropped == ["issue_tracker_auth_mode"]
    assert translate_params({"conflict_policy": "sde"}, IT)[0] == {"conflict_policy": "sde"}


def test_auth_mode_follows_the_credentials_held() -> None:
    assert auth_mode_for({"issue_tracker_api_token": "t0ken-value"}) == "api_token"
    assert auth_mode_for({"issue_tracker_user": "u", "issue_tracker_pass": "p"}) == "basic"
    assert auth_mode_for({"issue_tracker_user": "", "issue_tracker_server": "s"}) is None


def _dataset(api: str, params: dict[str, object], own: dict[str, object]) -> Dataset:
    return Dataset(
        connectors=[
            ConnectorRecord(
                "J", "jira", dict(params), row=2, fields_editable_on_project=["alm_project"]
            )
        ],
        connections=[ConnectionRecord("c", project=1, connector_name="J", params=dict(own), row=2)],
        meta={"api": api},
    )


def test_an_alm_file_going_to_issue_tracker_gains_the_auth_mode_and_new_names() -> None:
    dataset = _dataset(
        "alm",
        {"alm_user": "svc", "alm_pass": "********", "conflict_policy": "alm"},
        {"alm_project": "KEY", "last_successful_run": "2026-10-01T00:00:00Z"},
    )
    translated, warnings = to_generation(dataset, IT)
    assert warnings == []
    assert translated.connectors[0].params == {
        "issue_tracker_user": "svc",
        "issue_tracker_pass": "********",
        "conflict_policy": "issue_tracker",
        "issue_tracker_auth_mode": "basic",
    }
    assert translated.connectors[0].fields_editable_on_project == ["issue_tracker_project"]
    assert translated.connections[0].params == {"issue_tracker_project": "KEY"}
    assert translated.meta["api"] == "issue-tracker"
    assert dataset.connectors[0].params["alm_user"] == "svc"  # the file's dataset is left alone


def test_a_file_already_in_issue_tracker_names_keeps_its_own_auth_mode() -> None:
    dataset = _dataset(
        "issue-tracker", {"issue_tracker_api_token": "x", "issue_tracker_user": "u"}, {}
    )
    translated, _ = to_generation(dataset, IT)
    assert "issue_tracker_auth_mode" not in translated.connectors[0].params  # not invented


def test_going_to_alm_drops_the_auth_mode_with_one_warning() -> None:
    dataset = _dataset(
        "issue-tracker", {"issue_tracker_auth_mode": "basic", "issue_tracker_user": "u"}, {}
    )
    translated, warnings = to_generation(dataset, ALM)
    assert translated.connectors[0].params == {"alm_user": "u"}
    assert [str(w) for w in warnings] == [
        "params.issue_tracker_auth_mode has no counterpart in the ALM generation: not sent (row 2)"
    ]
    assert warnings[0].severity == "warning"


def test_problems_on_a_translated_file_name_the_files_columns() -> None:
    from almmigrate.errors import Problem

    found = [Problem("bad", sheet="connectors", row=2, column="params.issue_tracker_server")]
    assert columns_as_in_file(found, ALM)[0].column == "params.alm_server"
    assert columns_as_in_file(found, None)[0].column == "params.issue_tracker_server"


def test_a_translated_schema_offers_the_new_conflict_value_and_the_auth_mode() -> None:
    jira = translate_plugin(bundled_plugins()["jira"], IT)
    policy = jira.field("conflict_policy")
    assert policy is not None and "issue_tracker" in policy.choices and "alm" not in policy.choices
    assert policy.default == "issue_tracker"
    assert jira.field("alm_server") is None and jira.field("issue_tracker_server") is not None
    assert (
        jira.field("issue_tracker_pass") is not None and jira.field("issue_tracker_pass").is_secret
    )
    assert jira.field("issue_tracker_auth_mode") is not None
    back = translate_plugin(jira, ALM)
    assert {f.name for f in back.fields} == {f.name for f in bundled_plugins()["jira"].fields}
    assert (
        back.field("conflict_policy").choices
        == bundled_plugins()["jira"].field("conflict_policy").choices
    )


def _csv(tmp_path: Path, columns: list[str], row: dict[str, object]) -> Path:
    path = tmp_path / "connectors.csv"
    write_tables(path, [Table("connectors", columns, [row])], meta={})
    return path


def test_a_file_without_meta_is_read_in_the_generation_of_its_names(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        ["name", "system", "params.issue_tracker_server", "params.issue_tracker_validate_cert"],
        {
            "name": "J",
            "system": "jira",
            "params.issue_tracker_server": "s",
            "params.issue_tracker_validate_cert": "TRUE",
        },
    )
    dataset = read_dataset(path)
    assert dataset.meta == {"api": "issue-tracker"}
    # Typed by the translated schema: the CSV's TRUE is the boolean the schema says.
    assert dataset.connectors[0].params == {
        "issue_tracker_server": "s",
        "issue_tracker_validate_cert": True,
    }


def test_mixing_both_generations_names_is_an_error_naming_the_columns(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        ["name", "system", "params.alm_server", "params.issue_tracker_user"],
        {"name": "J", "system": "jira", "params.alm_server": "s", "params.issue_tracker_user": "u"},
    )
    with pytest.raises(ValidationFailed) as caught:
        read_dataset(path)
    assert [str(p) for p in caught.value.problems] == [
        "the file mixes ALM names (connectors: params.alm_server) and Issue Tracker names "
        "(connectors: params.issue_tracker_user); use one generation's names throughout"
    ]


def test_meta_that_contradicts_the_columns_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "file.json"
    write_tables(
        path,
        [
            Table(
                "connectors",
                ["name", "system", "params.alm_server"],
                [{"name": "J", "system": "jira", "params.alm_server": "s"}],
            )
        ],
        meta={"api": "issue-tracker"},
    )
    _, problems = read_dataset_with_problems(path)
    assert [str(p) for p in problems] == [
        '_meta: the _meta sheet says api "issue-tracker" but the columns use ALM names '
        "(connectors: params.alm_server); correct the _meta sheet or the columns"
    ]


def test_secrets_are_found_under_either_name(tmp_path: Path) -> None:
    path = tmp_path / "secrets.csv"
    path.write_text(
        "kind,name,field,value\nconnector,J,alm_pass,one-secret\nconnector,G,issue_tracker_api_token,two-secret\n",
        encoding="utf-8",
    )
    secrets = load_secrets(path)
    assert secrets.lookup("connector", "J", "issue_tracker_pass") == "one-secret"
    assert secrets.lookup("connector", "J", "alm_pass") == "one-secret"
    assert secrets.lookup("connector", "G", "alm_api_token") == "two-secret"
    assert secrets.lookup("connector", "G", "alm_pass") is None


def test_the_same_secret_under_both_names_is_given_twice(tmp_path: Path) -> None:
    path = tmp_path / "secrets.csv"
    path.write_text(
        "kind,name,field,value\nconnector,J,alm_pass,one-secret\nconnector,J,issue_tracker_pass,two-secret\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match='issue_tracker_pass of connector "J" is given twice'):
        load_secrets(path)


def test_an_unknown_api_name_is_refused() -> None:
    assert generation("Issue-Tracker") is IT and generation(None) is ALM
    with pytest.raises(InputError, match='--api "jira" is not one of alm, issue-tracker'):
        generation("jira")
