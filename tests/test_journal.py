"""The import journal: fsync'd JSON lines, torn lines tolerated, finished runs start afresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from almmigrate.errors import InputError
from almmigrate.journal import Journal, JournalEntry, read_journal


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    state = read_journal(tmp_path / "none.jsonl")
    assert state.done == {} and state.in_flight == set() and not state.finished


def test_started_then_recorded_is_done_and_not_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url="http://127.0.0.1:1") as journal:
        journal.started([("connector", "A"), ("connector", "B")])
        journal.recorded([JournalEntry("connector", "A", "created", 7)])
    state = read_journal(path)
    assert state.done == {("connector", "A"): JournalEntry("connector", "A", "created", 7)}
    assert state.in_flight == {("connector", "B")}
    assert state.target == "http://127.0.0.1:1"


def test_a_failed_outcome_is_not_done(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.started([("connection", "project 1 / x")])
        journal.recorded([JournalEntry("connection", "project 1 / x", "failed", None)])
    state = read_journal(path)
    assert state.done == {} and state.in_flight == set()


def test_torn_last_line_is_tolerated_and_the_next_event_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.started([("connector", "A"), ("connector", "B")])
        journal.recorded([JournalEntry("connector", "A", "created", 1)])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"event": "done", "kind": "connector", "key": "B", "act')  # killed mid-write
    state = read_journal(path)
    assert state.torn_lines == 1
    assert set(state.done) == {("connector", "A")} and state.in_flight == {("connector", "B")}
    with Journal(path) as journal:  # resumes, appending after the torn line
        assert journal.was_in_flight("connector", "B")
        assert journal.done("connector", "A") == JournalEntry("connector", "A", "created", 1)
        journal.recorded([JournalEntry("connector", "B", "adopted", 2)])
    state = read_journal(path)
    assert set(state.done) == {("connector", "A"), ("connector", "B")}
    assert state.in_flight == set()


def test_a_finished_journal_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.recorded([JournalEntry("connector", "A", "created", 1)])
        journal.finish()
    with Journal(path) as journal:
        assert journal.done("connector", "A") is None
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["begin"]


def test_a_journal_of_another_target_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url="https://a.example.com"):
        pass
    with pytest.raises(InputError, match="belongs to an import into https://a.example.com"):
        Journal(path, target_url="https://b.example.com")


def test_journal_lines_hold_no_token_in_the_url(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, target_url="https://user:canary-pw@a.example.com/?token=canary-tok"):
        pass
    text = path.read_text()
    assert "canary" not in text


def test_a_second_run_on_the_same_journal_is_refused_and_wipes_nothing(tmp_path: Path) -> None:
    from almmigrate.journal import JournalBusy

    path = tmp_path / "j.jsonl"
    with Journal(path, target_url="http://127.0.0.1:1") as first:
        first.started([("connector", "A")])
        first.recorded([JournalEntry("connector", "A", "created", 7)])
        first.finish()  # a finished journal is the one a new run would empty
        before = path.read_bytes()
        with pytest.raises(JournalBusy) as caught:
            Journal(path, target_url="http://127.0.0.1:1")
        assert path.read_bytes() == before
        assert caught.value.exit_code == 2
        assert "another run is using this journal right now" in str(caught.value)
    with Journal(path, target_url="http://127.0.0.1:1"):  # free again once the first closed
        pass
