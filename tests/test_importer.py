"""importer: import_file end to end against the simulator, and the rules it applies on the way.

What the target holds afterwards, what was sent, which journal a run keeps,
its exit code, and the report of a run that could not reach its target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from instances import by_key

from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
from almmigrate.errors import InputError
from almmigrate.exporter import export
from almmigrate.importer import (
    ImportRun,
    RunOptions,
    check_outputs,
    import_file,
    journal_for,
    override_secrets,
)
from almmigrate.mapping import match_projects, projects_of_snapshot, write_map
from almmigrate.plan_types import Plan, PlanItem
from almmigrate.prepare import ImportOptions
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings


def _settings(sim: Any, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings(sim.url, sim.token, **extra)


@pytest.fixture
def exported(source_sim: Any, target_sim: Any, tmp_path: Path) -> tuple[Path, Path]:
    """The sample source exported (secrets masked), and a project map onto the sample target."""
    from almmigrate.instance import read_instance

    path = tmp_path / "export.json"
    export(_settings(source_sim), path)
    rows = match_projects(
        projects_of_snapshot(read_instance(_settings(source_sim), only="projects")),
        projects_of_snapshot(read_instance(_settings(target_sim), only="projects")),
    )
    write_map(tmp_path / "map.csv", rows)
    return path, tmp_path / "map.csv"


def test_import_file_applies_the_file_and_the_target_holds_it(
    exported: tuple[Path, Path], target_sim: Any, secrets_csv: Path, tmp_path: Path
) -> None:
    path, project_map = exported
    options = ImportOptions(project_map=project_map, secrets=secrets_csv)
    before = by_key(target_sim.state.snapshot())
    run = import_file(path, _settings(target_sim), options, RunOptions(report=tmp_path / "r.json"))
    assert run.exit_code == 0 and run.result is not None
    planned = run.plan.counts()
    done = run.result.summary.counts
    assert done.get("created") == planned.get("create") and done.get("failed") is None
    assert done.get("updated") == planned.get("update")
    connectors, connections = by_key(target_sim.state.snapshot())
    assert len(connectors) == 12 and len(connectors) >= len(before[0])
    assert sum(len(v) for v in connections.values()) == 134
    # A library run keeps its journal where the CLI does: beside the file.
    assert (run.report, run.journal) == (tmp_path / "r.json", tmp_path / "export.json.journal")
    assert (tmp_path / "export.json.journal").is_file()
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["summary"]["created"] == planned["create"]
    # The same file again: everything is unchanged and nothing is written.
    writes = target_sim.stats.writes
    again = import_file(path, _settings(target_sim), options, RunOptions())
    assert again.result is not None and set(again.result.summary.counts) == {"unchanged"}
    assert target_sim.stats.writes == writes


def test_a_dry_run_plans_the_same_and_sends_no_write(
    exported: tuple[Path, Path], target_sim: Any, secrets_csv: Path
) -> None:
    path, project_map = exported
    options = ImportOptions(project_map=project_map, secrets=secrets_csv)
    run = import_file(path, _settings(target_sim), options, RunOptions(dry_run=True))
    assert run.result is None and run.exit_code == 0
    assert run.plan.counts()["create"] > 100
    assert target_sim.stats.writes == 0
    real = import_file(path, _settings(target_sim), options, RunOptions())
    assert real.plan.counts() == run.plan.counts()


def test_a_source_is_read_only_when_auto_mapping_needs_it(
    exported: tuple[Path, Path], target_sim: Any, secrets_csv: Path
) -> None:
    """With a project map, --source-url names an instance nobody asks (here: none listens)."""
    path, project_map = exported
    nowhere = ConnectionSettings("http://127.0.0.1:9", "t", retries=0)
    options = ImportOptions(project_map=project_map, secrets=secrets_csv, source=nowhere)
    run = import_file(path, _settings(target_sim), options, RunOptions(dry_run=True))
    assert run.exit_code == 0 and run.plan.counts()["create"] > 100


def test_an_unreachable_target_stops_before_the_first_write_with_a_report(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    path, project_map = exported
    nowhere = ConnectionSettings("http://127.0.0.1:9", "t", retries=0)
    report = tmp_path / "stopped.json"
    run = import_file(
        path, nowhere, ImportOptions(project_map=project_map), RunOptions(report=report)
    )
    assert run.exit_code == 3 and run.writes_sent is False
    assert run.result is not None and run.result.outcomes == []
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["run"]["stopped"] == run.result.stopped.message  # type: ignore[union-attr]


def test_outputs_that_cannot_be_written_are_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        check_outputs(RunOptions(report=tmp_path / "missing" / "r.xlsx"))


# ---------------------------------------------------------------- journal and exit code


def test_the_journal_a_run_keeps() -> None:
    file = Path("edit.xlsx")
    assert journal_for(RunOptions(), file=file) == Path("edit.xlsx.journal")
    assert journal_for(RunOptions(dry_run=True), file=file) is None
    assert journal_for(RunOptions(no_journal=True), file=file) is None
    assert journal_for(RunOptions(journal=Path("j")), file=file) == Path("j")
    migrate = journal_for(RunOptions(), target_url="https://sde.example.com:8443/")
    assert migrate == Path("almmigrate-migrate-sde.example.com-8443.journal")
    assert journal_for(RunOptions(), target_url="") == Path("almmigrate-migrate-target.journal")
    frames = journal_for(RunOptions(), target_url="http://sde:80", command="import")
    assert frames == Path("almmigrate-import-sde-80.journal")


def test_a_dry_runs_exit_code_is_1_only_when_the_plan_has_errors() -> None:
    fine = Plan([PlanItem("connector", "create", "Jira")])
    broken = Plan([PlanItem("connector", "error", "Jira", error="no such system")])
    assert (ImportRun(fine, None).exit_code, ImportRun(broken, None).exit_code) == (0, 1)


def test_override_secrets_fills_masked_and_secret_params_only() -> None:
    dataset = Dataset(
        connectors=[ConnectorRecord("Jira", "jira", {"alm_pass": MASK, "alm_user": "bot"})],
        connections=[ConnectionRecord("A", system="jira", params={"alm_pass": "old"})],
    )
    supplied = SecretValues()
    supplied.add("connector", "Jira", "alm_pass", "new-pw")
    supplied.add("connector", "Jira", "alm_user", "not-a-secret")
    supplied.add("connection", "A", "alm_pass", "conn-pw")
    filled = override_secrets(dataset, supplied, bundled_plugins())
    assert filled.connectors[0].params == {"alm_pass": "new-pw", "alm_user": "bot"}
    assert filled.connections[0].params == {"alm_pass": "conn-pw"}
    assert dataset.connectors[0].params["alm_pass"] == MASK  # the given dataset is left alone
