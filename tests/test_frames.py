"""The pandas interface, through a real export, edit, plan and import against the simulator."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import almmigrate
from almmigrate.errors import InputError, ValidationFailed
from almmigrate.secrets import MASK
from almmigrate.sim import SimServer

LIBREOFFICE = Path(__file__).resolve().parent / "fixtures"  # the libreoffice-* files


def _jira_priority_edit(frames: dict[str, pd.DataFrame]) -> list[int]:
    """The README's bulk edit: every Jira connector's sde_min_priority set to "8"."""
    connectors = frames["connectors"]
    jira = connectors["system"] == "jira"
    connectors.loc[jira, "params.sde_min_priority"] = "8"
    return [int(i) for i in connectors.loc[jira, "id"]]


def test_frames_are_importable_from_the_package_and_keep_types() -> None:
    frames = almmigrate.read_frames(LIBREOFFICE / "libreoffice-edited.ods")
    assert sorted(frames) == ["connections", "connectors", "projects"]
    connections = frames["connections"]
    assert list(connections.columns[:4]) == ["id", "alias", "project", "project_name"]
    assert {str(dtype) for dtype in connections.dtypes} == {"object"}
    row = connections.loc[connections["id"] == 104].iloc[0]
    assert (row["alias"], row["project"], row["debug_mode"]) == ("007", 35, False)
    assert [type(row[c]) for c in ("alias", "project", "debug_mode")] == [str, int, bool]
    connector = frames["connectors"].loc[frames["connectors"]["id"] == 4].iloc[0]
    assert connector["params.sde_min_priority"] == 8 and connector["inaccessible"] is True


def test_export_edit_plan_import_through_frames(source_sim: SimServer, tmp_path: Path) -> None:
    before = source_sim.state.snapshot()
    frames = almmigrate.export_frames(source_sim.url, source_sim.token)
    # Secrets are masked: every secret column holds the mask or nothing.
    for column in ("params.alm_pass", "params.alm_api_token"):
        assert set(frames["connectors"][column]) <= {MASK, None}
    edited = _jira_priority_edit(frames)
    assert len(edited) == 5

    prepared = almmigrate.plan_frames(frames, source_sim.url, source_sim.token, match="id")
    changed = {
        item.target_id: [(c.field, c.old, c.new) for c in item.changes]
        for item in prepared.plan.items
        if item.action != "unchanged"
    }
    old = {c["id"]: c["params"].get("sde_min_priority") for c in before["connectors"]}
    assert changed == {i: [("params.sde_min_priority", old[i], "8")] for i in edited}
    assert source_sim.stats.writes == 0

    run = almmigrate.import_frames(
        frames, source_sim.url, source_sim.token, match="id", report=tmp_path / "r.json"
    )
    assert run.exit_code == 0 and run.result is not None
    assert sorted(o.target_id for o in run.result.outcomes if o.action == "updated") == edited
    want = copy.deepcopy(before)
    for connector in want["connectors"]:
        if connector["id"] in edited:
            connector["params"]["sde_min_priority"] = "8"
    after = source_sim.state.snapshot()
    assert after["connectors"] == want["connectors"]
    assert after["connections"] == want["connections"]


def test_frames_written_to_every_format_read_back_equal(
    source_sim: SimServer, tmp_path: Path
) -> None:
    frames = almmigrate.export_frames(source_sim.url, source_sim.token)
    _jira_priority_edit(frames)
    for name in ("f.xlsx", "f.json"):
        back = almmigrate.read_frames(almmigrate.write_frames(frames, tmp_path / name))
        for sheet, frame in frames.items():
            got = back[sheet].to_dict("records")
            assert got == frame.to_dict("records"), (name, sheet)
    # CSV cannot tell 5 from "5" (the API holds a select's value either way): the
    # CSV frames plan the same edit, and nothing else.
    back = almmigrate.read_frames(almmigrate.write_frames(frames, tmp_path / "folder"))
    plans = [
        almmigrate.plan_frames(f, source_sim.url, source_sim.token).plan for f in (frames, back)
    ]
    assert [p.counts() for p in plans] == [plans[0].counts()] * 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("edited.ods", "almmigrate writes workbooks as .xlsx"),
        ("edited.xls", ".xls is not a format almmigrate writes"),
        ("all.csv", "a .csv file holds one sheet"),
    ],
)
def test_write_frames_refuses_what_export_refuses(tmp_path: Path, name: str, message: str) -> None:
    """A path export refuses is not written as a folder of CSV files named like a workbook."""
    frames = almmigrate.read_frames(LIBREOFFICE / "libreoffice-edited.ods")
    with pytest.raises(InputError, match=message):
        almmigrate.write_frames(frames, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_cell_in_a_frame_is_refused_naming_its_row(source_sim: SimServer) -> None:
    frames = almmigrate.export_frames(source_sim.url, source_sim.token)
    frames["connections"].loc[2, "debug_mode"] = "perhaps"
    with pytest.raises(ValidationFailed) as caught:
        almmigrate.plan_frames(frames, source_sim.url, source_sim.token)
    assert [str(p) for p in caught.value.problems] == [
        'connections row 4, debug_mode: "perhaps" is not a boolean (use TRUE or FALSE)'
    ]
    with pytest.raises(TypeError, match="unknown option 'colour'"):
        almmigrate.plan_frames(frames, source_sim.url, source_sim.token, colour="red")


def test_numpy_and_missing_values_become_plain_cells() -> None:
    frame = pd.DataFrame(
        {"name": ["a", "b"], "system": ["jira", None], "inaccessible": [True, False]}
    )
    frame["id"] = pd.Series([1, 2], dtype="int64")
    frame["params.x"] = [float("nan"), 2.5]
    rows: list[dict[str, Any]] = list(
        almmigrate.frames.frames_to_tables({"connectors": frame})["connectors"].rows
    )
    # An empty cell is left out of its row (not given), never a None a JSON file would keep.
    assert rows == [
        {"name": "a", "system": "jira", "inaccessible": True, "id": 1},
        {"name": "b", "inaccessible": False, "id": 2, "params.x": 2.5},
    ]
    assert [type(r["id"]) for r in rows] == [int, int]


def test_the_readme_notebook_runs_as_written(
    make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's notebook session, run with doctest against the sample instance."""
    import doctest

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Walk-through 2b", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    sim = make_sim(token="t")
    block = block.replace('"http://127.0.0.1:8765"', repr(sim.url))
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(block, {}, "README", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert (tmp_path / "edited.xlsx").is_file() and (tmp_path / "edits.html").is_file()
