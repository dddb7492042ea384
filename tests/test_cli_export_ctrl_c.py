"""`almmigrate export` and a Ctrl-C at its very end: the run says what is on disk.

A Ctrl-C that comes once the file is whole and in place cannot undo it: the export
finished (exit 0). One that comes before leaves no file of this run (exit 130).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli

from almmigrate.files import atomic


def _ctrl_c_at_the_rename(monkeypatch: pytest.MonkeyPatch, out: Path, *, after: bool) -> None:
    """Ctrl-C just before, or just after, the export's file is renamed into place."""
    rename = os.replace

    def replace(source: Any, target: Any) -> None:
        if Path(target) != out:
            rename(source, target)
            return
        if after:
            rename(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", replace)


@pytest.mark.parametrize("name", ["export.xlsx", "export.json"])
def test_ctrl_c_after_the_file_is_in_place_is_a_finished_export(
    cli: Cli, source_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    out = tmp_path / name
    _ctrl_c_at_the_rename(monkeypatch, out, after=True)
    code, stdout, err = cli(
        "export", "--include-secrets", "--url", source_sim.url, "--token", source_sim.token,
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert stdout == f"Export finished: {out} was written in full before the interrupt came.\n"
    assert "Interrupted" not in err
    assert out.stat().st_size > 0 and out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_ctrl_c_before_the_file_is_in_place_is_an_interrupted_export(
    cli: Cli, source_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "export.json"
    out.write_text("an older export", encoding="utf-8")
    _ctrl_c_at_the_rename(monkeypatch, out, after=False)
    code, stdout, err = cli(
        "export", "--include-secrets", "--url", source_sim.url, "--token", source_sim.token,
        "--out", str(out),
    )  # fmt: skip
    assert code == 130
    assert err.endswith("Interrupted (Ctrl-C).\n") and stdout == ""
    assert out.read_text(encoding="utf-8") == "an older export"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]  # no partial file left
