"""`almmigrate export` end to end: the simulator over HTTP, real files read back directly."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from export_data import (
    CANARIES,
    FORMULAS,
    TOKEN,
    expected_connection_params,
    expected_connector_params,
    instance_data,
    xlsx_unescape,
)

from almmigrate import FORMAT_VERSION, __version__
from almmigrate.dataset import CONNECTION_COLUMNS, CONNECTOR_COLUMNS, PROJECT_COLUMNS
from almmigrate.files.cells import csv_unescape
from almmigrate.files.xlsx import RUST_WRITER, export_writer
from almmigrate.progress import progress
from almmigrate.secrets import MASK

FORMATS = ["xlsx", "json", "csv"]


@pytest.fixture
def sim():
    from almmigrate.sim import SimServer

    with SimServer(data=instance_data(), token=TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("SDE_TOKEN", TOKEN)
    monkeypatch.delenv("SDE_URL", raising=False)


def export(cli, sim, out: Path, *extra: str, verbose: str = "") -> tuple[int, str, str]:
    """Export from the simulator, two objects a page so that every list has many pages."""
    before = [verbose] if verbose else []
    args = ["export", "--url", sim.url, "--out", str(out), "--page-size", "2", *extra]
    return cli(*before, *args)


def out_path(tmp_path: Path, fmt: str) -> Path:
    return tmp_path / {"xlsx": "export.xlsx", "json": "export.json", "csv": "export"}[fmt]


# ---------------------------------------------------------------- direct readers


def read_xlsx(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every sheet as rows of {header: value}, text decoded the way Excel decodes it."""
    book = openpyxl.load_workbook(path)
    sheets = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows())
        header = [c.value for c in rows[0]]
        sheets[sheet.title] = [
            {
                h: xlsx_unescape(c.value) if isinstance(c.value, str) else c.value
                for h, c in zip(header, row, strict=False)
            }
            for row in rows[1:]
        ]
    return sheets


def read_csv_folder(path: Path) -> dict[str, list[dict[str, str]]]:
    sheets = {}
    for file in sorted(path.glob("*.csv")):
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        sheets[file.stem] = [{k: csv_unescape(v) for k, v in row.items()} for row in rows]
    return sheets


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def nested(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The `prefix.x` cells of a flat row as {x: value}, empty cells left out."""
    return {
        k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix) and v not in (None, "")
    }


def as_csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def read_back(path: Path, fmt: str) -> dict[str, list[dict[str, Any]]]:
    """Rows per sheet in one typed shape: {column: value, "params": {...}, "last_job": {...}}."""
    if fmt == "json":
        doc = read_json(path)
        return {
            name: [
                {**row, "params": _drop_empty(row.get("params") or {})} for row in doc.get(name, [])
            ]
            for name in ("connectors", "connections", "projects")
        }
    flat = read_xlsx(path) if fmt == "xlsx" else read_csv_folder(path)
    return {
        name: [
            {
                **{k: v for k, v in row.items() if "." not in k},
                "params": nested(row, "params."),
                "last_job": nested(row, "last_job.") or None,
            }
            for row in flat.get(name, [])
        ]
        for name in ("connectors", "connections", "projects")
    }


def _drop_empty(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v not in (None, "")}


def every_byte(path: Path) -> bytes:
    """Every byte of a file or folder, with zip members (xlsx) decompressed too."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    chunks = []
    for file in files:
        if not file.is_file():
            continue
        raw = file.read_bytes()
        chunks.append(raw)
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
                chunks.extend(archive.read(name) for name in archive.namelist())
    return b"\n".join(chunks)


def typed(value: Any, fmt: str) -> Any:
    """How a typed value looks when read back in a format."""
    if fmt == "csv":
        return as_csv_text(value)
    if fmt == "xlsx" and isinstance(value, list):
        return ",".join(value) or None
    return value


# ---------------------------------------------------------------- the export itself


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_object_of_a_multi_page_instance_reads_back_equal(cli, sim, tmp_path, fmt):
    out = out_path(tmp_path, fmt)
    code, stdout, stderr = export(cli, sim, out, verbose="-vv" if fmt == "xlsx" else "-v")
    assert code == 0, stderr
    # The summary is the command's answer: stdout, as in every command; stderr only logs.
    assert stdout.startswith(f"Exported 5 connectors, 15 connections, 5 projects to {out}")
    assert "Exported" not in stderr
    data = instance_data()
    sheets = read_back(out, fmt)

    connectors = {row["name"]: row for row in sheets["connectors"]}
    assert list(connectors) == [c["name"] for c in data["connectors"]]
    params = expected_connector_params(data)
    for source in data["connectors"]:
        row = connectors[source["name"]]
        assert row["id"] == typed(source["id"], fmt)
        assert row["system"] == source["system"]
        assert row["inaccessible"] == typed(source["inaccessible"], fmt)
        assert row["params"] == {
            k: typed(v, fmt) for k, v in params[source["name"]].items() if v != ""
        }
    assert connectors["Jira Prod"]["fields_editable_on_project"] == typed(
        ["alm_pass", "alm_project", "alm_sso_cookie"], fmt
    )

    connections = {row["alias"]: row for row in sheets["connections"]}
    assert list(connections) == [c["alias"] for c in data["connections"]]
    own = expected_connection_params(data)
    projects = {p["id"]: p["name"] for p in data["projects"]}
    connector_names = {c["id"]: (c["name"], c["system"]) for c in data["connectors"]}
    for source in data["connections"]:
        row = connections[source["alias"]]
        assert row["id"] == typed(source["id"], fmt)
        assert row["project"] == typed(source["project"], fmt)
        assert row["project_name"] == projects[source["project"]]
        assert row["connector"] == typed(source["connector"], fmt)
        assert (row["connector_name"], row["system"]) == connector_names[source["connector"]]
        assert row["frequency"] == source["frequency"]
        assert row["debug_mode"] == typed(source["debug_mode"], fmt)
        assert row["inaccessible"] == typed(source["inaccessible"], fmt)
        assert row["params"] == {k: typed(v, fmt) for k, v in own[source["alias"]].items()}

    project_rows = [
        (r["id"], r["name"], r["application"], r["business_unit"]) for r in sheets["projects"]
    ]
    assert project_rows == [
        (typed(100, fmt), "Checkout", "Payments", "Équipe Montréal"),
        (typed(101, fmt), "API", "Payments", "Équipe Montréal"),
        (typed(102, fmt), "API", "Web 🌐", "Platform"),
        (typed(103, fmt), "Portal", "Web 🌐", "Platform"),
        (typed(104, fmt), "Empty", "Mobile", "Platform"),
    ]

    # No canary secret in any byte of any file, nor on stdout or stderr (at -vv for xlsx).
    written = every_byte(out).decode("utf-8", errors="replace") + stdout + stderr
    for canary in CANARIES.values():
        assert canary not in written
    assert TOKEN not in written


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_columns_follow_the_spec_layout(cli, sim, tmp_path, fmt):
    out = out_path(tmp_path, fmt)
    assert export(cli, sim, out)[0] == 0
    if fmt == "xlsx":
        book = openpyxl.load_workbook(out)
        headers = {
            s.title: [c.value for c in next(s.iter_rows(max_row=1))] for s in book.worksheets
        }
    else:
        headers = {}
        for file in out.glob("*.csv"):
            with file.open(encoding="utf-8-sig", newline="") as handle:
                headers[file.stem] = next(csv.reader(handle))
    assert set(headers) == {"connectors", "connections", "projects", "_meta"}
    assert headers["connectors"][: len(CONNECTOR_COLUMNS)] == CONNECTOR_COLUMNS
    assert headers["connections"][: len(CONNECTION_COLUMNS)] == CONNECTION_COLUMNS
    assert headers["projects"] == PROJECT_COLUMNS
    # inherited and derived params are not columns of connections
    connection_params = [c for c in headers["connections"] if c.startswith("params.")]
    assert "params.alm_server" not in connection_params
    derived = {"params.sde_project", "params.sde_application", "params.sde_businessunit"}
    assert derived & set(connection_params) == set()
    assert "params.sde_min_priority" in connection_params  # an own sde_ param stays
    assert not [c for c in headers["connections"] if c.startswith("last_job.")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_meta_names_the_source_time_and_versions(cli, sim, tmp_path, fmt):
    out = out_path(tmp_path, fmt)
    assert export(cli, sim, out)[0] == 0
    if fmt == "json":
        meta = read_json(out)["_meta"]
    else:
        rows = (read_xlsx(out) if fmt == "xlsx" else read_csv_folder(out))["_meta"]
        meta = {row["key"]: row["value"] for row in rows}
    assert meta["source_url"] == sim.url
    assert meta["tool_version"] == __version__
    assert meta["format_version"] == FORMAT_VERSION
    exported = datetime.fromisoformat(meta["exported_at"].replace("Z", "+00:00"))
    assert exported.utcoffset() is not None and exported.utcoffset().total_seconds() == 0


def test_formula_like_text_is_an_inert_text_cell_in_xlsx(cli, sim, tmp_path):
    out = tmp_path / "f.xlsx"
    assert export(cli, sim, out, "--with-last-job")[0] == 0
    with zipfile.ZipFile(out) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<(\w+:)?f[ >/]", archive.read(name)), name
    book = openpyxl.load_workbook(out)
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.coordinate
                text = xlsx_unescape(cell.value) if isinstance(cell.value, str) else None
                if text and text.startswith(("=", "+", "-", "@", "\t", "\r")):
                    assert cell.data_type in ("s", "inlineStr"), (sheet.title, cell.coordinate)
                    seen.add(text)
    assert set(FORMULAS) <= seen
    assert "=ERROR(1)" in seen  # last_job.result_message


def test_formula_like_text_is_escaped_in_csv_and_reads_back(cli, sim, tmp_path):
    out = tmp_path / "folder"
    assert export(cli, sim, out)[0] == 0
    raw = (out / "connectors.csv").read_text(encoding="utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(raw, newline="")) for cell in row]
    assert "'" + FORMULAS[1] in cells  # github_repo_owner "+1 555 0100"
    assert "'" + FORMULAS[0] in cells  # title_format
    assert "'" + FORMULAS[2] in cells  # alm_user "-draft"
    assert "GitHub " + FORMULAS[0] in cells  # not formula-like: left alone
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    connections = {r["alias"]: r for r in read_csv_folder(out)["connections"]}
    assert connections[FORMULAS[4]]["params.alm_project"] == FORMULAS[5]
    # and through the project's own reader, every formula-like text exactly as it was
    from almmigrate.files import read_tables

    tables = read_tables(out)
    texts = {
        v
        for name in ("connectors", "connections")
        for row in tables[name].rows
        for v in row.values()
    }
    assert set(FORMULAS) <= texts
    assert "GitHub " + FORMULAS[0] in texts


@pytest.mark.parametrize("fmt", ["xlsx", "json"])
def test_json_types_survive(cli, sim, tmp_path, fmt):
    out = out_path(tmp_path, fmt)
    assert export(cli, sim, out)[0] == 0
    sheets = read_back(out, fmt)
    jira = next(r for r in sheets["connectors"] if r["name"] == "Jira Prod")["params"]
    github = next(r for r in sheets["connectors"] if r["name"].startswith("GitHub"))["params"]
    rally = next(r for r in sheets["connectors"] if r["name"] == "Rally")["params"]
    # rust_xlsxwriter stores the number 7 as "7.0", which openpyxl (unlike Excel,
    # LibreOffice and almmigrate) reads as a float.
    whole = float if fmt == "xlsx" and export_writer() == RUST_WRITER else int
    assert jira["sde_min_priority"] == "7" and isinstance(jira["sde_min_priority"], str)
    assert github["sde_min_priority"] == 7 and type(github["sde_min_priority"]) is whole
    assert jira["alm_validate_cert"] is True
    assert jira["alm_reference_context"] == 14 and type(jira["alm_reference_context"]) is whole
    assert rally["rally_workspace"] == "007"
    connections = {r["alias"]: r["params"] for r in sheets["connections"]}
    assert connections["Checkout Jira"]["sde_min_priority"] == 7
    assert connections[FORMULAS[4]]["sde_tags_filter"] == "TRUE"
    assert connections[FORMULAS[4]]["how_tos_in_scope"] is True
    assert connections["Rally"] == {
        "alm_project": "1e5",
        "alm_reference_context": 7,
        "alm_title_format": "007",
    }
    assert connections['API, "quoted" Équipe 🚀']["alm_parent_issue"] == "null"


def test_masked_cells_hold_the_mask(cli, sim, tmp_path):
    out = tmp_path / "m.json"
    assert export(cli, sim, out)[0] == 0
    connections = {r["alias"]: r["params"] for r in read_json(out)["connections"]}
    assert connections["Checkout Jira"]["alm_pass"] == MASK
    assert connections['API, "quoted" Équipe 🚀']["custom_token"] == MASK
    assert connections['API, "quoted" Équipe 🚀']["alm_sso_cookie"] == MASK


@pytest.mark.parametrize("fmt", FORMATS)
def test_include_secrets_warns_and_writes_a_private_file(cli, sim, tmp_path, fmt):
    out = out_path(tmp_path, fmt)
    code, stdout, stderr = export(cli, sim, out, "--include-secrets", verbose="-vv")
    assert code == 0, stderr
    assert "WARNING" in stderr and "IN CLEAR TEXT" in stderr
    assert stdout.startswith("Exported")
    written = every_byte(out).decode("utf-8", errors="replace")
    for canary in CANARIES.values():
        assert canary in written
        assert canary not in stderr
    files = [out] if out.is_file() else [out, *out.iterdir()]
    for file in files:
        mode = stat.S_IMODE(file.stat().st_mode)
        assert mode & 0o077 == 0, (file, oct(mode))
    sheets = read_back(out, fmt)
    jira = next(r for r in sheets["connectors"] if r["name"] == "Jira Prod")["params"]
    assert jira["alm_pass"] == CANARIES["jira_pass"]


def test_masked_export_is_not_private(cli, sim, tmp_path):
    out = tmp_path / "public.xlsx"
    code, stdout, stderr = export(cli, sim, out)
    assert code == 0
    assert "WARNING" not in stderr
    assert "(xlsx, 9 secrets masked)" in stdout
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # an ordinary file


def test_only_connectors(cli, sim, tmp_path):
    out = tmp_path / "c.json"
    code, stdout, stderr = export(cli, sim, out, "--only", "connectors")
    assert code == 0, stderr
    assert "Exported 5 connectors to" in stdout
    doc = read_json(out)
    assert len(doc["connectors"]) == 5
    assert not doc.get("connections") and not doc.get("projects")


def test_only_connections_with_their_projects(cli, sim, tmp_path):
    out = tmp_path / "c.xlsx"
    code, stdout, stderr = export(cli, sim, out, "--only", "connections")
    assert code == 0, stderr
    assert "Exported 15 connections, 5 projects to" in stdout
    sheets = read_xlsx(out)
    assert len(sheets["connections"]) == 15
    assert not sheets.get("connectors")
    assert len(sheets["projects"]) == 5


def test_project_filter(cli, sim, tmp_path):
    out = tmp_path / "p.json"
    code, _, stderr = export(cli, sim, out, "--project", "103", "--project", "101")
    assert code == 0, stderr
    doc = read_json(out)
    data = instance_data()
    assert sorted(c["alias"] for c in doc["connections"]) == sorted(
        c["alias"] for c in data["connections"] if c["project"] in (101, 103)
    )
    # only the connectors those connections use: not the unused or the project-102-only ones
    used = {c["connector"] for c in data["connections"] if c["project"] in (101, 103)}
    assert sorted(c["id"] for c in doc["connectors"]) == sorted(used)
    assert [p["id"] for p in doc["projects"]] == [103, 101]
    assert CANARIES["unused_pass"] not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["xlsx", "json"])
def test_with_last_job(cli, sim, tmp_path, fmt):
    out = out_path(tmp_path, fmt)
    assert export(cli, sim, out, "--with-last-job")[0] == 0
    if fmt == "json":
        rows = {r["alias"]: r.get("last_job") for r in read_json(out)["connections"]}
    else:
        rows = {r["alias"]: nested(r, "last_job.") for r in read_xlsx(out)["connections"]}
    job = rows["Checkout Jira"]
    assert job["succeeded"] is False
    assert job["result_message"] == "=ERROR(1)"
    assert job["id"] == 4
    assert job["last_run"] == "2016-12-15T22:45:27.412Z"
    assert not rows["Trac"]


# ---------------------------------------------------------------- bad input


def assert_nothing_written(tmp_path: Path, allowed: set[str] | None = None) -> None:
    left = {p.name for p in tmp_path.iterdir()} - (allowed or set())
    assert left == set(), left


def test_unknown_only_is_a_usage_error(cli, sim, tmp_path):
    code, _, stderr = export(cli, sim, tmp_path / "x.xlsx", "--only", "projects")
    assert code == 2
    assert "'projects' is not one of 'connectors', 'connections'" in stderr
    assert_nothing_written(tmp_path)


def test_unknown_project_writes_nothing(cli, sim, tmp_path):
    code, _, stderr = export(cli, sim, tmp_path / "x.xlsx", "--project", "100", "--project", "999")
    assert code == 2
    assert "InputError: no project with id 999 on " in stderr  # no traceback: the cli fixture
    assert_nothing_written(tmp_path)


def test_folder_that_does_not_exist(cli, sim, tmp_path):
    code, _, stderr = export(cli, sim, tmp_path / "missing" / "x.xlsx")
    assert code == 2
    assert "does not exist" in stderr
    assert_nothing_written(tmp_path)


def test_parent_is_a_file(cli, sim, tmp_path):
    (tmp_path / "afile").write_text("keep me")
    code, _, stderr = export(cli, sim, tmp_path / "afile" / "x.json")
    assert code == 2
    assert "cannot write" in stderr
    assert_nothing_written(tmp_path, {"afile"})
    assert (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(cli, sim, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, stderr = export(cli, sim, folder / "x.xlsx")
    finally:
        folder.chmod(0o700)
    assert code == 2
    assert "not writable" in stderr
    assert list(folder.iterdir()) == []


def test_extensionless_path_that_is_a_file(cli, sim, tmp_path):
    existing = tmp_path / "report"
    existing.write_text("keep me")
    code, _, stderr = export(cli, sim, existing)
    assert code == 2
    assert "folder of CSV files" in stderr
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("name", ["audit.xls", "audit.xlsm", "audit.txt"])
def test_a_file_name_of_another_format_is_refused_not_made_a_folder(cli, sim, tmp_path, name):
    code, out, stderr = export(cli, sim, tmp_path / name)
    assert code == 2
    suffix = name[name.index(".") :].lower()
    assert stderr.strip() == (
        f"InputError: cannot write {tmp_path / name}: {suffix} is not a format almmigrate "
        "writes; use .xlsx (Excel), .json, .csv with --only, or a folder path for one CSV "
        "file per sheet"
    )
    assert out == "" and list(tmp_path.iterdir()) == []
    assert sim.stats.requests == 0  # refused before the instance was read


def test_a_folder_name_with_dots_is_still_a_csv_folder(cli, sim, tmp_path):
    code, _, _ = export(cli, sim, tmp_path / "backup-2026.11.22")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "backup-2026.11.22").iterdir()) == [
        "_meta.csv",
        "connections.csv",
        "connectors.csv",
        "projects.csv",
    ]


def test_xlsx_path_that_is_a_folder(cli, sim, tmp_path):
    (tmp_path / "x.xlsx").mkdir()
    code, _, stderr = export(cli, sim, tmp_path / "x.xlsx")
    assert code == 2
    assert "it is a folder" in stderr


def test_missing_token_is_a_usage_error(cli, monkeypatch, tmp_path):
    monkeypatch.delenv("SDE_TOKEN")
    code, _, stderr = cli(
        "export", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "x.xlsx")
    )
    assert code == 2
    assert "Missing --token" in stderr
    assert_nothing_written(tmp_path)


def test_wrong_token_exits_3_and_writes_nothing(cli, sim, tmp_path, monkeypatch):
    monkeypatch.setenv("SDE_TOKEN", "wrong-token-canary-8d2e")
    code, _, stderr = export(cli, sim, tmp_path / "x.xlsx")
    assert code == 3
    assert "wrong-token-canary-8d2e" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert_nothing_written(tmp_path)


# ---------------------------------------------------------------- terminal behaviour


def test_no_progress_bar_when_stderr_is_not_a_terminal(cli, sim, tmp_path):
    code, stdout, stderr = export(cli, sim, tmp_path / "q.json")
    assert code == 0
    assert stderr == ""  # no bar, and the summary line goes to stdout
    assert stdout.startswith("Exported ") and len(stdout.splitlines()) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_stays_on_the_connections_once_they_have_begun(monkeypatch, sim, tmp_path):
    """The small lists load alongside the connection pages; the bar must not flick between them."""
    import threading
    from contextlib import contextmanager

    from almmigrate.client import SDEClient
    from almmigrate.exporter import export as export_library
    from almmigrate.settings import ConnectionSettings

    connections_begun = threading.Event()
    labels: list[str] = []

    class Bar:
        shown = False

        def update(self, done=None, total=None, description=None):
            labels.append(description)
            if description == "Reading connections":
                connections_begun.set()

    @contextmanager
    def recording_progress(*_args, **_kwargs):
        yield Bar()

    iter_objects = SDEClient.iter_objects

    def projects_after_the_connections(self, path, *args, **kwargs):
        if path == "projects/":  # deterministic: the projects list reports after connections
            assert connections_begun.wait(60)
        return iter_objects(self, path, *args, **kwargs)

    monkeypatch.setattr("almmigrate.progress.progress", recording_progress)
    monkeypatch.setattr(SDEClient, "iter_objects", projects_after_the_connections)
    settings = ConnectionSettings(url=sim.url, token=TOKEN, page_size=2)
    summary = export_library(settings, tmp_path / "p.xlsx", progress=True)
    assert summary.connections == 15
    first = labels.index("Reading connections")
    assert set(labels[first:]) == {"Reading connections"}


def test_progress_draws_only_on_a_terminal():
    quiet = io.StringIO()
    with progress("Reading", stream=quiet) as bar:
        bar.update(3, 8)
        bar()
    assert quiet.getvalue() == ""
    assert (bar.completed, bar.total, bar.shown) == (4, 8, False)
    terminal = _Terminal()
    with progress("Reading pages", stream=terminal) as bar:
        bar.update(8, 8)
    assert bar.shown
    assert "Reading pages" in terminal.getvalue()


def test_help_has_an_example(cli):
    code, stdout, _ = cli("export", "--help")
    assert code == 0
    assert "Example:" in stdout
    assert "almmigrate export --out" in stdout


def test_debug_log_is_there_and_holds_no_secret(cli, sim, tmp_path):
    code, _, stderr = export(cli, sim, tmp_path / "v.json", "--with-last-job", verbose="-vv")
    assert code == 0
    assert "connections/alm/" in stderr  # the requests are logged at -vv ...
    for canary in CANARIES.values():  # ... and no secret with them
        assert canary not in stderr


def test_a_single_csv_file_takes_one_sheet(cli, sim, tmp_path):
    out = tmp_path / "connectors.csv"
    code, _, stderr = export(cli, sim, out, "--only", "connectors")
    assert code == 0, stderr
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows] == [c["name"] for c in instance_data()["connectors"]]
    connections = tmp_path / "connections.csv"
    assert export(cli, sim, connections, "--only", "connections")[0] == 0
    with connections.open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 15


def test_a_single_csv_file_cannot_take_every_sheet(cli, sim, tmp_path):
    code, _, stderr = export(cli, sim, tmp_path / "all.csv")
    assert code == 2
    assert "a .csv file holds one sheet" in stderr
    assert sim.stats.requests == 0  # refused before reading the instance
    assert_nothing_written(tmp_path)


def test_only_connectors_of_some_projects(cli, sim, tmp_path):
    out = tmp_path / "used.json"
    code, _, stderr = export(cli, sim, out, "--only", "connectors", "--project", "103")
    assert code == 0, stderr
    doc = read_json(out)
    data = instance_data()
    used = {c["connector"] for c in data["connections"] if c["project"] == 103}
    assert used == {1, 3, 4}
    assert [c["id"] for c in doc["connectors"]] == [1, 3, 4]
    assert not doc.get("connections") and not doc.get("projects")


def _records(records: list[Any]) -> list[dict[str, Any]]:
    """Records as dicts without the sheet row (which only a file has)."""
    from dataclasses import asdict

    return [{k: v for k, v in asdict(r).items() if k != "row"} for r in records]


@pytest.mark.parametrize("fmt", ["xlsx", "json"])
def test_the_sample_instance_reads_back_through_files_and_layout(cli, source_sim, tmp_path, fmt):
    """Export, then read with the project's own reader: exactly the dataset exported."""
    from almmigrate.client import SDEClient
    from almmigrate.exporter import snapshot_to_dataset
    from almmigrate.files import read_tables
    from almmigrate.instance import fetch_snapshot
    from almmigrate.layout import tables_to_dataset
    from almmigrate.settings import ConnectionSettings

    out = out_path(tmp_path, fmt)
    code, _, stderr = cli(
        "export", "--url", source_sim.url, "--token", source_sim.token, "--out", str(out)
    )
    assert code == 0, stderr
    settings = ConnectionSettings(url=source_sim.url, token=source_sim.token)
    with SDEClient(settings) as client:
        snapshot = fetch_snapshot(client)
    expected = snapshot_to_dataset(snapshot)
    read, problems = tables_to_dataset(read_tables(out), snapshot.plugins, source=str(out))
    assert [p for p in problems if p.severity == "error"] == []
    assert _records(read.connectors) == _records(expected.connectors)
    assert _records(read.projects) == _records(expected.projects)
    got = _records(read.connections)
    want = _records(expected.connections)
    for row in got + want:  # read-only columns a file may or may not carry
        row.pop("command", None)
        row.pop("in_progress", None)
    assert got == want
    assert len(want) >= 100


KILLED_MID_WRITE = """
import os, signal, sys
from almmigrate.files import Table, write_tables

def rows():
    for number in range(5000):  # enough to reach the disk before the kill
        yield {"id": number, "name": f"Jira {number}", "params.alm_pass": sys.argv[2]}
    os.kill(os.getpid(), signal.SIGKILL)

write_tables(sys.argv[1], [Table("connectors", ["id", "name", "params.alm_pass"], rows())],
             meta={}, private=True)
"""


@pytest.mark.parametrize("name", ["secrets.json", "secrets-folder"])
def test_a_partial_file_left_by_a_killed_include_secrets_export_is_named_then_removed(
    cli, sim, tmp_path, name
):
    import subprocess
    import sys

    out = tmp_path / name
    canary = "CANARY-partial-write-5b1e"
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(out), canary])
    assert killed.returncode == -9
    assert not out.exists()
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1
    partial = left[0]
    # Visible, and named for what it is: the user can find it and knows what made it.
    assert partial.name.startswith(f"{name}.almmigrate-partial-"), partial.name
    assert canary.encode() in every_byte(partial)
    code, _, stderr = export(cli, sim, out, "--include-secrets")
    assert code == 0, stderr
    assert f"removed {partial}: a partial file left by an interrupted run" in stderr
    assert sorted(tmp_path.iterdir()) == [out]


def test_an_ods_path_is_refused_before_any_request_saying_how_to_get_one(
    cli, source_sim, tmp_path: Path
) -> None:
    out = tmp_path / "audit.ODS"
    code, stdout, stderr = cli(
        "export", "--url", source_sim.url, "--token", source_sim.token, "--out", str(out)
    )
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"InputError: cannot write {out}: almmigrate writes workbooks as .xlsx (no maintained "
        "library writes .ods well); LibreOffice opens the .xlsx and saves it as .ods, which plan "
        "and import read\n"
    )
    assert source_sim.stats.requests == 0 and not out.exists()


def test_an_instance_answering_500_is_retried_and_one_that_keeps_failing_is_exit_3(
    cli: Any, source_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README: 5xx answers are retried; a run that cannot finish exits 3. A list
    # request answered 500 was neither retried nor exit 3 (it was exit 1).
    from almmigrate.client import SDEClient
    from almmigrate.files import read_tables
    from almmigrate.sim import Faults

    monkeypatch.setattr(SDEClient, "_backoff", lambda self, attempt: 0.0)  # no real waits
    monkeypatch.setenv("SDE_TOKEN", source_sim.token)
    out = tmp_path / "x.json"
    source_sim.set_faults(Faults(fail_rate=0.3, fail_status=500, seed=5))
    code, _, err = cli("export", "--url", source_sim.url, "--out", str(out), "--page-size", "20")
    assert code == 0, err
    assert source_sim.stats.as_dict()["by_status"][500] >= 3
    assert len(list(read_tables(out)["connections"].rows)) == 133

    source_sim.set_faults(Faults(fail_rate=1.0, fail_status=500))
    again = tmp_path / "again.json"
    before = source_sim.stats.requests
    code, _, err = cli("export", "--url", source_sim.url, "--out", str(again))
    assert code == 3, err
    [line] = err.strip().splitlines()
    assert line.startswith("ServerError: the instance failed: try again later")
    assert line.endswith("500: A server error occurred.] (gave up after 6 attempts)")
    assert source_sim.stats.requests - before == 6
    assert not again.exists()
