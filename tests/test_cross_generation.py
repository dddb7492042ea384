"""The whole migration between the two generations of the API, both ways, exactly once.

The source and target simulators serve the same data file in different
generations; afterwards the target must hold every source object once, each
param under the target's name with the source's value, and a re-run must
write nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from instances import assert_same_objects, instances

from almmigrate.exporter import export
from almmigrate.files import read_tables
from almmigrate.generation import GENERATIONS
from almmigrate.importer import RunOptions, import_file, migrate
from almmigrate.prepare import ImportOptions
from almmigrate.settings import ConnectionSettings
from almmigrate.sim.generate import secret_rows
from almmigrate.sim.translate import data_in
from almmigrate.verify import verify_file
from almmigrate.vocabulary import counterpart

WAYS = [("alm", "issue-tracker"), ("issue-tracker", "alm")]


def _settings(sim: Any, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings(sim.url, sim.token, **extra)


def _expected(source: Any, target_api: str) -> dict[str, Any]:
    """The source's objects as the target's generation names them."""
    return data_in(source.state.snapshot(), GENERATIONS[target_api])


def _pair(make_sim: Any, source_api: str, target_api: str) -> tuple[Any, Any]:
    source_data, target_data = instances(connections=60, connectors=8, projects=12)
    return make_sim(source_data, api=source_api), make_sim(target_data, api=target_api)


@pytest.mark.parametrize(("source_api", "target_api"), WAYS)
def test_migrate_between_generations_is_exact_and_idempotent(
    make_sim: Any, tmp_path: Path, source_api: str, target_api: str
) -> None:
    source, target = _pair(make_sim, source_api, target_api)
    run = migrate(_settings(source), _settings(target), ImportOptions(), RunOptions())
    assert run.exit_code == 0 and run.result is not None
    held = source.state.snapshot()
    assert run.result.summary.counts == {
        "created": len(held["connectors"]) + len(held["connections"])
    }
    state = target.state.snapshot()
    assert_same_objects(_expected(source, target_api), state)
    names = {n for c in state["connectors"] + state["connections"] for n in c["params"]}
    wrong = "issue_tracker_" if target_api == "alm" else "alm_"
    assert not [n for n in names if n.startswith(wrong)]
    assert "last_successful_run" not in names
    if target_api == "issue-tracker":
        modes = {c["params"].get("issue_tracker_auth_mode") for c in state["connectors"]}
        assert modes == {"basic", "api_token"}  # from the credentials each connector holds
    else:  # the auth mode has no ALM counterpart: said once, per param
        assert [str(w) for w in run.warnings] == [
            "params.issue_tracker_auth_mode has no counterpart in the ALM generation: "
            f"not sent ({len(held['connectors'])} rows)"
        ]
    writes = target.stats.writes
    again = migrate(_settings(source), _settings(target), ImportOptions(), RunOptions())
    assert again.result is not None and set(again.result.summary.counts) == {"unchanged"}
    assert target.stats.writes == writes
    # The source, exported, verifies clean against the target (secrets: present).
    path = tmp_path / "source.json"
    export(_settings(source), path)
    mapped = ImportOptions(auto_map_projects=True, source=_settings(source))
    checked = verify_file(path, _settings(target), mapped)
    assert checked.differences == [] and checked.objects == len(held["connectors"]) + len(
        held["connections"]
    )


def _secrets_file(path: Path, source: Any, source_api: str) -> Path:
    """Every secret once, half under the ALM name and half under the Issue Tracker name."""
    state = data_in(source.state.snapshot(), GENERATIONS["alm"])
    rows = secret_rows(state)
    for index, row in enumerate(rows):
        if index % 2:
            row["field"] = counterpart(row["field"]) or row["field"]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(rows)
    assert {r["field"].split("_")[0] for r in rows} == {"alm", "issue"}
    return path


@pytest.mark.parametrize(("source_api", "target_api"), WAYS)
def test_export_then_import_between_generations(
    make_sim: Any, tmp_path: Path, source_api: str, target_api: str
) -> None:
    source, target = _pair(make_sim, source_api, target_api)
    path = tmp_path / "export.xlsx"
    export(_settings(source), path)
    tables = read_tables(path)
    meta = {row["key"]: row["value"] for row in tables["_meta"].rows}
    assert meta["api"] == source_api  # the file keeps the source's names, and says whose
    own = "alm_" if source_api == "alm" else "issue_tracker_"
    columns = [c for c in tables["connectors"].columns if c.startswith("params.")]
    assert any(c.startswith(f"params.{own}") for c in columns)
    held = source.state.snapshot()
    secrets = _secrets_file(tmp_path / "secrets.csv", source, source_api)
    options = ImportOptions(auto_map_projects=True, secrets=secrets, source=_settings(source))
    report = tmp_path / "report.json"
    run = import_file(path, _settings(target), options, RunOptions(report=report))
    assert run.exit_code == 0 and run.result is not None
    # The report says which generations the run translated between.
    assert json.loads(report.read_text())["run"]["api"] == f"{source_api} -> {target_api}"
    assert not run.result.failed
    # The plan shows (and sends) the target's names.
    sent = {n for item in run.plan.items for n in item.body.get("params") or {}}
    other = "issue_tracker_" if own == "alm_" else "alm_"
    assert [n for n in sent if n.startswith(other)]
    assert not [n for n in sent if n.startswith(own)]
    assert_same_objects(_expected(source, target_api), target.state.snapshot())
    writes = target.stats.writes
    again = import_file(path, _settings(target), options, RunOptions())
    assert again.result is not None and set(again.result.summary.counts) == {"unchanged"}
    assert target.stats.writes == writes
    # verify reads the target back and compares it with the file, in the target's names.
    checked = verify_file(path, _settings(target), options)
    assert checked.differences == []
    assert checked.objects == len(held["connectors"]) + len(held["connections"])
    assert checked.secrets_checked == len(secret_rows(data_in(held, GENERATIONS["alm"])))
