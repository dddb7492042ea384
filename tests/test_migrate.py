"""`migrate`: source to target in one run, in memory; the result equals the source, secrets as supplied."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli
from instances import assert_same_objects, by_key

from almmigrate.importer import RunOptions, migrate
from almmigrate.prepare import ImportOptions
from almmigrate.settings import ConnectionSettings


def _empty(target_data: dict[str, Any]) -> dict[str, Any]:
    return {**target_data, "connectors": [], "connections": []}


def _settings(sim: Any, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings(sim.url, sim.token, **extra)


def test_migrated_target_equals_the_source_types_and_secrets_included(
    make_sim: Any, source_data: dict[str, Any], target_data: dict[str, Any]
) -> None:
    source = make_sim(source_data)
    target = make_sim(_empty(target_data))
    run = migrate(_settings(source), _settings(target, rate=None), ImportOptions(), RunOptions())
    assert run.exit_code == 0 and run.result is not None
    assert run.result.summary.counts == {
        "created": len(source_data["connectors"]) + len(source_data["connections"])
    }
    assert_same_objects(source.state.snapshot(), target.state.snapshot())
    # Once more: nothing to do, nothing written.
    writes = target.stats.writes
    again = migrate(_settings(source), _settings(target), ImportOptions(), RunOptions())
    assert again.result is not None and set(again.result.summary.counts) == {"unchanged"}
    assert target.stats.writes == writes


def test_the_cli_and_the_library_keep_the_same_journal_by_default(
    make_sim: Any, source_data: dict[str, Any], target_data: dict[str, Any], cli: Cli
) -> None:
    from urllib.parse import urlsplit

    source = make_sim(source_data)
    target = make_sim(_empty(target_data))
    journal = Path(f"almmigrate-migrate-127.0.0.1-{urlsplit(target.url).port}.journal")
    code, _, err = cli("migrate", "--source-url", source.url, "--source-token", source.token,
        "--target-url", target.url, "--target-token", target.token, "--rate", "200",
    )  # fmt: skip
    assert code == 0, err
    assert f"journal: {journal} (run the same command again to resume from it)" in err
    run = migrate(_settings(source), _settings(target), ImportOptions(), RunOptions())
    assert run.journal == journal and journal.is_file()  # in the current folder, as the CLI's
    assert migrate(_settings(source), _settings(target), ImportOptions(),
                   RunOptions(no_journal=True)).journal is None  # fmt: skip


def test_into_a_populated_target_creates_updates_and_leaves_equal_objects(
    source_sim: Any, target_sim: Any
) -> None:
    run = migrate(_settings(source_sim), _settings(target_sim), ImportOptions(), RunOptions())
    assert run.exit_code == 0 and run.result is not None
    counts = run.result.summary.counts
    assert counts["created"] > 100 and counts["updated"] >= 1 and counts["unchanged"] >= 1
    connectors, connections = by_key(target_sim.state.snapshot())
    want_connectors, want_connections = by_key(source_sim.state.snapshot())
    assert {k: v for k, v in connectors.items() if k in want_connectors} == want_connectors
    assert {k: v for k, v in connections.items() if k in want_connections} == want_connections


def test_secrets_file_overrides_the_source_values(
    make_sim: Any, source_data: dict[str, Any], target_data: dict[str, Any], tmp_path: Path
) -> None:
    source = make_sim(source_data)
    target = make_sim(_empty(target_data))
    jira = next(c for c in source_data["connectors"] if c["system"] == "jira")
    secrets = tmp_path / "secrets.csv"
    secrets.write_text(
        f'kind,name,field,value\nconnector,"{jira["name"].replace(chr(34), chr(34) * 2)}",alm_pass,rotated-pass-99\n'
    )
    run = migrate(
        _settings(source), _settings(target), ImportOptions(secrets=secrets), RunOptions()
    )
    assert run.exit_code == 0
    held = {c["name"]: c for c in target.state.snapshot()["connectors"]}
    assert held[jira["name"]]["params"]["alm_pass"] == "rotated-pass-99"
    others = [c for c in source_data["connectors"] if c["name"] != jira["name"]]
    assert all(held[c["name"]]["params"] == c["params"] for c in others)


def test_cli_migrate_keeps_every_secret_off_the_disk_and_out_of_the_output(
    make_sim: Any,
    source_data: dict[str, Any],
    target_data: dict[str, Any],
    tmp_path: Path,
    cli: Cli,
    canaries: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = canaries.new("migrate-pass")
    source_data["connectors"][0]["params"]["alm_pass"] = secret
    with open(Path(__file__).parent.parent / "samples" / "secrets.csv", encoding="utf-8") as handle:
        canaries.add(*(row["value"] for row in csv.DictReader(handle)))
    source = make_sim(source_data)
    target = make_sim(_empty(target_data))
    canaries.add(source.token, target.token)
    monkeypatch.setenv("SDE_SOURCE_TOKEN", source.token)
    monkeypatch.setenv("SDE_TARGET_TOKEN", target.token)
    code, out, err = cli("-vv", "migrate", "--source-url", source.url, "--target-url", target.url,
        "--report", str(tmp_path / "report.xlsx"), "--errors", str(tmp_path / "errors.xlsx"),
        "--journal", str(tmp_path / "migrate.journal"), "--rate", "100",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("migration finished: 145 objects, every row done; ")
    assert "created" in out
    held = {c["name"]: c for c in target.state.snapshot()["connectors"]}
    assert held[source_data["connectors"][0]["name"]]["params"]["alm_pass"] == secret
    # Nothing failed: no errors file, and the output says so.
    assert f"errors: nothing failed, so {tmp_path / 'errors.xlsx'} was not written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["migrate.journal", "report.xlsx"]
    canaries.assert_absent(tmp_path, out, err)


def test_cli_migrate_with_an_unreachable_source_exits_3_and_writes_nothing(
    target_sim: Any, cli: Cli
) -> None:
    code, _, err = cli("migrate", "--source-url", "http://127.0.0.1:9", "--source-token", "x",
        "--target-url", target_sim.url, "--target-token", target_sim.token,
    )  # fmt: skip
    assert code == 3
    assert len(err.strip().splitlines()) == 1  # and no traceback: the cli fixture checks
    assert target_sim.stats.writes == 0  # the target was only asked who it is


def test_progress_label_shows_rate_limit_429s_and_eta() -> None:
    from almmigrate.importer import progress_label
    from almmigrate.ratecontrol import RateStatus

    status = RateStatus(rate=38.0, limit=40.0, throttled=3, events=1, latency=0.1, in_flight=7)
    assert (
        progress_label(38.24, status, throttled=3, retries=2, left=380)
        == "Importing 38.2 req/s, limit 40/s, 3 × 429, 2 retries, ETA 10 s"
    )
    unknown = RateStatus(rate=20.0, limit=None, throttled=0, events=0, latency=None, in_flight=4)
    assert progress_label(None, unknown, throttled=0, retries=0, left=5) == (
        "Importing limit not hit yet, 0 × 429"
    )
    assert progress_label(None, None, throttled=0, retries=0, left=5) == "Importing 0 × 429"


@pytest.mark.parametrize(
    ("width", "line"),
    [
        (62, "Importing 38.2 req/s, limit 40/s, 3 × 429, 2 retries, ETA 10 s"),
        (61, "Importing 38.2 req/s, limit 40/s, 3 × 429, ETA 10 s"),  # retries give way first
        (50, "Importing 38.2 req/s, limit 40/s, 3 × 429"),  # then the ETA
        (30, "Importing 38.2 req/s, 3 × 429"),  # then the limit; rate and 429s always stay
        (10, "Importing 38.2 req/s, 3 × 429"),
    ],
)
def test_progress_label_fits_the_terminal_keeping_the_rate_and_429s(width: int, line: str) -> None:
    from almmigrate.importer import progress_label
    from almmigrate.ratecontrol import RateStatus

    status = RateStatus(rate=38.0, limit=40.0, throttled=3, events=1, latency=0.05, in_flight=4)
    label = progress_label(38.24, status, throttled=3, retries=2, left=380, width=width)
    assert label == line


class _Stats:
    def __init__(self) -> None:
        self.counters = {"requests": 0, "retries": 0, "throttled": 0}

    def snapshot(self) -> dict[str, int]:
        return dict(self.counters)


class _Client:
    def __init__(self) -> None:
        self.stats = _Stats()

    def rate_status(self) -> None:
        return None


def test_a_resumed_run_starts_its_progress_line_from_requests_not_skipped_rows() -> None:
    # Issue 11: after a resume the line began at "2478.8/s, ETA 0 s": rows done by the
    # earlier run counted as work. The rate is requests answered; the ETA counts only
    # rows still to send; retries and 429s are shown.
    from almmigrate.importer import ProgressLine
    from almmigrate.plan_types import Outcome, PlanItem

    now = [100.0]
    client = _Client()
    client.stats.counters.update(requests=50, retries=1, throttled=1)  # before this import
    line = ProgressLine(client, to_send=2100, clock=lambda: now[0])
    skipped = PlanItem(kind="connection", key="p1/a", action="update")
    for _ in range(2000):  # rows an earlier run finished: no request, no time
        line.outcome(Outcome(skipped, "skipped", attempts=0))
    assert line.label() == "Importing 0 × 429"
    now[0] = 102.0
    client.stats.counters.update(requests=130, retries=3, throttled=2)
    sent = PlanItem(kind="connection", key="p1/b", action="create")
    for _ in range(60):
        line.outcome(Outcome(sent, "created", attempts=1))
    assert line.label() == "Importing 40.0 req/s, 1 × 429, 2 retries, ETA 1 s"


def test_migrate_dry_run_plans_and_writes_nothing(source_sim: Any, target_sim: Any) -> None:
    run = migrate(
        _settings(source_sim), _settings(target_sim), ImportOptions(), RunOptions(dry_run=True)
    )
    assert run.result is None and run.exit_code == 0
    counts = run.plan.counts()
    assert counts["create"] > 100 and counts["update"] >= 1 and counts["unchanged"] >= 1
    assert target_sim.stats.writes == 0


def test_cli_migrate_with_a_refused_target_token_exits_3_before_reading_the_source(
    cli: Cli, source_sim: Any, target_sim: Any
) -> None:
    code, _, err = cli("migrate", "--source-url", source_sim.url, "--source-token", source_sim.token,
        "--target-url", target_sim.url, "--target-token", "not-the-token",
    )  # fmt: skip
    assert code == 3 and "refused the token" in err
    assert source_sim.stats.requests == 0  # not a page of the source read in vain
    assert target_sim.stats.writes == 0
