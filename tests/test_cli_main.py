"""The `almmigrate` entry point: the command list, lazy loading, usage errors, --version."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from cli_runs import Cli, exit_code, help_page, listed_commands

from almmigrate.cli import COMMANDS
from almmigrate.cli import cli as group

# The README's commands, in the order --help lists them.
SPEC_COMMANDS = ["export", "map-projects", "validate", "plan", "import", "migrate", "test",
                 "verify", "template", "sim", "demo"]  # fmt: skip


def in_fresh_python(*args: str) -> tuple[str, list[str]]:
    """`almmigrate ARGS` in a new interpreter: (stdout, the almmigrate.cli.* modules it loaded)."""
    script = (
        "import sys\nfrom almmigrate.cli import main\n"
        f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('almmigrate.cli.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    *output, loaded = done.stdout.splitlines()
    return "\n".join(output), ast.literal_eval(loaded)


def test_help_lists_exactly_the_commands_of_the_spec(cli: Cli) -> None:
    code, out, err = cli("--help")
    assert (code, err) == (0, "")
    assert listed_commands(out) == SPEC_COMMANDS
    assert (
        "  Example:\n    almmigrate export --url https://sde.example.com --out connectors.xlsx"
        in out
    )


@pytest.mark.parametrize("args", [(), ("import",)])
def test_the_help_pages_the_tests_read_are_what_the_console_script_prints(
    args: tuple[str, ...],
) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "almmigrate", *args, "--help"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout  # fmt: skip
    assert help_page(*args) == printed


def test_help_loads_every_command_and_a_command_loads_only_itself() -> None:
    out, loaded = in_fresh_python("--help")
    assert listed_commands(out) == SPEC_COMMANDS
    # Each command's one-line help is read from its module.
    assert loaded == sorted(
        [f"almmigrate.cli.{m}" for m in COMMANDS.values()] + ["almmigrate.cli.options"]
    )
    out, loaded = in_fresh_python("export", "--help")
    assert out.startswith("Usage: almmigrate export [OPTIONS]")
    assert loaded == ["almmigrate.cli.export", "almmigrate.cli.options"]


def test_a_command_whose_module_is_absent_is_neither_listed_nor_run(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(COMMANDS, "later", "not_written_yet")
    assert group.list_commands(click.Context(group)) == SPEC_COMMANDS
    code, out, err = cli("later")
    assert (code, out) == (2, "")
    assert err.endswith("Error: No such command 'later'.\n")


def test_unknown_command_is_a_usage_error(cli: Cli) -> None:
    assert cli("no-such-command") == (
        2,
        "",
        "Usage: almmigrate [OPTIONS] COMMAND [ARGS]...\n"
        "Try 'almmigrate --help' for help.\n\n"
        "Error: No such command 'no-such-command'.\n",
    )


def test_version_is_the_installed_package_version() -> None:
    # `python -m almmigrate`, the module entry point, as a user may run it.
    done = subprocess.run(
        [sys.executable, "-m", "almmigrate", "--version"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"almmigrate, version {version('almmigrate')}\n",
        "",
    )


@pytest.mark.parametrize("code", [None, 0, 3, "a message"])
def test_the_cli_fixture_reads_an_exit_code_as_the_interpreter_does(code: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.exit({code!r})"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert exit_code(code) == (done.returncode, done.stderr)


def test_a_run_gives_the_caller_its_logging_back(
    cli: Cli, source_sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # After `-vv`, httpx's loggers kept the run's handler on its stderr (closed once the run
    # is over): the caller's next request logged "--- Logging error ---" and a traceback.
    loggers = [logging.getLogger(name) for name in ("almmigrate", "httpx", "httpcore")]
    before = [(list(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    out = str(tmp_path / "x.json")
    code, _, err = cli("-vv", "export", "--url", source_sim.url, "--token", source_sim.token,
                       "--out", out)  # fmt: skip
    assert code == 0 and "INFO httpx: HTTP Request: GET" in err
    assert [(list(logger.handlers), logger.level, logger.propagate) for logger in loggers] == (
        before
    )
    assert httpx.get(f"{source_sim.url}/api/v2/projects/").status_code == 401
    assert capsys.readouterr().err == ""
