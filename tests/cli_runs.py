"""Running the CLI in the test's process: exit code, stdout and stderr.

Tests use the `cli` fixture (tests/conftest.py), built on `run_cli` here:

    def test_x(cli):
        code, out, err = cli("export", "--url", sim.url, "--out", str(path))

The exit code follows the interpreter's rule for `sys.exit(code)`: None is 0, an
int is itself, anything else is printed to stderr and exits 1. Without -v, stderr
must hold no traceback (the CLI promises one clear line): every run checks it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import pytest

from almmigrate.cli import main


class CliResult(NamedTuple):
    code: int
    out: str
    err: str


Cli = Callable[..., CliResult]


def exit_code(code: object) -> tuple[int, str]:
    """(status, what the interpreter prints) for `sys.exit(code)`, as a console script ends."""
    if code is None:
        return 0, ""
    if isinstance(code, int):
        return code, ""
    return 1, f"{code}\n"


def verbose(args: tuple[str, ...]) -> bool:
    """As main() counts it: -v, -vv ... or --verbose anywhere."""
    return any(a == "--verbose" or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run `almmigrate ARGS` in this process; (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    code, message = exit_code(done.value.code)
    err += message
    if not verbose(args):
        assert "Traceback" not in err and "Exception ignored" not in err, err
    return CliResult(code, out, err)


def help_page(*args: str) -> str:
    """`almmigrate ARGS --help` as main() prints it on an 80-column terminal, as run_cli runs
    every other command. Takes no capsys: usable where pytest collects (to parametrize over
    the commands), so stdout is caught here."""
    printed = io.StringIO()
    with (
        mock.patch.dict(os.environ, {"COLUMNS": "80"}),
        contextlib.redirect_stdout(printed),
        pytest.raises(SystemExit) as done,
    ):
        main([*args, "--help"])
    assert exit_code(done.value.code) == (0, ""), printed.getvalue()
    return printed.getvalue()


def listed_commands(page: str | None = None) -> list[str]:
    """The commands a help page (`almmigrate --help` by default) lists, in its order."""
    text = help_page() if page is None else page
    return re.findall(r"^  ([a-z][a-z-]*)\s", text.split("Commands:", 1)[1], re.M)


def import_args(
    file: Path, target: Any, secrets: Path, *extra: str, rate: str = "200"
) -> list[str]:
    """`import FILE` into a simulated target with auto-mapped projects and a secrets file."""
    return [
        "import", str(file), "--url", target.url, "--token", target.token,
        "--auto-map-projects", "--secrets", str(secrets), "--rate", rate, *extra,
    ]  # fmt: skip
