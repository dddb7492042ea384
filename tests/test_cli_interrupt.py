"""Ctrl-C, once or twice, in a real process: a clean message, no traceback, the report kept, exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from almmigrate.sim import Faults


@pytest.fixture
def slow_target(make_sim: Any, target_data: dict[str, Any]) -> Any:
    return make_sim(
        {**target_data, "connectors": [], "connections": []}, faults=Faults(latency_ms=40)
    )


def start(args: list[str], token: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SDE_TOKEN": token}
    command = [sys.executable, "-m", "almmigrate", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def interrupt_when(sim: Any, condition: Any, process: subprocess.Popen[str], *signals: int) -> None:
    """Send signals once condition() holds for the simulator, which answers nothing more
    from then until they are sent: however late they come, the run is still there to get
    them (on a busy machine it could finish first: exit 0, no "Interrupted")."""
    hold = sim.hold(condition)
    try:
        deadline = time.monotonic() + 60
        while not hold.holding.is_set() and process.poll() is None:
            assert time.monotonic() < deadline, "the run never got to where it is interrupted"
            time.sleep(0.005)
        assert process.poll() is None, "the run ended before it could be interrupted"
        for sig in signals:
            process.send_signal(sig)
    finally:
        hold.release()


def import_args(file: Path, target: Any, secrets: Path, tmp_path: Path) -> list[str]:
    return [
        "import", str(file), "--url", target.url, "--auto-map-projects",
        "--secrets", str(secrets), "--rate", "500", "--concurrency", "2",
        "--batch-size", "10", "--report", str(tmp_path / "report.json"),
    ]  # fmt: skip


# A Ctrl-C that lands after Python has put back the default handler, in the last moments
# of its exit, ends the process by the signal: a shell shows that as 130 too.
INTERRUPTED = (130, -signal.SIGINT)


def clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_an_import_writes_the_report_of_what_was_done(
    exported: Path, slow_target: Any, secrets_csv: Path, tmp_path: Path, presses: int
) -> None:
    args = import_args(exported, slow_target, secrets_csv, tmp_path)
    process = start(args, slow_target.token)
    presses_ = [signal.SIGINT] * presses
    interrupt_when(slow_target, lambda: slow_target.stats.writes >= 20, process, *presses_)
    out, err = process.communicate(timeout=120)
    assert process.returncode in (INTERRUPTED if presses > 1 else (130,)), err
    clean(err)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    actions = [o["action"] for o in report["objects"]]
    assert len(actions) == 145 and 0 < actions.count("pending") < 145
    assert actions.count("created") >= 20 - 2  # at most the 2 in flight are not known
    assert report["verdict"].startswith("The run STOPPED before the end: interrupted (Ctrl-C)")
    assert "import STOPPED before the end: interrupted (Ctrl-C)" in out
    assert "Interrupted. Run the same command again to finish" in err
    # The same command finishes the job, each object once.
    process = start(args, slow_target.token)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    state = slow_target.state.snapshot()
    assert len(state["connectors"]) == 12 and len(state["connections"]) == 133


def test_ctrl_c_twice_during_an_export_is_quiet(
    make_sim: Any, source_data: dict[str, Any], tmp_path: Path
) -> None:
    source = make_sim(source_data, faults=Faults(latency_ms=300))
    process = start(
        ["export", "--url", source.url, "--out", str(tmp_path / "out.xlsx")], source.token
    )
    interrupt_when(source, lambda: source.stats.requests >= 2, process, *[signal.SIGINT] * 2)
    _, err = process.communicate(timeout=60)
    assert process.returncode in INTERRUPTED, err
    clean(err)
    assert "Interrupted (Ctrl-C)." in err or "Stopped." in err
    assert not (tmp_path / "out.xlsx").exists()


def _row_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("almmigrate-xlsx"))


def test_sigterm_during_an_xlsx_export_removes_its_row_folder_and_partial_file(
    make_sim: Any, source_data: dict[str, Any], tmp_path: Path
) -> None:
    # `kill` left the almmigrate-xlsx-* folder of the export's row files in TMPDIR forever.
    sim = make_sim(source_data, faults=Faults(latency_ms=30))
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    out = tmp_path / "out" / "x.xlsx"
    out.parent.mkdir()
    # The early workbook (its row folder in TMPDIR, its partial file beside x.xlsx) opened
    # after five connections; the run waits there, so the signal lands mid-export every time.
    code = (
        "import sys, time, almmigrate.earlywrite as early; early.GUESS_AFTER = 5\n"
        "write = early.EarlyXlsx._write\n"
        "def write_then_wait(self, rows):\n"
        "    write(self, rows)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(120)\n"
        "early.EarlyXlsx._write = write_then_wait\n"
        "from almmigrate.cli import main; main()"
    )
    args = ["export", "--url", sim.url, "--out", str(out), "--page-size", "1", "--concurrency", "1"]
    env = {**os.environ, "SDE_TOKEN": sim.token, "TMPDIR": str(temporary)}
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "writing\n", process.communicate(timeout=120)
    assert len(_row_folders(temporary)) == 1
    assert [p.name.startswith("x.xlsx.almmigrate-partial-") for p in out.parent.iterdir()] == [True]
    process.send_signal(signal.SIGTERM)
    out_, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out_, err)
    clean(err)
    assert err.strip().splitlines()[-1] == "Interrupted (SIGTERM)."
    assert list(temporary.iterdir()) == []
    assert list(out.parent.iterdir()) == []  # no export file, no partial one


def test_a_row_folder_a_killed_run_left_is_removed_by_the_next_xlsx_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # SIGKILL cannot be caught: the next run sweeps what it left, as atomic does partial files.
    import socket
    import tempfile

    from almmigrate.files import Table, write_tables

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    host = socket.gethostname()
    temporary = tmp_path / "tmp"
    abandoned = temporary / f"almmigrate-xlsx.almmigrate-partial-{host}-{dead.stdout.strip()}.k3x9"
    live = temporary / f"almmigrate-xlsx.almmigrate-partial-{host}-{os.getpid()}.live"
    for folder in (abandoned, live):
        folder.mkdir(parents=True)
        (folder / "row-file").write_text("CANARY-row-7f2e", encoding="utf-8")
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    write_tables(tmp_path / "x.xlsx", [Table("connectors", ["id"], [{"id": 1}])], meta={})
    assert _row_folders(temporary) == [live.name]  # a live run's folder is left alone
    assert f"removed {abandoned}: a partial file left by an interrupted run" in caplog.text


def test_sigterm_during_an_import_writes_the_report_of_what_was_done(
    exported: Path, slow_target: Any, secrets_csv: Path, tmp_path: Path
) -> None:
    # The same clean-up as Ctrl-C: `kill` ended the run without a report or journal entry.
    args = import_args(exported, slow_target, secrets_csv, tmp_path)
    process = start(args, slow_target.token)
    interrupt_when(slow_target, lambda: slow_target.stats.writes >= 20, process, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    clean(err)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    actions = [o["action"] for o in report["objects"]]
    assert len(actions) == 145 and 0 < actions.count("pending") < 145
    assert "Interrupted. Run the same command again to finish" in err
