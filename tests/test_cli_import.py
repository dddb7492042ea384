"""`almmigrate import` through the CLI: exit codes, report, --errors round trip, dry run, no leaks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli
from cli_runs import import_args as _args
from instances import assert_same_objects

from almmigrate.exporter import export
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import Faults

LONG = "x" * 300  # the server refuses an alias over 255 characters


def test_import_applies_the_file_reports_and_a_rerun_writes_nothing(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    source_sim: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    code, out, err = cli(*_args(exported, empty_target, secrets_csv, "--report", str(report)))
    assert code == 0, err
    assert_same_objects(source_sim.state.snapshot(), empty_target.state.snapshot())
    data = json.loads(report.read_text(encoding="utf-8"))
    total = len(data["objects"])
    assert data["summary"]["created"] == total == 145 and data["summary"]["failed"] == 0
    assert {o["action"] for o in data["objects"]} == {"created"}
    assert all(o["target_id"] and o["status"] == 201 for o in data["objects"])
    assert data["verdict"] == "All 145 objects done: 145 created"
    assert data["run"]["command"] == "almmigrate import" and data["run"]["file"] == str(exported)
    assert data["run"]["target"] == empty_target.url and data["run"]["mode"] == "upsert"
    assert data["run"]["source"] == source_sim.url  # from the export's _meta
    assert "import finished: 145 objects, every row done" in out
    assert re.search(r"^created +145$", out, re.M)
    # --rate 200 is a ceiling the adaptive controller stayed under; the sample target
    # never refused anything, so no limit was found.
    assert 0 < data["summary"]["settled_rate_per_s"] <= 200
    assert data["summary"]["limit_found_per_s"] is None
    assert re.search(r"^settled_rate_per_s +[0-9.]+$", out, re.M)
    assert f"journal: {tmp_path / 'export.json.journal'}" in err  # default journal beside the input
    writes = empty_target.stats.writes
    code, out, _ = cli(*_args(exported, empty_target, secrets_csv, "--report", str(report)))
    assert code == 0 and empty_target.stats.writes == writes
    again = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert again["unchanged"] == total
    # Nothing sent to apply: no rate was settled on (what the controller reached while
    # reading, never refused, is not shown as one).
    assert again["requests"] == 0 and again["settled_rate_per_s"] is None
    assert "settled_rate_per_s" not in out


def test_dry_run_shows_the_plan_and_writes_nothing(
    cli: Cli, exported: Path, empty_target: Any, secrets_csv: Path
) -> None:
    code, out, err = cli(*_args(exported, empty_target, secrets_csv, "--dry-run"))
    assert code == 0, err
    assert empty_target.stats.writes == 0
    assert "dry run: nothing was written" in err
    assert "(secret changed)" not in out and "S3cret" not in out
    # Exactly `plan`'s table, old and new values included.
    plan_args = ["plan", *_args(exported, empty_target, secrets_csv)[1:-2]]
    assert cli(*plan_args)[1] == out
    assert out.count("│ connector ") == 12 and "Plan: 145 create" in out


def test_a_dry_run_of_an_edit_shows_each_old_and_new_value(
    cli: Cli, exported: Path, source_sim: Any, secrets_csv: Path
) -> None:
    data = json.loads(exported.read_text(encoding="utf-8"))
    data["connectors"][0]["params"]["sde_min_priority"] = "9"
    exported.write_text(json.dumps(data), encoding="utf-8")
    args = ["--url", source_sim.url, "--token", source_sim.token, "--match", "id"]
    code, out, err = cli("import", str(exported), *args, "--dry-run")
    assert code == 0, err
    assert "params.sde_min_priority: '7' -> '9'" in out, out
    assert cli("plan", str(exported), *args)[1] == out


def test_a_row_the_server_refuses_fails_alone_and_the_errors_file_reimports_after_a_fix(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    data = json.loads(exported.read_text(encoding="utf-8"))
    data["connections"][5]["alias"] = LONG
    exported.write_text(json.dumps(data), encoding="utf-8")
    report, errors = tmp_path / "report.csv", tmp_path / "errors.json"
    code, _, err = cli(
        *_args(
            exported, empty_target, secrets_csv, "--report", str(report), "--errors", str(errors)
        ),
    )
    assert code == 1
    assert "Ensure this field has no more than 255 characters." in err
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    failed = [line for line in lines if ",failed," in line]
    assert len(failed) == 1 and "Ensure this field has no more than 255 characters." in failed[0]
    assert len(empty_target.state.snapshot()["connections"]) == len(data["connections"]) - 1
    fix = json.loads(errors.read_text(encoding="utf-8"))
    assert [c["alias"] for c in fix["connections"]] == [LONG] and fix["connectors"] == []
    assert len(fix["projects"]) == len(data["projects"])
    fix["connections"][0]["alias"] = "Fixed alias"
    errors.write_text(json.dumps(fix), encoding="utf-8")
    code, _, err = cli(*_args(errors, empty_target, secrets_csv, "--journal", str(tmp_path / "j2")))
    assert code == 0, err
    aliases = [c["alias"] for c in empty_target.state.snapshot()["connections"]]
    assert aliases.count("Fixed alias") == 1 and len(aliases) == len(data["connections"])


def test_a_file_with_errors_writes_nothing_and_exits_2(
    cli: Cli, exported: Path, empty_target: Any, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    code, _, err = cli(*_args(exported, empty_target, tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in err  # click: the secrets file does not exist
    code, _, err = cli("import", str(exported), "--url", empty_target.url, "--token", empty_target.token,
        "--auto-map-projects", "--report", str(report),
    )  # fmt: skip
    assert code == 2
    assert "nothing was written" in err and "masked secret and no value" in err
    assert empty_target.stats.writes == 0 and not report.exists()


def test_a_report_of_an_unknown_format_is_refused_before_anything(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    code, _, err = cli(
        *_args(exported, empty_target, secrets_csv, "--report", str(tmp_path / "r.txt"))
    )
    assert code == 2 and ".xlsx, .csv, .json or .html" in err
    assert empty_target.stats.requests == 0


def test_unreachable_target_exits_3_with_one_line(cli: Cli, exported: Path) -> None:
    code, _, err = cli("import", str(exported), "--url", "http://127.0.0.1:9", "--token", "t")
    assert code == 3
    assert len(err.strip().splitlines()) == 1  # and no traceback: the cli fixture checks


def test_no_secret_or_token_in_report_journal_errors_or_output(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    tmp_path: Path,
    canaries: Any,
) -> None:
    data = json.loads(exported.read_text(encoding="utf-8"))
    data["connections"][0]["alias"] = LONG  # one failure, so --errors holds a row
    exported.write_text(json.dumps(data), encoding="utf-8")
    secrets = tmp_path / "secrets.csv"
    rows = ["kind,name,field,value"]
    for kind, label in (("connector", "name"), ("connection", "alias")):
        for record in data[f"{kind}s"]:
            for name, value in record["params"].items():
                if value == "********":
                    escaped = record[label].replace('"', '""')
                    rows.append(f'{kind},"{escaped}",{name},{canaries.new(name)}')
    secrets.write_text("\n".join(rows) + "\n", encoding="utf-8")
    canaries.add(empty_target.token)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for report in ("r.xlsx", "r.csv", "r.html", "r.json"):
        code, out, err = cli("-vv",
            *_args(exported, empty_target, secrets, "--report", str(out_dir / report),
                   "--errors", str(out_dir / f"errors-{report}")),
        )  # fmt: skip
        assert code == 1, err
        canaries.assert_absent(out, err)
    canaries.assert_absent(out_dir)
    held = {c["name"]: c["params"] for c in empty_target.state.snapshot()["connectors"]}
    assert any(v in held_params.values() for held_params in held.values() for v in canaries.values)


def test_help_has_an_example(cli: Cli) -> None:
    code, out, _ = cli("import", "--help")
    assert code == 0 and "Example:" in out
    for option in ("--rate", "--concurrency", "--batch-size", "--retries", "--journal", "--errors"):
        assert option in out
    text = " ".join(out.split())
    assert "--rate auto|N" in text and "[default: auto]" in text
    assert "find the limit the target enforces" in text and "--no-adapt" in text
    assert "never more than N in any second" in text
    assert "the limit found so far, the 429s" in text  # what the progress line shows


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rate", "fast"], "'fast' is neither 'auto' nor a number of requests per second"),
        (["--rate", "0"], "'0' is not a rate of at least 0.1 requests per second"),
        (["--no-adapt"], "--no-adapt needs a number: --rate N --no-adapt"),
    ],
)
def test_rate_must_be_auto_or_a_number(
    cli: Cli, exported: Path, empty_target: Any, extra: list[str],
    message: str,
) -> None:  # fmt: skip
    args = ["import", str(exported), "--url", empty_target.url, "--token", empty_target.token]
    code, _, err = cli(*args, *extra)
    assert code == 2 and message in " ".join(err.split())
    assert empty_target.stats.requests == 0


def test_bulk_edit_patches_only_the_edited_cell_and_masked_secrets_stay(
    cli: Cli, target_sim: Any, tmp_path: Path
) -> None:
    path = tmp_path / "edit.json"
    export(ConnectionSettings(target_sim.url, target_sim.token), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    edited = data["connectors"][0]
    assert "********" in edited["params"].values()  # the export masked its secret
    before = {c["id"]: c for c in target_sim.state.snapshot()["connectors"]}[edited["id"]]
    edited["params"]["alm_server"] = "moved.example.com"
    path.write_text(json.dumps(data), encoding="utf-8")
    target_sim.stats.reset()
    code, out, err = cli("import", str(path), "--url", target_sim.url, "--token", target_sim.token)
    assert code == 0, err
    assert target_sim.stats.by_method["PATCH"] == 1 and target_sim.stats.by_method["POST"] == 0
    after = {c["id"]: c for c in target_sim.state.snapshot()["connectors"]}[edited["id"]]
    assert after["params"] == {**before["params"], "alm_server": "moved.example.com"}


def test_a_rerun_after_a_failure_applies_a_new_edit_to_a_row_the_journal_holds_as_done(
    cli: Cli, source_sim: Any, tmp_path: Path
) -> None:
    # Bulk edit, same instance: run 1 updates connector 0 and fails on connector 1, so its
    # journal stays open. The user edits connector 0 again, fixes connector 1 and re-runs
    # with the same --report: the new edit must be sent, not skipped as "done earlier".
    path = tmp_path / "edit.json"
    export(ConnectionSettings(source_sim.url, source_sim.token), path, only="connectors")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["connectors"][0]["params"]["sde_min_priority"] = "8"
    data["connectors"][1]["name"] = LONG
    path.write_text(json.dumps(data), encoding="utf-8")
    report = tmp_path / "edit.json.report.json"
    args = ["import", str(path), "--url", source_sim.url, "--token", source_sim.token,
            "--match", "id", "--rate", "200", "--report", str(report)]  # fmt: skip
    code, _, err = cli(*args)
    assert code == 1, err
    data["connectors"][0]["params"]["sde_min_priority"] = "9"
    data["connectors"][1]["name"] = "Renamed"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = cli(*args)
    assert code == 0, err
    held = {c["id"]: c for c in source_sim.state.snapshot()["connectors"]}
    assert held[data["connectors"][0]["id"]]["params"]["sde_min_priority"] == "9"
    assert held[data["connectors"][1]["id"]]["name"] == "Renamed"
    actions = [o["action"] for o in json.loads(report.read_text(encoding="utf-8"))["objects"]]
    assert actions[:2] == ["updated", "updated"]


def test_import_shows_the_files_warnings_before_its_summary(
    cli: Cli,
    exported: Path,
    target_sim: Any,
    secrets_csv: Path,
) -> None:
    document = json.loads(exported.read_text(encoding="utf-8"))
    document["connectors"][0]["params"]["custom_undocumented"] = "kept"
    exported.write_text(json.dumps(document), encoding="utf-8")
    # --strict: the warning is an error, the file is refused and nothing is written.
    code, out, err = cli(*_args(exported, target_sim, secrets_csv, "--strict"))
    assert (code, target_sim.stats.writes) == (2, 0)
    assert (
        "  error: connectors row 1, params.custom_undocumented: not a param of jira; "
        "it will be sent as is (a warning; --strict makes it an error)"
    ) in err.splitlines()
    for extra in (("--dry-run",), ()):
        code, out, err = cli(*_args(exported, target_sim, secrets_csv, *extra))
        assert code == 0, err
        warnings = [line for line in err.splitlines() if line.startswith("  warning: ")]
        assert any("connectors row 1, params.custom_undocumented" in line for line in warnings), err
    assert "every row done, 1 warning;" in out


def test_mode_create_creates_new_connections_on_a_connector_already_there(
    cli: Cli,
    exported: Path,
    target_sim: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    # The sample target already holds two of the file's connectors: create mode leaves
    # those alone (skipped, with the reason), and their new connections are created.
    report = tmp_path / "report.json"
    before = target_sim.state.snapshot()
    args = _args(exported, target_sim, secrets_csv, "--mode", "create", "--report", str(report))
    code, _, err = cli(*args)
    assert code == 0, err
    objects = json.loads(report.read_text(encoding="utf-8"))["objects"]
    assert not [o for o in objects if o["action"] == "failed"]
    left = [o for o in objects if o["action"] == "skipped"]
    assert left and all("--mode create leaves it as it is" in o["note"] for o in left)
    after = target_sim.state.snapshot()
    existing = {(c["project"], c["alias"]) for c in before["connections"]}
    created = sum(o["kind"] == "connection" and o["action"] == "created" for o in objects)
    assert len(after["connections"]) == len(existing) + created
    assert created == 133 - len([o for o in left if o["kind"] == "connection"])
    # Resuming or re-running a finished create-mode import is clean: exit 0, no write.
    writes = target_sim.stats.writes
    code, _, err = cli(*args)
    assert code == 0, err
    assert target_sim.stats.writes == writes


@pytest.mark.parametrize("command", ["import", "migrate"])
def test_ctrl_c_tells_the_user_to_run_the_same_command_again(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    exported: Path,
    tmp_path: Path,
    command: str,
) -> None:
    import almmigrate.importer

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(almmigrate.importer, "import_file", interrupted)
    monkeypatch.setattr(almmigrate.importer, "migrate", interrupted)
    where = ["--url", "http://127.0.0.1:9", "--token", "t"]
    if command == "migrate":
        where = ["--source-url", "http://127.0.0.1:9", "--source-token", "s",
                 "--target-url", "http://127.0.0.1:9", "--target-token", "t"]  # fmt: skip
    args = [command, *([str(exported)] if command == "import" else []), *where]
    code, _, err = cli(*args, "--report", str(tmp_path / "r.xlsx"))
    assert code == 130
    assert "Run the same command again to finish" in err
    journal = exported.with_name("export.json.journal") if command == "import" else None
    assert f"progress is in {journal or 'almmigrate-migrate-127.0.0.1-9.journal'}" in err


def test_a_journal_is_kept_beside_the_file_unless_no_journal(
    cli: Cli, exported: Path, empty_target: Any, secrets_csv: Path
) -> None:
    journal = exported.with_name("export.json.journal")
    code, _, err = cli(*_args(exported, empty_target, secrets_csv, "--no-journal"))
    assert code == 0, err
    assert "journal: none (--no-journal): a re-run looks every object up again" in err
    assert not journal.exists()
    code, _, err = cli(*_args(exported, empty_target, secrets_csv))
    assert code == 0, err
    assert f"journal: {journal} (run the same command again to resume from it)" in err
    assert '"event": "finished"' in journal.read_text(encoding="utf-8")
    code, _, err = cli(
        *_args(exported, empty_target, secrets_csv, "--no-journal", "--journal", "j")
    )
    assert code == 2 and "Give --journal FILE or --no-journal, not both." in err


def test_a_csv_errors_file_names_the_files_that_hold_the_failed_rows(
    cli: Cli, source_sim: Any, tmp_path: Path
) -> None:
    # One CSV holds one sheet: a failed connector goes to NAME.connectors.csv, and the
    # user must be told that file, not a NAME.csv that was never written.
    path = tmp_path / "edit.json"
    export(ConnectionSettings(source_sim.url, source_sim.token), path, only="connectors")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["connectors"][1]["name"] = LONG
    path.write_text(json.dumps(data), encoding="utf-8")
    errors = tmp_path / "failed.csv"
    code, _, err = cli("import", str(path), "--url", source_sim.url, "--token", source_sim.token,
        "--match", "id", "--rate", "200", "--errors", str(errors),
    )  # fmt: skip
    assert code == 1
    assert f"errors: {tmp_path / 'failed.connectors.csv'} (1 row)" in err
    assert (tmp_path / "failed.connectors.csv").is_file() and not errors.exists()


def test_secrets_in_clear_in_the_file_are_scrubbed_from_every_message(
    cli: Cli, source_sim: Any, empty_target: Any, make_sim: Any, target_data: Any, tmp_path: Path
) -> None:
    path = tmp_path / "clear.json"
    # A library call is a run of its own: what it learnt is not the import's to know.
    export(ConnectionSettings(source_sim.url, source_sim.token), path, include_secrets=True)
    clear = json.loads(path.read_text(encoding="utf-8"))["connectors"][0]["params"]["alm_pass"]
    assert clear and clear != "********"
    code, _, err = cli("import", str(path), "--url", empty_target.url, "--token", empty_target.token,
        "--auto-map-projects", "--source-url", source_sim.url, "--source-token", source_sim.token,
        "--rate", "200",
    )  # fmt: skip
    assert code == 0, err
    # Should the server ever echo a value in an error, the report and stderr would mask it:
    # the import learns the secrets from the file alone.
    echoing = make_sim(
        {**target_data, "connectors": [], "connections": []}, faults=Faults(echo_rejects=True)
    )
    report = tmp_path / "echoed.json"
    code, _, err = cli("import", str(path), "--url", echoing.url, "--token", echoing.token,
        "--auto-map-projects", "--source-url", source_sim.url, "--source-token", source_sim.token,
        "--rate", "200", "--report", str(report),
    )  # fmt: skip
    assert code == 1, err
    echoed = report.read_text(encoding="utf-8")
    assert "Invalid request: {" in echoed and "alm_pass" in echoed  # the server did echo them
    assert clear not in err and clear not in echoed


def test_rate_auto_finds_a_sliding_window_limit_with_a_handful_of_429s(
    cli: Cli,
    exported: Path,
    empty_target: Any,
    source_sim: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    # The defaults against a target throttling as Django REST Framework does (at most 30
    # in any second, checked on arrival): every object once, a handful of 429s, not one
    # for every request over the limit; the summary says what it found.
    empty_target.set_faults(Faults(rate_limit=30, throttle="sliding-window"))
    report = tmp_path / "report.json"
    args = [
        "import", str(exported), "--url", empty_target.url, "--token", empty_target.token,
        "--auto-map-projects", "--secrets", str(secrets_csv), "--report", str(report),
    ]  # fmt: skip
    code, out, err = cli(*args)
    assert code == 0, err
    assert_same_objects(source_sim.state.snapshot(), empty_target.state.snapshot())
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert summary["throttled"] == empty_target.stats.throttled <= 10
    assert 0 < summary["settled_rate_per_s"] <= 30
    if summary["throttled"]:
        # Never above what the server counted (+1: one request on the window's edge). How
        # close under it a run settles depends on the machine's load (a busy server bunches
        # the requests it counts): test_ratecontrol finds it on a fake clock.
        assert 0 < summary["limit_found_per_s"] <= 31


def test_no_adapt_keeps_fixed_pacing_and_four_workers() -> None:
    from almmigrate.cli.options import pacing_from
    from almmigrate.client import SDEClient

    pacing = pacing_from(40.0, True, None)
    assert pacing == {"rate": 40.0, "adapt": False, "concurrency": 4}
    with SDEClient(ConnectionSettings("http://127.0.0.1:9", "t0ken-x", **pacing)) as client:
        assert client.limiter.controller is None and client.limiter.rate == 40.0
        assert client.workers == 4 and client.rate_status() is None
    auto = pacing_from(None, False, None)
    with SDEClient(ConnectionSettings("http://127.0.0.1:9", "t0ken-x", **auto)) as client:
        assert client.limiter.controller is not None and client.limiter.controller.ceiling is None
        assert client.workers == 32  # threads; requests in flight follow rate x latency


def test_skipped_rows_are_counted_not_called_done(
    cli: Cli, exported: Path, source_sim: Any, secrets_csv: Path
) -> None:
    # --mode create on the instance the file came from: every object is there already.
    args = ["--url", source_sim.url, "--token", source_sim.token, "--mode", "create"]
    args += ["--secrets", str(secrets_csv)]
    code, out, err = cli("import", str(exported), *args, "--match", "id")
    assert code == 0, err
    assert "import finished: 145 objects, 145 skipped (see the report), none failed" in out
    assert "every row done" not in out


def test_the_report_of_a_resumed_run_covers_the_whole_job_and_says_which_run_did_what(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    exported: Path,
    empty_target: Any,
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    import _thread
    import signal
    import threading

    journal, report = tmp_path / "job.journal", tmp_path / "report.json"
    args = _args(exported, empty_target, secrets_csv, "--journal", str(journal))
    args += ["--batch-size", "10"]
    stop = threading.Event()
    # After 60 writes the target stops answering until the Ctrl-C: the run cannot end first.
    hold = empty_target.hold(lambda: empty_target.stats.writes >= 60)

    def ctrl_c_after_60_writes() -> None:
        while not hold.holding.wait(0.01) and not stop.is_set():
            pass
        if not stop.is_set():
            _thread.interrupt_main()  # Ctrl-C, while writes are in flight
        hold.release()

    # A Ctrl-C handled earlier in this process leaves a handler that ends it at the next one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=ctrl_c_after_60_writes, daemon=True)
    watcher.start()
    try:
        assert cli(*args)[0] == 130
    finally:
        stop.set()
        hold.release()
        watcher.join()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    events = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    done = {(e["kind"], e["key"]) for e in events if e["event"] == "done"}
    started = {(e["kind"], e["key"]) for e in events if e["event"] == "start"}
    assert 10 <= len(done) < 145 and started - done  # some were in flight

    code, out, err = cli(*args, "--report", str(report))
    assert code == 0, err
    rows = json.loads(report.read_text(encoding="utf-8"))["objects"]
    by_run = {(r["kind"], r["key"]): (r["action"], r["done_by"]) for r in rows}
    assert len(by_run) == 145
    assert {by_run[k] for k in done} == {("created", "earlier run")}
    in_flight = {k: by_run[k] for k in started - done}
    assert set(in_flight.values()) <= {
        ("adopted", "earlier run, outcome unknown"),
        ("created", "this run"),  # queued but not yet sent when the run stopped
    }
    assert ("adopted", "earlier run, outcome unknown") in in_flight.values()
    assert {v for k, v in by_run.items() if k not in started} == {("created", "this run")}
    assert not [r for r in rows if r["action"] == "unchanged"]
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    earlier = sum(1 for action, run in by_run.values() if run != "this run")
    assert summary["by_earlier"] == earlier and summary["created"] + summary["adopted"] == 145
    assert re.search(rf"^by_earlier +{earlier}$", out, re.M)
    held = empty_target.state.snapshot()
    assert (len(held["connectors"]), len(held["connections"])) == (12, 133)  # none twice


@pytest.mark.parametrize(
    ("command", "xlsx"),
    [
        ("import", "--errors"),
        ("import", "--report"),
        ("migrate", "--errors"),
        ("test", "--report"),
        ("verify", "--report"),
        ("export", "--out"),
    ],
)
def test_an_xlsx_writer_the_installation_lacks_is_refused_before_the_first_request(
    cli: Cli, source_sim: Any, target_sim: Any, exported: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, command: str, xlsx: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("ALMMIGRATE_XLSX_WRITER", "rust")
    monkeypatch.setenv("SDE_SOURCE_TOKEN", source_sim.token)
    monkeypatch.setenv("SDE_TARGET_TOKEN", target_sim.token)
    monkeypatch.setenv("SDE_TOKEN", target_sim.token)
    source_sim.stats.reset()
    args = {
        "import": [str(exported), "--url", target_sim.url],
        "migrate": ["--source-url", source_sim.url, "--target-url", target_sim.url],
        "test": [str(exported), "--url", target_sim.url],
        "verify": [str(exported), "--url", target_sim.url],
        "export": ["--url", target_sim.url],
    }[command]
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = cli(command, *args, xlsx, str(out / "written.xlsx"))
    assert code == 2, err
    assert err.strip().endswith(
        "ALMMIGRATE_XLSX_WRITER='rust': say xlsxwriter or rust_xlsxwriter, or leave it unset"
    )
    assert source_sim.stats.requests == target_sim.stats.requests == 0
    assert list(out.iterdir()) == []
