"""Connection rows written while later pages are fetched: the same file, or none at all."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from export_data import TOKEN, instance_data

from almmigrate import earlywrite
from almmigrate.errors import ConnectionProblem, InputError
from almmigrate.exporter import export
from almmigrate.models import Connection
from almmigrate.settings import ConnectionSettings


@pytest.fixture
def sim():
    from almmigrate.sim import SimServer

    with SimServer(data=instance_data(), token=TOKEN) as server:
        yield server


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool, bool]]:
    """(early workbooks started, gave up, kept) of every export's early workbook."""
    seen: list[tuple[int, bool, bool]] = []
    finish = earlywrite.EarlyXlsx.finish

    def recorded(self: earlywrite.EarlyXlsx, *args: Any) -> bool:
        kept = finish(self, *args)
        seen.append((self.starts, self.gave_up, kept))
        return kept

    monkeypatch.setattr(earlywrite.EarlyXlsx, "finish", recorded)
    return seen


@pytest.fixture
def row_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder XlsxWriter's row files go to (in their own almmigrate-xlsx-* folder)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def settings(sim: Any) -> ConnectionSettings:
    # Two connections a page: the 15 connections come in 8 pages.
    return ConnectionSettings(url=sim.url, token=TOKEN, page_size=2, concurrency=3)


def parts(path: Path) -> dict[str, bytes]:
    """The workbook's parts, but its creation time and the _meta sheet (exported_at)."""
    with zipfile.ZipFile(path) as book:
        found = {name: book.read(name) for name in book.namelist()}
    found.pop("docProps/core.xml")
    meta = found.pop("xl/worksheets/sheet4.xml")
    assert b"exported_at" in meta
    return found


def after_read(sim: Any, out: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Path:
    """The workbook as written after the whole read (no early workbook)."""
    monkeypatch.setattr(earlywrite, "GUESS_AFTER", 10**9)
    export(settings(sim), out, **options)
    return out


@pytest.mark.parametrize(
    ("guess_after", "outcome"),
    [
        (15, (1, False, True)),  # every connection before the guess: kept
        (9, (1, False, True)),  # guessed mid-page, later rows written as they came
        (3, (2, False, True)),  # a later connection had a new column: started again
        (1, (3, True, False)),  # new columns every time: gave up, written after the read
    ],
)
def test_the_workbook_is_the_one_written_after_the_read(
    sim, tmp_path, monkeypatch, outcomes, row_files, guess_after, outcome
):
    reference = after_read(sim, tmp_path / "after.xlsx", monkeypatch, with_last_job=True)
    monkeypatch.setattr(earlywrite, "GUESS_AFTER", guess_after)
    summary = export(settings(sim), tmp_path / "early.xlsx", with_last_job=True)
    assert outcomes[-1] == outcome
    assert summary.connections == 15
    # Byte for byte: rows in page order, columns, widths, styles, filters, print set-up.
    assert parts(tmp_path / "early.xlsx") == parts(reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.xlsx", "early.xlsx", "tmp"]
    assert list(row_files.iterdir()) == []


@pytest.mark.parametrize(
    ("failing", "raised", "expected"),
    [
        # The 14th connection read lacks its alias: not an instance.
        (14, KeyError("alias"), ConnectionProblem),
        (12, KeyboardInterrupt(), KeyboardInterrupt),  # Ctrl-C while rows are written early
    ],
)
def test_a_read_stopped_on_a_later_page_leaves_no_file(
    sim, tmp_path, monkeypatch, row_files, failing, raised, expected
):
    monkeypatch.setattr(earlywrite, "GUESS_AFTER", 9)
    opened: list[bool] = []
    real = Connection.from_api
    read: list[int] = []

    def from_api(data: dict[str, Any]) -> Connection:
        read.append(data["id"])
        if len(read) == failing:
            opened.append(any(p.name.startswith("early.xlsx") for p in tmp_path.iterdir()))
            raise raised
        return real(data)

    monkeypatch.setattr(Connection, "from_api", staticmethod(from_api))
    # With --project the small lists are read before any connection, so every connection
    # is shaped (and written early) as it comes, whatever the threads' timing.
    projects = [p["id"] for p in instance_data()["projects"]]
    with pytest.raises(expected) as stopped:
        export(settings(sim), tmp_path / "early.xlsx", projects=projects)
    if expected is ConnectionProblem:
        assert "without the field 'alias'" in str(stopped.value)
    assert opened == [True]  # the early workbook was being written when the read stopped
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]
    assert list(row_files.iterdir()) == []


def test_a_cell_too_long_after_the_guess_is_the_same_error(monkeypatch, tmp_path, outcomes):
    from almmigrate.sim import SimServer

    data = instance_data()
    data["connections"][11]["alias"] = "x" * 32_768
    monkeypatch.setattr(earlywrite, "GUESS_AFTER", 9)
    with SimServer(data=data, token=TOKEN) as server, pytest.raises(InputError) as raised:
        export(settings(server), tmp_path / "early.xlsx")
    assert outcomes == [(1, True, False)]  # gave up; the write after the read says why
    assert "32768 characters do not fit in one Excel cell" in str(raised.value)
    assert list(tmp_path.iterdir()) == []
