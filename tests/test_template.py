"""`almmigrate template`: what a person sees in the workbook, and that it imports as filled."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_runs import Cli
from openpyxl import load_workbook

from almmigrate.errors import InputError
from almmigrate.resources import templates_dir
from almmigrate.schema import bundled_plugins
from almmigrate.settings import ConnectionSettings
from almmigrate.template import (
    CONNECTOR_PICK_ROWS,
    build_template,
    describe_template,
    make_templates,
    stale_templates,
    template_filename,
    write_all_templates,
)


def headers(sheet) -> list[str]:
    return [c.value for c in sheet[1]]


def column_of(sheet, name: str):
    return headers(sheet).index(name) + 1


def validation_for(sheet, column_name: str):
    letter = sheet.cell(row=1, column=column_of(sheet, column_name)).column_letter
    found = [v for v in sheet.data_validations.dataValidation if f"{letter}2:" in str(v.sqref)]
    return found[0] if found else None


@pytest.fixture
def jira_book(cli: Cli, tmp_path):
    out = tmp_path / "jira.xlsx"
    assert cli("template", "--system", "jira", "--out", str(out)).code == 0
    return load_workbook(out)


def test_sheets_and_columns_follow_the_import_layout(jira_book):
    assert jira_book.sheetnames == ["connectors", "connections", "projects", "_meta", "help"]
    connectors = headers(jira_book["connectors"])
    assert connectors[:5] == ["id", "name", "system", "inaccessible", "fields_editable_on_project"]
    plugin = bundled_plugins()["jira"]
    system_fields = [f"params.{f.name}" for f in plugin.fields if "system" in f.scope]
    assert connectors[5:] == system_fields
    connections = headers(jira_book["connections"])
    assert connections[:10] == [
        "id", "alias", "project", "project_name", "connector", "connector_name",
        "system", "frequency", "debug_mode", "inaccessible",
    ]  # fmt: skip
    assert connections[10:] == [f"params.{f.name}" for f in plugin.fields if "project" in f.scope]
    assert "params.alm_project" in connections and "params.alm_project" not in connectors
    meta = {row[0].value: row[1].value for row in jira_book["_meta"].iter_rows(min_row=2)}
    assert meta["system"] == "jira" and meta["kind"] == "template"


def test_required_columns_keep_their_name_and_are_marked(jira_book):
    sheet = jira_book["connectors"]
    server = sheet.cell(row=1, column=column_of(sheet, "params.alm_server"))
    context = sheet.cell(row=1, column=column_of(sheet, "params.alm_context_root"))
    assert server.value == "params.alm_server"  # no "*" or other decoration
    assert server.font.b and server.font.color.rgb.endswith("9C0006")
    assert "REQUIRED" in server.comment.text
    assert not (context.font.color and str(context.font.color.rgb).endswith("9C0006"))
    assert "REQUIRED" not in context.comment.text
    assert "Normally left empty" in context.comment.text  # the help text
    alias = jira_book["connections"].cell(row=1, column=2)
    assert alias.value == "alias" and "9C0006" in alias.font.color.rgb


def test_dropdowns_for_radio_select_and_boolean_fields(jira_book):
    sheet = jira_book["connectors"]
    method = validation_for(sheet, "params.alm_method")  # radio
    assert method.type == "list" and method.formula1 == '"https,http"'
    assert method.showErrorMessage
    assert validation_for(sheet, "params.alm_validate_cert").formula1 == '"TRUE,FALSE"'
    version = validation_for(sheet, "params.jira_version")  # select
    choices = bundled_plugins()["jira"].field("jira_version").choices
    assert version.formula1 == '"' + ",".join(choices) + '"'
    assert validation_for(sheet, "inaccessible").formula1 == '"TRUE,FALSE"'
    assert validation_for(sheet, "params.alm_server") is None  # free text
    connections = jira_book["connections"]
    assert validation_for(connections, "debug_mode").formula1 == '"TRUE,FALSE"'
    picker = validation_for(connections, "connector_name")
    assert picker.formula1 == f"connectors!$B$2:$B${CONNECTOR_PICK_ROWS + 1}"
    assert not picker.showErrorMessage  # a connector already on the instance is fine too


def test_name_columns_are_wide_enough_to_read_a_name(jira_book):
    for sheet_name, column in (("connectors", "name"), ("connections", "alias"),
                               ("connections", "connector_name")):  # fmt: skip
        sheet = jira_book[sheet_name]
        letter = sheet.cell(row=1, column=column_of(sheet, column)).column_letter
        assert sheet.column_dimensions[letter].width >= len("Jira Cloud – Team Montréal")


def test_checkbox_options_and_secrets_are_in_the_notes(jira_book):
    sheet = jira_book["connectors"]
    phases = sheet.cell(row=1, column=column_of(sheet, "params.alm_phases")).comment.text
    spec = bundled_plugins()["jira"].field("alm_phases")
    assert spec.field_type == "checkbox"
    assert "Comma-separated" in phases
    assert all(choice in phases for choice in spec.choices)
    password = sheet.cell(row=1, column=column_of(sheet, "params.alm_pass"))
    assert "SECRET" in password.comment.text and "--secrets" in password.comment.text
    assert password.fill.fgColor.rgb.endswith("FFEB9C")
    user = sheet.cell(row=1, column=column_of(sheet, "params.alm_user"))
    assert "SECRET" not in user.comment.text


def test_system_column_offers_the_one_system_and_no_row_is_half_filled(jira_book):
    sheet = jira_book["connectors"]
    assert validation_for(sheet, "system").formula1 == '"jira"'
    # A row holding only `system` would read as a connector with no name.
    for name in ("connectors", "connections", "projects"):
        assert jira_book[name].max_row == 1


def test_every_bundled_system_builds_and_text_never_becomes_a_formula(tmp_path):
    for plugin in bundled_plugins().values():
        build_template(plugin, str(tmp_path / "t.xlsx"))
        book = load_workbook(tmp_path / "t.xlsx")
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                assert all(c.data_type != "f" for c in row), (plugin.id, sheet.title)


def test_prebuilt_templates_are_current():
    """`make templates` output is committed; regenerate it when a schema changes."""
    plugins = bundled_plugins()
    folder = templates_dir()
    assert sorted(p.name for p in folder.glob("*.xlsx")) == sorted(
        template_filename(p) for p in plugins.values()
    )
    assert stale_templates(plugins, folder) == [], "run `make templates`"


def test_a_changed_template_is_reported_stale(cli: Cli, tmp_path):
    plugins = bundled_plugins()
    assert cli("template", "--all", "--out", str(tmp_path)).code == 0
    book = load_workbook(tmp_path / "trac.xlsx")
    book["connectors"]["F1"].comment.text = "edited"
    book.save(tmp_path / "trac.xlsx")
    assert stale_templates(plugins, tmp_path) == ["trac.xlsx"]
    assert describe_template(tmp_path / "jira.xlsx") == describe_template(
        templates_dir() / "jira.xlsx"
    )


def test_unknown_system_is_bad_input(cli: Cli, tmp_path):
    out = tmp_path / "x.xlsx"
    code, _, err = cli("template", "--system", "gopher", "--out", str(out))
    assert code == 2
    assert "unknown system 'gopher'; known systems: github, jira, rally, trac" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--out", "x.xlsx"],
        ["--system", "jira", "--all", "--out", "x.xlsx"],
    ],
)
def test_system_or_all_is_required(cli: Cli, tmp_path, args):
    code, _, err = cli("template", *args)
    assert code == 2
    assert "Give either --system ID or --all." in err


def test_an_output_that_is_not_xlsx_is_refused(cli: Cli, tmp_path):
    code, _, err = cli("template", "--system", "trac", "--out", str(tmp_path / "t.csv"))
    assert code == 2
    assert "a template is an .xlsx workbook" in err
    assert list(Path(tmp_path).iterdir()) == []


def fill(sheet, row: int, values: dict) -> None:
    names = headers(sheet)
    for name, value in values.items():
        sheet.cell(row=row, column=names.index(name) + 1, value=value)


def test_a_filled_template_imports_cleanly(cli: Cli, tmp_path, target_sim, canaries):
    """Two connectors and a connection typed into the jira template, imported as they are."""
    out = tmp_path / "jira.xlsx"
    assert cli("template", "--system", "jira", "--out", str(out)).code == 0
    book = load_workbook(out)
    common = {"system": "jira", "params.alm_method": "https", "params.alm_user": "svc",
              "params.alm_pass": "********"}  # fmt: skip
    fill(book["connectors"], 2, {**common, "name": "Jira A", "params.alm_server": "a.example",
                                 "params.jira_version": "cloud", "params.alm_validate_cert": True,
                                 "params.alm_phases": "requirements,development"})  # fmt: skip
    fill(book["connectors"], 3, {**common, "name": "Jira B", "params.alm_server": "b.example",
                                 "params.jira_version": "5"})  # fmt: skip
    project = target_sim.state.snapshot()["projects"][0]["id"]
    fill(book["connections"], 2, {"alias": "Web", "project": project, "connector_name": "Jira B",
                                  "frequency": "daily", "params.alm_project": "007"})  # fmt: skip
    book.save(out)
    secret_a, secret_b = canaries.new("jira-a"), canaries.new("jira-b")
    secrets = tmp_path / "secrets.csv"
    secrets.write_text(
        f"kind,name,field,value\nconnector,Jira A,alm_pass,{secret_a}\n"
        f"connector,Jira B,alm_pass,{secret_b}\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    args = ["import", str(out), "--url", target_sim.url, "--token", target_sim.token,
            "--secrets", str(secrets), "--report", str(report)]  # fmt: skip
    assert cli(*args).code == 0
    state = target_sim.state.snapshot()
    created = {c["name"]: c for c in state["connectors"] if c["name"] in ("Jira A", "Jira B")}
    assert created["Jira A"]["params"] == {
        "alm_method": "https", "alm_server": "a.example", "alm_user": "svc",
        "alm_pass": secret_a, "jira_version": "cloud", "alm_validate_cert": True,
        "alm_phases": "requirements,development",
    }  # fmt: skip
    assert created["Jira B"]["params"]["alm_pass"] == secret_b
    assert created["Jira B"]["params"]["jira_version"] == "5"  # a choice stays text
    [connection] = [c for c in state["connections"] if c["alias"] == "Web"]
    assert connection["connector"] == created["Jira B"]["id"]
    assert (connection["project"], connection["frequency"]) == (project, "daily")
    assert connection["params"] == {"alm_project": "007"}
    canaries.assert_absent(report, out)
    writes = target_sim.stats.writes
    assert cli(*args).code == 0  # re-run: nothing left to do
    assert target_sim.stats.writes == writes


def test_the_next_step_it_prints_checks_a_filled_template_as_a_create(cli: Cli, tmp_path):
    """`template` says how to check the filled file; that command, run as shown, catches
    what would make the import fail: a required param left empty, a secret with no value.
    (Plain offline `validate` cannot tell a create from an update and skips both.)
    """
    out = tmp_path / "jira.xlsx"
    code, _, err = cli("template", "--system", "jira", "--out", str(out))
    assert code == 0
    shown = err.split("Fill it in, then: ", 1)[1].strip()
    assert shown == f"almmigrate validate {out} --mode create --secrets SECRETS.csv"
    book = load_workbook(out)
    help_text = "\n".join(str(row[0].value) for row in book["help"].iter_rows(max_row=12))
    assert "almmigrate validate FILE.xlsx --mode create --secrets SECRETS.csv" in help_text
    assert "almmigrate import FILE.xlsx --url URL --secrets SECRETS.csv" in help_text
    row = {"name": "Jira A", "system": "jira", "params.alm_method": "https",
           "params.alm_server": "a.example", "params.jira_version": "5",
           "params.alm_user": "svc", "params.alm_pass": "********"}  # fmt: skip
    fill(book["connectors"], 2, row)
    fill(book["connections"], 2, {"alias": "Web", "project": 7, "connector_name": "Jira A",
                                  "params.alm_project": "WEB"})  # fmt: skip
    book.save(out)
    secrets = tmp_path / "secrets.csv"
    secrets.write_text("kind,name,field,value\nconnector,Jira A,alm_pass,x\n", encoding="utf-8")
    check = shown.replace("SECRETS.csv", str(secrets)).split()[1:]
    assert cli(*check).code == 0
    book["connectors"].cell(
        row=2, column=column_of(book["connectors"], "params.alm_server")
    ).value = None
    book.save(out)
    assert cli("validate", str(out)).code == 0  # what it printed before: the gap goes unseen
    code, _, err = cli(*check)
    assert code == 2
    assert "connectors row 2, params.alm_server: This field is required." in err
    no_secret = tmp_path / "none.csv"
    no_secret.write_text("kind,name,field,value\n", encoding="utf-8")
    fill(book["connectors"], 2, row)
    book.save(out)
    code, _, err = cli(*shown.replace("SECRETS.csv", str(no_secret)).split()[1:])
    assert code == 2
    assert 'masked secret and no value for connector "Jira A"' in err


def test_with_url_the_instances_schema_is_used(cli: Cli, tmp_path, make_sim, target_data):
    plugin = json.loads(json.dumps(bundled_plugins()["trac"].to_api()))
    extra = {"name": "trac_keywords", "label": "Keywords", "field_type": "select",
             "required": True, "scope": ["system"], "help_text": "Instance-only field",
             "options": [{"value": "sec", "label": "Security"}, {"value": "all", "label": "All"}]}  # fmt: skip
    plugin["sections"][0]["fields"].append(extra)
    sim = make_sim({**target_data, "plugins": [plugin]})
    out = tmp_path / "trac.xlsx"
    args = ["template", "--system", "trac", "--out", str(out), "--url", sim.url]
    assert cli(*args, "--token", sim.token).code == 0
    book = load_workbook(out)
    sheet = book["connectors"]
    assert "params.trac_keywords" in headers(sheet)
    assert validation_for(sheet, "params.trac_keywords").formula1 == '"sec,all"'
    note = sheet.cell(row=1, column=column_of(sheet, "params.trac_keywords")).comment.text
    assert "REQUIRED" in note and "sec (Security)" in note and "Instance-only field" in note
    meta = {row[0].value: row[1].value for row in book["_meta"].iter_rows(min_row=2)}
    assert meta["schema source"] == sim.url
    assert cli("template", "--system", "jira", "--out", str(out), "--url", sim.url,
                   "--token", sim.token).code == 2  # fmt: skip


def test_with_url_the_projects_sheet_lists_the_instances_projects(
    cli: Cli, tmp_path, target_sim, canaries
):
    """Where a person finds the id to type in a connection's project column."""
    out = tmp_path / "jira.xlsx"
    args = ["--url", target_sim.url, "--token", target_sim.token]
    assert cli("template", "--system", "jira", "--out", str(out), *args).code == 0
    state = target_sim.state.snapshot()
    apps = {a["id"]: a for a in state["applications"]}
    units = {u["id"]: u["name"] for u in state["business_units"]}
    book = load_workbook(out)
    listed = [tuple(r) for r in book["projects"].iter_rows(min_row=2, values_only=True)]
    expected = set()
    for project in state["projects"]:
        app = apps[project["application"]]
        unit = app["business_unit"]
        unit_name = units[unit] if isinstance(unit, int) else unit["name"]
        expected.add((project["id"], project["name"], app["name"], unit_name))
    assert set(listed) == expected and len(listed) == len(expected)
    assert listed == sorted(listed, key=lambda r: (r[3], r[2], r[1], r[0]))
    # Filled with one of them, the template still validates and imports as it is.
    project = listed[0][0]
    fill(book["connectors"], 2, {"name": "Jira P", "system": "jira", "params.alm_method": "https",
                                 "params.alm_server": "p.example", "params.jira_version": "5",
                                 "params.alm_user": "svc", "params.alm_pass": "********"})  # fmt: skip
    fill(book["connections"], 2, {"alias": "Listed", "project": project,
                                  "connector_name": "Jira P", "params.alm_project": "P"})  # fmt: skip
    book.save(out)
    secret = canaries.new("jira-p")
    secrets = tmp_path / "secrets.csv"
    secrets.write_text(f"kind,name,field,value\nconnector,Jira P,alm_pass,{secret}\n")
    assert cli("import", str(out), "--secrets", str(secrets), *args).code == 0
    [made] = [c for c in target_sim.state.snapshot()["connections"] if c["alias"] == "Listed"]
    assert made["project"] == project


def test_each_template_written_is_paired_with_the_system_it_was_built_for(tmp_path):
    # Listed in any order: each (plugin, path) pair is made as its file is written.
    plugins = dict(reversed(bundled_plugins().items()))
    written = write_all_templates(plugins, tmp_path)
    assert [w.plugin.id for w in written] == sorted(plugins)
    for one in written:
        book = load_workbook(one.path, read_only=True)
        meta = {row[0]: row[1] for row in book["_meta"].iter_rows(min_row=2, values_only=True)}
        book.close()
        assert (meta["system"], meta["system name"]) == (one.plugin.id, one.plugin.name)
        assert one.path == tmp_path / f"{one.plugin.id}.xlsx"


def test_make_templates_is_the_whole_command_as_one_library_call(tmp_path, target_sim):
    """Offline: every bundled system in the generation's names; online: the instance's."""
    made = make_templates(tmp_path / "all", api="issue-tracker")
    offline = made.written
    assert (made.source, made.systems, made.published) == ("bundled", len(bundled_plugins()), True)
    assert [w.plugin.id for w in offline] == sorted(bundled_plugins())
    assert [w.path.name for w in offline] == [f"{w.plugin.id}.xlsx" for w in offline]
    assert all(w.path.is_file() for w in offline)
    settings = ConnectionSettings(url=target_sim.url, token=target_sim.token)
    before = target_sim.stats.writes
    made = make_templates(tmp_path / "jira.xlsx", system="JIRA", settings=settings)
    assert (made.source, made.systems) == (target_sim.url, len(target_sim.state.plugins))
    [one] = made.written
    assert (one.plugin.id, one.path) == ("jira", tmp_path / "jira.xlsx")
    book = load_workbook(one.path)
    meta = {row[0].value: row[1].value for row in book["_meta"].iter_rows(min_row=2)}
    assert meta["schema source"] == target_sim.url
    listed = {r[0] for r in book["projects"].iter_rows(min_row=2, values_only=True)}
    assert listed == {p["id"] for p in target_sim.state.snapshot()["projects"]}
    assert target_sim.stats.writes == before  # reading an instance for a template writes nothing
    with pytest.raises(InputError, match="unknown system 'nope'"):
        make_templates(tmp_path / "nope.xlsx", system="nope", settings=settings)


def test_template_says_on_stderr_which_instance_it_read_the_schemas_from(
    cli: Cli, make_sim, target_data, tmp_path, monkeypatch
):
    """SDE_URL, set in the shell for other commands, is read by template too: it says so."""
    jira = bundled_plugins()["jira"]
    sim = make_sim({**target_data, "plugins": [dict(jira.raw)]})  # publishes one schema
    monkeypatch.setenv("SDE_URL", sim.url)
    monkeypatch.setenv("SDE_TOKEN", sim.token)
    code, out, err = cli("template", "--all", "--out", str(tmp_path / "env"))
    assert (code, out) == (0, f"{tmp_path / 'env' / 'jira.xlsx'}\n1 templates written to "
                              f"{tmp_path / 'env'}/\n"), err  # fmt: skip
    assert err == f"Schemas read from {sim.url} (SDE_URL): 1 plugin\n"
    code, _, err = cli("template", "--system", "jira", "--url", sim.url,
                       "--out", str(tmp_path / "named.xlsx"))  # fmt: skip
    assert code == 0, err
    assert err.startswith(f"Schemas read from {sim.url}: 1 plugin\nTemplate for JIRA written.")
    monkeypatch.delenv("SDE_URL")
    code, _, err = cli("template", "--all", "--out", str(tmp_path / "bundled"))
    assert (code, err) == (0, "")  # the bundled schemas: nothing to say


def test_template_says_when_the_instance_publishes_no_schema(
    cli: Cli, make_sim, source_data, tmp_path
):
    sim = make_sim(source_data, api="issue-tracker")  # publishes none
    code, _, err = cli("template", "--all", "--out", str(tmp_path), "--url", sim.url,
                       "--token", sim.token)  # fmt: skip
    assert code == 0, err
    # The client's warning says why; the command says what it used.
    assert err.endswith(
        f"Projects read from {sim.url}; schemas bundled (it publishes none): "
        f"{len(bundled_plugins())} plugins\n"
    )


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_keeps_the_dropdowns_and_notes(tmp_path):
    """Open and re-save a template with LibreOffice: the dropdowns and notes survive."""
    profile = (tmp_path / "profile").as_uri()  # its own profile: no lock shared with others
    done = subprocess.run(
        ["soffice", "--headless", "--norestore", f"-env:UserInstallation={profile}",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(tmp_path / "saved"),
         str(templates_dir() / "jira.xlsx")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    book = load_workbook(tmp_path / "saved" / "jira.xlsx")
    sheet = book["connectors"]
    assert validation_for(sheet, "params.alm_method").formula1 == '"https,http"'
    assert validation_for(sheet, "params.alm_validate_cert").formula1 == '"TRUE,FALSE"'
    assert not validation_for(sheet, "params.alm_method").showDropDown  # the arrow is shown
    picker = validation_for(book["connections"], "connector_name")
    assert picker.formula1.replace("'", "") == f"connectors!$B$2:$B${CONNECTOR_PICK_ROWS + 1}"
    server = sheet.cell(row=1, column=column_of(sheet, "params.alm_server"))
    assert "REQUIRED" in server.comment.text and server.font.b


def test_header_fonts_are_named_so_libreoffice_does_not_fall_back_to_serif(jira_book):
    headers = [cell for sheet in jira_book.worksheets for cell in next(sheet.iter_rows(), ())]
    assert headers and all(cell.font.name for cell in headers if cell.font.b)
