"""No credential and no token in any output of any command, at -vv.

Canary values are planted where secrets live: masked_string params of the
source's and the target's connectors, connections' own secret params, a param
that is secret only by its name (custom_api_key), the secrets file and both
API tokens. Every command then runs at -vv and stdout, stderr and every byte
of every file it wrote (inside xlsx archives too) are searched for each canary.
Only `export --include-secrets` may hold credentials, and never a token.
"""

from __future__ import annotations

import csv
import html
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cli_runs import Cli, CliResult

from almmigrate.schema import bundled_plugins, is_secret
from almmigrate.secrets import MASK
from almmigrate.sim import Faults, SimServer

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
AMBIGUOUS = "Jira Cloud – Montréal"  # held twice more on the target, so its rows fail


@dataclass
class World:
    """Two simulated instances holding canaries, a secrets file, and where outputs go."""

    source: SimServer
    target: SimServer
    secrets: Path  # holds canaries by design: kept out of the searched folder
    out: Path  # every file a command writes goes under here
    credentials: list[str]  # canary credentials (not the tokens)
    tokens: list[str]
    streams: list[str]  # stdout and stderr of every command run

    @property
    def at_source(self) -> list[str]:
        """--url and --token of the source (SDE_TOKEN holds the target's)."""
        return ["--url", self.source.url, "--token", self.tokens[0]]


def _is_secret_param(system: str, name: str) -> bool:
    return is_secret(name, bundled_plugins().get(system))


def _secret_params(data: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(kind, object, param name) of every secret param in a data file's objects."""
    systems = {c["id"]: c["system"] for c in data["connectors"]}
    found = []
    for kind in ("connectors", "connections"):
        for item in data[kind]:
            system = item["system"] if kind == "connectors" else systems[item["connector"]]
            found += [(kind, item, n) for n in item["params"] if _is_secret_param(system, n)]
    return found


def _plant(data: dict[str, Any], canaries: Any, label: str) -> list[str]:
    """Replace every secret param value of `data` with a new canary; the canaries."""
    planted = []
    for kind, item, name in _secret_params(data):
        item["params"][name] = canaries.new(f"{label}-{kind}-{item['id']}-{name}")
        planted.append(item["params"][name])
    return planted


@pytest.fixture
def world(
    make_sim: Any,
    canaries: Any,
    source_data: dict[str, Any],
    target_data: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    # A param that is secret by its name only, on a connector and on a connection.
    source_data["connectors"][0]["params"]["custom_api_key"] = "to be replaced"
    source_data["connections"][0]["params"]["custom_api_key"] = "to be replaced"
    credentials = _plant(source_data, canaries, "src") + _plant(target_data, canaries, "tgt")
    duplicate = next(c for c in source_data["connectors"] if c["name"] == AMBIGUOUS)
    target_data["connectors"] += [
        {**duplicate, "id": 900 + i, "params": {**duplicate["params"], "alm_pass": value}}
        for i, value in enumerate((canaries.new("tgt-dup-1"), canaries.new("tgt-dup-2")))
    ]
    credentials += canaries.values[-2:]
    tokens = [canaries.new("source-token"), canaries.new("target-token")]
    source = make_sim(source_data, token=tokens[0])
    target = make_sim(target_data, token=tokens[1])
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    secrets = inputs / "secrets.csv"
    rows = []
    for kind, items, key in (
        ("connector", source_data["connectors"], "name"),
        ("connection", source_data["connections"], "alias"),
    ):
        for item in items:
            for name, value in item["params"].items():
                if value in credentials:
                    value = canaries.new(f"file-{kind}-{item['id']}-{name}")
                    credentials.append(value)
                    rows.append({"kind": kind, "name": item[key], "field": name, "value": value})
    with secrets.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setenv("SDE_SOURCE_TOKEN", tokens[0])
    monkeypatch.setenv("SDE_TARGET_TOKEN", tokens[1])
    monkeypatch.setenv("SDE_TOKEN", tokens[1])
    out = tmp_path / "out"
    out.mkdir()
    return World(source, target, secrets, out, credentials, tokens, [])


def run(cli: Cli, world: World, *args: str) -> CliResult:
    """The CLI in-process at -vv: (exit code, stdout, stderr); both streams kept for the search."""
    result = cli("-vv", *args)
    world.streams += [result.out, result.err]
    return result


def assert_no_leak(canaries: Any, world: World) -> None:
    """No canary in any file under world.out, nor in any stream."""
    canaries.assert_absent(world.out, *world.streams)


def test_the_canaries_are_planted_where_secrets_live(world: World) -> None:
    held = json.dumps(world.source.state.snapshot()) + json.dumps(world.target.state.snapshot())
    assert sum(value in held for value in world.credentials) >= 20
    assert world.secrets.read_text(encoding="utf-8").count("CANARY-file-") >= 16


@pytest.mark.parametrize("out", ["export.xlsx", "export.json", "export-csv"])
def test_export_masks_every_credential_in_each_format(
    cli: Cli, canaries: Any, world: World, out: str
) -> None:
    path = world.out / out
    code, _, err = run(
        cli, world, "export", *world.at_source,
        "--out", str(path), "--with-last-job",
    )  # fmt: skip
    assert code == 0, err
    assert "INFO httpx: HTTP Request: GET" in err  # -vv really logged every request
    assert_no_leak(canaries, world)
    assert MASK.encode() in _contents(path)  # the masks are where the canaries were


def _contents(path: Path) -> bytes:
    """Every byte of a file or folder, xlsx archives unpacked."""
    blobs = []
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
                blobs += [archive.read(member) for member in archive.namelist()]
        elif file.is_file():
            blobs.append(file.read_bytes())
    return b"".join(blobs)


def test_include_secrets_writes_the_credentials_and_never_a_token(
    cli: Cli, canaries: Any, world: World
) -> None:
    source_credentials = [v for v in world.credentials if v.startswith("CANARY-src-")]
    for name in ("clear.json", "clear.xlsx"):
        path = world.out / name
        code, _, err = run(
            cli, world, "export", *world.at_source, "--include-secrets", "--out", str(path)
        )
        assert code == 0, err
        written = _contents(path).decode("utf-8")
        assert source_credentials and all(v in written for v in source_credentials), name
        assert not any(token in written for token in world.tokens)
        assert canaries.found_in(path)  # the search looks inside the workbook, and finds them
        path.unlink()  # the one file allowed to hold credentials; everything else is searched
    assert_no_leak(canaries, world)


def test_validate_map_plan_and_import_with_every_report_format(
    cli: Cli, canaries: Any, world: World
) -> None:
    out, target = world.out, world.target.url
    exported = out / "export.xlsx"
    assert run(cli, world, "export", *world.at_source, "--out", str(exported))[0] == 0
    code, _, err = run(
        cli, world, "validate", str(exported), "--url", target, "--secrets", str(world.secrets)
    )
    assert code == 0, err
    code, _, err = run(
        cli, world, "map-projects", "--source-url", world.source.url,
        "--target-url", target, "--out", str(out / "map.csv"),
    )  # fmt: skip
    assert code == 0, err
    common = [
        "--url",
        target,
        "--project-map",
        str(out / "map.csv"),
        "--secrets",
        str(world.secrets),
    ]
    code, _, err = run(cli, world, "plan", str(exported), *common, "--out", str(out / "plan.json"))
    assert code in (0, 1), err
    code, _, err = run(
        cli, world, "import", str(exported), *common, "--rate", "1000",
        "--report", str(out / "report.xlsx"), "--errors", str(out / "errors.xlsx"),
        "--journal", str(out / "import.journal"),
    )  # fmt: skip
    assert code == 1, err  # the ambiguous connector's rows fail, the rest is written
    assert "failed: connector" in err
    for report in ("report.csv", "report.json", "report.html"):
        code, _, err = run(
            cli, world, "import", str(exported), *common, "--rate", "1000",
            "--report", str(out / report), "--errors", str(out / f"errors-{report}.csv"),
        )  # fmt: skip
        assert code == 1, err
    # The secrets file's values really reached the target (so they were in the process).
    held = json.dumps(world.target.state.snapshot())
    assert sum(v in held for v in world.credentials if v.startswith("CANARY-file-")) >= 10
    assert (out / "errors.xlsx").stat().st_size > 0 and (out / "import.journal").stat().st_size > 0
    assert_no_leak(canaries, world)


def test_migrate_keeps_clear_secrets_in_memory_only(cli: Cli, canaries: Any, world: World) -> None:
    out = world.out
    code, _, err = run(
        cli, world, "migrate", "--source-url", world.source.url,
        "--target-url", world.target.url, "--rate", "1000",
        "--report", str(out / "migrate.json"), "--errors", str(out / "errors.json"),
        "--journal", str(out / "migrate.journal"),
    )  # fmt: skip
    assert code == 1, err  # the ambiguous connector's rows fail
    errors = json.loads((out / "errors.json").read_text(encoding="utf-8"))
    assert MASK in json.dumps(errors)  # the failed rows are there, their secrets masked
    held = json.dumps(world.target.state.snapshot())
    assert any(v in held for v in world.credentials if v.startswith("CANARY-src-"))
    assert_no_leak(canaries, world)


def test_connectivity_tests_and_templates(cli: Cli, canaries: Any, world: World) -> None:
    out = world.out
    exported = out / "export.json"
    assert run(cli, world, "export", *world.at_source, "--out", str(exported))[0] == 0
    code, _, err = run(
        cli, world, "test", "--all", *world.at_source, "--report", str(out / "all.json")
    )
    assert code in (0, 1), err
    code, _, err = run(
        cli, world, "test", str(exported), *world.at_source,
        "--secrets", str(world.secrets), "--report", str(out / "file.csv"),
    )  # fmt: skip
    assert code in (0, 1), err
    assert (out / "all.json").stat().st_size > 0 and (out / "file.csv").stat().st_size > 0
    code, _, err = run(
        cli, world, "template", "--system", "jira", "--url", world.target.url,
        "--out", str(out / "jira.xlsx"),
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(cli, world, "template", "--all", "--out", str(out / "templates"))
    assert code == 0, err
    assert_no_leak(canaries, world)


def test_a_refused_token_and_an_unreachable_url_are_reported_without_it(
    cli: Cli, canaries: Any, world: World
) -> None:
    wrong = canaries.new("wrong-token")
    code, _, err = run(
        cli, world, "export", "--url", world.source.url, "--token", wrong,
        "--out", str(world.out / "x.json"),
    )  # fmt: skip
    assert code == 3, err
    code, _, err = run(
        cli, world, "export", "--url", "http://127.0.0.1:9/", "--token", wrong,
        "--out", str(world.out / "y.json"), "--timeout", "2",
    )  # fmt: skip
    assert code == 3, err
    assert "Traceback" in err  # -vv shows the traceback, and it is scrubbed too
    assert_no_leak(canaries, world)


def test_demo_writes_no_sample_secret_and_no_token(
    cli: Cli,
    canaries: Any,
    world: World,
    sample_secrets: list[dict[str, str]],
) -> None:
    # The demo runs on the bundled samples: their secrets and tokens are the canaries here.
    canaries.add(*(row["value"] for row in sample_secrets))
    for name in ("source.json", "target.json"):
        data = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
        canaries.add(data["token"])
        canaries.add(*(str(item["params"][n]) for _, item, n in _secret_params(data)))
    code, _, err = run(cli, world, "demo", "--out", str(world.out / "demo"))
    assert code == 0, err
    assert len(list((world.out / "demo").rglob("*"))) >= 5
    assert_no_leak(canaries, world)


ESCAPED_SECRET = 'Pa\\ssw0rd"Leak-91'  # a backslash and a quote: every encoding changes it
SHORT_SECRET = "Qz9"


def _escaped_forms(value: str) -> list[str]:
    """How a server or a report may show the value: raw, repr, JSON, URL-encoded, HTML."""
    inner_repr = repr(value)[1:-1]
    return [
        value,
        inner_repr,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        html.escape(inner_repr),
        html.escape(value),
    ]


def test_a_400_echoing_the_request_as_a_repr_shows_no_secret_in_any_form(
    cli: Cli, make_sim: Any, source_data: dict[str, Any],
    target_data: dict[str, Any], sample_secrets: list[dict[str, str]], tmp_path: Path,
) -> None:  # fmt: skip
    source = make_sim(source_data, token="source-token-1")
    target = make_sim(target_data, token="target-token-1", faults=Faults(echo_rejects=True))
    exported = tmp_path / "export.json"
    code, _, err = cli("export", "--url", source.url, "--token", "source-token-1", "--out", str(exported))  # fmt: skip
    assert code == 0, err
    for row in sample_secrets:
        if row["name"] == "Jira Cloud – Montréal" and row["field"] == "alm_pass":
            row["value"] = ESCAPED_SECRET
        elif row["name"] == "Jira 007" and row["field"] == "alm_pass":
            row["value"] = SHORT_SECRET
    secrets = tmp_path / "secrets.csv"
    with secrets.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(sample_secrets)
    report = tmp_path / "report.html"
    code, _, err = cli(
        "-vv", "import", str(exported), "--url", target.url, "--token", "target-token-1",
        "--auto-map-projects", "--source-url", source.url, "--source-token", "source-token-1",
        "--secrets", str(secrets), "--rate", "1000", "--report", str(report),
    )  # fmt: skip
    assert code == 1, err
    html_text = report.read_text(encoding="utf-8")
    # The server did echo both secrets (so the test can fail) ...
    assert "Invalid request: {" in err and "alm_user" in err
    for output in (err, html_text):
        for form in _escaped_forms(ESCAPED_SECRET):
            assert form not in output, form
        # ... and the 3-character one is hidden where it is a field's value, in any quoting.
        assert not re.search(r"alm_pass\W{1,16}Qz9", output), output[:2000]
    assert "Invalid request" in html_text  # the server's message is still there, redacted


def test_verify_and_an_issue_tracker_target_show_no_secret(
    cli: Cli, canaries: Any, world: World, make_sim: Any
) -> None:
    """Cross-generation migrate with --verify, then verify of the new target's export."""
    out = world.out
    target = make_sim(world.target.state.snapshot(), token=world.tokens[1], api="issue-tracker")
    code, _, err = run(
        cli, world, "migrate", "--source-url", world.source.url,
        "--target-url", target.url, "--rate", "1000", "--verify",
        "--report", str(out / "migrate.html"), "--errors", str(out / "errors.csv"),
        "--journal", str(out / "migrate.journal"),
    )  # fmt: skip
    assert code == 1, err  # the ambiguous connector's rows fail
    assert "verify:" in err + world.streams[-2]
    exported = out / "issue-tracker.xlsx"
    code, _, err = run(cli, world, "export", "--url", target.url, "--out", str(exported))
    assert code == 0, err
    code, said, _ = run(
        cli, world, "verify", str(exported), "--url", target.url,
        "--report", str(out / "verify.html"),
    )  # fmt: skip
    # Only the connector this world holds three times on the target cannot be compared.
    differences = said.splitlines()[1:]
    assert code == 1 and differences, said
    assert all("ambiguous" in line for line in differences), said
    held = json.dumps(target.state.snapshot())
    assert any(v in held for v in world.credentials if v.startswith("CANARY-src-"))
    assert_no_leak(canaries, world)


def test_two_imports_at_once_in_one_process_each_hide_their_own_secrets(
    make_sim: Any, target_data: dict[str, Any], exported: Path,
    sample_secrets: list[dict[str, str]], canaries: Any, tmp_path: Path,
) -> None:  # fmt: skip
    """Library use: two runs in two threads of one process, each with its own secrets file and
    a target that echoes every refused write; no reset between or after them."""
    from concurrent.futures import ThreadPoolExecutor

    from almmigrate.importer import RunOptions, import_file
    from almmigrate.prepare import ImportOptions
    from almmigrate.settings import ConnectionSettings

    def one_import(label: str) -> Path:
        secrets = tmp_path / f"secrets-{label}.csv"  # holds canaries by design: not searched
        with secrets.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
            writer.writeheader()
            writer.writerows(
                {**row, "value": canaries.new(f"{label}-{row['field']}")} for row in sample_secrets
            )
        target = make_sim(
            {**target_data, "connectors": [], "connections": []}, faults=Faults(echo_rejects=True)
        )
        out = tmp_path / label
        out.mkdir()
        done = import_file(
            exported,
            ConnectionSettings(target.url, target.token),
            ImportOptions(auto_map_projects=True, secrets=str(secrets)),
            # Each its own journal: by default both would keep the one beside the file.
            RunOptions(
                report=out / "report.html", errors=out / "errors.csv", journal=out / "run.journal"
            ),
        )
        assert done.result is not None and done.result.failed  # every write was refused
        return out

    with ThreadPoolExecutor(2) as runs:
        outs = list(runs.map(one_import, ["one", "two"]))
    for out in outs:
        echoed = (out / "report.html").read_text(encoding="utf-8")
        assert "Invalid request" in echoed and "alm_user" in echoed  # the bodies came back
    canaries.assert_absent(*outs)


def _straddling_world(
    make_sim: Any, canaries: Any, source_data: dict[str, Any], target_data: dict[str, Any],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> tuple[SimServer, SimServer, Path, Path]:  # fmt: skip
    """Jira connectors whose alm_server grows a character at a time: the password moves
    across the 300th character of the 400 the target echoes back; (source, target, file,
    secrets file). Each password has characters every encoding changes."""
    rows, secrets = [], []
    for length in range(100, 170):
        name = f"Cut at {length}"
        value = f'P"\\é{canaries.new(f"cut-{length}")}'
        # Any 8 characters of its start, in any form, identify it.
        canaries.add(*(form[:8] for form in _escaped_forms(value)))
        params = {"alm_server": "h" * length + ".example.com", "alm_user": "svc",
                  "alm_pass": value, "alm_method": "https", "jira_version": "cloud"}  # fmt: skip
        rows.append([name, "jira", *(MASK if k == "alm_pass" else v for k, v in params.items())])
        secrets.append(["connector", name, "alm_pass", value])
        source_data["connectors"].append(
            {"id": 5000 + length, "name": name, "system": "jira", "params": params}
        )
    source_data["connections"] = []
    inputs = tmp_path / "inputs"  # holds the secrets by design: outside what is searched
    inputs.mkdir()
    for path, header, lines in (
        (inputs / "connectors.csv",
         ["name", "system", *(f"params.{k}" for k in params)], rows),
        (inputs / "secrets.csv", ["kind", "name", "field", "value"], secrets),
    ):  # fmt: skip
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *lines])
    source = make_sim(source_data, token="source-token-1")
    target = make_sim(target_data, token="target-token-1", faults=Faults(echo_rejects=True))
    monkeypatch.setenv("SDE_SOURCE_TOKEN", "source-token-1")
    monkeypatch.setenv("SDE_TOKEN", "target-token-1")
    monkeypatch.setenv("SDE_TARGET_TOKEN", "target-token-1")
    return source, target, inputs / "connectors.csv", inputs / "secrets.csv"


ERRORS_FORMAT = {"html": "csv"}  # an errors file is a data file: no HTML
# A message cut inside the mask: the cut fell where a password was.
CUT_IN_A_SECRET = re.compile(r"\*{1,7}\.\.\. \(\d+ more characters\)")


def test_a_secret_the_message_cut_splits_is_hidden_whole_by_import_test_and_migrate(
    cli: Cli, canaries: Any, make_sim: Any, source_data: dict[str, Any],
    target_data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    source, target, connectors, secrets = _straddling_world(
        make_sim, canaries, source_data, target_data, tmp_path, monkeypatch
    )
    out = tmp_path / "out"
    out.mkdir()
    streams: list[str] = []
    for form in ("xlsx", "csv", "json", "html"):
        code, stdout, err = cli(
            "-vv", "import", str(connectors), "--url", target.url, "--secrets", str(secrets),
            "--rate", "1000", "--report", str(out / f"import.{form}"),
            "--errors", str(out / f"errors-{form}.{ERRORS_FORMAT.get(form, form)}"),
            "--journal", str(out / f"import-{form}.journal"),
        )  # fmt: skip
        assert code == 1, err
        streams += [stdout, err]
    code, stdout, err = cli(
        "-vv", "test", str(connectors), "--url", target.url, "--secrets", str(secrets),
        "--report", str(out / "test.json"),
    )  # fmt: skip
    assert code == 1, err
    streams += [stdout, err]
    code, stdout, err = cli(
        "-vv", "migrate", "--source-url", source.url, "--target-url", target.url,
        "--rate", "1000", "--report", str(out / "migrate.json"),
        "--errors", str(out / "migrate-errors.json"), "--journal", str(out / "migrate.journal"),
    )  # fmt: skip
    assert code == 1, err
    streams += [stdout, err]
    # Each command's messages were cut where a password was (so the test can fail) ...
    for shown in ("import.json", "test.json", "migrate.json"):
        assert CUT_IN_A_SECRET.search((out / shown).read_text(encoding="utf-8")), shown
    # ... and no password, nor 8 characters of its start, in any form, is anywhere.
    canaries.assert_absent(out, *streams)
