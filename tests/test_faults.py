"""Reliability: 503s, commit-then-drop, throttling and kill -9; every object exactly once, every field right."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from instances import assert_same_objects, instances

from almmigrate.exporter import export
from almmigrate.importer import RunOptions, migrate
from almmigrate.prepare import ImportOptions
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import Faults, SimServer
from almmigrate.sim.generate import secret_rows

ROOT = Path(__file__).resolve().parent.parent


def test_500_objects_through_503s_drops_and_throttling_land_exactly_once(make_sim: Any) -> None:
    source_data, target_data = instances(connections=480, connectors=20, projects=40)
    source = make_sim(source_data)
    target = make_sim(
        target_data, faults=Faults(fail_rate=0.15, drop_rate=0.10, rate_limit=60, seed=7)
    )
    run = migrate(
        ConnectionSettings(source.url, source.token),
        ConnectionSettings(target.url, target.token, rate=None, concurrency=8, retries=8),
        ImportOptions(),
        RunOptions(concurrency=8, batch_size=50),
    )
    assert run.result is not None
    assert run.exit_code == 0, [(o.item.key, o.error) for o in run.result.failed][:5]
    assert target.stats.dropped > 0 and target.stats.failed > 0  # the faults really happened
    summary = run.result.summary
    assert summary.counts.get("adopted", 0) > 0  # dropped creates were found, not re-sent
    assert summary.counts.get("created", 0) + summary.counts.get("adopted", 0) == 500
    assert summary.retries > 0
    assert_same_objects(source.state.snapshot(), target.state.snapshot())


def _import_args(file: Path, sim: SimServer, tmp: Path, secrets: Path) -> list[str]:
    return [
        sys.executable, "-m", "almmigrate", "import", str(file),
        "--url", sim.url, "--auto-map-projects", "--secrets", str(secrets),
        "--journal", str(tmp / "import.journal"), "--report", str(tmp / "report.json"),
        "--rate", "400", "--concurrency", "4", "--batch-size", "10",
    ]  # fmt: skip


def test_kill_9_half_way_then_rerun_leaves_no_duplicate_and_nothing_missing(
    make_sim: Any, tmp_path: Path
) -> None:
    source_data, target_data = instances(connections=300, connectors=10, projects=30)
    source = make_sim(source_data)
    exported = tmp_path / "export.json"
    export(ConnectionSettings(source.url, source.token), exported)
    secrets = tmp_path / "secrets.csv"
    with secrets.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(secret_rows(source_data))
    target = make_sim(target_data, faults=Faults(latency_ms=15, drop_rate=0.05, seed=3))
    env = {**os.environ, "SDE_TOKEN": target.token}
    args = _import_args(exported, target, tmp_path, secrets)

    # Half-way, the target stops answering until the kill: the run cannot finish first.
    hold = target.hold(lambda: target.stats.writes >= 155)
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert hold.holding.wait(60), first.communicate(timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        hold.release()
    assert first.returncode == -signal.SIGKILL
    held = target.state.snapshot()
    assert 0 < len(held["connections"]) < 300  # killed half-way, not after the end

    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert_same_objects(source.state.snapshot(), target.state.snapshot())
    # A third run has nothing left to do: no write at all.
    writes = target.stats.writes
    third = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    assert target.stats.writes == writes
    for blob in (second.stdout, second.stderr, (tmp_path / "import.journal").read_text()):
        assert "gen-pass-" not in blob and "gen-token-" not in blob
