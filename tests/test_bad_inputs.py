"""The bad-input corpus through a real `almmigrate import` (not a dry run): exit 2, one clear
line, zero writes on the target and no report or journal written.

tests/test_cli_validate.py owns the corpus (tests/fixtures/ and the message each
file must give) and runs it through validate, plan and import --dry-run; this
runs every file through the command that would write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_corpus import BAD, CORPUS
from cli_runs import Cli

from almmigrate.sim import SimServer

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# What issue 7 names, and the corpus file that is each kind.
KINDS = {
    "empty": "empty.xlsx",
    "not a zip, named .xlsx": "not-a-zip.xlsx",
    "CSV named .xlsx": "csv-named.xlsx",
    "binary": "binary-junk.csv",
    "latin-1": "latin1.csv",
    "ragged rows": "ragged-rows.csv",
    "unknown system": "unknown-system.csv",
    "bad boolean": "bad-boolean.csv",
    "bad choice": "bad-choice.csv",
    "duplicate names": "duplicate-names.csv",
    "masked secret with none supplied": "masked-secret-no-value.csv",
    "broken JSON": "broken.json",
    "a huge cell": "huge-cell.csv",
    "too many rows": "too-many-rows.csv",
    "an XML bomb": "xml-bomb.xlsx",
    "hidden sheets": "hidden-sheet.xlsx",
    "merged cells": "merged-cells.xlsx",
    "formula cells": "formula-without-value.xlsx",
}


@pytest.fixture(scope="module")
def target() -> Iterator[SimServer]:
    """One target for the whole corpus: every case checks it was never written to."""
    with SimServer(SAMPLES / "target.json") as sim:
        yield sim


def test_every_kind_the_issue_names_is_in_the_corpus() -> None:
    assert set(KINDS.values()) <= set(CORPUS)
    assert all((BAD / name).is_file() for name in KINDS.values())
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_import_refuses_each_bad_file_and_writes_nothing(
    name: str,
    target: SimServer,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import almmigrate.files.table as limits

    monkeypatch.setattr(limits, "MAX_ROWS", 100)  # as the corpus's too-many-rows.csv expects
    monkeypatch.setenv("SDE_TOKEN", target.token)
    path = str(BAD / name)
    report = tmp_path / "report.json"
    requests_before = target.stats.as_dict()["by_method"]
    code, _, err = cli(
        "import", path, "--url", target.url, "--report", str(report), "--rate", "1000"
    )
    assert code == 2, err
    lines = err.splitlines()
    expected = CORPUS[name][0].format(path=path)
    if expected.startswith("InputError"):
        assert lines == [expected]  # one line, no traceback
    else:
        assert lines[0].startswith("ValidationFailed: ")
        assert lines[0].endswith("found, nothing was written")
        assert f"  error: {expected}" in lines  # and no traceback: the cli fixture checks
    assert target.stats.writes == 0
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert target.stats.as_dict()["by_method"].get(method, 0) == requests_before.get(method, 0)
    assert not report.exists() and not report.with_suffix(".journal").exists()
