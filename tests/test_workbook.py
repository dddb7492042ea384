"""Workbooks saved by LibreOffice in each of its formats plan and import exactly their edits.

The libreoffice-* files in tests/fixtures were exported by almmigrate, edited
(six cells, see EDITS in make_libreoffice_files.py) and saved by LibreOffice
as .xlsx, .ods and .xls. Reading needs no LibreOffice.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Cli
from zipedit import copy_changing

from almmigrate.errors import InputError
from almmigrate.files import read_tables, table, workbook
from almmigrate.layout import tables_to_dataset
from almmigrate.schema import bundled_plugins
from almmigrate.sim import SimServer

LIBREOFFICE = Path(__file__).resolve().parent / "fixtures"  # the libreoffice-* files
EDITED = ["libreoffice-edited.xlsx", "libreoffice-edited.ods", "libreoffice-edited.xls"]
# What the edits change on the instance, by object id: (kind, id) -> {field: new value}.
EXPECTED_CHANGES = {
    ("connectors", 4): {"inaccessible": True, "params.sde_min_priority": "8"},
    ("connectors", 11): {"params.alm_server": "trac2.internal.example"},
    ("connections", 3): {"frequency": "weekly", "params.sde_tags_filter": "pci,gdpr"},
    ("connections", 1): {"debug_mode": True},
}


@pytest.mark.parametrize("name", EDITED)
def test_every_libreoffice_format_reads_with_the_schema_types(name: str) -> None:
    dataset, problems = tables_to_dataset(read_tables(LIBREOFFICE / name), bundled_plugins())
    assert problems == []
    assert (len(dataset.connectors), len(dataset.connections), len(dataset.projects)) == (
        12,
        133,
        44,
    )
    by_id = {c.id: c for c in dataset.connections}
    # Booleans (saved by .xls as 0/1 numbers) and integers come back as the schema's types.
    assert by_id[1].debug_mode is True and by_id[1].inaccessible is False
    assert isinstance(by_id[1].project, int) and isinstance(by_id[1].connector, int)
    connector = next(c for c in dataset.connectors if c.id == 4)
    assert connector.inaccessible is True
    assert connector.params["sde_min_priority"] == 8  # typed as a number in the cell
    # Text that looks like a number stays text: the export wrote it as text.
    assert next(c for c in dataset.connections if c.id == 104).alias == "007"
    assert next(c for c in dataset.connections if c.id == 40).alias == "1e5"


@pytest.mark.parametrize("name", EDITED)
def test_a_libreoffice_edit_in_any_format_plans_exactly_the_edited_cells(
    cli: Cli, lo_sim: SimServer, tmp_path: Path, name: str
) -> None:
    out = tmp_path / "plan.json"
    login = ("--url", lo_sim.url, "--token", lo_sim.token)
    code, stdout, err = cli("plan", str(LIBREOFFICE / name), *login, "--out", str(out))
    assert code == 0, err
    assert stdout.splitlines()[-1] == "Plan: 0 create, 4 update, 141 unchanged, 0 skipped, 0 error"
    items = json.loads(out.read_text(encoding="utf-8"))["items"]
    planned = {
        (item["kind"] + "s", item["target_id"]): {c["field"]: c["new"] for c in item["changes"]}
        for item in items
        if item["action"] != "unchanged"
    }
    assert planned == {
        ("connectors", 4): {"inaccessible": True, "params.sde_min_priority": "8"},
        ("connectors", 11): {"params.alm_server": "trac2.internal.example"},
        ("connections", 3): {"frequency": "weekly", "params.sde_tags_filter": "pci,gdpr"},
        ("connections", 1): {"debug_mode": True},
    }
    assert lo_sim.stats.writes == 0


def _expected_state(before: dict[str, Any]) -> dict[str, Any]:
    state = copy.deepcopy(before)
    for (kind, ident), fields in EXPECTED_CHANGES.items():
        record = next(r for r in state[kind] if r["id"] == ident)
        for field, value in fields.items():
            if field.startswith("params."):
                record["params"][field.removeprefix("params.")] = value
            else:
                record[field] = value
    return state


@pytest.mark.parametrize("name", ["libreoffice-edited.ods", "libreoffice-edited.xls"])
def test_a_libreoffice_edit_in_ods_or_xls_imports_exactly(
    cli: Cli, lo_sim: SimServer, tmp_path: Path, name: str
) -> None:
    before = lo_sim.state.snapshot()
    login = ("--url", lo_sim.url, "--token", lo_sim.token)
    journal = ("--journal", str(tmp_path / "import.journal"))  # not beside the fixture
    code, stdout, err = cli("import", str(LIBREOFFICE / name), *login, *journal)
    assert code == 0, err
    after = lo_sim.state.snapshot()
    want = _expected_state(before)
    for kind in ("connectors", "connections"):
        got = {
            r["id"]: (r["params"], {k: v for k, v in r.items() if k != "params"})
            for r in after[kind]
        }
        expected = {
            r["id"]: (r["params"], {k: v for k, v in r.items() if k != "params"})
            for r in want[kind]
        }
        assert got.keys() == expected.keys()  # nothing created, nothing lost
        for ident in got:
            assert got[ident][0] == expected[ident][0], (kind, ident)
            for field in ("name", "alias", "frequency", "debug_mode", "inaccessible"):
                assert got[ident][1].get(field) == expected[ident][1].get(field), (kind, ident)
    assert lo_sim.stats.as_dict()["by_method"].get("POST", 0) == 0  # no create


def test_a_workbook_named_as_another_kind_is_read_by_its_content(tmp_path: Path) -> None:
    renamed = tmp_path / "edited.xlsx"
    renamed.write_bytes((LIBREOFFICE / "libreoffice-edited.ods").read_bytes())
    assert len(read_tables(renamed)["connections"].rows) == 133


def test_an_ods_with_merged_cells_in_a_data_sheet_is_refused(tmp_path: Path) -> None:
    def merge_first_cell(data: bytes) -> bytes:
        at = data.index(b'<table:table table:name="connections"')
        cell = data.index(b"<table:table-cell ", at + 1)
        return (
            data[: cell + 18]
            + b'table:number-columns-spanned="2" table:number-rows-spanned="1" '
            + data[cell + 18 :]
        )

    source = LIBREOFFICE / "libreoffice-edited.ods"
    path = copy_changing(source, tmp_path / "merged.ods", "content.xml", merge_first_cell)
    with pytest.raises(InputError, match="connections: merged cells; unmerge them"):
        read_tables(path)


def test_shared_strings_that_would_unpack_past_the_budget_are_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file whose shared strings inflate far beyond it is refused from the zip
    directory alone (issue 11: 14 MB inflating to 900 MB), before anything is parsed."""
    path = tmp_path / "inflating.xlsx"
    main_ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings = "".join(f"<si><t>{'x' * 1000}</t></si>" for _ in range(3000))
    copy_changing(
        LIBREOFFICE / "libreoffice-edited.xlsx",
        path,
        "xl/sharedStrings.xml",
        lambda _: f'<sst xmlns="{main_ns}">{strings}</sst>'.encode(),
        deflate=True,
    )
    assert path.stat().st_size < 100_000  # 3 MB of strings in a small file
    monkeypatch.setattr(table, "MAX_UNPACKED_BYTES", 2 * 1024 * 1024)
    with pytest.raises(InputError, match="refused: xl/sharedStrings.xml unpacks to 2 MB"):
        read_tables(path)


def test_a_part_that_lies_about_its_size_is_refused_at_its_declared_size(tmp_path: Path) -> None:
    """The zip directory may understate a part's size; it is inflated within the size it
    declares and refused there, never trusted to the end."""
    source = tmp_path / "honest.xlsx"
    source.write_bytes((LIBREOFFICE / "libreoffice-edited.xlsx").read_bytes())
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("xl/sharedStrings.xml")
    declared = (info.file_size // 10).to_bytes(4, "little")
    # Understate the size in the local header (offset 22) and the central directory (24).
    local = info.header_offset
    data[local + 22 : local + 26] = declared
    name = info.filename.encode()
    central = [
        at
        for at in range(len(data) - 46)
        if data[at : at + 4] == b"PK\x01\x02" and data[at + 46 : at + 46 + len(name)] == name
    ]
    assert len(central) == 1
    data[central[0] + 24 : central[0] + 28] = declared
    liar = tmp_path / "liar.xlsx"
    liar.write_bytes(bytes(data))
    with pytest.raises(InputError, match="broken zip"):
        read_tables(liar)


def test_a_hidden_data_sheet_in_an_ods_is_refused(tmp_path: Path) -> None:
    """As in .xlsx: a hidden sheet's rows would be imported unseen."""
    import re

    def hide_connections(data: bytes) -> bytes:  # ta2 is the connections sheet's table style
        data, count = re.subn(
            rb'(<style:style style:name="ta2"[^>]*><style:table-properties '
            rb'table:display=")true',
            rb"\1false",
            data,
        )
        assert count == 1
        return data

    source = LIBREOFFICE / "libreoffice-edited.ods"
    path = copy_changing(source, tmp_path / "hidden.ods", "content.xml", hide_connections)
    with pytest.raises(InputError, match='the sheet "connections" is hidden'):
        read_tables(path)


# ---------------------------------------------------------------- tabs in an .ods


def test_an_ods_text_keeps_its_tabs_which_calamine_drops() -> None:
    read = read_tables(LIBREOFFICE / "libreoffice-tabs.ods")
    assert [r["name"] for r in read["connectors"].rows][1] == "Jira\tProd"
    first = read["connections"].rows[0]
    assert (first["alias"], first["connector_name"], first["params.alm_project"]) == (
        "tab\tinside",
        "Jira\tProd",
        "BACK\tEN1",
    )


def test_an_ods_tab_is_put_back_only_where_the_rest_of_the_text_is_what_calamine_read(
    tmp_path: Path,
) -> None:
    # A note on the cell holds a tab too: its text is not the cell's.
    def change(data: bytes) -> bytes:
        note = b"<office:annotation><text:p>a<text:tab/>note</text:p></office:annotation>"
        return data.replace(b"<text:p>tab<text:tab/>inside", note + b"<text:p>tab<text:tab/>inside")

    path = copy_changing(
        LIBREOFFICE / "libreoffice-tabs.ods", tmp_path / "t.ods", "content.xml", change
    )
    assert read_tables(path)["connections"].rows[0]["alias"] == "tab\tinside"
    # Where content.xml's text is not calamine's but for its tabs, calamine's stands.
    assert workbook._with_tabs("a\tb", "ab") == "a\tb"
    assert workbook._with_tabs("a\tb c", "ab") == "ab"
    assert workbook._with_tabs(None, "ab") == "ab"
