"""Every command against an Issue Tracker simulator (the newer generation of the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli
from openpyxl import load_workbook

from almmigrate.files import read_tables

SECRET = "S3cret-jira-montreal-1"  # a sample secret (samples/source.json)


def _on(sim: Any, prefix: str = "") -> list[str]:
    dash = f"{prefix}-" if prefix else ""
    return [f"--{dash}url", sim.url, f"--{dash}token", sim.token]


@pytest.fixture
def it_source(make_sim: Any, source_data: dict[str, Any]) -> Any:
    return make_sim(source_data, api="issue-tracker")


@pytest.fixture
def it_target(make_sim: Any, target_data: dict[str, Any]) -> Any:
    return make_sim(target_data, api="issue-tracker")


def _meta(path: Path) -> dict[str, Any]:
    return {r["key"]: r["value"] for r in read_tables(path)["_meta"].rows}


def test_export_writes_issue_tracker_names_masked(cli: Cli, it_source: Any, tmp_path: Path) -> None:
    out = tmp_path / "it.xlsx"
    code, _, err = cli("-v", "export", *_on(it_source), "--out", str(out))
    assert code == 0, err
    assert f"{it_source.url} serves the Issue Tracker generation of the API" in err
    assert "publishes no plugin schemas" in err
    tables = read_tables(out)
    assert _meta(out)["api"] == "issue-tracker"
    columns = tables["connectors"].columns
    assert "params.issue_tracker_pass" in columns and "params.issue_tracker_auth_mode" in columns
    assert not [c for c in columns if c.startswith("params.alm_")]
    passwords = {r.get("params.issue_tracker_pass") for r in tables["connectors"].rows} - {None}
    assert passwords == {"********"}
    assert SECRET not in out.read_bytes().decode("latin-1")
    # Offline, the bundled schemas are read in the file's names: nothing to doubt.
    code, stdout, err = cli("validate", str(out))
    assert code == 0, err
    assert stdout.strip() == "12 connectors, 133 connections: no problems"
    # Planned against the instance it came from, an unedited export changes nothing
    # (last_successful_run, which the server writes, is not a change).
    plan = tmp_path / "plan.json"
    code, stdout, err = cli("plan", str(out), *_on(it_source), "--out", str(plan))
    assert code == 0, err
    assert json.loads(plan.read_text())["summary"]["unchanged"] == 145


def test_validate_plan_import_of_an_alm_file_into_issue_tracker(
    cli: Cli,
    source_sim: Any,
    it_target: Any,
    tmp_path: Path,
    secrets_csv: Path,
) -> None:
    out = tmp_path / "alm.xlsx"
    assert cli("export", *_on(source_sim), "--out", str(out))[0] == 0
    assert _meta(out)["api"] == "alm"
    code, stdout, err = cli("validate", str(out), *_on(it_target), "--secrets", str(secrets_csv))
    assert code == 0, err
    assert "12 connectors, 133 connections: no problems" in stdout
    plan = tmp_path / "plan.json"
    mapping = ["--auto-map-projects", *_on(source_sim, "source")]
    code, stdout, err = cli("plan", str(out), *_on(it_target), *mapping, "--secrets", str(secrets_csv),
        "--out", str(plan),
    )  # fmt: skip
    assert code == 0, err
    items = json.loads(plan.read_text())["items"]
    sent = {n for item in items for n in (item.get("body") or {}).get("params") or {}}
    assert "issue_tracker_server" in sent and "issue_tracker_auth_mode" in sent
    assert not [n for n in sent if n.startswith("alm_")]
    code, stdout, err = cli("import", str(out), *_on(it_target), *mapping, "--secrets", str(secrets_csv),
    )  # fmt: skip
    assert code == 0, err
    state = it_target.state.snapshot()
    montreal = [c for c in state["connectors"] if c["name"] == "Jira Cloud – Montréal"]
    assert len(montreal) == 1
    assert montreal[0]["params"]["issue_tracker_pass"] == SECRET
    assert montreal[0]["params"]["issue_tracker_auth_mode"] == "basic"
    code, stdout, err = cli("import", str(out), *_on(it_target), *mapping, "--secrets", str(secrets_csv),
    )  # fmt: skip
    assert code == 0 and it_target.state.snapshot() == state  # the re-run writes nothing
    code, stdout, err = cli("verify", str(out), *_on(it_target), *mapping)
    assert code == 0, stdout + err
    assert "145 objects, 0 differences" in stdout + err


def test_map_projects_and_migrate_detect_each_instance(
    cli: Cli, source_sim: Any, it_target: Any, tmp_path: Path
) -> None:
    mapped = tmp_path / "map.csv"
    code, _, err = cli("-v", "map-projects", *_on(source_sim, "source"), *_on(it_target, "target"),
        "--out", str(mapped),
    )  # fmt: skip
    assert code == 0, err
    assert f"{source_sim.url} serves the ALM generation" in err
    assert f"{it_target.url} serves the Issue Tracker generation" in err
    code, stdout, err = cli("migrate", *_on(source_sim, "source"), *_on(it_target, "target"),
        "--project-map", str(mapped),
    )  # fmt: skip
    assert code == 0, err
    names = {n for c in it_target.state.snapshot()["connectors"] for n in c["params"]}
    assert "issue_tracker_server" in names and not [n for n in names if n.startswith("alm_")]


def test_api_options_override_detection_per_instance(
    cli: Cli, source_sim: Any, it_target: Any, tmp_path: Path
) -> None:
    code, _, err = cli("migrate", *_on(source_sim, "source"), *_on(it_target, "target"),
        "--auto-map-projects", "--target-api", "alm", "--dry-run",
    )  # fmt: skip
    assert code == 3
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(f"NotAnInstance: {it_target.url} does not look like an SD Elements instance")
    )
    assert "is --api alm right?" in err
    assert it_target.stats.as_dict()["by_path"] == {"GET /api/v2/connectors/alm/": 1}


def test_test_reports_not_available_and_exits_0(cli: Cli, it_source: Any, tmp_path: Path) -> None:
    code, stdout, err = cli("test", "--all", *_on(it_source))
    assert code == 0, err
    assert "0 passed, 0 failed, 0 skipped, 145 not available" in stdout  # no traceback: cli fixture
    asked = it_source.stats.as_dict()["by_path"]
    # Each test path asked once (404), however many objects: the rest are not sent.
    assert asked["POST /api/v2/connectors/testalm/"] == 1
    assert asked["POST /api/v2/connections/testalm/"] == 1
    out = tmp_path / "alm.json"
    assert cli("export", *_on(it_source), "--out", str(out), "--only", "connectors")[0] == 0
    code, stdout, _ = cli("test", str(out), *_on(it_source))
    assert code == 0 and "12 not available" in stdout
    assert it_source.stats.as_dict()["by_path"]["POST /api/v2/connectors/testalm/"] == 2


def test_template_in_issue_tracker_names(cli: Cli, tmp_path: Path, it_source: Any) -> None:
    out = tmp_path / "jira.xlsx"
    code, _, err = cli("template", "--system", "jira", "--api", "issue-tracker", "--out", str(out))
    assert code == 0, err
    book = load_workbook(out)
    header = [c.value for c in book["connectors"][1]]
    assert "params.issue_tracker_server" in header and "params.issue_tracker_auth_mode" in header
    assert not [h for h in header if str(h).startswith("params.alm_")]
    meta = {r[0].value: r[1].value for r in book["_meta"].iter_rows()}
    assert meta["api"] == "issue-tracker"
    # From the instance: it publishes no schema, so the bundled one in its names.
    online = tmp_path / "online.xlsx"
    code, _, err = cli("template", "--system", "jira", "--out", str(online), *_on(it_source))
    assert code == 0, err
    assert [c.value for c in load_workbook(online)["connectors"][1]] == header


def test_sde_api_in_the_environment_names_the_generation(
    cli: Cli,
    it_source: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDE_API", "alm")
    code, _, err = cli("export", *_on(it_source), "--out", str(tmp_path / "x.json"))
    assert code == 3
    assert "is --api alm right?" in err
    monkeypatch.setenv("SDE_API", "issue-tracker")
    code, _, err = cli("export", *_on(it_source), "--out", str(tmp_path / "x.json"))
    assert code == 0, err
    assert _meta(tmp_path / "x.json")["api"] == "issue-tracker"
