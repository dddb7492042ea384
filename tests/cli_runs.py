"""Running the CLI in the test's process: exit code, stdout and stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from almmigrate.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `almmigrate ARGS`; (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def import_args(
    file: Path, target: Any, secrets: Path, *extra: str, rate: str = "200"
) -> list[str]:
    """`import FILE` into a simulated target with auto-mapped projects and a secrets file."""
    return [
        "import", str(file), "--url", target.url, "--token", target.token,
        "--auto-map-projects", "--secrets", str(secrets), "--rate", rate, *extra,
    ]  # fmt: skip
