from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from almmigrate.cli import COMMANDS, main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "almmigrate", *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_exactly_the_commands_that_exist():
    result = run("--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout
    for name, module in COMMANDS.items():
        exists = importlib.util.find_spec(f"almmigrate.cli.{module}") is not None
        shown = re.search(rf"^  {re.escape(name)}(\s|$)", result.stdout, re.M) is not None
        assert shown == exists, name


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as done:
        main(["no-such-command"])
    assert done.value.code == 2


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert "almmigrate" in result.stdout
