"""`almmigrate demo`: the whole migration on two loopback simulators, from any folder."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from instances import by_key
from openpyxl import load_workbook

import almmigrate.sim
from almmigrate.client import SDEClient
from almmigrate.demo import OUTPUTS, run_demo
from almmigrate.generation import GENERATIONS
from almmigrate.plan_types import PlanAction
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import SimServer
from almmigrate.sim.translate import data_in

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample_secret_values() -> list[str]:
    with (SAMPLES / "secrets.csv").open(encoding="utf-8", newline="") as handle:
        return [row["value"] for row in csv.DictReader(handle)]


def sample_tokens() -> list[str]:
    return [json.loads((SAMPLES / f"{n}.json").read_text())["token"] for n in ("source", "target")]


def demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "almmigrate", "demo", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_demo_migrates_everything_and_says_where_the_files_are(tmp_path, canaries):
    result = demo(tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    folder = tmp_path / "almmigrate-demo"
    assert "every object migrated." in out
    # Its target is meant to publish no plugin schemas: said in the summary, not warned.
    assert "publishes no plugin schemas" not in result.stderr
    assert (
        "  the target publishes no plugin schemas (its Issue Tracker API documents none): "
        "the bundled ones, in its names, typed the file\n"
    ) in out
    assert f"Files (in {folder})" in out
    assert "44 source projects: 44 exact, 0 ambiguous, 0 missing" in out
    assert "0 failed;" in out
    assert "5. re-plan       Plan: 0 create, 0 update, 145 unchanged, 0 skipped, 0 error" in out
    assert "Try next" in out and "almmigrate template --system jira" in out
    # From another folder the README is named by a path that opens.
    readme = SAMPLES.parent / "README.md"
    assert f"  {readme} walks through a real migration" in out
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(set(OUTPUTS) - {"import-errors.xlsx"})
    for name in written:
        assert name in out
    # The export is the masked audit file; the target got the secrets from samples/secrets.csv.
    export = load_workbook(folder / "source-export.xlsx")
    assert export.sheetnames[:3] == ["connectors", "connections", "projects"]
    assert sum(1 for _ in export["connectors"].iter_rows(min_row=2)) == 12
    # The report says what the import did, in exact figures, object by object.
    report = load_workbook(folder / "import-report.xlsx")
    assert report.sheetnames == ["summary", "objects"]
    summary = {row[0]: row[1] for row in report["summary"].iter_rows(min_row=5, values_only=True)}
    assert report["summary"]["A2"].value == (
        "All 145 objects done: 140 created, 3 updated, 2 unchanged"
    )
    assert {k: summary[k] for k in ("created", "updated", "adopted", "unchanged", "skipped",
                                    "failed", "total", "retries", "warnings")} == {
        "created": 140, "updated": 3, "adopted": 0, "unchanged": 2, "skipped": 0,
        "failed": 0, "total": 145, "retries": 0, "warnings": 0,
    }  # fmt: skip
    assert summary["api"] == "alm -> issue-tracker"
    objects = list(report["objects"].iter_rows(values_only=True))
    action = objects[0].index("action")
    assert Counter(row[action] for row in objects[1:]) == {
        "created": 140,
        "updated": 3,
        "unchanged": 2,
    }
    # The plan it wrote is the one it applied; every project matched by name.
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    assert Counter(item["action"] for item in plan["items"]) == {
        "create": 140,
        "update": 3,
        "unchanged": 2,
    }
    with (folder / "project-map.csv").open(encoding="utf-8-sig", newline="") as handle:
        matches = [row["match"] for row in csv.DictReader(handle)]
    assert Counter(matches) == {"exact": 44}
    canaries.add(*sample_secret_values(), *sample_tokens())
    canaries.assert_absent(folder, out, result.stderr)


def test_demo_library_call_and_a_second_run_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="almmigrate.client")
    started: list[SimServer] = []

    class Watched(SimServer):
        def start(self) -> Watched:
            started.append(self)
            super().start()
            return self

    monkeypatch.setattr(almmigrate.sim, "SimServer", Watched)
    steps: list[str] = []
    first = run_demo(tmp_path / "d", on_step=steps.append)
    assert len(started) == 2  # the source, then the target
    assert_target_holds_every_source_object(*started)
    again = run_demo(tmp_path / "d")
    for result in (first, again):
        assert result.ok
        summary = result.run.result.summary.as_dict()
        # A stale journal from the first run must not make the second skip work.
        assert (summary["created"], summary["failed"]) == (140, 0)
        assert result.target_after == {"connectors": 12, "connections": 134}
        assert result.rerun_plan.counts() == {"unchanged": 145}
    assert steps[0] == (
        "Starting two simulated SD Elements instances on 127.0.0.1: the source speaks the ALM"
        " API, the target the newer Issue Tracker API"
    )
    assert len(steps) == 6
    # The library writes the plan as `plan --out` does: every object, the same counts.
    written = json.loads((tmp_path / "d" / "plan.json").read_text(encoding="utf-8"))
    assert written["summary"] == {
        **dict.fromkeys([a.value for a in PlanAction], 0),
        **again.plan.counts(),
        "warnings": 0,
    }
    assert len(written["items"]) == len(again.plan.items) == 145
    assert first.target_without_schemas and again.target_without_schemas
    assert not [r for r in caplog.records if "publishes no plugin schemas" in r.getMessage()]
    # Held back only for the demo's target while it runs: another instance still warns.
    with (
        SimServer(SAMPLES / "target.json", api="issue-tracker") as other,
        SDEClient(ConnectionSettings(other.url, other.token)) as client,
    ):
        assert client.list_plugins() == {}
    warned = [r for r in caplog.records if "publishes no plugin schemas" in r.getMessage()]
    assert [(r.levelno, r.getMessage().split()[0]) for r in warned] == [
        (logging.WARNING, other.url)
    ]


def assert_target_holds_every_source_object(source: SimServer, target: SimServer) -> None:
    """Not only counts: each connector and connection, every field (secrets from
    samples/secrets.csv included), as the Issue Tracker generation names it; the
    target's own connection is still there, untouched; the source was only read."""
    want_connectors, want_connections = by_key(
        data_in(source.state.snapshot(), GENERATIONS["issue-tracker"])
    )
    got_connectors, got_connections = by_key(target.state.snapshot())
    assert got_connectors == want_connectors  # 12, each once
    own = {key: got_connections.pop(key) for key in set(got_connections) - set(want_connections)}
    assert got_connections == want_connections  # 133, each once
    _, before = by_key(SimServer(SAMPLES / "target.json", api="issue-tracker").state.snapshot())
    assert own == {key: before[key] for key in own}
    assert [key[1] for key in own] == ["Only on target"]
    assert source.stats.writes == 0


def test_demo_out_must_be_a_folder(tmp_path):
    (tmp_path / "taken").write_text("x")
    result = demo(tmp_path, "--out", "taken")
    assert result.returncode == 2
    assert (tmp_path / "taken").read_text() == "x"
