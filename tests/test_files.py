"""Files in and out: xlsx, JSON, CSV folders and single CSV files, written exactly and read safely."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from bad_corpus import CORPUS
from export_data import xlsx_gives_back
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from zipedit import copy_changing

from almmigrate.errors import InputError
from almmigrate.files import (
    Table,
    output_format,
    read_tables,
    streamed_xlsx,
    table,
    write_tables,
)
from almmigrate.files.cells import csv_escape, csv_unescape
from almmigrate.layout import tables_to_dataset
from almmigrate.schema import bundled_plugins
from almmigrate.secrets import MASK

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COLUMNS = ["id", "name", "system", "inaccessible", "fields_editable_on_project", "params.x"]
FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://e","c")']


def connectors(rows: list[dict[str, Any]]) -> Table:
    return Table("connectors", list(dict.fromkeys(k for r in rows for k in r)), rows)


def write_read(path: Path, tables: list[Table], **meta: str) -> dict[str, Table]:
    write_tables(path, tables, meta=dict(meta))
    return read_tables(path)


def typed_row(value: Any) -> dict[str, Any]:
    return {"id": 1, "name": "n", "system": "jira", "params.x": value}


# ---------------------------------------------------------------- formats


def test_output_format_from_the_path() -> None:
    assert output_format("a/b.XLSX") == "xlsx"
    assert output_format("b.json") == "json"
    assert output_format("export") == "csv"
    assert output_format("b.csv") == "csv"


@pytest.mark.parametrize("name", ["t.xlsx", "t.json"])
def test_typed_formats_keep_each_type(tmp_path: Path, name: str) -> None:
    values = [
        "7",
        7,
        7.5,
        True,
        False,
        "TRUE",
        "007",
        " lead and trail ",
        "a\nb",
        "caf\u00e9 \U0001f600",
    ]
    rows = [typed_row(v) for v in values]
    back = write_read(tmp_path / name, [connectors(rows)])["connectors"]
    got = [r["params.x"] for r in back.rows]
    assert [(type(v), v) for v in got] == [(type(v), v) for v in values]
    assert back.row_numbers == (
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] if name.endswith("json") else list(range(2, 12))
    )


def test_csv_holds_text_booleans_as_true_false_and_none_as_empty(tmp_path: Path) -> None:
    rows = [typed_row(True), typed_row(False), typed_row(None), typed_row(7), typed_row(0.25)]
    back = write_read(tmp_path / "folder", [connectors(rows)])["connectors"]
    assert [r["params.x"] for r in back.rows] == ["TRUE", "FALSE", None, "7", "0.25"]
    raw = (tmp_path / "folder" / "connectors.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,name,system,params.x\r\n1,n,jira,TRUE\r\n")


@pytest.mark.parametrize("name", ["t.xlsx", "t.json", "folder", "one.csv"])
def test_formula_like_text_reads_back_exactly(tmp_path: Path, name: str) -> None:
    values = [*FORMULAS, "'quoted", "''two", "plain", 'a,"b"\r\nc', "_x0041_", "x\x01y"]
    rows = [typed_row(v) for v in values]
    back = write_read(tmp_path / name, [connectors(rows)])["connectors"]
    assert [r["params.x"] for r in back.rows] == values


def test_xlsx_keeps_types_and_text(tmp_path: Path) -> None:
    values = [*FORMULAS, MASK, "7", 7, 0.1 + 0.2, True, False, " a <b> & c ", "_x0041_", "x\ry"]
    back = write_read(tmp_path / "t.xlsx", [connectors([typed_row(v) for v in values])])
    got = [r["params.x"] for r in back["connectors"].rows]
    assert [(type(v), v) for v in got] == [(type(v), v) for v in values]


def test_repeated_texts_keep_their_own_style_and_type_on_every_row(tmp_path: Path) -> None:
    # The fast writer reuses the markup of a text it has written before.
    values = ["=1+1", MASK, "7", "plain", "a & <b>"]
    rows = [{**typed_row(v), "name": v} for v in values * 3]
    path = tmp_path / "t.xlsx"
    back = write_read(path, [connectors(rows)])["connectors"]
    assert [(r["name"], r["params.x"]) for r in back.rows] == [(v, v) for v in values * 3]
    sheet = openpyxl.load_workbook(path)["connectors"]
    for row in sheet.iter_rows(min_row=2):
        for cell in (row[1], row[3]):
            assert cell.data_type == "s"
            assert cell.quotePrefix == (cell.value == "=1+1")
            assert cell.font.italic == (cell.value == MASK)


def test_xlsx_never_writes_a_formula_and_marks_formula_like_text_as_text(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    write_tables(path, [connectors([typed_row(v) for v in FORMULAS])], meta={})
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    workbook = openpyxl.load_workbook(path)  # full mode: styles are visible
    cells = [row[3] for row in workbook["connectors"].iter_rows(min_row=2)]
    assert [c.data_type for c in cells] == ["s"] * len(FORMULAS)
    assert all(c.quotePrefix for c in cells)


def test_csv_escapes_formula_like_text_with_one_apostrophe(tmp_path: Path) -> None:
    write_tables(tmp_path / "one.csv", [connectors([typed_row("=1+1"), typed_row("'a")])], meta={})
    lines = (tmp_path / "one.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[1:] == ["1,n,jira,'=1+1", "1,n,jira,''a"]


def test_workbook_is_pleasant_to_open(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    rows = [typed_row(MASK), {**typed_row("x"), "name": "a much longer connector name"}]
    write_tables(path, [connectors(rows)], meta={"source_url": "http://x"})
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["connectors"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:D3"
    assert all(cell.font.bold for cell in sheet[1])
    # Header and masked cells keep the body's face and size (only weight, slant and colour differ).
    body = sheet["A2"].font
    for cell in (sheet["A1"], sheet["D2"]):
        assert (cell.font.name, cell.font.sz) == (body.name, body.sz) == ("Calibri", 11)
    assert sheet.column_dimensions["B"].width > sheet.column_dimensions["A"].width
    masked = sheet["D2"]
    assert (
        masked.value == MASK and masked.font.italic and masked.fill.fgColor.rgb.endswith("E7E6E6")
    )
    assert not sheet["D3"].font.italic
    assert [[c.value for c in row] for row in workbook["_meta"].iter_rows()] == [
        ["key", "value"],
        ["source_url", "http://x"],
    ]


def test_booleans_carry_a_format_that_shows_true_and_false_everywhere(tmp_path: Path) -> None:
    # LibreOffice shows a General-format boolean that is not the last of its row as 0/1
    # (and saves it back as a number); an explicit TRUE/FALSE format keeps it a boolean.
    path = tmp_path / "t.xlsx"
    row = {**typed_row(False), "inaccessible": False, "name": "n"}
    write_tables(path, [connectors([row, {**row, "params.x": True}])], meta={})
    sheet = openpyxl.load_workbook(path)["connectors"]
    booleans = [c for r in sheet.iter_rows(min_row=2) for c in r if isinstance(c.value, bool)]
    assert [c.value for c in booleans] == [False, False, True, False]
    assert {c.number_format for c in booleans} == {'"TRUE";"TRUE";"FALSE"'}
    assert sheet["A2"].number_format == "General"  # numbers and text keep the default
    back = read_tables(path)["connectors"].rows
    assert [(r["inaccessible"], r["params.x"]) for r in back] == [(False, False), (False, True)]


def test_booleans_libreoffice_saved_as_formatted_numbers_read_back_as_booleans() -> None:
    # LibreOffice saves a TRUE/FALSE-formatted boolean as a number: <c t="n"><v>0</v></c>.
    # The sheet holds 0/1; the schema types the boolean columns back into booleans.
    with zipfile.ZipFile(FIXTURES / "libreoffice-saved.xlsx") as archive:
        sheet = archive.read("xl/worksheets/sheet2.xml").decode()
    assert '<c r="I2" s="2" t="n"><f aca="false">FALSE()</f><v>0</v></c>' in sheet
    tables = read_tables(FIXTURES / "libreoffice-saved.xlsx")
    dataset, problems = tables_to_dataset(tables, bundled_plugins())
    assert problems == []
    got = [
        (c.debug_mode, c.inaccessible, c.params.get("alm_validate_cert"), c.last_job)
        for c in dataset.connections
    ]
    assert [g[:3] for g in got] == [(False, False, None), (True, False, False)]
    assert got[0][3]["succeeded"] is False and got[0][3]["ready"] is True
    assert [c.inaccessible for c in dataset.connectors] == [False, True]
    assert isinstance(dataset.connectors[0].params["alm_reference_context"], int)


def test_lists_are_comma_separated_in_spreadsheets_and_lists_in_json(tmp_path: Path) -> None:
    row = {**typed_row(None), "fields_editable_on_project": ["a", "b"]}
    for name, expected in [("t.xlsx", "a,b"), ("folder", "a,b"), ("t.json", ["a", "b"])]:
        back = write_read(tmp_path / name, [connectors([row])])["connectors"]
        assert back.rows[0]["fields_editable_on_project"] == expected


def test_big_integers_and_exact_floats_in_xlsx(tmp_path: Path) -> None:
    values = [2**53, 2**60, 0.1 + 0.2, 1.5217922234404114e-61, -0.0]
    back = write_read(tmp_path / "t.xlsx", [connectors([typed_row(v) for v in values])])
    got = [r["params.x"] for r in back["connectors"].rows]
    assert got == [2**53, str(2**60), 0.1 + 0.2, 1.5217922234404114e-61, 0]


def test_json_nests_params_and_last_job_and_keeps_the_meta(tmp_path: Path) -> None:
    # A param the row leaves out is not given; one it holds as None is the source's null.
    rows = [
        {"alias": "a", "params.x": 1, "params.y": None, "last_job.ok": True},
        {"alias": "b", "params.x": 2},
    ]
    path = tmp_path / "t.json"
    back = write_read(path, [Table("connections", list(rows[0]), rows)], source_url="u")
    text = path.read_text(encoding="utf-8")
    assert '"params": {"x": 1, "y": null}' in text and '"params": {"x": 2}' in text
    assert back["connections"].rows == [
        {"alias": "a", "params.x": 1, "params.y": None, "last_job.ok": True},
        {"alias": "b", "params.x": 2},
    ]
    assert back["_meta"].rows == [{"key": "source_url", "value": "u"}]


def test_fifty_thousand_rows_stream_through_every_format(tmp_path: Path) -> None:
    def rows() -> Any:
        return (
            {"alias": f"c{i}", "project": i, "params.x": "=x" if i % 2 else i}
            for i in range(50_000)
        )

    for name in ["t.xlsx", "t.json", "folder"]:
        table_ = Table("connections", ["alias", "project", "params.x"], rows())
        back = write_read(tmp_path / name, [table_])["connections"]
        assert len(back.rows) == 50_000
        assert back.rows[-1]["alias"] == "c49999" and back.rows[-1]["params.x"] == "=x"


# ---------------------------------------------------------------- atomic and private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("name", ["t.xlsx", "t.json", "one.csv"])
def test_private_files_are_owner_only_and_others_follow_the_umask(
    tmp_path: Path, name: str
) -> None:
    write_tables(tmp_path / name, [connectors([typed_row("s3cr3t")])], meta={}, private=True)
    assert _mode(tmp_path / name) == 0o600
    old = os.umask(0o022)
    try:
        write_tables(tmp_path / name, [connectors([typed_row("x")])], meta={})
    finally:
        os.umask(old)
    assert _mode(tmp_path / name) == 0o644


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc: read at import")
@pytest.mark.parametrize("name", ["t.xlsx", "folder"])
def test_writing_follows_the_umask_without_ever_setting_it(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Setting it, even for a moment, gives a file another thread creates then the mode of
    # that moment's umask.
    set_umask = os.umask
    old = set_umask(0o027)
    try:

        def refuse(mask: int) -> int:
            raise AssertionError(f"the umask was set to {mask:o} while writing")

        monkeypatch.setattr(os, "umask", refuse)
        write_tables(tmp_path / name, [connectors([typed_row("x")])], meta={})
    finally:
        monkeypatch.undo()
        set_umask(old)
    written = tmp_path / name
    files = list(written.iterdir()) if written.is_dir() else [written]
    assert {_mode(p) for p in files} == {0o640}
    assert _mode(written) == (0o750 if written.is_dir() else 0o640)


def test_private_csv_folder_is_owner_only(tmp_path: Path) -> None:
    write_tables(tmp_path / "out", [connectors([typed_row("s3cr3t")])], meta={}, private=True)
    assert _mode(tmp_path / "out") == 0o700
    assert {_mode(p) for p in (tmp_path / "out").iterdir()} == {0o600}


def _own_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tmp_path/tmp as the temporary folder (TMPDIR), where an xlsx writes its row files."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


def _assert_nothing_left(tmp_path: Path) -> None:
    """No file written beside the target, and no row files left in the temporary folder."""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("name", ["t.xlsx", "t.json", "folder", "one.csv"])
def test_a_failure_half_way_leaves_no_partial_file_and_the_old_one_intact(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _own_temporary_folder(tmp_path, monkeypatch)
    target = tmp_path / name
    write_tables(target, [connectors([typed_row("old")])], meta={})

    def failing_rows() -> Any:
        yield typed_row("new")
        raise RuntimeError("the instance went away")

    with pytest.raises(RuntimeError):
        write_tables(target, [Table("connectors", COLUMNS, failing_rows())], meta={})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "tmp"])
    assert read_tables(target)["connectors"].rows[0]["params.x"] == "old"
    # No sheet data left behind in /tmp (the row files of XlsxWriter's streaming mode).
    assert list((tmp_path / "tmp").iterdir()) == []


def _interrupt_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, after: bool) -> None:
    """Ctrl-C (a KeyboardInterrupt) the first time module.name touches a partial file:
    just after the real call (the file made, its name not yet known) or in place of it."""
    real = getattr(module, name)
    done = []

    def interrupted(path: Any, *args: Any, **kwargs: Any) -> Any:
        if done or ".almmigrate-partial-" not in os.fspath(path):
            return real(path, *args, **kwargs)
        done.append(path)
        if after:
            real(path, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, interrupted)


@pytest.mark.parametrize(
    ("call", "name"),
    [("open", "t.json"), ("open", "t.xlsx"), ("mkdir", "t.xlsx"), ("mkdir", "folder")],
)
def test_a_ctrl_c_just_after_a_partial_is_created_leaves_nothing(
    tmp_path: Path, name: str, call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SIGTERM landing between mkstemp's (or mkdtemp's) creation and its return left the
    # partial file, or the row folder of an xlsx export, nameless to the clean-up.
    _own_temporary_folder(tmp_path, monkeypatch)
    _interrupt_once(monkeypatch, os, call, after=True)
    with pytest.raises(KeyboardInterrupt):
        write_tables(tmp_path / name, [connectors([typed_row("CANARY-5e0f")])], meta={})
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize("name", ["t.xlsx", "folder"])
def test_a_second_ctrl_c_during_the_clean_up_does_not_cut_it_short(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _own_temporary_folder(tmp_path, monkeypatch)
    _interrupt_once(monkeypatch, shutil, "rmtree", after=False)

    def interrupted_rows() -> Any:
        yield typed_row("CANARY-5e0f")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_tables(tmp_path / name, [Table("connectors", COLUMNS, interrupted_rows())], meta={})
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_ctrl_c_while_an_export_folder_is_replaced_leaves_one_whole_folder(
    tmp_path: Path, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between the renames the target was missing until the next write put the old one back.
    out = tmp_path / "out"
    write_tables(out, [connectors([typed_row("old")])], meta={})
    real, renames = os.rename, []

    def rename(source: Any, target: Any) -> None:
        renames.append(target)
        if len(renames) == 2 and when == "before":
            raise KeyboardInterrupt
        real(source, target)
        if len(renames) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        write_tables(out, [connectors([typed_row("new")])], meta={})
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    expected = "old" if when == "before" else "new"
    assert read_tables(out)["connectors"].rows[0]["params.x"] == expected


def test_a_second_ctrl_c_while_the_old_export_folder_goes_back_still_puts_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C between the renames, then again as the old folder was being put back: the
    # export folder was missing, hidden under a partial name, until the next write.
    out = tmp_path / "out"
    write_tables(out, [connectors([typed_row("old")])], meta={})
    real, renames = os.rename, []

    def rename(source: Any, target: Any) -> None:
        renames.append(target)
        if len(renames) in (2, 3):  # in place of the new folder's rename, then the put-back
            raise KeyboardInterrupt
        real(source, target)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        write_tables(out, [connectors([typed_row("new")])], meta={})
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert read_tables(out)["connectors"].rows[0]["params.x"] == "old"


KILLED_REPLACING = """
import os, shutil, signal, sys
from almmigrate.files import Table, write_tables

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

renames, rename = [], os.rename
def second_rename_dies(source, target):
    renames.append(target)
    return die() if len(renames) == 2 else rename(source, target)

if sys.argv[2] == "before the old folder is removed":
    shutil.rmtree = die
else:  # between the old folder moved aside and the new one moved in
    os.rename = second_rename_dies
write_tables(sys.argv[1], [Table("connectors", ["name"], [{"name": "new"}])], meta={})
"""


def _killed_replacing(folder: Path, when: str) -> None:
    import subprocess
    import sys

    killed = subprocess.run([sys.executable, "-c", KILLED_REPLACING, str(folder), when])
    assert killed.returncode == -9


def test_an_old_export_folder_left_by_a_run_killed_replacing_it_goes_with_the_next_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The old folder may hold secrets in clear (--include-secrets): it must not stay forever.
    out = tmp_path / "out"
    write_tables(out, [connectors([typed_row("CANARY-old-export-7d1c")])], meta={}, private=True)
    _killed_replacing(out, "before the old folder is removed")
    [old] = [p for p in tmp_path.iterdir() if p != out]
    assert old.name.startswith("out.almmigrate-partial-") and old.name.endswith("-old")
    assert b"CANARY-old-export-7d1c" in (old / "connectors.csv").read_bytes()
    assert read_tables(out)["connectors"].rows == [{"name": "new"}]

    write_tables(tmp_path / "other.json", [connectors([typed_row("x")])], meta={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "out"]
    assert f"removed {old}: a partial file left by an interrupted run" in caplog.text


def test_an_old_export_folder_is_put_back_when_its_replacement_never_took_its_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    write_tables(out, [connectors([typed_row("old")])], meta={})
    _killed_replacing(out, "between the renames")
    assert not out.exists()
    assert len(list(tmp_path.iterdir())) == 2  # the old folder and the new one, both partial

    write_tables(tmp_path / "other.json", [connectors([typed_row("x")])], meta={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "out"]
    assert read_tables(out)["connectors"].rows[0]["params.x"] == "old"
    assert f"restored {out}: the run replacing it was interrupted" in caplog.text


def test_a_live_runs_old_export_folder_is_left_alone(tmp_path: Path) -> None:
    host = socket.gethostname()
    live = tmp_path / f"out.almmigrate-partial-{host}-{os.getpid()}.k2j4x9-old"
    live.mkdir()
    (live / "connectors.csv").write_text("name\nold\n")
    write_tables(tmp_path / "other.json", [connectors([typed_row("x")])], meta={})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "other.json"])


def test_unwritable_paths_are_input_errors(tmp_path: Path) -> None:
    table_ = connectors([typed_row("x")])
    with pytest.raises(InputError, match="the folder .* does not exist"):
        write_tables(tmp_path / "missing" / "t.xlsx", [table_], meta={})
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file; give a folder path"):
        write_tables(tmp_path / "file", [table_], meta={})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match=r"already holds other files \(notes.txt\)"):
        write_tables(tmp_path / "mine", [table_], meta={})
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="a .csv file holds one sheet"):
        two = [table_, Table("connections", ["alias"], [{"alias": "a"}])]
        write_tables(tmp_path / "one.csv", two, meta={})


# Longer than a file name may be (255 bytes): refused by the file system on its first look.
TOO_LONG = "a" * 300


@pytest.mark.parametrize("suffix", [".xlsx", ".json", ".csv", ""])
def test_a_path_the_file_system_refuses_is_an_input_error_naming_it(
    tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / f"{TOO_LONG}{suffix}"
    with pytest.raises(InputError) as caught:
        write_tables(target, [connectors([typed_row("x")])], meta={})
    assert str(caught.value) == f"cannot write {target}: File name too long"
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_xlsx_path_the_file_system_refuses_is_an_input_error_naming_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / f"{TOO_LONG}.xlsx"
    with pytest.raises(InputError) as caught, streamed_xlsx(target, ["connectors"]):
        pass
    assert str(caught.value) == f"cannot write {target}: File name too long"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@pytest.mark.parametrize("name", ["t.xlsx", "t.json"])
def test_a_file_the_user_may_not_read_is_an_input_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_tables(path, [connectors([typed_row("x")])], meta={})
    path.chmod(0)
    with pytest.raises(InputError) as caught:
        read_tables(path)
    assert str(caught.value) == f"{path}: permission denied"


@pytest.mark.parametrize("name", ["t.xlsx", "folder", "one.csv"])
def test_a_cell_too_long_for_excel_is_refused_on_write(tmp_path: Path, name: str) -> None:
    # A CSV cell that long is refused when read back (check_cell_length): an export
    # must not write a file that plan and import then refuse.
    with pytest.raises(InputError, match=r"connectors row 2, params.x: 40000 characters"):
        write_tables(tmp_path / name, [connectors([typed_row("a" * 40_000)])], meta={})
    assert list(tmp_path.iterdir()) == []
    longest = "a" * table.MAX_CELL_CHARS
    back = write_read(tmp_path / name, [connectors([typed_row(longest)])])
    assert back["connectors"].rows[0]["params.x"] == longest


def test_a_nul_character_is_refused_by_csv_and_kept_by_xlsx_and_json(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="NUL character"):
        write_tables(tmp_path / "folder", [connectors([typed_row("a\x00b")])], meta={})
    for name in ["t.xlsx", "t.json"]:
        back = write_read(tmp_path / name, [connectors([typed_row("a\x00b")])])
        assert back["connectors"].rows[0]["params.x"] == "a\x00b"


# ---------------------------------------------------------------- reading real files


def test_existing_export_folder_is_replaced_whole(tmp_path: Path) -> None:
    write_tables(tmp_path / "out", [connectors([typed_row("a")])], meta={"k": "v"})
    write_tables(tmp_path / "out", [Table("connections", ["alias"], [{"alias": "x"}])], meta={})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["_meta.csv", "connections.csv"]


# The corpus's files this layer refuses (tests/bad_corpus.py says how), and its own.
REFUSED_BY_THE_FILE_LAYER = {
    name: CORPUS[name][0].removeprefix("InputError: {path}: ")
    for name in ("not-a-zip.xlsx", "csv-named.xlsx", "binary-junk.xlsx", "empty.xlsx",
                 "merged-cells.xlsx", "hidden-sheet.xlsx", "formula-without-value.xlsx",
                 "xml-bomb.xlsx", "latin1.csv", "utf16.csv", "ragged-rows.csv", "huge-cell.csv",
                 "broken.json", "wrong-shape.json")
} | {
    "old-excel.xlsx": "cannot read this workbook: CalamineError: Cannot detect file format",
    # =1/0 and =NA() saved by LibreOffice (soffice --convert-to ods from an .xlsx): calamine
    # reads an error as an empty cell, in .ods (found in content.xml) as in .xls (by xlrd).
    "libreoffice-error-cell.ods": "connectors: cell C2 holds the error #DIV/0!; fix it in the "
    "spreadsheet, or type the value",
    "libreoffice-error-cell.xls": "connectors: cell C2 holds the error #DIV/0!; fix it in the "
    "spreadsheet, or type the value",
    # Counted through repeated empty rows and cells; the notes sheet's error is not read.
    "libreoffice-error-cell-connections.ods": "connections: cell D7 holds the error #N/A; fix "
    "it in the spreadsheet, or type the value",
    "zip-bomb.xlsx": "refused: xl/worksheets/sheet1.xml unpacks to 64 MB",
    "unknown-kind.csv": "cannot tell what this CSV holds",
}  # fmt: skip


@pytest.mark.parametrize(("name", "message"), sorted(REFUSED_BY_THE_FILE_LAYER.items()))
def test_bad_files_are_refused_with_one_clear_line(name: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_tables(FIXTURES / name)
    text = str(caught.value)
    assert message in text
    assert text.startswith(str(FIXTURES / name))
    assert "\n" not in text


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_the_committed_ods_error_cell_fixture_is_what_its_generator_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    monkeypatch.setattr(generator, "OUT", tmp_path)
    generator.error_cell_far_in(tmp_path)
    name = "libreoffice-error-cell-connections.ods"
    said = []
    for path in (tmp_path / name, FIXTURES / name):
        with pytest.raises(InputError) as caught:
            read_tables(path)
        said.append(str(caught.value).removeprefix(f"{path}: "))
    assert said[0] == said[1] == REFUSED_BY_THE_FILE_LAYER[name]


def test_a_formula_with_its_cached_value_reads_as_the_value() -> None:
    rows = read_tables(FIXTURES / "libreoffice-formula-cached.xlsx")["connectors"].rows
    assert rows == [
        {"id": 1, "name": "Jira main", "system": "jira", "params.alm_reference_context": 5}
    ]


@pytest.mark.parametrize("name", ["utf8-bom.csv", "utf8-plain.csv", "windows-newlines.csv"])
def test_utf8_with_or_without_bom_and_any_newline(name: str) -> None:
    back = read_tables(FIXTURES / name)["connectors"]
    assert back.columns == ["id", "name", "system"]
    assert back.rows[0]["system"] == "jira"


def test_semicolon_separated_csv_from_excel() -> None:
    back = read_tables(FIXTURES / "semicolons.csv")["connectors"]
    assert back.rows == [
        {"id": "1", "name": "Jira, main", "system": "jira", "params.alm_project": "a;b"}
    ]


def test_empty_trailing_csv_columns_are_dropped_unless_they_hold_values(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("name,system,,\nx,jira,,\n", encoding="utf-8")
    back = read_tables(path)["connectors"]
    assert (back.columns, back.rows) == (["name", "system"], [{"name": "x", "system": "jira"}])
    path.write_text("name,system,,\nx,jira,,oops\n", encoding="utf-8")
    with pytest.raises(InputError, match="connectors row 2: cell 4 of this row has a value"):
        read_tables(path)


def test_mac_newlines() -> None:
    back = read_tables(FIXTURES / "mac-newlines.csv")["connectors"]
    assert [r["name"] for r in back.rows] == ["Jira main", "Jira two"]
    assert back.row_numbers == [2, 3]


def test_single_csv_kind_is_told_by_its_header(tmp_path: Path) -> None:
    cases = {
        "alias,project\n": "connections",
        "name,system\n": "connectors",
        "id,name,application\n": "projects",
    }
    for header, kind in cases.items():
        path = tmp_path / "one.csv"
        path.write_text(header + "," * header.count(",") + "\n", encoding="utf-8")
        assert list(read_tables(path)) == [kind]


def test_text_that_looks_like_other_things_stays_text() -> None:
    rows = read_tables(FIXTURES / "text-values.csv")["connections"].rows
    assert [(r["params.alm_project"], r["params.sde_tags_filter"]) for r in rows] == [
        ("007", "1e5"),
        ("NaN", "null"),
        ("None", "N/A"),
        ("TRUE", "  spaced  "),
    ]


def test_missing_sheets_are_fine_and_row_numbers_skip_blank_rows(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Connections "
    sheet.append(["alias", "project", None])
    sheet.append(["a", 1])
    sheet.append([])
    sheet.append(["b", 2, None])
    workbook.create_sheet("Notes").append(["anything"])
    workbook.save(tmp_path / "t.xlsx")
    tables = read_tables(tmp_path / "t.xlsx")
    assert list(tables) == ["connections"]
    assert tables["connections"].rows == [
        {"alias": "a", "project": 1},
        {"alias": "b", "project": 2},
    ]
    assert tables["connections"].row_numbers == [2, 4]


def workbook_with_sheet_xml(tmp_path: Path, rows_xml: str, *, prolog: str = "") -> Path:
    """A real workbook whose connectors sheet holds exactly this sheetData markup."""
    plain = tmp_path / "plain.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "connectors"
    workbook.active["A1"] = "name"
    workbook.create_sheet("styles only").append([dt.datetime(2020, 1, 2)])  # a date style
    workbook.save(plain)
    path = tmp_path / "crafted.xlsx"
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    root = f'<worksheet xmlns="{main}" xmlns:x="{main}">'
    sheet = f"{prolog}{root}<sheetData>{rows_xml}</sheetData></worksheet>"
    return copy_changing(plain, path, "xl/worksheets/sheet1.xml", lambda _: sheet.encode())


def _date_style(path: Path) -> int:
    styles = zipfile.ZipFile(path).read("xl/styles.xml").decode()
    return styles.count("<xf ", styles.index("<cellXfs")) - 1  # the last cell style is the date


def test_cells_of_every_kind_other_programs_write(tmp_path: Path) -> None:
    header = '<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
    cells_xml = [
        '<c r="A2" t="str"><f>A1&amp;""</f><v></v></c>',  # a formula whose text result is ""
        '<c r="A3" t="str"><f>"a"</f><v>a</v></c>',
        '<c r="A4" t="b"><v>1</v></c>',
        '<c r="A5"><v>7.0</v></c>',
        '<c r="A6" t="inlineStr"><is><r><t xml:space="preserve">rich </t></r><r><t>text</t></r><rPh><t>ruby</t></rPh></is></c>',
        '<c r="A7"><v>1E3</v></c>',
        '<c r="A8"><v>2.5</v></c>',
    ]
    rows = header + "".join(f'<row r="{i}">{c}</row>' for i, c in enumerate(cells_xml, start=2))
    back = read_tables(workbook_with_sheet_xml(tmp_path, rows))["connectors"]
    assert [r["x"] for r in back.rows] == ["a", True, 7, "rich text", 1000, 2.5]
    assert back.row_numbers == [3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ('<c r="A2" t="e"><v>#N/A</v></c>', "cell A2 holds the error #N/A"),
        ('<c r="A2"><f>B9*2</f></c>', "cell A2 holds a formula with no saved value"),
        ('<c r="A2"><f>B9*2</f><v></v></c>', "cell A2 holds a formula with no saved value"),
    ],
)
def test_cells_that_would_read_as_empty_are_refused(
    tmp_path: Path, cell: str, message: str
) -> None:
    """calamine reads an error or a formula without a saved value as an empty cell:
    importing that would blank the value, so the file is refused, naming the cell."""
    rows = f'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row><row r="2">{cell}</row>'
    with pytest.raises(InputError, match=f"connectors: {message}"):
        read_tables(workbook_with_sheet_xml(tmp_path, rows))


def test_a_date_cell_reads_as_the_text_a_person_sees_with_a_warning(tmp_path: Path) -> None:
    path = workbook_with_sheet_xml(tmp_path, "")
    style = _date_style(path)
    rows = f'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row><row r="2"><c r="A2" s="{style}"><v>43831</v></c></row>'
    back = read_tables(workbook_with_sheet_xml(tmp_path, rows))["connectors"]
    assert back.rows == [{"x": "2020-01-01"}]
    assert [str(w) for w in back.warnings] == [
        'connectors row 2, x: a spreadsheet made this cell a date; read as the text "2020-01-01". '
        "If that is not what was typed, format the cell as text and type it again"
    ]


def _percent_warning(row: int, column: str, shown: str, held: str) -> str:
    return (
        f"connectors row {row}, {column}: looks like a spreadsheet turned '{shown}' into {held}: "
        f"the cell is shown as a percent but holds the number {held}, which is what is read. "
        f"If '{shown}' is meant, format the cell as text and type it again"
    )


@pytest.mark.parametrize("suffix", [".xlsx", ".ods", ".xls"])
def test_a_number_shown_as_a_percent_reads_as_the_number_with_a_warning(suffix: str) -> None:
    """50% typed in LibreOffice is the number 0.5 shown as a percent; calamine gives 0.5
    and no format, so the cell is found in the file's own styles and said to be damaged."""
    back = read_tables(FIXTURES / f"libreoffice-percent{suffix}")["connectors"]
    assert [
        (r["params.alm_reference_context"], r["params.alm_project"], r["params.sde_tags_filter"])
        for r in back.rows
    ] == [(8, 0.5, "pci"), (0.25, "PROJ", 1.5)]
    assert [str(w) for w in back.warnings] == [
        _percent_warning(2, "params.alm_project", "50%", "0.5"),
        _percent_warning(3, "params.alm_reference_context", "25%", "0.25"),
        _percent_warning(3, "params.sde_tags_filter", "150%", "1.5"),
    ]
    assert {w.severity for w in back.warnings} == {"warning"}


def test_a_workbook_with_no_percent_format_is_not_read_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The styles say no cell can be a percent: openpyxl is never asked (a 50,000-row file)."""
    from almmigrate.files import cellformats

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("read again though no style shows a percent")

    monkeypatch.setattr("openpyxl.load_workbook", never)
    assert (
        cellformats.xlsx_percent_cells(FIXTURES / "libreoffice-roundtrip.xlsx", {"connectors"})
        == {}
    )
    assert read_tables(FIXTURES / "libreoffice-roundtrip.xlsx")["connectors"].warnings == []


def test_an_xls_workbooks_percent_formats_are_looked_at_once_for_all_its_sheets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The formats belong to the workbook: each is looked at once, not once a sheet."""
    import xlrd

    from almmigrate.files import cellformats

    path = FIXTURES / "libreoffice-edited.xls"
    looked_at: list[str | None] = []

    def counting(format_code: str | None) -> bool:
        looked_at.append(format_code)
        return False

    monkeypatch.setattr(cellformats, "is_percent", counting)
    cellformats.xls_formats(path, {"connectors", "connections", "projects"})
    book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    formats = len(book.format_map)
    book.release_resources()
    assert len(looked_at) == formats


def test_rows_and_cells_without_references_and_prefixed_tags(tmp_path: Path) -> None:
    rows = "<row><c t='inlineStr'><is><t>a</t></is></c><c t='inlineStr'><is><t>b</t></is></c></row>"
    rows += "<x:row><x:c><x:v>1</x:v></x:c><x:c><x:v>2</x:v></x:c></x:row>"
    path = workbook_with_sheet_xml(tmp_path, rows)
    assert read_tables(path)["connectors"].rows == [{"a": 1, "b": 2}]


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE worksheet [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
        "<!DOCTYPE worksheet>",
        '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>',
    ],
)
def test_sheet_xml_with_a_dtd_is_refused(tmp_path: Path, prolog: str) -> None:
    rows = '<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
    with pytest.raises(InputError, match="sheet1.xml declares XML entities or a DTD"):
        read_tables(workbook_with_sheet_xml(tmp_path, rows, prolog=prolog))


def test_an_entity_bomb_in_the_shared_strings_is_refused(tmp_path: Path) -> None:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    laughs = f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY l0 "lol">{entities}]>'
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    sst = f'{laughs}<sst xmlns="{main}"><si><t>&l9;</t></si></sst>'
    path = copy_changing(
        FIXTURES / "libreoffice-saved.xlsx",
        tmp_path / "bomb.xlsx",
        "xl/sharedStrings.xml",
        lambda _: sst.encode(),
    )
    with pytest.raises(InputError, match="sharedStrings.xml declares XML entities"):
        read_tables(path)


def test_broken_sheet_xml_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="connectors: cannot read this sheet: XmlError"):
        read_tables(workbook_with_sheet_xml(tmp_path, "<row><c></row>"))


def test_a_sheet_without_a_header_row_is_refused(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "connectors"
    workbook.active["A3"] = "name"
    workbook.save(tmp_path / "t.xlsx")
    with pytest.raises(InputError, match="connectors: the first row must hold the column names"):
        read_tables(tmp_path / "t.xlsx")


def test_a_value_under_no_header_is_refused(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "connectors"
    workbook.active.append(["name", "system"])
    workbook.active.append(["x", "jira", "stray"])
    workbook.save(tmp_path / "t.xlsx")
    with pytest.raises(
        InputError, match="connectors row 2, C: this cell has a value but its column"
    ):
        read_tables(tmp_path / "t.xlsx")


def test_limits_on_rows_and_file_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [typed_row(i) for i in range(5)]
    for name in ["t.xlsx", "t.json", "folder"]:
        write_tables(tmp_path / name, [connectors(rows)], meta={})
    monkeypatch.setattr(table, "MAX_ROWS", 4)
    for name in ["t.xlsx", "t.json", "folder"]:
        with pytest.raises(InputError, match="more than 4 (rows|items); split the file"):
            read_tables(tmp_path / name)
    monkeypatch.setattr(table, "MAX_ROWS", 250_000)
    monkeypatch.setattr(table, "MAX_FILE_BYTES", 20)
    for name in ["t.xlsx", "t.json", "folder/connectors.csv"]:
        with pytest.raises(InputError, match="MB limit"):
            read_tables(tmp_path / name)


def test_json_shapes(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    for text, message in [
        ('{"connectors": {"name": "x"}}', '"connectors" must be a list of objects'),
        ('{"connectors": [1]}', "connectors row 1: expected an object"),
        (
            '{"connectors": [{"params": [1]}]}',
            'connectors row 1, params: "params" must be an object',
        ),
        ('{"format_version": "9"}', 'format_version "9" is not supported'),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            read_tables(path)


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        read_tables(tmp_path / "nope.xlsx")
    with pytest.raises(InputError) as caught:
        read_tables(tmp_path / f"{TOO_LONG}.xlsx")
    assert str(caught.value) == f"{tmp_path / TOO_LONG}.xlsx: cannot read: File name too long"
    with pytest.raises(InputError, match="no connectors.csv, connections.csv or projects.csv"):
        read_tables(tmp_path)


# ---------------------------------------------------------------- properties


@given(st.text(st.characters(exclude_categories=("Cs",))))
def test_cell_escapes_are_exact_inverses(text: str) -> None:
    assert csv_unescape(csv_escape(text)) == text
    assert not csv_escape(text).startswith(("=", "+", "-", "@", "\t", "\r"))


_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.lists(_TEXT, min_size=1, max_size=5),
    name=st.sampled_from(["t.xlsx", "t.json", "folder"]),
)
@example(values=["a", "\ufffe"], name="t.xlsx")  # refused: read back as _xFFFE_
def test_any_text_reads_back_exactly(tmp_path: Path, values: list[str], name: str) -> None:
    tables = [connectors([typed_row(v) for v in values])]
    if name == "t.xlsx" and not xlsx_gives_back(*values):
        with pytest.raises(InputError, match="it would read back changed"):
            write_tables(tmp_path / name, tables, meta={})
        return
    back = write_read(tmp_path / name, tables)
    assert [r["params.x"] for r in back["connectors"].rows] == values


def test_a_workbook_header_naming_a_column_twice_by_case_or_space_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dup.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "connectors"
    sheet.append(["id", " NAME", "system", "name"])
    sheet.append([1, "Jira One", "jira", "Jira Two"])
    book.save(path)
    with pytest.raises(InputError) as caught:
        read_tables(path)
    assert str(caught.value) == (
        f'{path}: connectors row 1, D: the columns " NAME" and "name" are the same column '
        "(names ignore case and surrounding spaces); keep one"
    )


def test_a_json_object_with_a_key_twice_is_refused_not_half_read(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text(
        '{"connectors": [{"id": 1, "name": "Jira", "system": "jira",'
        ' "params": {"alm_pass": "a", "alm_pass": "b"}}]}',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        read_tables(path)
    assert str(caught.value) == (
        f'{path}: the key "alm_pass" appears twice in one object; the first value would be '
        "dropped without a word: keep one"
    )


def test_a_csv_past_the_row_limit_is_refused_while_streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused when the limit is reached, before the rest of the file is read: a byte that
    is not UTF-8 after the limit is never seen (reading it all first would report that)."""
    path = tmp_path / "big.csv"
    lines = ["alias,project"] + [f"c{i},{i}" for i in range(20_000)]  # past the read buffer
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"bad\xe9,1\n")
    monkeypatch.setattr(table, "MAX_ROWS", 4)
    with pytest.raises(InputError, match="connections: more than 4 rows; split the file"):
        read_tables(path)
    monkeypatch.setattr(table, "MAX_ROWS", 250_000)
    with pytest.raises(InputError, match="not UTF-8: byte 0xe9 at line 20002, column 4"):
        read_tables(path)


def test_an_alias_typed_as_a_date_reads_as_the_date_it_shows(tmp_path: Path) -> None:
    """Issue 11: an alias typed 2026-01-02 became "2026-01-02T00:00:00" and would rename."""
    import xlsxwriter

    path = tmp_path / "dated.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("connections")
    sheet.write_row(0, 0, ["alias", "project"])
    sheet.write_datetime(
        1, 0, dt.datetime(2026, 1, 2), book.add_format({"num_format": "yyyy-mm-dd"})
    )
    sheet.write_number(1, 1, 7)
    book.close()
    back = read_tables(path)["connections"]
    assert back.rows == [{"alias": "2026-01-02", "project": 7}]
    assert [w.column for w in back.warnings] == ["alias"]
