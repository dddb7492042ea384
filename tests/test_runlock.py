"""One writing run per target on this machine: refused, or waited for with --wait-lock."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli

from almmigrate.client import api_base
from almmigrate.exporter import export
from almmigrate.runlock import TargetBusy, lock_dir, lock_path, target_lock
from almmigrate.settings import ConnectionSettings


def test_the_lock_lives_in_the_state_folder_and_names_no_secret(tmp_path: Path) -> None:
    url = "https://sde.example.com/api/v2/"
    path = lock_path(url)
    assert path.parent == lock_dir() and "example" not in path.name
    assert lock_path("https://sde.example.com/api/v2/") == path
    assert lock_path("https://other.example.com/api/v2/") != path


def test_a_second_holder_is_refused_until_the_first_lets_go() -> None:
    url = "https://sde.example.com/api/v2/"
    with target_lock(url), pytest.raises(TargetBusy) as caught, target_lock(url):
        pass
    assert caught.value.exit_code == 2
    with target_lock(url):  # released
        pass


class _Waiting(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for another almmigrate run" in record.getMessage():
            self.seen.set()


def test_wait_lock_waits_for_the_first_run_then_writes_each_object_once(
    cli: Cli,
    make_sim: Any,
    source_sim: Any,
    target_data: dict[str, Any],
    secrets_csv: Path,
    tmp_path: Path,
) -> None:
    target = make_sim({**target_data, "connectors": [], "connections": []})
    exported = tmp_path / "export.json"
    export(ConnectionSettings(source_sim.url, source_sim.token), exported)
    waiting = _Waiting()
    logging.getLogger("almmigrate.runlock").addHandler(waiting)
    held = threading.Event()
    requests_while_held: list[int] = []

    def first_run() -> None:
        # Holds the target's lock until the second run says it waits for it.
        with target_lock(api_base(target.url)):
            held.set()
            waiting.seen.wait(60)
            requests_while_held.append(target.stats.requests)

    holder = threading.Thread(target=first_run)
    holder.start()
    assert held.wait(30)
    try:
        code, _, err = cli(
            "import", str(exported), "--url", target.url, "--token", target.token,
            "--auto-map-projects", "--secrets", str(secrets_csv), "--rate", "500",
            "--wait-lock",
        )  # fmt: skip
    finally:
        holder.join(60)
        logging.getLogger("almmigrate.runlock").removeHandler(waiting)
    assert waiting.seen.is_set() and requests_while_held == [0]  # it waited before any request
    assert code == 0, err
    state = target.state.snapshot()
    assert len(state["connectors"]) == 12 and len(state["connections"]) == 133
