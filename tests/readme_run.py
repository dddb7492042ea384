"""Run the README's marked blocks as a reader would, and compare what they print.

How a README block is marked for checking (other sections may add their own):

- Put the line ``<!-- readme: run -->`` right above a fenced block. Every marked
  block runs, in README order, in ONE shell session started in a fresh folder
  holding a copy of ``samples/`` (what a fresh clone has): environment variables
  and the current folder carry over from one command to the next, and from
  one block to the next.
- In a marked block, a line starting ``$ `` is a command (run by bash). The
  lines after it, up to the next ``$ ``, are what it must print (stdout and
  stderr together, as on a terminal): each line shown must appear among the
  lines printed, in that order. Numbers compare as N (times, ports and ids
  vary) and trailing spaces are ignored; a line ``...`` (or a table row
  ``│ ... │``) only stands for lines left out. Lines before the first ``$ ``
  are not run.
- ``almmigrate sim ... --port P ... &`` starts the simulator in the
  background on a free port instead of P (tests never take fixed ports), and
  P is replaced by that port in every later command. ``kill %N`` stops the
  simulator started as job N, as bash numbers jobs.
- ``<!-- readme: do COMMAND -->`` runs COMMAND, unshown, where it stands: a step
  the prose asks of the reader (an edit in a spreadsheet program).
- A block that shows commands (``$ ``) and cannot be checked says why on the
  line above it: ``<!-- readme: not run: WHY -->`` (output that depends on a
  terminal or on timing, a block another test runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "<!-- readme: run -->"
NOT_RUN = "<!-- readme: not run: "
DO = re.compile(r"^<!-- readme: do (?P<command>.+) -->$")
SIM = re.compile(r"^almmigrate sim (?P<args>.*)&\s*(?:#.*)?$")
KILL = re.compile(r"^kill (?P<jobs>(?:%\d+\s*)+)(?:#.*)?$")
ELIDED = re.compile(r"^(\.\.\.|│ \.\.\. .*)$")


@dataclass
class Step:
    """One command of a marked block (or a hidden `do` step) and what it must print."""

    command: str
    expected: list[str] = field(default_factory=list)
    hidden: bool = False
    line: int = 0  # README line of the command


def steps(text: str) -> list[Step]:
    """Every command of the marked blocks and hidden steps, in README order."""
    found: list[Step] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        hidden = DO.match(line.strip())
        if hidden:
            found.append(Step(hidden["command"], hidden=True, line=index + 1))
        elif line.strip() == MARK and index + 1 < len(lines) and lines[index + 1].startswith("```"):
            index += 2
            while index < len(lines) and not lines[index].startswith("```"):
                if lines[index].startswith("$ "):
                    found.append(Step(lines[index][2:], line=index + 1))
                elif found and not found[-1].hidden and lines[index].strip():
                    found[-1].expected.append(lines[index])
                index += 1
        index += 1
    return found


def unexplained_blocks(text: str) -> list[int]:
    """README lines of fenced blocks showing commands, neither run nor saying why not."""
    lines = text.splitlines()
    found = []
    inside = False
    for index, line in enumerate(lines):
        if not line.startswith("```"):
            continue
        inside = not inside
        if not inside:
            continue
        body = []
        for after in lines[index + 1 :]:
            if after.startswith("```"):
                break
            body.append(after)
        above = lines[index - 1].strip() if index else ""
        explained = above == MARK or above.startswith(NOT_RUN)
        if any(b.startswith("$ ") for b in body) and not explained:
            found.append(index + 1)
    return found


def shape(line: str) -> str:
    """A line as compared: numbers as N, no trailing spaces."""
    return re.sub(r"\d+(\.\d+)?", "N", line).rstrip()


def missing_lines(expected: list[str], printed: str) -> list[str]:
    """The expected lines not found, in order, among the printed ones."""
    actual = [shape(line) for line in printed.splitlines()]
    position = 0
    missing = []
    for line in expected:
        if ELIDED.match(line.strip()):
            continue
        wanted = shape(line)
        try:
            position = actual.index(wanted, position) + 1
        except ValueError:
            missing.append(line)
    return missing


class Session:
    """One reader's shell: a folder, the environment, the simulators running."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        shutil.copytree(ROOT / "samples", folder / "samples")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SDE_")},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONUNBUFFERED": "1",  # stdout and stderr interleaved as on a terminal
            "COLUMNS": "200",
        }
        self.ports: dict[str, str] = {}
        self.jobs: dict[int, subprocess.Popen[str]] = {}
        self._env_file = folder.parent / f"{folder.name}.env"

    def run(self, step: Step) -> str:
        command = step.command
        sim = SIM.match(command)
        if sim:
            return self._start_sim(sim["args"])
        kill = KILL.match(command)
        if kill:
            for job in re.findall(r"%(\d+)", kill["jobs"]):
                self._stop(int(job))
            return ""
        for shown, real in self.ports.items():
            command = re.sub(rf"\b{shown}\b", real, command)
        script = f'{command}\n__rc=$?\nenv -0 > "{self._env_file}"\nexit $__rc\n'
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.folder, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
        )  # fmt: skip
        if self._env_file.exists():
            pairs = self._env_file.read_text(encoding="utf-8").split("\0")
            self.env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        return done.stdout

    def _start_sim(self, args: str) -> str:
        shown = re.search(r"--port\s+(\d+)", args)
        args = re.sub(r"--port\s+\d+", "--port 0", args)
        job = max(self.jobs, default=0) + 1
        log = self.folder.parent / f"{self.folder.name}.sim{job}-{len(self.ports)}.log"
        with open(log, "w", encoding="utf-8") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec almmigrate sim {args}"], cwd=self.folder, env=self.env,
                text=True, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.jobs[job] = process
        while process.poll() is None:
            banner = log.read_text(encoding="utf-8")
            url = re.search(r"URL:\s+http://127\.0\.0\.1:(\d+)", banner)
            if url and "Press Ctrl-C" in banner:
                if shown:
                    self._listening(shown.group(1), url.group(1))
                return banner
            time.sleep(0.05)
        raise AssertionError("the simulator did not start:\n" + log.read_text(encoding="utf-8"))

    def _listening(self, shown: str, real: str) -> None:
        """P is now served on `real`: a restart on P keeps every URL set before pointing at it."""
        before = self.ports.get(shown)
        self.ports[shown] = real
        if before is not None:
            pattern = re.compile(rf"127\.0\.0\.1:{before}\b")
            self.env = {k: pattern.sub(f"127.0.0.1:{real}", v) for k, v in self.env.items()}

    def _stop(self, job: int) -> None:
        process = self.jobs.pop(job)
        process.terminate()
        process.wait(timeout=30)

    def close(self) -> None:
        for job in list(self.jobs):
            self._stop(job)
