"""Running the CLI in the test's process: exit code, stdout and stderr."""

from __future__ import annotations

import pytest

from almmigrate.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `almmigrate ARGS`; (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err
