"""The progress bar fits the terminal: its description is never cut, the other columns give way."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from almmigrate.progress import fitting_progress, terminal_width

LABEL = "Importing 38.2 req/s, limit 40/s, 3 × 429, 2 retries, ETA 10 s"  # 62 columns


def drawn(width: int, label: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The line the bar draws at `width` columns (the terminal's width as COLUMNS says)."""
    monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    bar = fitting_progress(console, auto_refresh=False, get_time=lambda: 100.0)
    bar.add_task(label, total=50020, completed=25010)
    console.print(bar.make_tasks_table(bar.tasks))
    return out.getvalue().rstrip("\n")[2:]  # after the spinner's frame and its space


@pytest.mark.parametrize(
    ("width", "after"),
    [
        (120, " " + "━" * 17 + "╸" + " " * 17 + " 25010/50020 0:00:00"),  # the bar takes the rest
        (100, " " + "━" * 7 + "╸" + " " * 7 + " 25010/50020 0:00:00"),  # half done
        (80, " 25010/50020"),  # no room for a 10-column bar nor the time: the count stays
        (70, ""),  # rich cut the description to "Importing 38.2 req/s, li…" at 80 columns
    ],
)
def test_the_description_is_never_cut_and_the_other_columns_give_way(
    width: int, after: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = drawn(width, LABEL, monkeypatch)
    assert line == LABEL + after
    assert len(line) + 2 <= width


def test_the_width_is_the_terminal_s_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal_width(io.StringIO()) == 132
    monkeypatch.delenv("COLUMNS")
    # Not a terminal (no file descriptor): what shutil finds, here its 80-column fallback.
    import shutil

    assert terminal_width(io.StringIO()) == shutil.get_terminal_size().columns
