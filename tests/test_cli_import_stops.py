"""`almmigrate import` when going on cannot help: it stops at once, says what was done and exits 3.

Each case is a server (or a disk) that disagrees with what the client assumes:
a token revoked mid-run, an instance that fails every request, one that asks
to wait for a day, huge error bodies, creates answered with an HTML page, a
journal whose disk fills, output folders that refuse files. None prints a traceback
or "Exception ignored" (the `cli` fixture checks every run).
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_runs
import httpx
import pytest
from cli_runs import Cli

from almmigrate.journal import Journal
from almmigrate.sim import Faults


def import_args(file: Path, target: Any, secrets: Path, *extra: str) -> list[str]:
    return cli_runs.import_args(file, target, secrets, *extra, rate="500")


def counts(target: Any) -> tuple[int, int]:
    state = target.state.snapshot()
    return len(state["connectors"]), len(state["connections"])


def test_a_token_revoked_mid_run_stops_it_at_once_with_exit_3(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    empty_target.set_faults(Faults(revoke_after_writes=30))
    report = tmp_path / "report.json"
    code, out, err = cli(
        *import_args(
            exported, empty_target, secrets_csv, "--report", str(report), "--concurrency", "4"
        ),
    )
    assert code == 3, err
    refused = empty_target.stats.as_dict()["by_status"].get(401, 0)
    assert 1 <= refused <= 4  # the writes already in flight on the 4 workers, then nothing
    assert "import STOPPED before the end: the instance refused the token" in out
    assert (
        "The instance refused the token. Run the same command again with a valid one "
        "(SDE_TOKEN or --token) to finish: what was sent stays on the target and "
        f"nothing will be created twice; progress is in {tmp_path / 'export.json.journal'}."
    ) in err
    data = json.loads(report.read_text(encoding="utf-8"))
    actions = [o["action"] for o in data["objects"]]
    assert actions.count("created") == 30 and len(actions) == 145
    assert actions.count("failed") == refused
    assert actions.count("pending") == 145 - 30 - refused
    assert data["verdict"].startswith("The run STOPPED before the end: the instance refused")
    # A valid token again: the same command finishes the job, nothing twice.
    empty_target.set_faults(Faults())
    code, _, err = cli(*import_args(exported, empty_target, secrets_csv, "--report", str(report)))
    assert code == 0, err
    assert counts(empty_target) == (12, 133)


def test_a_library_call_resumes_the_import_the_cli_started_from_the_same_journal(
    cli: Cli, exported: Path, empty_target: Any, secrets_csv: Path
) -> None:
    from almmigrate.importer import RunOptions, import_file, journal_for
    from almmigrate.plan_types import EARLIER_RUN
    from almmigrate.prepare import ImportOptions
    from almmigrate.settings import ConnectionSettings

    journal = exported.with_name("export.json.journal")
    assert journal_for(RunOptions(), file=exported, target_url=empty_target.url) == journal
    empty_target.set_faults(Faults(revoke_after_writes=30))
    code, _, err = cli(*import_args(exported, empty_target, secrets_csv, "--concurrency", "1"))
    assert code == 3, err
    assert f"journal: {journal} (run the same command again to resume from it)" in err
    assert counts(empty_target) == (12, 18)  # 30 created, then the token was refused
    empty_target.set_faults(Faults())
    # The library's default journal is the CLI's: it finishes the job, nothing twice.
    outcome = import_file(
        exported,
        ConnectionSettings(empty_target.url, empty_target.token),
        ImportOptions(auto_map_projects=True, secrets=secrets_csv),
        RunOptions(),
    )
    assert outcome.exit_code == 0 and outcome.journal == journal
    assert outcome.result is not None
    assert [o.done_by for o in outcome.result.outcomes].count(EARLIER_RUN) == 30
    assert counts(empty_target) == (12, 133)
    assert '"event": "finished"' in journal.read_text(encoding="utf-8")


def test_an_instance_failing_every_request_is_exit_3_with_a_report(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    empty_target.set_faults(Faults(fail_rate=1.0))
    report = tmp_path / "report.json"
    code, out, err = cli(
        *import_args(
            exported, empty_target, secrets_csv, "--report", str(report), "--retries", "3"
        ),
    )
    assert code == 3, err
    assert empty_target.stats.requests == 4  # --retries 3: four attempts in all
    assert out.startswith("import STOPPED before the first write: the instance failed")
    assert out.rstrip().endswith("(gave up after 4 attempts)")  # no table of zeros
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["verdict"].startswith("The run STOPPED before the end: the instance failed")
    assert data["objects"] == []
    assert "The instance keeps failing. Run the same command again once it is back" in err
    assert "nothing was written to the target" in err


def test_an_instance_asking_to_wait_longer_than_max_wait_is_exit_3(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
) -> None:
    # One request a day: the one token is spent here, the import's first contact hears 429.
    empty_target.set_faults(Faults(rate_limit=1 / 86400))
    httpx.get(empty_target.url + "/api/v2/connectors/alm/")
    code, out, err = cli(*import_args(exported, empty_target, secrets_csv, "--max-wait", "600"))
    assert code == 3, err
    assert empty_target.stats.requests == 2
    assert err.startswith("RateLimited: the instance is rate limiting requests")
    # The bucket refills from the first GET: a second or more later (a loaded machine) the
    # instance asks for 86399 s, not 86400. Whatever it asked is what the message says.
    asked = re.search(r"Expected available in (\d+) seconds", err)
    assert asked is not None and 86000 < int(asked[1]) <= 86400
    assert err.rstrip().endswith(
        f"(not retried; the instance asked to wait {asked[1]} s, more than --max-wait 600 s)"
    )


def test_huge_error_bodies_are_cut_once_and_not_repeated(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    empty_target.set_faults(Faults(write_error_bytes=2_000_000))
    report = tmp_path / "report.html"
    code, out, err = cli(*import_args(exported, empty_target, secrets_csv, "--report", str(report)))
    assert code == 1, err  # a 500 is one row's failure; the next row may succeed
    assert re.search(r"^failed +145$", out, re.M)
    assert len(err) < 50_000  # 20 failures shown, each cut to a few hundred characters
    assert report.stat().st_size < 500_000  # 145 rows, each error cut once
    assert "more characters)" in report.read_text(encoding="utf-8")


def test_a_create_answered_with_an_html_page_is_adopted_not_failed(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    empty_target.set_faults(Faults(html_create_answer=True))
    report, errors = tmp_path / "report.json", tmp_path / "errors.json"
    code, _, err = cli(
        *import_args(
            exported, empty_target, secrets_csv, "--report", str(report), "--errors", str(errors)
        ),
    )
    assert code == 0, err
    data = json.loads(report.read_text(encoding="utf-8"))
    adopted = [o for o in data["objects"] if o["action"] == "adopted"]
    assert len(adopted) == 145  # every create (the target was empty)
    assert {o["note"] for o in adopted} == {"outcome unknown, looked up: found on the target"}
    assert data["summary"]["failed"] == 0
    assert f"errors: nothing failed, so {errors} was not written" in err and not errors.exists()
    assert counts(empty_target) == (12, 133)  # each once


def test_a_journal_whose_disk_fills_stops_the_writes_cleanly(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Journal._write
    calls = {"n": 0}

    def fills_up(self: Journal, events: list[dict[str, Any]]) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # begin, the first batch's start and done: then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, events)

    monkeypatch.setattr(Journal, "_write", fills_up)
    report = tmp_path / "report.json"
    code, out, err = cli(
        *import_args(
            exported, empty_target, secrets_csv, "--report", str(report), "--batch-size", "10"
        ),
    )
    assert code == 3, err
    assert "cannot write the journal" in out and "No space left on device" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    sent = [o for o in data["objects"] if o["action"] != "pending"]
    # Some of the first batches, those under way before the disk filled (how many depends on
    # the pace: --rate auto starts moderately), and nothing after.
    assert 1 <= len(sent) <= 40
    monkeypatch.setattr(Journal, "_write", real)
    code, _, err = cli(*import_args(exported, empty_target, secrets_csv))
    assert code == 0, err
    assert counts(empty_target) == (12, 133)


@pytest.mark.parametrize("option", ["--report", "--errors", "--journal"])
def test_an_output_that_cannot_be_written_is_refused_before_the_first_request(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    option: str,
) -> None:
    # /proc takes no new file, not even from root.
    path = "/proc/almmigrate-out.json"
    code, _, err = cli(*import_args(exported, empty_target, secrets_csv, option, path))
    assert code == 2, err
    assert f"cannot write {option}: its folder refuses new files" in err
    assert empty_target.stats.requests == 0


@pytest.fixture
def held_lock(empty_target: Any) -> Iterator[Path]:
    from almmigrate.client import api_base
    from almmigrate.runlock import target_lock

    with target_lock(api_base(empty_target.url)) as path:
        yield path


def test_a_second_run_into_the_same_target_is_refused(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    held_lock: Path,
) -> None:
    # Another spelling of the same instance takes the same lock.
    args = import_args(exported, empty_target, secrets_csv)
    args[args.index("--url") + 1] = empty_target.url + "/api/v2/"
    code, _, err = cli(*args)
    assert code == 2, err
    assert (
        f"TargetBusy: another almmigrate run on this machine is writing to "
        f"{empty_target.url}/api/v2/ (lock {held_lock}); wait for it to finish, or pass "
        "--wait-lock to wait for it."
    ) in err
    assert empty_target.stats.requests == 0


def test_a_report_that_cannot_be_written_after_the_writes_is_exit_3_saying_what_was_done(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("almmigrate.importer.write_report", disk_full)
    report, errors = tmp_path / "report.json", tmp_path / "errors.json"
    code, out, err = cli(
        *import_args(
            exported, empty_target, secrets_csv, "--report", str(report), "--errors", str(errors)
        ),
    )
    assert code == 3, err
    assert "import finished: 145 objects, every row done" in out
    assert re.search(r"^created +145$", out, re.M)
    assert f"error: the report {report} could not be written: No space left on device" in err
    assert "errors: " in err  # the errors file was still written
    assert "A file of the run could not be written. Run the same command again once there" in err
    assert not report.exists() and counts(empty_target) == (12, 133)
