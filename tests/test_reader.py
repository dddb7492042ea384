"""read_dataset: files as spreadsheets save them, text kept as text, bad files refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from almmigrate.errors import InputError, ValidationFailed
from almmigrate.reader import read_dataset, read_dataset_with_problems
from almmigrate.secrets import MASK

TRICKY = [
    "007",
    "1e5",
    "NaN",
    "null",
    "None",
    "N/A",
    "TRUE",
    "  padded  ",
    "two\nlines",
    "Équipe 🚀",
]


def connectors_workbook(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "connectors"
    sheet.append(
        [
            "id",
            "name",
            "system",
            "inaccessible",
            "params.alm_server",
            "params.alm_validate_cert",
            "params.alm_reference_context",
            "params.sde_min_priority",
            "params.alm_pass",
        ]
    )
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_text_survives_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "connectors.csv"
    lines = ["name,system,params.alm_server"]
    lines += [f'"Jira {n}",jira,"{text}"' for n, text in enumerate(TRICKY)]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    dataset = read_dataset(path)
    assert [c.params["alm_server"] for c in dataset.connectors] == TRICKY
    assert [c.row for c in dataset.connectors] == list(range(2, 2 + len(TRICKY)))


def test_spreadsheet_types_are_read_by_the_schema(tmp_path: Path) -> None:
    path = connectors_workbook(
        tmp_path / "book.xlsx",
        [
            [1.0, "Jira A", "jira", "FALSE", "007", "TRUE", 7.0, 7.0, MASK],
            [2, "Jira B", "jira", 1, "NaN", 0, "14", "10", None],
        ],
    )
    dataset = read_dataset(path)
    a, b = dataset.connectors
    assert (a.id, a.inaccessible, b.inaccessible) == (1, False, True)
    # A select keeps the number the cell held; plan compares and sends choices by text.
    assert str(a.params.pop("sde_min_priority")) == "7"
    assert a.params == {
        "alm_server": "007",
        "alm_validate_cert": True,
        "alm_reference_context": 7,
        "alm_pass": MASK,
    }
    assert b.params == {
        "alm_server": "NaN",
        "alm_validate_cert": False,
        "alm_reference_context": "14",  # a text cell in an integer field: the API takes it
        "sde_min_priority": "10",
    }


def test_a_number_in_a_text_cell_is_sent_as_the_number_it_is(tmp_path: Path) -> None:
    # Instances hold numbers in text fields (samples/quirks.json): a workbook keeps the type
    # its cell holds, so an export imported elsewhere lands as the source held it. A person
    # who means the text "12345" formats the cell as text (the export writes text so).
    path = connectors_workbook(
        tmp_path / "book.xlsx", [[1, "Jira A", "jira", False, 12345, True, 7, 9, MASK]]
    )
    dataset, problems = read_dataset_with_problems(path)
    (connector,) = dataset.connectors
    assert connector.params["alm_server"] == 12345
    assert connector.params["alm_reference_context"] == 7
    assert problems == []


def test_cell_problems_are_all_reported_with_their_place(tmp_path: Path) -> None:
    path = connectors_workbook(
        tmp_path / "book.xlsx",
        [
            [1, "Jira A", "jira", "maybe", "x", "sure", 7.5, 7, None],
        ],
    )
    with pytest.raises(ValidationFailed) as caught:
        read_dataset(path)
    assert [str(p) for p in caught.value.problems] == [
        'connectors row 2, inaccessible: "maybe" is not a boolean (use TRUE or FALSE)',
        'connectors row 2, params.alm_validate_cert: "sure" is not a boolean (use TRUE or FALSE)',
        'connectors row 2, params.alm_reference_context: "7.5" is not a whole number',
    ]
    dataset, problems = read_dataset_with_problems(path)
    assert len(problems) == 3 and dataset.connectors[0].name == "Jira A"


def test_entities_in_any_workbook_part_are_refused(tmp_path: Path) -> None:
    good = connectors_workbook(
        tmp_path / "good.xlsx", [[1, "Jira A", "jira", False, "x", True, 7, 7, None]]
    )
    with zipfile.ZipFile(good) as source:
        members = {name: source.read(name) for name in source.namelist()}
    core = members["docProps/core.xml"]
    if core.startswith(b"<?xml"):
        core = core.split(b"?>", 1)[1]
    members["docProps/core.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]>' + core
    )
    bad = tmp_path / "xxe.xlsx"
    with zipfile.ZipFile(bad, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    with pytest.raises(InputError) as caught:
        read_dataset(bad)
    assert str(caught.value) == (
        f"{bad}: docProps/core.xml declares XML entities or a DTD (a possible XML bomb); refused"
    )
    assert read_dataset(good).connectors[0].name == "Jira A"


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_dataset(tmp_path / "nope.xlsx")
    assert str(caught.value) == f"{tmp_path / 'nope.xlsx'}: no such file or folder"


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    path = tmp_path / "zip.xlsx"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(InputError) as caught:
        read_dataset(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)
