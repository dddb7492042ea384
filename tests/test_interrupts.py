"""A second Ctrl-C (or SIGTERM) never costs an import the report of what it did."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from almmigrate import interrupts
from almmigrate.journal import Journal


def test_only_the_first_press_raises_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupts.first_interrupt_only() as presses:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
            time.sleep(1)  # the handler runs before this ends
        assert not interrupts.pressed_again()
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.01)
        assert presses.again.is_set() and interrupts.pressed_again()
    assert signal.getsignal(signal.SIGINT) is before
    assert not interrupts.pressed_again()


def test_once_settled_no_press_raises() -> None:
    with interrupts.held():
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.01)
        assert interrupts.pressed_again()


def test_a_sigterm_nobody_catches_is_left_to_end_the_program() -> None:
    # A library caller that never asked to catch SIGTERM: it still ends the process.
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with interrupts.first_interrupt_only():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_second_press_after_the_waiting_still_leaves_the_report(
    make_sim: Any,
    target_data: dict[str, Any],
    exported: Path,
    secrets_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second Ctrl-C of two quick presses landed after the waiting for the requests in
    # flight (here: as the journal closes), and the run ended with no report at all.
    from almmigrate.importer import ImportOptions, RunOptions, import_file
    from almmigrate.settings import ConnectionSettings
    from almmigrate.sim import Faults

    target = make_sim(
        {**target_data, "connectors": [], "connections": []}, faults=Faults(latency_ms=20)
    )
    close = Journal.close

    def pressed_as_it_closes(self: Journal) -> None:
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.01)
        close(self)

    monkeypatch.setattr(Journal, "close", pressed_as_it_closes)

    def first_press() -> None:
        while target.stats.writes < 10:
            time.sleep(0.005)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=first_press, daemon=True).start()
    report = tmp_path / "report.json"
    try:
        outcome = import_file(
            exported,
            ConnectionSettings(target.url, target.token),
            ImportOptions(auto_map_projects=True, secrets=secrets_csv),
            RunOptions(report=report, concurrency=2, batch_size=10),
        )
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C ended the import before its report was written")
    assert outcome.result is not None and outcome.result.stopped is not None
    objects = json.loads(report.read_text(encoding="utf-8"))["objects"]
    assert 0 < [o["action"] for o in objects].count("pending") < len(objects)


def test_a_second_press_during_test_all_still_leaves_the_report(
    source_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `almmigrate test --all`: the second of two quick presses, landing once the tests under
    # way had ended (here: as the first result is settled), lost the report of what ran.
    import almmigrate.connectivity as connectivity
    from almmigrate.settings import ConnectionSettings
    from almmigrate.sim import Faults

    source_sim.set_faults(Faults(latency_ms=20))
    settled = connectivity._settled
    presses = []

    def pressed_as_it_settles(*args: Any) -> Any:
        if not presses:
            presses.append(1)
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.01)
        return settled(*args)

    monkeypatch.setattr(connectivity, "_settled", pressed_as_it_settles)

    def first_press() -> None:
        while source_sim.stats.as_dict()["by_method"].get("POST", 0) < 10:
            time.sleep(0.005)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=first_press, daemon=True).start()
    report = tmp_path / "tests.json"
    settings = ConnectionSettings(source_sim.url, source_sim.token)
    try:
        with pytest.raises(connectivity.TestsInterrupted) as stopped:
            connectivity.run_connectivity(settings, None, concurrency=2, report=report)
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C ended the tests before their report was written")
    assert stopped.value.report == report
    messages = [r["message"] for r in json.loads(report.read_text())["results"]]
    assert 10 <= len(messages) - messages.count(connectivity.NOT_RUN) < len(messages)
