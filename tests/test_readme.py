"""The README covers every command, every command's help shows an example, and the
README's marked blocks run as written (how to mark one: tests/readme_run.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import readme_run
from cli_runs import help_page, listed_commands

README = Path(__file__).resolve().parent.parent / "README.md"


def test_help_lists_the_commands_of_the_spec():
    assert set(listed_commands()) >= {"export", "import", "plan", "validate", "template", "demo"}


@pytest.mark.parametrize("name", listed_commands())
def test_every_command_is_in_the_readme(name):
    assert f"almmigrate {name}" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", listed_commands())
def test_every_command_help_has_an_example(name):
    example = help_page(name).split("Example:", 1)
    assert len(example) == 2, f"`almmigrate {name} --help` has no Example"
    assert f"almmigrate {name}" in example[1], example[1]


def test_quickstart_is_make_demo_and_make_test_near_the_top():
    text = README.read_text(encoding="utf-8")
    quickstart = text.index("## Quickstart")
    assert quickstart < 2000
    block = text[quickstart : text.index("```", text.index("```", quickstart) + 3)]
    assert "make demo" in block and "make test" in block


def test_readme_covers_the_three_uses_and_the_contract():
    text = README.read_text(encoding="utf-8")
    for heading in (
        "Walk-through 1: migrate",
        "Walk-through 2: a spreadsheet bulk edit",
        "Walk-through 3: an audit export",
        "## File layouts",
        "## Secrets",
        "## Exit codes",
        "## Rehearse against `almmigrate sim`",
    ):
        assert heading in text, heading
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in text


def _shape(text: str, root: Path, home: Path) -> list[str]:
    """Demo output with what changes between runs (numbers, ports, folders) made equal."""
    text = text.strip("\n").replace(f"{home}/", "/home/you/almmigrate/").replace(f"{root}/", "")
    lines = [line for line in text.splitlines() if "/activate" not in line]
    return [re.sub(r"\d+(\.\d+)?", "N", line).rstrip() for line in lines]


def test_the_demo_output_in_the_readme_is_what_make_demo_prints(tmp_path):
    """A newcomer compares the README with their terminal: every line must be there."""
    root = README.parent
    result = subprocess.run(
        [sys.executable, "-m", "almmigrate", "demo"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = README.read_text(encoding="utf-8")
    start = text.index("```\n", text.index("It prints:")) + 4
    shown = text[start : text.index("```", start)]
    assert _shape(shown, root, tmp_path) == _shape(result.stdout, root, tmp_path)


# The walk-throughs take 80 s on a quiet machine, 40 s of it the rehearsal's `--rate 5`
# (paced, not CPU): the suite's 120 s would fail it on a loaded one. 600 s still ends a hang.
@pytest.mark.timeout(600)
def test_every_marked_readme_block_runs_as_written_and_prints_what_it_shows(tmp_path):
    """Walk-throughs and the rehearsal, from a fresh folder, in order (see readme_run)."""
    text = README.read_text(encoding="utf-8")
    steps = readme_run.steps(text)
    assert len([s for s in steps if not s.hidden]) >= 20  # the walk-through and the rehearsal
    folder = tmp_path / "clone"
    folder.mkdir()
    session = readme_run.Session(folder)
    try:
        for step in steps:
            printed = session.run(step)
            missing = readme_run.missing_lines(step.expected, printed)
            assert not missing, (
                f"README line {step.line}: `{step.command}` printed\n{printed}\n"
                f"without these lines the README shows:\n" + "\n".join(missing)
            )
    finally:
        session.close()


def test_every_readme_block_of_commands_is_run_or_says_why_not():
    assert readme_run.unexplained_blocks(README.read_text(encoding="utf-8")) == []


def test_the_readme_runner_finds_a_block_neither_run_nor_explained():
    text = (
        "<!-- readme: run -->\n```\n$ echo run\n```\n"
        "<!-- readme: not run: timing -->\n```\n$ echo timed\n```\n"
        "```\nno command here\n```\n"
        "text\n```\n$ echo forgotten\n```\n"
    )
    assert readme_run.unexplained_blocks(text) == [13]


def test_the_readme_runner_finds_a_missing_line_and_accepts_elisions():
    shown = ["import finished: 145 objects", "...", "requests    143", "│ ...  │   │"]
    printed = "journal: x\nimport finished: 99 objects\ncreated 1\nrequests    7\n"
    assert readme_run.missing_lines(shown, printed) == []
    assert readme_run.missing_lines(["every row done"], printed) == ["every row done"]
    marked = "<!-- readme: run -->\n```\n$ echo hi\nhi\n```\n```\n$ echo unmarked\n```\n"
    assert [(s.command, s.expected) for s in readme_run.steps(marked)] == [("echo hi", ["hi"])]
