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


def test_a_callers_handler_that_does_not_raise_gets_every_press() -> None:
    # A host (a notebook, a GUI) whose handler notes Ctrl-C rather than raising: the run
    # was not stopped by the first press, so the next ones are not "again" but its own.
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        with interrupts.first_interrupt_only() as presses:
            for _ in range(2):
                signal.raise_signal(signal.SIGINT)
                time.sleep(0.01)
            assert noted == [signal.SIGINT, signal.SIGINT]
            assert not presses.again.is_set()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_sigterm_nobody_catches_is_left_to_end_the_program() -> None:
    # A library caller that never asked to catch SIGTERM: it still ends the process.
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with interrupts.first_interrupt_only():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def _import(target: Any, exported: Path, secrets_csv: Path, run: Any, **settings: Any) -> Any:
    """import_file of the exported sample into target, projects matched by name."""
    from almmigrate.importer import ImportOptions, import_file
    from almmigrate.settings import ConnectionSettings

    return import_file(
        exported,
        ConnectionSettings(target.url, target.token, **settings),
        ImportOptions(auto_map_projects=True, secrets=secrets_csv),
        run,
    )


def test_a_second_press_after_the_waiting_still_leaves_the_report(
    empty_target: Any,
    exported: Path,
    secrets_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second Ctrl-C of two quick presses landed after the waiting for the requests in
    # flight (here: as the journal closes), and the run ended with no report at all.
    from almmigrate.importer import RunOptions
    from almmigrate.sim import Faults

    target = empty_target
    target.set_faults(Faults(latency_ms=20))
    close = Journal.close

    def pressed_as_it_closes(self: Journal) -> None:
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.01)
        close(self)

    monkeypatch.setattr(Journal, "close", pressed_as_it_closes)

    # After ten writes the target stops answering until the first press: the run cannot
    # end before it.
    hold = target.hold(lambda: target.stats.writes >= 10)

    def first_press() -> None:
        hold.holding.wait(60)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        hold.release()

    threading.Thread(target=first_press, daemon=True).start()
    report = tmp_path / "report.json"
    try:
        outcome = _import(
            target, exported, secrets_csv, RunOptions(report=report, concurrency=2, batch_size=10)
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

    # After ten tests the instance stops answering until the first press: the run cannot
    # end before it.
    hold = source_sim.hold(lambda: source_sim.stats.as_dict()["by_method"].get("POST", 0) >= 10)

    def first_press() -> None:
        hold.holding.wait(60)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        hold.release()

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


def _two_quick_presses() -> Any:
    """A SIGINT handler for the guard to wrap: the first press raises and a second one
    lands right behind it (wherever the first's KeyboardInterrupt is then)."""
    presses: list[int] = []

    def pressed(signum: int, frame: Any) -> None:
        presses.append(signum)
        if len(presses) == 1:
            signal.raise_signal(signal.SIGINT)
        raise KeyboardInterrupt

    return pressed


def test_a_second_press_ends_the_waiting_for_a_pools_threads() -> None:
    # A with-block over a pool waited for every thread whatever came: once the guard no
    # longer raised, nothing could stop that waiting.
    from almmigrate.secrets import worker_pool

    started, release = threading.Event(), threading.Event()

    def under_way() -> bool:
        started.set()
        return release.wait(timeout=60)

    previous = signal.signal(signal.SIGINT, _two_quick_presses())
    try:
        with interrupts.first_interrupt_only() as presses:
            with pytest.raises(KeyboardInterrupt), worker_pool(2) as pool:
                running = pool.submit(under_way)
                queued = [pool.submit(under_way) for _ in range(3)]
                assert started.wait(timeout=60)
                signal.raise_signal(signal.SIGINT)
                time.sleep(60)  # the handler runs before this ends
            assert presses.again.is_set()
            assert not running.done()  # no waiting for it after the second press
            assert sum(future.cancelled() for future in queued) >= 2  # never started
    finally:
        signal.signal(signal.SIGINT, previous)
        release.set()
    assert running.result() is True


def test_a_press_while_a_pool_block_ended_by_a_failure_waits_still_stops_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not the second press of a stopped run but the first: it must not be taken for the
    # end of the waiting and let the failure pass for the outcome (exit 130, not 3).
    from almmigrate.secrets import worker_pool

    started, release = threading.Event(), threading.Event()

    def under_way() -> bool:
        started.set()
        return release.wait(timeout=60)

    def pressed_while_waiting(futures: Any, timeout: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C, as the default handler raises it

    monkeypatch.setattr(interrupts, "wait", pressed_while_waiting)
    try:
        with pytest.raises(KeyboardInterrupt), worker_pool(1) as pool:
            pool.submit(under_way)
            assert started.wait(timeout=60)
            raise ValueError("a reader failed")
    finally:
        release.set()


def test_a_second_press_ends_the_final_read_of_import_verify(
    empty_target: Any,
    exported: Path,
    secrets_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ctrl-C twice during --verify's re-read of the target: the run waited for every page
    # request in flight (each may retry for up to --max-wait) whatever else was pressed.
    import almmigrate.importer as importer
    from almmigrate.client import SDEClient
    from almmigrate.importer import RunOptions

    target = empty_target
    verifying, blocked, release = threading.Event(), threading.Event(), threading.Event()
    read, get, page = importer._read, SDEClient.get, SDEClient._page
    held_up = []

    def marked(where: Any, instance: str, shown: bool) -> Any:
        if instance == "the target again":
            verifying.set()
        return read(where, instance, shown)

    def slow(self: SDEClient, path: str, params: Any = None) -> Any:
        if verifying.is_set() and "connections" in path and "page=3" in path:
            blocked.set()
            held_up.append(release.wait(timeout=60))  # a page that takes its time
        return get(self, path, params)

    pages = []

    def pressed(self: SDEClient, body: Any, path: str) -> Any:
        if verifying.is_set() and "connections" in path:
            pages.append(path)
            if len(pages) == 2:  # page 2 is here; page 3 is under way
                assert blocked.wait(timeout=60)
                signal.raise_signal(signal.SIGINT)
        return page(self, body, path)

    monkeypatch.setattr(importer, "_read", marked)
    monkeypatch.setattr(SDEClient, "get", slow)
    monkeypatch.setattr(SDEClient, "_page", pressed)
    previous = signal.signal(signal.SIGINT, _two_quick_presses())
    try:
        with pytest.raises(KeyboardInterrupt):
            run = RunOptions(report=tmp_path / "report.json", verify=True)
            _import(target, exported, secrets_csv, run, page_size=1, concurrency=2)
        assert held_up == []  # the run ended while page 3 was still on its way
    finally:
        signal.signal(signal.SIGINT, previous)
        release.set()
    assert signal.getsignal(signal.SIGINT) is previous


def test_ctrl_c_during_the_final_read_of_import_verify_still_writes_the_report(
    empty_target: Any,
    exported: Path,
    secrets_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every write was done, then Ctrl-C while --verify read the target again: the run
    # ended (130) with no report of the objects it had created.
    import almmigrate.importer as importer
    from almmigrate.importer import RunOptions

    target = empty_target
    read = importer._read

    def pressed_again(where: Any, instance: str, shown: bool) -> Any:
        if instance == "the target again":
            raise KeyboardInterrupt
        return read(where, instance, shown)

    monkeypatch.setattr(importer, "_read", pressed_again)
    report = tmp_path / "report.json"
    with pytest.raises(KeyboardInterrupt):
        _import(target, exported, secrets_csv, RunOptions(report=report, verify=True))
    written = json.loads(report.read_text(encoding="utf-8"))
    actions = [o["action"] for o in written["objects"]]
    assert actions and set(actions) == {"created"}
    assert target.stats.writes == len(actions)
    assert written["run"]["verify"].startswith("interrupted (Ctrl-C)")


def test_a_press_while_the_guard_puts_the_handlers_back_leaves_ctrl_c_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A press landing as the guard put the handlers back cut that short: the guard's
    # handler stayed, and every later Ctrl-C of the process was swallowed.
    before = signal.getsignal(signal.SIGINT)
    put = signal.signal
    pressed: list[int] = []

    def put_back(sig: int, handler: Any) -> Any:
        if sig == signal.SIGINT and handler is before and not pressed:
            pressed.append(sig)
            guards = signal.getsignal(sig)
            assert callable(guards)
            guards(sig, None)  # the press lands now, in the guard's handler
        return put(sig, handler)

    # The press still stops the program.
    with pytest.raises(KeyboardInterrupt), interrupts.first_interrupt_only():
        monkeypatch.setattr(signal, "signal", put_back)
    monkeypatch.undo()
    assert pressed and signal.getsignal(signal.SIGINT) is before
    assert not interrupts._active


def test_a_press_while_the_guard_sets_its_handlers_up_leaves_none_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = signal.getsignal(signal.SIGINT)
    look = signal.getsignal
    pressed: list[int] = []

    def looked_up(sig: int) -> Any:
        if sig == signal.SIGTERM and not pressed:  # SIGINT's handler is the guard's now
            pressed.append(sig)
            guards = look(signal.SIGINT)
            assert callable(guards)
            guards(signal.SIGINT, None)
        return look(sig)

    monkeypatch.setattr(signal, "getsignal", looked_up)
    with pytest.raises(KeyboardInterrupt), interrupts.first_interrupt_only():
        pytest.fail("the press came before the block began")
    monkeypatch.undo()
    assert pressed and signal.getsignal(signal.SIGINT) is before
    assert not interrupts._active
