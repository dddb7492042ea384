"""`almmigrate validate`, and the bad-input corpus refused by validate, plan and import --dry-run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from bad_corpus import BAD, CORPUS, DRY_RUN, DRY_RUN_TOO, OTHERS, VALIDATE
from cli_runs import Cli

from almmigrate.sim import SimServer

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def shared_target() -> Iterator[SimServer]:
    """One target for the whole corpus: every case asserts it was never written to."""
    with SimServer(SAMPLES / "target.json") as sim:
        yield sim


def test_the_corpus_is_complete() -> None:
    on_disk = {p.name for p in BAD.iterdir() if p.name != "__pycache__"}
    assert on_disk == set(CORPUS) | OTHERS and not set(CORPUS) & OTHERS
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_bad_file_is_refused_with_exit_2_and_nothing_written(
    name: str,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    shared_target: SimServer,
) -> None:
    import almmigrate.files.table as limits

    target_sim = shared_target

    monkeypatch.setattr(limits, "MAX_ROWS", 100)
    monkeypatch.setenv("SDE_TOKEN", target_sim.token)
    path = str(BAD / name)
    expected, commands = CORPUS[name]
    if name in DRY_RUN_TOO:
        commands = (*commands, DRY_RUN)
    expected = expected.format(path=path)
    for command in commands:
        extra = (
            ["--url", target_sim.url] if command != VALIDATE and "validate" not in command else []
        )
        code, out, err = cli(*command.split(), path, *extra)
        assert code == 2, f"{command}: {err}"  # no traceback: the cli fixture checks
        if expected.startswith("InputError"):
            assert err.splitlines()[0] == expected, command
        else:
            assert err.splitlines()[0].startswith("ValidationFailed: "), command
            assert err.splitlines()[0].endswith("found, nothing was written"), command
            assert f"  error: {expected}" in err.splitlines(), command
    assert target_sim.stats.writes == 0


def test_a_clean_export_validates(cli: Cli, source_sim: SimServer, tmp_path: Path) -> None:
    for out in ("x.xlsx", "x.json", "csv"):
        path = str(tmp_path / out)
        code, _, err = cli(
            "export", "--url", source_sim.url, "--token", source_sim.token, "--out", path
        )
        assert code == 0, err
        code, out_text, err = cli("validate", path)
        assert (code, out_text, err) == (0, "12 connectors, 133 connections: no problems\n", "")


def test_warnings_are_listed_and_do_not_fail(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "connectors.csv"
    path.write_text(
        "name,system,params.alm_method,params.colour\r\nJira A,jira,https,blue\r\n",
        encoding="utf-8",
    )
    code, out, err = cli("validate", str(path))
    assert code == 0, err
    assert out.splitlines() == [
        "  warning: connectors row 2, params.colour: not a param of jira; it will be sent as is",
        "1 connector, 0 connections: no problems (1 warning)",
    ]
    code, out, err = cli("validate", str(path), "--strict")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"ValidationFailed: {path}: 1 problem found, nothing was written",
        "  error: connectors row 2, params.colour: not a param of jira; it will be sent as is "
        "(a warning; --strict makes it an error)",
    ]


def test_numbers_shown_as_percents_are_warned_on_beside_the_errors(cli: Cli) -> None:
    """A LibreOffice .ods with 50% typed into cells: each is named, the text one as damage."""
    path = BAD / "libreoffice-percent.ods"
    code, out, err = cli("validate", str(path))
    damaged = (
        "looks like a spreadsheet turned '{0}' into {1}: the cell is shown as a percent but "
        "holds the number {1}, which is what is read. If '{0}' is meant, format the cell as "
        "text and type it again"
    )
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"ValidationFailed: {path}: 1 problem found, nothing was written",
        "  warning: connectors row 2, params.alm_project: " + damaged.format("50%", "0.5"),
        "  warning: connectors row 3, params.alm_reference_context: "
        + damaged.format("25%", "0.25"),
        "  warning: connectors row 3, params.sde_tags_filter: " + damaged.format("150%", "1.5"),
        '  error: connectors row 3, params.alm_reference_context: "0.25" is not a whole number',
    ]


def test_with_url_the_instance_is_checked(
    cli: Cli,
    target_sim: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDE_TOKEN", target_sim.token)
    path = tmp_path / "connections.csv"
    path.write_text(
        "alias,project,connector_name,params.alm_project\r\n"
        "A,722,Jira Cloud – Montréal,X\r\n"
        "B,722,Not There,Y\r\n",
        encoding="utf-8",
    )
    assert cli("validate", str(path))[0] == 0  # offline: the connector may exist
    code, _, err = cli("validate", str(path), "--url", target_sim.url)
    assert code == 2
    assert err.splitlines()[1:] == [
        '  error: connections row 3, connector_name: connector "Not There" is neither in the file '
        "nor on the target"
    ]
    assert target_sim.stats.writes == 0


def test_a_path_the_file_system_refuses_is_one_line_exit_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / f"{'a' * 300}.xlsx"  # longer than a file name may be (255 bytes)
    code, out, err = cli("validate", str(path))
    assert (code, out, err) == (2, "", f"InputError: {path}: cannot read: File name too long\n")


def test_help_has_an_example(cli: Cli) -> None:
    code, out, _ = cli("validate", "--help")
    assert code == 0
    assert "  Example:\n    almmigrate validate connectors.xlsx\n" in out


def test_an_exported_connections_sheet_alone_validates_offline(
    cli: Cli, source_sim: SimServer, tmp_path: Path
) -> None:
    # "Jira, Data & HR" lets its connections set alm_user (fields_editable_on_project); offline
    # the connector is not in the file, so what it allows is unknown and must not be an error.
    folder = tmp_path / "csv"
    login = ("--url", source_sim.url, "--token", source_sim.token)
    assert cli("export", *login, "--out", str(folder), "--only", "connections")[0] == 0
    code, out, err = cli("validate", str(folder / "connections.csv"))
    assert (code, out, err) == (0, "0 connectors, 133 connections: no problems\n", "")


def test_problems_are_listed_top_to_bottom_without_echoes(cli: Cli, tmp_path: Path) -> None:
    # A cell the reader cannot type (row 3 of connections) and checks that run later
    # (connectors): listed in file order. The connector's unknown system is said once,
    # not again on each connection that uses it.
    book = openpyxl.Workbook()
    connectors = book.active
    connectors.title = "connectors"
    connectors.append(["id", "name", "system", "params.alm_method"])
    connectors.append([1, "Jira A", "jira", "htps"])
    connectors.append([2, "Bugs", "bugzilla", None])
    connections = book.create_sheet("connections")
    connections.append(["id", "alias", "project", "connector", "connector_name", "debug_mode"])
    connections.append([1, "A", 1, 2, "Bugs", False])
    connections.append([2, "B", 1, 1, "Jira A", "maybe"])
    connections.append([3, "C", 1, 2, "Bugs", True])
    path = tmp_path / "book.xlsx"
    book.save(path)
    code, _, err = cli("validate", str(path))
    assert code == 2
    assert err.splitlines()[1:] == [
        '  error: connectors row 2, params.alm_method: "htps" is not one of https, http',
        '  error: connectors row 3, system: "bugzilla" is not a known system '
        "(one of github, jira, rally, trac)",
        '  error: connections row 3, debug_mode: "maybe" is not a boolean (use TRUE or FALSE)',
    ]
