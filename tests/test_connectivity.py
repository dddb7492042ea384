"""`almmigrate test`: connectivity tests through the simulator's testalm endpoints."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from almmigrate.client import SDEClient
from almmigrate.connectivity import (
    FAILED,
    NOT_AVAILABLE,
    NOT_RUN,
    PASSED,
    SKIPPED,
    run_for_dataset,
    run_for_instance,
    write_results,
)
from almmigrate.dataset import ConnectionRecord, ConnectorRecord, Dataset
from almmigrate.mapping import ProjectMap
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK
from almmigrate.secretsfile import SecretValues
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import SimServer

CANARY = "canary-Pa55-7f3e9b"  # a secret that must never be printed or written
TOKEN = "canary-token-51d0c"


def instance_data() -> dict[str, Any]:
    jira = {"alm_method": "https", "alm_user": "svc", "alm_pass": CANARY, "jira_version": "cloud"}
    return {
        "token": TOKEN,
        "business_units": [{"id": 1, "name": "Unit", "slug": "unit"}],
        "applications": [{"id": 1, "name": "App", "slug": "app", "business_unit": 1}],
        "projects": [
            {"id": 7, "name": "Web", "slug": "web", "application": 1},
            {"id": 8, "name": "=Formula", "slug": "formula", "application": 1},
        ],
        "connectors": [
            {"id": 1, "name": "Jira OK", "system": "jira", "inaccessible": False,
             "params": {**jira, "alm_server": "jira.example"}, "fields_editable_on_project": None},
            {"id": 2, "name": "=Jira down", "system": "jira", "inaccessible": False,
             "params": {**jira, "alm_server": "gone.invalid"}, "fields_editable_on_project": None},
        ],
        "connections": [
            {"id": 1, "alias": "Web OK", "connector": 1, "project": 7, "frequency": "daily",
             "debug_mode": False, "inaccessible": False, "in_progress": False,
             "params": {"alm_project": "WEB"}, "last_job": None},
            {"id": 2, "alias": "Web down", "connector": 2, "project": 8, "frequency": "daily",
             "debug_mode": False, "inaccessible": False, "in_progress": False,
             "params": {"alm_project": "WEB"}, "last_job": None},
        ],
    }  # fmt: skip


@pytest.fixture
def instance():
    with SimServer(data=instance_data()) as server:
        yield server


def run_cli(sim_url: str, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SDE_URL=sim_url, SDE_TOKEN=token, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "almmigrate", "test", *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_all_reports_every_object_and_exits_1_when_one_fails(instance, tmp_path):
    report = tmp_path / "tests.json"
    result = run_cli(instance.url, "--all", "--report", str(report))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    row = next(line for line in lines if "=Jira down" in line)
    assert "failed" in row and "Unable to connect to the ALM server gone.invalid" in row
    assert "Jira OK" not in result.stdout  # only what did not pass is listed, then the counts
    assert "2 passed, 2 failed, 0 skipped" in result.stdout
    saved = json.loads(report.read_text())
    assert saved["summary"] == {PASSED: 2, FAILED: 2, SKIPPED: 0, NOT_AVAILABLE: 0}
    assert {(r["kind"], r["name"], r["result"]) for r in saved["results"]} == {
        ("connector", "Jira OK", PASSED),
        ("connector", "=Jira down", FAILED),
        ("connection", "Web OK (project 7)", PASSED),
        ("connection", "Web down (project 8)", FAILED),
    }
    for text in (result.stdout, result.stderr, report.read_text()):
        assert CANARY not in text and TOKEN not in text
    assert instance.stats.writes == 0  # testing never changes the instance


def test_all_passes_with_exit_0_and_a_csv_report_keeps_text_inert(instance, tmp_path):
    with SDEClient(ConnectionSettings(instance.url, TOKEN)) as client:
        client.update_connector(2, {"params": {"alm_server": "up.example"}})
    report = tmp_path / "tests.csv"
    result = run_cli(instance.url, "--all", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "4 passed, 0 failed, 0 skipped\n"  # nothing to list
    with open(report, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows if r["kind"] == "connector"] == ["Jira OK", "'=Jira down"]


def recording(client: SDEClient, sent: list[dict[str, Any]]) -> SDEClient:
    """The real client, remembering each testalm body it sends."""
    for name in ("test_connector", "test_connection"):
        real = getattr(client, name)

        def send(body, real=real):
            sent.append(json.loads(json.dumps(body)))
            return real(body)

        setattr(client, name, send)
    return client


def file_dataset() -> Dataset:
    """A file from another instance: masked secrets, its own ids."""
    params = {"alm_method": "https", "alm_server": "new.example", "alm_user": "svc",
              "alm_pass": MASK, "jira_version": "cloud"}  # fmt: skip
    return Dataset(
        connectors=[
            ConnectorRecord("Jira OK", "jira", dict(params), id=31, row=2),
            ConnectorRecord("Jira New", "jira", dict(params), id=32, row=3),
        ],
        connections=[
            ConnectionRecord("Web OK", project=107, connector=31, system="jira",
                             params={"alm_project": "WEB2"}, row=2),
            ConnectionRecord("Web New", project=107, connector=32, system="jira",
                             params={"alm_project": "NEW"}, row=3),
            ConnectionRecord("Elsewhere", project=999, connector=31, system="jira",
                             params={"alm_project": "X"}, row=4),
        ],
    )  # fmt: skip


def test_masked_secrets_come_from_the_secrets_file_or_the_instance(instance):
    secrets = SecretValues()
    secrets.add("connector", "Jira OK", "alm_pass", "supplied-secret-1")
    sent: list[dict[str, Any]] = []
    with SDEClient(ConnectionSettings(instance.url, TOKEN)) as client:
        results = run_for_dataset(
            recording(client, sent),
            file_dataset(),
            plugins=bundled_plugins(),
            secrets=secrets,
            project_map=ProjectMap({107: 7}),
        )
    outcome = {(r.kind, r.name): (r.result, r.message) for r in results}
    assert outcome[("connector", "Jira OK")] == (PASSED, "")
    # Not on the instance and not supplied: skipped, never sent with the mask.
    assert outcome[("connector", "Jira New")][0] == SKIPPED
    assert outcome[("connector", "Jira New")][1].startswith("secret not supplied: alm_pass")
    assert outcome[("connection", "Web OK (project 7)")] == (PASSED, "")
    assert outcome[("connection", "Web New (project 7)")] == (
        SKIPPED,
        "connector 'Jira New' is not on the instance (import it first)",
    )
    assert outcome[("connection", "Elsewhere (project None)")][1] == (
        "project 999 is not in the project map"
    )
    assert [r.row for r in results] == [2, 3, 2, 3, 4]
    connector_body, connection_body = sent
    assert connector_body == {
        "name": "Jira OK",
        "system": {"id": "jira"},
        "params": {"alm_method": "https", "alm_server": "new.example", "alm_user": "svc",
                   "alm_pass": "supplied-secret-1", "jira_version": "cloud"},
    }  # fmt: skip
    # The connection runs on the instance's connector 1, with the file's params over it.
    assert connection_body["connector"] == 1 and connection_body["project"] == 7
    assert connection_body["params"]["alm_pass"] == "supplied-secret-1"
    assert connection_body["params"]["alm_server"] == "new.example"
    assert connection_body["params"]["alm_project"] == "WEB2"
    assert all(MASK not in json.dumps(body) for body in sent)


def test_without_a_secrets_file_the_instance_secret_is_used(instance):
    sent: list[dict[str, Any]] = []
    with SDEClient(ConnectionSettings(instance.url, TOKEN)) as client:
        results = run_for_dataset(
            recording(client, sent), file_dataset(), plugins=bundled_plugins(),
            project_map=ProjectMap({107: 7}),
        )  # fmt: skip
    assert results[0].result == PASSED
    assert sent[0]["params"]["alm_pass"] == CANARY


def test_a_failed_validation_is_a_failed_row_with_the_servers_message(instance):
    dataset = Dataset(connectors=[ConnectorRecord("Bad", "jira", {"alm_method": "gopher"}, row=2)])
    with SDEClient(ConnectionSettings(instance.url, TOKEN)) as client:
        [result] = run_for_dataset(client, dataset, plugins=bundled_plugins())
    assert result.result == FAILED
    assert '"gopher" is not one of https, http' in result.message


def test_unreachable_instance_exits_3(tmp_path, closed_port):
    result = run_cli(f"http://127.0.0.1:{closed_port}", "--all", "--retries", "0")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_wrong_token_exits_3_without_showing_it(instance):
    result = run_cli(instance.url, "--all", token="wrong-token-9c1e")
    assert result.returncode == 3
    assert "wrong-token-9c1e" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", [[], ["some.xlsx", "--all"]])
def test_file_or_all_is_required(instance, tmp_path, args):
    if args:
        (tmp_path / "some.xlsx").write_bytes(b"")
        args = [str(tmp_path / "some.xlsx"), "--all"]
    result = run_cli(instance.url, *args)
    assert result.returncode == 2
    assert "Give either FILE or --all." in result.stderr


def test_report_must_be_csv_json_xlsx_or_html(tmp_path):
    with pytest.raises(Exception, match=r"the report must end in \.csv, \.json, \.xlsx or \.html"):
        write_results(tmp_path / "r.txt", [])
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_report_name_is_refused_before_any_test_runs(instance, tmp_path):
    result = run_cli(instance.url, "--all", "--report", str(tmp_path / "tests.txt"))
    assert result.returncode == 2
    assert "the report must end in .csv, .json, .xlsx or .html" in result.stderr
    assert instance.stats.by_path.get("POST /api/v2/connectors/alm/testalm/", 0) == 0


def test_the_library_call_runs_the_tests_and_writes_the_report(instance, tmp_path):
    from almmigrate.connectivity import run_connectivity
    from almmigrate.errors import InputError

    settings = ConnectionSettings(instance.url, TOKEN)
    with pytest.raises(InputError, match=r"the report must end in \.csv"):
        run_connectivity(settings, report=tmp_path / "tests.txt")
    assert instance.stats.requests == 0  # refused before the instance is asked anything
    report = tmp_path / "tests.json"
    found = run_connectivity(settings, report=report)
    assert found.report == report and found.exit_code == 1
    saved = json.loads(report.read_text())
    assert saved["summary"] == {PASSED: 2, FAILED: 2, SKIPPED: 0, NOT_AVAILABLE: 0}
    assert [(r["name"], r["result"]) for r in saved["results"]] == [
        (r.name, r.result) for r in found.results
    ]
    assert CANARY not in report.read_text() and TOKEN not in report.read_text()
    assert run_connectivity(settings).report is None and list(tmp_path.iterdir()) == [report]


def test_the_report_can_be_a_workbook_or_a_web_page_as_for_import(instance, tmp_path):
    import openpyxl

    book, page = tmp_path / "tests.xlsx", tmp_path / "tests.html"
    for report in (book, page):
        result = run_cli(instance.url, "--all", "--report", str(report))
        assert result.returncode == 1, result.stderr
    sheet = openpyxl.load_workbook(book)["results"]
    rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ("kind", "row", "name", "system", "result", "message")
    results = {(r[0], r[2]): r[4] for r in rows[1:]}
    assert results[("connector", "Jira OK")] == PASSED
    assert results[("connector", "=Jira down")] == FAILED  # a text cell, never a formula
    text = page.read_text(encoding="utf-8")
    assert "<tr class='failed'><td class='wrap'>connector</td>" in text
    assert text.count("<tr class='failed'>") == list(results.values()).count(FAILED)


def test_a_file_is_tested_row_by_row(instance, tmp_path):
    exported = tmp_path / "export.xlsx"
    env = dict(os.environ, SDE_URL=instance.url, SDE_TOKEN=TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "almmigrate", "export", "--out", str(exported)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert CANARY.encode() not in exported.read_bytes()
    secrets = tmp_path / "secrets.csv"
    secrets.write_text("kind,name,field,value\nconnector,Jira OK,alm_pass,from-file-123\n")
    report = tmp_path / "report.csv"
    result = run_cli(
        instance.url, str(exported), "--secrets", str(secrets), "--report", str(report)
    )
    assert result.returncode == 1, result.stderr
    with open(report, newline="", encoding="utf-8") as handle:
        rows = [(r["kind"], r["row"], r["name"], r["result"]) for r in csv.DictReader(handle)]
    assert rows == [
        ("connector", "2", "Jira OK", PASSED),
        ("connector", "3", "'=Jira down", FAILED),
        ("connection", "2", "Web OK (project 7)", PASSED),
        ("connection", "3", "Web down (project 8)", FAILED),
    ]
    assert "from-file-123" not in result.stdout + report.read_text()
    assert instance.stats.writes == 0


def test_a_connection_row_without_system_shows_its_connectors(instance):
    """A filled template leaves a connection's system empty: the table shows its connector's."""
    dataset = Dataset(
        connectors=[ConnectorRecord("Jira New", system="jira", params={"alm_pass": MASK}, row=2)],
        connections=[
            ConnectionRecord("Web New", project=7, connector_name="Jira New", row=2),
            ConnectionRecord("Web OK 2", project=7, connector_name="Jira OK", row=3),
        ],
    )
    with SDEClient(ConnectionSettings(instance.url, TOKEN)) as client:
        results = run_for_dataset(client, dataset, plugins=bundled_plugins())
    systems = {(r.kind, r.name): (r.system, r.result) for r in results}
    assert systems[("connection", "Web New (project 7)")] == ("jira", SKIPPED)
    assert systems[("connection", "Web OK 2 (project 7)")] == ("jira", PASSED)


def test_progress_is_reported_as_each_test_ends(instance):
    seen: list[tuple[int, int]] = []
    with SDEClient(ConnectionSettings(instance.url, TOKEN)) as client:
        plugins = client.list_plugins()
        run_for_instance(
            client, plugins=plugins, concurrency=2, on_progress=lambda d, t: seen.append((d, t))
        )
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_ctrl_c_during_test_all_writes_the_report_of_what_ran(source_sim, tmp_path):
    import signal

    from almmigrate.sim import Faults

    source_sim.set_faults(Faults(latency_ms=60))
    report = tmp_path / "tests.json"
    env = dict(os.environ, SDE_URL=source_sim.url, SDE_TOKEN=source_sim.token)
    # After ten tests the instance stops answering until the Ctrl-C: the run cannot end first.
    hold = source_sim.hold(lambda: source_sim.stats.as_dict()["by_method"].get("POST", 0) >= 10)
    process = subprocess.Popen(
        [sys.executable, "-m", "almmigrate", "test", "--all", "--report", str(report)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert hold.holding.wait(60), process.communicate(timeout=60)
        process.send_signal(signal.SIGINT)
    finally:
        hold.release()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert "Interrupted (Ctrl-C): tests not run are marked skipped." in err
    saved = json.loads(report.read_text())
    messages = [r["message"] for r in saved["results"]]
    assert len(messages) == 145 and 10 <= len(messages) - messages.count(NOT_RUN) < 145


def test_a_test_never_sends_what_only_the_server_writes() -> None:
    from almmigrate.connectivity import run_for_instance
    from almmigrate.models import Connection, Connector

    sent: list[dict[str, object]] = []

    class Recording:
        def list_connectors(self) -> list[Connector]:
            return []

        def list_connections(self, project=None, include_last_job=False):  # type: ignore[no-untyped-def]
            params = {"issue_tracker_project": "KEY", "last_successful_run": "2026-10-01T00:00:00Z"}
            return [
                Connection(id=1, alias="a", connector=2, project=3, system="jira", params=params)
            ]

        def test_connector(self, body: dict[str, object]) -> dict[str, object]:
            raise AssertionError("no connector to test")

        def test_connection(self, body: dict[str, object]) -> dict[str, object]:
            sent.append(body)
            return {"success": True}

    results = run_for_instance(Recording(), plugins={})
    assert [r.result for r in results] == [PASSED]
    assert [b["params"] for b in sent] == [{"issue_tracker_project": "KEY"}]
