"""`almmigrate import` through the faults tests/test_faults.py does not isolate.

Each fault is switched on at the target's first write (so reading and planning
see a healthy instance) and the run is then checked exactly: every object on
the target once with every field right, and every fault the simulator
injected accounted for in the report (a 429 or a 503 is one retry, a create
committed then dropped is one adoption). test_faults.py covers the mix of
503s, drops and throttling at 500 objects, and kill -9 then a re-run.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli
from instances import assert_same_objects, instances
from starlette.requests import ClientDisconnect

from almmigrate.exporter import export
from almmigrate.settings import ConnectionSettings
from almmigrate.sim import Faults, SimServer
from almmigrate.sim.generate import secret_rows


class FaultsAtFirstWrite:
    """Switches the target's faults on at its first write, and optionally off again.

    off_after: switch back to no faults once this many more requests arrived.

    The switch happens inside the simulator's own counting of the first committed
    write, in the thread that handles that request, so no other request can slip
    through between the first write and the faults (a watcher thread polling the
    counters could be scheduled too late on a loaded machine and miss every write).
    """

    def __init__(self, target: SimServer, faults: Faults, off_after: int | None = None) -> None:
        self.target, self.faults, self.off_after = target, faults, off_after
        self.switched = threading.Event()
        self.gets_before_writes = 0
        self._lock = threading.Lock()
        self._requests_at_switch: int | None = None
        self._stats = target.stats
        self._count, self._count_request = self._stats.count, self._stats.count_request

    def _on_count(self, name: str, status: int | None = None) -> None:
        self._count(name, status)
        if name != "writes":
            return
        with self._lock:
            if self.switched.is_set():
                return
            # Reading and planning are over: every GET so far was theirs.
            counts = self._stats.as_dict()
            self.gets_before_writes = counts["by_method"].get("GET", 0)
            self._requests_at_switch = counts["requests"]
            self.target.set_faults(self.faults)
            self.switched.set()

    def _on_count_request(self, method: str, path: str) -> None:
        self._count_request(method, path)
        if self.off_after is None:
            return
        with self._lock:
            start = self._requests_at_switch
            if start is not None and self._stats.requests >= start + self.off_after:
                self.target.set_faults(Faults())
                self._requests_at_switch = None
                self.off_after = None

    def __enter__(self) -> FaultsAtFirstWrite:
        # Instance attributes shadow the methods for this simulator only.
        self._stats.count = self._on_count  # type: ignore[method-assign]
        self._stats.count_request = self._on_count_request  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self._stats.count, self._stats.count_request


@pytest.fixture
def migration(make_sim: Any, tmp_path: Path) -> tuple[SimServer, Path, Path]:
    """(the source, its export as JSON, a secrets file for it); 114 objects."""
    source_data, _ = instances(connections=108, connectors=6, projects=12)
    source = make_sim(source_data)
    exported = tmp_path / "export.json"
    export(ConnectionSettings(source.url, source.token), exported)
    secrets = tmp_path / "secrets.csv"
    with secrets.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["kind", "name", "field", "value"])
        writer.writeheader()
        writer.writerows(secret_rows(source_data))
    return source, exported, secrets


@pytest.fixture
def empty_target(make_sim: Any) -> SimServer:
    _, target_data = instances(connections=108, connectors=6, projects=12)
    sim: SimServer = make_sim(target_data)
    return sim


class _AbandonedRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect))


@pytest.fixture(autouse=True)
def _quiet_abandoned_requests() -> Iterator[None]:
    # A request the client gave up on is logged by the simulator's server with a traceback.
    logger, quiet = logging.getLogger("uvicorn.error"), _AbandonedRequests()
    logger.addFilter(quiet)
    yield
    logger.removeFilter(quiet)


def run_import(
    cli: Cli,
    exported: Path,
    target: SimServer,
    secrets: Path,
    report: Path,
    *extra: str,
) -> tuple[int, str, dict[str, Any]]:
    """`almmigrate import` in-process: (exit code, stderr, the JSON report's summary).

    Fixed pacing far over the target's limit (--no-adapt): the faults must be met."""
    args = [
        "import", str(exported), "--url", target.url, "--token", target.token,
        "--auto-map-projects", "--secrets", str(secrets), "--report", str(report),
        "--concurrency", "8", "--rate", "1000", "--no-adapt", *extra,
    ]  # fmt: skip
    code, _, err = cli(*args)
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"] if report.exists() else {}
    return code, err, summary


@pytest.mark.parametrize("as_date", [False, True], ids=["retry-after-seconds", "retry-after-date"])
def test_429_with_retry_after_is_waited_out_and_every_object_lands_once(
    cli: Cli,
    migration: tuple[SimServer, Path, Path],
    empty_target: SimServer,
    tmp_path: Path,
    as_date: bool,
) -> None:
    source, exported, secrets = migration
    faults = Faults(rate_limit=40, retry_after_date=as_date)
    with FaultsAtFirstWrite(empty_target, faults) as switch:
        code, err, summary = run_import(
            cli, exported, empty_target, secrets, tmp_path / "report.json"
        )
    assert switch.switched.is_set()
    assert code == 0, err
    throttled = empty_target.stats.throttled
    assert throttled > 0  # the limit was really hit
    # Every 429 was seen, waited out and retried; none became a failure or a duplicate.
    assert summary["throttled"] == throttled
    assert summary["retries"] == throttled
    assert summary["created"] == 114 and summary["failed"] == 0
    assert_same_objects(source.state.snapshot(), empty_target.state.snapshot())


def test_503s_are_retried_one_for_one_and_every_object_lands_once(
    cli: Cli,
    migration: tuple[SimServer, Path, Path],
    empty_target: SimServer,
    tmp_path: Path,
) -> None:
    source, exported, secrets = migration
    with FaultsAtFirstWrite(empty_target, Faults(fail_rate=0.15, seed=11)):
        code, err, summary = run_import(
            cli, exported, empty_target, secrets, tmp_path / "report.json", "--retries", "10"
        )
    assert code == 0, err
    failed = empty_target.stats.failed
    assert failed > 0
    assert summary["retries"] == failed
    assert summary["created"] == 114 and summary["failed"] == 0
    assert_same_objects(source.state.snapshot(), empty_target.state.snapshot())


def test_creates_committed_then_dropped_are_adopted_not_sent_again(
    cli: Cli,
    migration: tuple[SimServer, Path, Path],
    empty_target: SimServer,
    tmp_path: Path,
) -> None:
    source, exported, secrets = migration
    with FaultsAtFirstWrite(empty_target, Faults(drop_rate=0.2, seed=5)):
        code, err, summary = run_import(
            cli, exported, empty_target, secrets, tmp_path / "report.json"
        )
    assert code == 0, err
    dropped = empty_target.stats.dropped
    assert dropped > 5
    # Each dropped create was committed: found by its natural key and adopted, never re-sent.
    assert summary["adopted"] == dropped
    assert summary["created"] + summary["adopted"] == 114
    assert empty_target.stats.writes == 114
    assert_same_objects(source.state.snapshot(), empty_target.state.snapshot())


def test_responses_slower_than_timeout_are_retried_without_duplicates(
    cli: Cli,
    migration: tuple[SimServer, Path, Path],
    empty_target: SimServer,
    tmp_path: Path,
) -> None:
    source, exported, secrets = migration
    slow = Faults(latency_ms=1200)
    with FaultsAtFirstWrite(empty_target, slow, off_after=12) as switch:
        code, err, summary = run_import(
            cli, exported, empty_target, secrets, tmp_path / "report.json",
            "--timeout", "0.4", "--retries", "8",
        )  # fmt: skip
    assert code == 0, err
    # Without faults the writing phase sends one POST an object and nothing else; each
    # request that timed out cost at least one more (a retry, or a look-up before a re-send).
    by_method = empty_target.stats.as_dict()["by_method"]
    writing_requests = by_method["POST"] + by_method["GET"] - switch.gets_before_writes
    assert writing_requests > 114
    # The simulator is slow before it reads a request, so a create that timed out was not
    # committed: it was looked up, found absent and sent again, and is still there once.
    assert by_method["POST"] > 114
    assert summary["failed"] == 0
    assert summary["created"] + summary["adopted"] == 114
    assert_same_objects(source.state.snapshot(), empty_target.state.snapshot())
